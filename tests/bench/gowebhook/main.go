// gowebhook - the Go webhook make bench measures meshinject against (issue
// 15): a mutating admission webhook written the way one usually is in Go,
// with the standard library only. net/http over TLS with the certificate
// meshinject serves, the AdmissionReview decoded with encoding/json into
// typed structs (the subset of k8s.io/api's types that a sidecar injector
// reads), a JSONPatch of the same shape and about the size of meshinject's
// answer at /mutate/traffic (an init container, a sidecar with env, ports,
// volume mounts, a probe and a securityContext, two volumes, two
// annotations), base64 in the AdmissionReview response, and one log/slog
// JSON line per review on stderr.
//
//	gowebhook -listen 127.0.0.1:18445 -tls-cert tls.crt -tls-key tls.key
//
// POST /mutate/<stage> answers a review; GET /readyz answers 200.
package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ---- the review (admission.k8s.io/v1) and the pod (core/v1) ----

type AdmissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *AdmissionRequest  `json:"request,omitempty"`
	Response   *AdmissionResponse `json:"response,omitempty"`
}

type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type GroupVersionResource struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

type UserInfo struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

type AdmissionRequest struct {
	UID             string                `json:"uid"`
	Kind            GroupVersionKind      `json:"kind"`
	Resource        GroupVersionResource  `json:"resource"`
	SubResource     string                `json:"subResource,omitempty"`
	RequestKind     *GroupVersionKind     `json:"requestKind,omitempty"`
	RequestResource *GroupVersionResource `json:"requestResource,omitempty"`
	Name            string                `json:"name,omitempty"`
	Namespace       string                `json:"namespace,omitempty"`
	Operation       string                `json:"operation"`
	UserInfo        UserInfo              `json:"userInfo"`
	Object          *Pod                  `json:"object,omitempty"`
	OldObject       *Pod                  `json:"oldObject,omitempty"`
	DryRun          *bool                 `json:"dryRun,omitempty"`
	Options         json.RawMessage       `json:"options,omitempty"`
}

type AdmissionResponse struct {
	UID              string            `json:"uid"`
	Allowed          bool              `json:"allowed"`
	Result           *Status           `json:"status,omitempty"`
	Patch            []byte            `json:"patch,omitempty"` // base64 by encoding/json
	PatchType        string            `json:"patchType,omitempty"`
	AuditAnnotations map[string]string `json:"auditAnnotations,omitempty"`
	Warnings         []string          `json:"warnings,omitempty"`
}

type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

type ManagedFieldsEntry struct {
	Manager    string          `json:"manager,omitempty"`
	Operation  string          `json:"operation,omitempty"`
	APIVersion string          `json:"apiVersion,omitempty"`
	Time       string          `json:"time,omitempty"`
	FieldsType string          `json:"fieldsType,omitempty"`
	FieldsV1   json.RawMessage `json:"fieldsV1,omitempty"` // k8s keeps it raw too
}

type ObjectMeta struct {
	Name            string               `json:"name,omitempty"`
	GenerateName    string               `json:"generateName,omitempty"`
	Namespace       string               `json:"namespace,omitempty"`
	UID             string               `json:"uid,omitempty"`
	Labels          map[string]string    `json:"labels,omitempty"`
	Annotations     map[string]string    `json:"annotations,omitempty"`
	OwnerReferences []OwnerReference     `json:"ownerReferences,omitempty"`
	ManagedFields   []ManagedFieldsEntry `json:"managedFields,omitempty"`
}

type Pod struct {
	Kind       string     `json:"kind,omitempty"`
	APIVersion string     `json:"apiVersion,omitempty"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
}

type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

type PodSpec struct {
	Volumes                       []Volume            `json:"volumes,omitempty"`
	InitContainers                []Container         `json:"initContainers,omitempty"`
	Containers                    []Container         `json:"containers"`
	RestartPolicy                 string              `json:"restartPolicy,omitempty"`
	TerminationGracePeriodSeconds *int64              `json:"terminationGracePeriodSeconds,omitempty"`
	DNSPolicy                     string              `json:"dnsPolicy,omitempty"`
	ServiceAccountName            string              `json:"serviceAccountName,omitempty"`
	HostNetwork                   bool                `json:"hostNetwork,omitempty"`
	SecurityContext               *PodSecurityContext `json:"securityContext,omitempty"`
	SchedulerName                 string              `json:"schedulerName,omitempty"`
	Tolerations                   []Toleration        `json:"tolerations,omitempty"`
	Priority                      *int32              `json:"priority,omitempty"`
	EnableServiceLinks            *bool               `json:"enableServiceLinks,omitempty"`
	PreemptionPolicy              string              `json:"preemptionPolicy,omitempty"`
}

type PodSecurityContext struct {
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsGroup   *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
	FSGroup      *int64 `json:"fsGroup,omitempty"`
}

type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
}

type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

type DownwardAPIVolumeFile struct {
	Path     string               `json:"path"`
	FieldRef *ObjectFieldSelector `json:"fieldRef,omitempty"`
}

type VolumeProjection struct {
	ServiceAccountToken *struct {
		Audience          string `json:"audience,omitempty"`
		ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
		Path              string `json:"path"`
	} `json:"serviceAccountToken,omitempty"`
	ConfigMap *struct {
		Name  string      `json:"name"`
		Items []KeyToPath `json:"items,omitempty"`
	} `json:"configMap,omitempty"`
	DownwardAPI *struct {
		Items []DownwardAPIVolumeFile `json:"items,omitempty"`
	} `json:"downwardAPI,omitempty"`
}

type EmptyDirVolumeSource struct {
	Medium string `json:"medium,omitempty"`
}

type Volume struct {
	Name      string                `json:"name"`
	EmptyDir  *EmptyDirVolumeSource `json:"emptyDir,omitempty"`
	Projected *struct {
		Sources     []VolumeProjection `json:"sources"`
		DefaultMode *int32             `json:"defaultMode,omitempty"`
	} `json:"projected,omitempty"`
	ConfigMap *struct {
		Name string `json:"name"`
	} `json:"configMap,omitempty"`
	Secret *struct {
		SecretName string `json:"secretName"`
	} `json:"secret,omitempty"`
}

type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol,omitempty"`
}

type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

type EnvVarSource struct {
	FieldRef *ObjectFieldSelector `json:"fieldRef,omitempty"`
}

type ResourceRequirements struct {
	Limits   map[string]string `json:"limits,omitempty"`
	Requests map[string]string `json:"requests,omitempty"`
}

type VolumeMount struct {
	Name      string `json:"name"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	MountPath string `json:"mountPath"`
}

// IntOrString is a probe's port: 8080 or "http".
type IntOrString struct {
	Int int32
	Str string
}

func (p *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.Str)
	}
	return json.Unmarshal(b, &p.Int)
}

func (p IntOrString) MarshalJSON() ([]byte, error) {
	if p.Str != "" {
		return json.Marshal(p.Str)
	}
	return json.Marshal(p.Int)
}

type HTTPGetAction struct {
	Path   string      `json:"path,omitempty"`
	Port   IntOrString `json:"port"`
	Scheme string      `json:"scheme,omitempty"`
}

type Probe struct {
	HTTPGet   *HTTPGetAction `json:"httpGet,omitempty"`
	TCPSocket *struct {
		Port IntOrString `json:"port"`
	} `json:"tcpSocket,omitempty"`
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int32 `json:"timeoutSeconds,omitempty"`
	PeriodSeconds       int32 `json:"periodSeconds,omitempty"`
	SuccessThreshold    int32 `json:"successThreshold,omitempty"`
	FailureThreshold    int32 `json:"failureThreshold,omitempty"`
}

type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

type SeccompProfile struct {
	Type string `json:"type"`
}

type SecurityContext struct {
	RunAsUser                *int64          `json:"runAsUser,omitempty"`
	RunAsGroup               *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	Privileged               *bool           `json:"privileged,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
}

type Container struct {
	Name                     string                `json:"name"`
	Image                    string                `json:"image,omitempty"`
	Command                  []string              `json:"command,omitempty"`
	Args                     []string              `json:"args,omitempty"`
	Ports                    []ContainerPort       `json:"ports,omitempty"`
	Env                      []EnvVar              `json:"env,omitempty"`
	Resources                *ResourceRequirements `json:"resources,omitempty"`
	VolumeMounts             []VolumeMount         `json:"volumeMounts,omitempty"`
	LivenessProbe            *Probe                `json:"livenessProbe,omitempty"`
	ReadinessProbe           *Probe                `json:"readinessProbe,omitempty"`
	StartupProbe             *Probe                `json:"startupProbe,omitempty"`
	TerminationMessagePath   string                `json:"terminationMessagePath,omitempty"`
	TerminationMessagePolicy string                `json:"terminationMessagePolicy,omitempty"`
	ImagePullPolicy          string                `json:"imagePullPolicy,omitempty"`
	SecurityContext          *SecurityContext      `json:"securityContext,omitempty"`
}

type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// ---- the injection ----

// config is what meshinject's embedded default says for the traffic stage.
type config struct {
	ProxyImage string         `json:"proxyImage"`
	InitImage  string         `json:"initImage"`
	ProxyUID   int64          `json:"proxyUID"`
	Ports      map[string]int `json:"ports"`
	XDSAddress string         `json:"xdsAddress"`
	XDSPort    int            `json:"xdsPort"`
	LogLevel   string         `json:"logLevel"`
}

var cfg = config{
	ProxyImage: "envoyproxy/envoy:v1.32.3",
	InitImage:  "meshinject/meshinject:0.1.0",
	ProxyUID:   1337,
	Ports: map[string]int{"admin": 15000, "outbound": 15001,
		"inbound": 15006, "status": 15021, "metrics": 15090},
	XDSAddress: "mesh-control-plane.mesh-system.svc",
	XDSPort:    15010,
	LogLevel:   "warning",
}

var configHash string

func ptr[T any](v T) *T { return &v }

// workload names the pod's owner as a person would: a ReplicaSet's pod
// belongs to its Deployment (the ReplicaSet's name less the template hash).
func workload(p *Pod) string {
	for _, o := range p.Metadata.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := p.Metadata.Labels["pod-template-hash"]; h != "" {
				return strings.TrimSuffix(o.Name, "-"+h)
			}
		}
		return o.Name
	}
	if n := p.Metadata.Labels["app.kubernetes.io/name"]; n != "" {
		return n
	}
	return strings.TrimSuffix(p.Metadata.GenerateName, "-")
}

// bootstrap is the Envoy bootstrap, passed in --config-yaml as JSON.
func bootstrap(cluster, stage string) (string, error) {
	addr := func(a string, port int) map[string]any {
		return map[string]any{"socket_address": map[string]any{
			"address": a, "port_value": port}}
	}
	endpoint := func(name, a string, port int) map[string]any {
		return map[string]any{"cluster_name": name, "endpoints": []any{
			map[string]any{"lb_endpoints": []any{map[string]any{
				"endpoint": map[string]any{"address": addr(a, port)}}}}}}
	}
	listener := func(name string, port int, prefix, rewrite string) map[string]any {
		return map[string]any{
			"name":    name,
			"address": addr("0.0.0.0", port),
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
				"name": "envoy.filters.network.http_connection_manager",
				"typed_config": map[string]any{
					"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
					"stat_prefix": name,
					"http_filters": []any{map[string]any{
						"name": "envoy.filters.http.router",
						"typed_config": map[string]any{
							"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
					"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
						"name": name, "domains": []string{"*"},
						"routes": []any{map[string]any{
							"match": map[string]any{"prefix": prefix},
							"route": map[string]any{"cluster": "mesh-admin",
								"prefix_rewrite": rewrite}}}}}}}}}}},
		}
	}
	b := map[string]any{
		"admin": map[string]any{"address": addr("127.0.0.1", cfg.Ports["admin"])},
		"node": map[string]any{
			"id":      "$(POD_NAME).$(POD_NAMESPACE)",
			"cluster": cluster,
			"metadata": map[string]any{
				"CONFIG_HASH": configHash, "MESH_STAGE": stage,
				"MTLS_MODE": "DISABLE", "NAMESPACE": "$(POD_NAMESPACE)",
				"POD_IP": "$(POD_IP)", "SERVICE_ACCOUNT": "$(SERVICE_ACCOUNT)"},
		},
		"dynamic_resources": map[string]any{
			"ads_config": map[string]any{"api_type": "GRPC",
				"transport_api_version": "V3",
				"grpc_services": []any{map[string]any{
					"envoy_grpc": map[string]any{"cluster_name": "mesh-xds"}}}},
			"cds_config": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
			"lds_config": map[string]any{"ads": map[string]any{}, "resource_api_version": "V3"},
		},
		"static_resources": map[string]any{
			"clusters": []any{
				map[string]any{"name": "mesh-xds", "type": "STRICT_DNS",
					"connect_timeout": "1s",
					"load_assignment": endpoint("mesh-xds", cfg.XDSAddress, cfg.XDSPort),
					"typed_extension_protocol_options": map[string]any{
						"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": map[string]any{
							"@type":                "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
							"explicit_http_config": map[string]any{"http2_protocol_options": map[string]any{}}}}},
				map[string]any{"name": "mesh-admin", "type": "STATIC",
					"connect_timeout": "1s",
					"load_assignment": endpoint("mesh-admin", "127.0.0.1", cfg.Ports["admin"])},
			},
			"listeners": []any{
				listener("mesh-status", cfg.Ports["status"], "/healthz/ready", "/ready"),
				listener("mesh-metrics", cfg.Ports["metrics"], "/stats/prometheus", "/stats/prometheus"),
			},
		},
	}
	out, err := json.Marshal(b)
	return string(out), err
}

func fieldEnv(name, path string) EnvVar {
	return EnvVar{Name: name, ValueFrom: &EnvVarSource{
		FieldRef: &ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}}
}

// inject returns the patch for pod at stage, or nil and why not.
func inject(req *AdmissionRequest, stage string) ([]PatchOp, string, error) {
	pod := req.Object
	switch {
	case req.Operation != "CREATE":
		return nil, "not a CREATE", nil
	case pod == nil:
		return nil, "no object", nil
	case len(pod.Spec.Containers) == 0:
		return nil, "no containers", nil
	case pod.Spec.HostNetwork:
		return nil, "hostNetwork pod", nil
	case pod.Metadata.Annotations["meshinject.io/inject"] == "false":
		return nil, "opted out", nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "mesh-proxy" {
			return nil, "already injected", nil
		}
	}
	uid := cfg.ProxyUID
	p := cfg.Ports
	cluster := workload(pod) + "." + req.Namespace
	boot, err := bootstrap(cluster, stage)
	if err != nil {
		return nil, "", err
	}
	initc := Container{
		Name:    "mesh-init",
		Image:   cfg.InitImage,
		Command: []string{"meshinject", "redirect"},
		Args: []string{"--proxy-uid", strconv.FormatInt(uid, 10),
			"--proxy-gid", strconv.FormatInt(uid, 10),
			"--outbound-port", strconv.Itoa(p["outbound"]),
			"--inbound-port", strconv.Itoa(p["inbound"]),
			"--proxy-ports", fmt.Sprintf("%d,%d,%d", p["admin"], p["status"], p["metrics"])},
		Resources: &ResourceRequirements{
			Requests: map[string]string{"cpu": "10m", "memory": "16Mi"},
			Limits:   map[string]string{"memory": "64Mi"}},
		SecurityContext: &SecurityContext{
			RunAsUser: ptr(int64(0)), RunAsGroup: ptr(int64(0)),
			RunAsNonRoot: ptr(false), Privileged: ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(false),
			Capabilities: &Capabilities{Add: []string{"NET_ADMIN", "NET_RAW"},
				Drop: []string{"ALL"}},
			SeccompProfile: &SeccompProfile{Type: "RuntimeDefault"}},
	}
	proxy := Container{
		Name:    "mesh-proxy",
		Image:   cfg.ProxyImage,
		Command: []string{"envoy"},
		Args: []string{"--config-yaml", boot, "--log-level", cfg.LogLevel,
			"--drain-time-s", "5"},
		Env: []EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
			fieldEnv("POD_IP", "status.podIP"),
			{Name: "MESH_STAGE", Value: stage},
		},
		VolumeMounts: []VolumeMount{
			{Name: "mesh-run", MountPath: "/var/run/mesh"},
			{Name: "mesh-tmp", MountPath: "/tmp"},
		},
		Ports: []ContainerPort{
			{Name: "mesh-status", ContainerPort: int32(p["status"]), Protocol: "TCP"},
			{Name: "mesh-metrics", ContainerPort: int32(p["metrics"]), Protocol: "TCP"},
		},
		Resources: &ResourceRequirements{
			Requests: map[string]string{"cpu": "100m", "memory": "128Mi"},
			Limits:   map[string]string{"memory": "512Mi"}},
		SecurityContext: &SecurityContext{
			RunAsUser: ptr(uid), RunAsGroup: ptr(uid),
			RunAsNonRoot: ptr(true), Privileged: ptr(false),
			AllowPrivilegeEscalation: ptr(false),
			ReadOnlyRootFilesystem:   ptr(true),
			Capabilities:             &Capabilities{Drop: []string{"ALL"}},
			SeccompProfile:           &SeccompProfile{Type: "RuntimeDefault"}},
	}
	proxy.ReadinessProbe = &Probe{PeriodSeconds: 2, FailureThreshold: 30, TimeoutSeconds: 3,
		HTTPGet: &HTTPGetAction{Path: "/healthz/ready", Port: IntOrString{Int: int32(p["status"])}}}

	status, err := json.Marshal(map[string]any{
		"configHash": configHash, "stage": stage,
		"features":       []string{"proxy", "redirect"},
		"containers":     []string{"mesh-proxy"},
		"initContainers": []string{"mesh-init"},
		"volumes":        []string{"mesh-run", "mesh-tmp"},
	})
	if err != nil {
		return nil, "", err
	}
	var ops []PatchOp
	if len(pod.Spec.InitContainers) == 0 {
		ops = append(ops, PatchOp{"add", "/spec/initContainers", []Container{initc}})
	} else {
		ops = append(ops, PatchOp{"add", "/spec/initContainers/-", initc})
	}
	ops = append(ops, PatchOp{"add", "/spec/containers/-", proxy})
	mem := &EmptyDirVolumeSource{Medium: "Memory"}
	for _, v := range []Volume{{Name: "mesh-run", EmptyDir: mem}, {Name: "mesh-tmp", EmptyDir: mem}} {
		if len(pod.Spec.Volumes) == 0 {
			ops = append(ops, PatchOp{"add", "/spec/volumes", []Volume{v}})
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
			continue
		}
		ops = append(ops, PatchOp{"add", "/spec/volumes/-", v})
	}
	ann := map[string]string{
		"meshinject.io/status":                    string(status),
		"kubectl.kubernetes.io/default-container": pod.Spec.Containers[0].Name,
	}
	if len(pod.Metadata.Annotations) == 0 {
		ops = append(ops, PatchOp{"add", "/metadata/annotations", ann})
	} else {
		for k, v := range ann {
			k = strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			ops = append(ops, PatchOp{"add", "/metadata/annotations/" + k, v})
		}
	}
	return ops, "injected stage=" + stage, nil
}

// ---- HTTP ----

const maxBody = 6 << 20

func fail(w http.ResponseWriter, log *slog.Logger, path string, code int, msg string, start time.Time) {
	http.Error(w, msg, code)
	log.Info("review", "path", path, "status", code, "reason", msg,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)
}

func mutate(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		stage := strings.TrimPrefix(r.URL.Path, "/mutate/")
		if r.Method != http.MethodPost {
			fail(w, log, r.URL.Path, http.StatusMethodNotAllowed, "POST only", start)
			return
		}
		if stage != "traffic" {
			fail(w, log, r.URL.Path, http.StatusNotFound, "no such stage", start)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			fail(w, log, r.URL.Path, http.StatusUnsupportedMediaType, "Content-Type is not application/json", start)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			fail(w, log, r.URL.Path, http.StatusRequestEntityTooLarge, err.Error(), start)
			return
		}
		var review AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			fail(w, log, r.URL.Path, http.StatusBadRequest, "not an AdmissionReview", start)
			return
		}
		req := review.Request
		ops, reason, err := inject(req, stage)
		if err != nil {
			fail(w, log, r.URL.Path, http.StatusInternalServerError, err.Error(), start)
			return
		}
		resp := &AdmissionResponse{UID: req.UID, Allowed: true,
			AuditAnnotations: map[string]string{"decision": reason}}
		decision := "skipped"
		if ops != nil {
			if resp.Patch, err = json.Marshal(ops); err != nil {
				fail(w, log, r.URL.Path, http.StatusInternalServerError, err.Error(), start)
				return
			}
			resp.PatchType = "JSONPatch"
			decision = "injected"
		}
		out, err := json.Marshal(AdmissionReview{APIVersion: "admission.k8s.io/v1",
			Kind: "AdmissionReview", Response: resp})
		if err != nil {
			fail(w, log, r.URL.Path, http.StatusInternalServerError, err.Error(), start)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = w.Write(out)
		pod := ""
		if req.Object != nil {
			pod = req.Object.Metadata.Name
			if pod == "" {
				pod = req.Object.Metadata.GenerateName
			}
		}
		log.Info("review", "path", r.URL.Path, "uid", req.UID,
			"namespace", req.Namespace, "pod", pod, "stage", stage,
			"decision", decision, "reason", reason, "status", http.StatusOK,
			"duration_ms", float64(time.Since(start).Microseconds())/1000)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "HTTPS address")
	certFile := flag.String("tls-cert", "", "serving certificate, PEM")
	keyFile := flag.String("tls-key", "", "its private key, PEM")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	c, err := json.Marshal(cfg)
	if err != nil {
		log.Error("config", "err", err)
		os.Exit(1)
	}
	sum := sha256.Sum256(c)
	configHash = hex.EncodeToString(sum[:8])
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Error("certificate", "err", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate/", mutate(log))
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.Copy(w, bytes.NewReader([]byte("ok\n")))
	})
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12,
			Certificates: []tls.Certificate{cert}},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "listen", *listen)
	if err := srv.ListenAndServeTLS("", ""); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
