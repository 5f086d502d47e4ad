{{/* Names, labels and shared values of the meshinject chart. */}}

{{- define "meshinject.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: the release name, or release-chart when the release name
does not contain the chart name. Truncated to leave room for suffixes. */}}
{{- define "meshinject.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "meshinject.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "meshinject.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshinject.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "meshinject.labels" -}}
helm.sh/chart: {{ include "meshinject.chart" . }}
{{ include "meshinject.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: meshinject
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "meshinject.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (toString (.Values.image.tag | default .Chart.AppVersion)) -}}
{{- end -}}
{{- end -}}

{{/* The Secret with tls.crt and tls.key the server reads. */}}
{{- define "meshinject.tlsSecretName" -}}
{{- if eq .Values.certificates.source "secret" -}}
{{- required "certificates.secretName is required when certificates.source=secret (the name of an existing kubernetes.io/tls Secret in the release namespace)" .Values.certificates.secretName -}}
{{- else -}}
{{- .Values.certificates.secretName | default (printf "%s-tls" (include "meshinject.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/* DNS names the apiserver uses for the Service; the serving certificate's
SANs. */}}
{{- define "meshinject.dnsNames" -}}
{{- $svc := include "meshinject.fullname" . -}}
{{- list (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.%s" $svc .Release.Namespace .Values.clusterDomain) | toJson -}}
{{- end -}}

{{/* cert-manager Certificate whose CA the cainjector copies into caBundle. */}}
{{- define "meshinject.servingCertificate" -}}
{{- printf "%s-serving" (include "meshinject.fullname" .) -}}
{{- end -}}

{{/* Stages that get webhook entries, as a JSON list of names: every stage
of config.stages except "off", minus those disabled with
webhooks.stages.<name>.enabled=false. Sorted (Go templates range over maps
in key order). */}}
{{- define "meshinject.enabledStages" -}}
{{- $out := list -}}
{{- range $name, $stage := .Values.config.stages -}}
{{- $hook := index ($.Values.webhooks.stages | default dict) $name | default dict -}}
{{- if and (ne $name "off") $stage (ne (toString (index $hook "enabled")) "false") -}}
{{- $out = append $out $name -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The fields every webhook entry shares. Takes a dict: ns, svc, port,
caBundle ("" for cert-manager, whose cainjector fills it), path,
timeoutSeconds. */}}
{{- define "meshinject.webhookCommon" -}}
admissionReviewVersions: ["v1", "v1beta1"]
sideEffects: None
timeoutSeconds: {{ .timeoutSeconds }}
matchPolicy: Equivalent
clientConfig:
  service:
    name: {{ .svc }}
    namespace: {{ .ns }}
    path: {{ .path }}
    port: {{ .port }}
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
    scope: Namespaced
{{- end -}}
