#!/usr/bin/env bash
# tests/image/test.sh - run the image users pull (`make test-image`): builds
# it first (tests/image/build.sh, cached), then, each check able to fail:
#
#   - `version` prints the chart's appVersion; the image's defaults (user
#     65532, entrypoint, the chart's paths) and contents (iptables, the
#     chart's preStop /bin/sleep, no apt cache, slim docs);
#   - `serve` as the chart runs it: the chart's args, config (the ConfigMap of
#     manifests/meshinject.yaml) and certificate (from the image's own
#     `certs`) at the chart's mount paths, UID/GID 65532, no capabilities,
#     read-only root; a review of tests/fixtures/review-replicaset-pod.json
#     on /mutate/traffic over TLS is answered with an injecting patch, and
#     SIGTERM stops it cleanly;
#   - `redirect` as the webhook's own answer puts it on mesh-init (command,
#     args, user, capabilities): its rules land in the pod's network namespace
#     (a holder container's, as a pod's pause container) and not on the host;
#     without NET_ADMIN and NET_RAW it fails saying so and applies nothing.
#
# Containers use --network none (or join that namespace): nothing here sets
# up podman's bridge, which would change the host's ip_forward and firewall.
# Requests reach the webhook through its namespace with nsenter and curl.
#
# Needs root (rootful podman). Without it: SKIPPED with the reason, exit 0;
# with CI=true a failure. Ends with "N passed, N failed"; exit 1 on any
# failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CONTAINERS_CONF=$here/containers.conf
started=$SECONDS

cannot_run() {
	if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
		echo "FAIL: tests/image cannot run under CI: $*"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "################################################################"
	echo "SKIPPED: tests/image: $*"
	echo "################################################################"
	exit 0
}

[ "$(id -u)" -eq 0 ] || cannot_run "not root (rootful podman, debootstrap and nsenter need root)"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
not_ok() {
	failed=$((failed + 1))
	echo "FAIL $1"
	[ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/       /'
}
finish() {
	echo "tests/image: $((SECONDS - started)) s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# --- The image, built (or found in the layer cache) -----------------------------

mkdir -p "$root/build/image"
log=$root/build/image/build.log
if "$here/build.sh" >"$log" 2>&1; then
	grep '^image:' "$log"
	ok "tests/image/build.sh builds the image (log: build/image/build.log)"
else
	tail -n 40 "$log"
	not_ok "tests/image/build.sh builds the image (log: build/image/build.log)"
	finish
fi

chart=$root/charts/meshinject
version=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' "$chart/Chart.yaml")
image=meshinject/meshinject:$version

tmp=$(mktemp -d /tmp/meshinject-image.XXXXXX)
chmod 755 "$tmp"
names=()
cleanup() {
	local n
	for n in "${names[@]}"; do podman rm -f -t 0 "$n" >/dev/null 2>&1; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run ARGS...: a container that is removed when it ends; never on a network
# it was not given explicitly.
run() { timeout 120 podman run --rm "$@"; }

# expect_eq NAME WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want: $2"$'\n'"got:  $3"; fi
}

# --- version, defaults, contents ---------------------------------------------------

expect_eq "version prints the chart's appVersion" "meshinject $version" \
    "$(run --network none "$image" version 2>&1)"

expect_eq "the image runs as 65532:65532, entrypoint /usr/local/bin/meshinject" \
    "65532:65532 [/usr/local/bin/meshinject]" \
    "$(podman image inspect --format '{{.Config.User}} {{.Config.Entrypoint}}' "$image" 2>&1)"

out=$(run --network none --user 0 --entrypoint sh "$image" -c '
	for c in iptables-restore ip6tables-restore iptables-save ip6tables-save; do
		command -v "$c" >/dev/null || echo "missing: $c"
	done
	[ -x /bin/sleep ] || echo "missing: /bin/sleep (the chart'"'"'s preStop)"
	ls /usr/local/bin/meshinject >/dev/null || echo "missing: /usr/local/bin/meshinject"
	echo done' 2>&1)
expect_eq "the image has iptables(-save/-restore) for v4 and v6, /bin/sleep, the binary" "done" "$out"

# The base's apt docker-clean config and the Dockerfile's cleanup: no apt
# cache or lists in the layers; the slim excludes: docs are copyright only.
out=$(run --network none --user 0 --entrypoint sh "$image" -c '
	find /var/cache/apt /var/lib/apt/lists -type f ! -name lock
	find /usr/share/doc -type f ! -name copyright
	find /usr/share/man /usr/share/info /usr/share/locale -type f ! -name locale.alias
	test -f /etc/dpkg/dpkg.cfg.d/docker || echo "no /etc/dpkg/dpkg.cfg.d/docker"
	test -f /etc/apt/apt.conf.d/docker-clean || echo "no /etc/apt/apt.conf.d/docker-clean"
	echo done' 2>&1)
expect_eq "no apt cache or lists in the image; slim: only copyright files under /usr/share/doc, no man/info/locale" \
    "done" "$(printf '%s\n' "$out" | head -n 20)"

# --- serve, as the chart runs it ---------------------------------------------------------

deploy=$chart/templates/deployment.yaml
# The chart's container args (the first args: list), ports from values.yaml.
mapfile -t chart_args < <(awk '/^ *args:$/ { on = 1; next }
    on && /^ *- / { sub(/^ *- /, ""); print; next } on { exit }' "$deploy")
port() {
	awk -v k="$1:" '/^containerPorts:/ { on = 1; next } on && /^[^ #]/ { exit }
	    on && $1 == k { print $2 }' "$chart/values.yaml"
}
https_port=$(port https)
metrics_port=$(port metrics)
for i in "${!chart_args[@]}"; do
	a=${chart_args[$i]}
	a=${a//'{{ .Values.containerPorts.https }}'/$https_port}
	a=${a//'{{ .Values.containerPorts.metrics }}'/$metrics_port}
	chart_args[$i]=$a
done
mount=$(awk '/^ *volumeMounts:/ { on = 1 } on && /- name: config$/ {
    getline; sub(/.*mountPath: */, ""); print; exit }' "$deploy")
mapfile -t items < <(awk '/^ *- key: / { k = $3 } /^ *path: / && k != "" { print k, $2; k = "" }' "$deploy")
uid=$(awk '/runAsUser:/ { print $2; exit }' "$deploy")
if [ "${chart_args[0]:-}" = serve ] && [ -n "$https_port" ] && [ -n "$metrics_port" ] &&
    [ -n "$mount" ] && [ ${#items[@]} -eq 3 ] && [ -n "$uid" ] &&
    ! printf '%s\n' "${chart_args[@]}" | grep -q '{{'; then
	ok "the chart's serve args, mount path $mount, items and UID $uid are read from $deploy"
else
	not_ok "the chart's serve args, mount path, items and UID are read from $deploy" \
	    "args: ${chart_args[*]}"$'\n'"mount: $mount items: ${items[*]} uid: $uid ports: $https_port $metrics_port"
	finish
fi

# The certificate from the image's own `certs`, for the chart's Service.
svc=meshinject
ns=meshinject-system
mkdir -p "$tmp/certs"
if out=$(run --network none --user 0 -v "$tmp/certs:/out" "$image" \
    certs --service "$svc" --namespace "$ns" --out /out --force 2>&1) &&
    [ -s "$tmp/certs/ca.crt" ] && [ -s "$tmp/certs/tls.crt" ] && [ -s "$tmp/certs/tls.key" ]; then
	ok "certs (in the image) writes a CA and a serving certificate for $svc.$ns.svc"
else
	not_ok "certs (in the image) writes a CA and a serving certificate" "$out"
	finish
fi

# The config: the ConfigMap of the plain manifests (rendered from the chart).
awk '/^  config.yaml: \|$/ { on = 1; next }
    on && /^    / { print substr($0, 5); next } on && /^$/ { print; next } on { exit }' \
    "$root/manifests/meshinject.yaml" >"$tmp/config.yaml"
# The chart's projected volume: key -> path, 0440, readable through the
# group (fsGroup 65532).
vol=$tmp/volume
mkdir -p "$vol"
for it in "${items[@]}"; do
	key=${it%% *}
	path=${it#* }
	case $key in
	config.yaml) src=$tmp/config.yaml ;;
	tls.crt|tls.key) src=$tmp/certs/$key ;;
	*) src=/nonexistent ;;
	esac
	mkdir -p "$(dirname "$vol/$path")"
	cp "$src" "$vol/$path" || not_ok "volume item $key -> $path"
done
chown -R "0:$uid" "$vol"
find "$vol" -type d -exec chmod 0750 '{}' +
find "$vol" -type f -exec chmod 0440 '{}' +
if [ -s "$tmp/config.yaml" ] && grep -q '^stages:' "$tmp/config.yaml"; then
	ok "the ConfigMap's config.yaml is read from manifests/meshinject.yaml"
else
	not_ok "the ConfigMap's config.yaml is read from manifests/meshinject.yaml" "$(head "$tmp/config.yaml")"
fi

serve=mi-image-serve-$$
names+=("$serve")
podman run -d --name "$serve" --network none --user "$uid:$uid" \
    --cap-drop ALL --security-opt no-new-privileges --read-only \
    --tmpfs /tmp:size=16m -e POD_NAMESPACE="$ns" \
    -v "$vol:$mount:ro" "$image" "${chart_args[@]}" >/dev/null 2>"$tmp/serve.err" ||
    not_ok "podman run serve" "$(cat "$tmp/serve.err")"
pid=$(podman inspect --format '{{.State.Pid}}' "$serve" 2>/dev/null)
# in_pod CMD...: CMD in the webhook container's network namespace.
in_pod() { timeout 20 nsenter -t "$pid" -n "$@"; }
ready=
for _ in $(seq 100); do
	[ -n "$pid" ] && [ "$pid" != 0 ] || break
	if in_pod curl -sf -o /dev/null "http://127.0.0.1:$metrics_port/readyz" 2>/dev/null; then
		ready=1
		break
	fi
	[ "$(podman inspect --format '{{.State.Running}}' "$serve" 2>/dev/null)" = true ] || break
	sleep 0.1
done
if [ -n "$ready" ]; then
	ok "serve with the chart's args becomes ready (/readyz on :$metrics_port)"
else
	not_ok "serve with the chart's args becomes ready (/readyz on :$metrics_port)" \
	    "$(podman logs "$serve" 2>&1 | tail -n 20)"
	finish
fi

ids=$(awk '/^(Uid|Gid):/ { print $1, $2, $3, $4, $5 }' "/proc/$pid/status"; grep '^CapEff:' "/proc/$pid/status")
expect_eq "serve runs as UID and GID $uid with no capabilities" \
    "Uid: $uid $uid $uid $uid"$'\n'"Gid: $uid $uid $uid $uid"$'\n'"CapEff:	0000000000000000" "$ids"

host=$svc.$ns.svc
fixture=$root/tests/fixtures/review-replicaset-pod.json
code=$(in_pod curl -sS -o "$tmp/answer.json" -w '%{http_code}' \
    --cacert "$tmp/certs/ca.crt" --resolve "$host:$https_port:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$fixture" \
    "https://$host:$https_port/mutate/traffic" 2>&1)
want_uid=$(jq -r .request.uid "$fixture")
got=$(jq -r '[.response.uid, .response.allowed, .response.patchType] | map(tostring) | join(" ")' \
    "$tmp/answer.json" 2>&1)
expect_eq "a review over TLS (verified as $host) is answered: HTTP 200, its uid, allowed, JSONPatch" \
    "200 $want_uid true JSONPatch" "$code $got"
jq -r '.response.patch // empty' "$tmp/answer.json" 2>/dev/null | base64 -d >"$tmp/patch.json" 2>/dev/null
got=$(jq -c '[.. | objects | select(.name? == "mesh-proxy" or .name? == "mesh-init") | .name] | sort' \
    "$tmp/patch.json" 2>&1)
expect_eq "the answer's patch injects mesh-init and mesh-proxy" '["mesh-init","mesh-proxy"]' "$got"

if out=$(in_pod curl -sS -o /dev/null --resolve "$host:$https_port:127.0.0.1" \
    "https://$host:$https_port/healthz" 2>&1); then
	not_ok "the serving certificate is not trusted without its CA" "curl accepted it: $out"
else
	ok "the serving certificate is not trusted without its CA"
fi

out=$(podman stop -t 20 "$serve" 2>&1 >/dev/null)
expect_eq "serve stops on SIGTERM with exit status 0" "0" \
    "$(podman inspect --format '{{.State.ExitCode}}' "$serve" 2>&1)$out"

# --- redirect, as the webhook's answer runs it -----------------------------------------

# mesh-init as the webhook put it in the patch above.
init=$(jq -c '[.. | objects | select(.name? == "mesh-init")][0]' "$tmp/patch.json" 2>/dev/null)
mapfile -t init_cmd < <(jq -r '.command[]?' <<<"$init" 2>/dev/null)
mapfile -t init_args < <(jq -r '.args[]?' <<<"$init" 2>/dev/null)
init_user=$(jq -r '.securityContext.runAsUser // empty' <<<"$init" 2>/dev/null)
init_caps=$(jq -r '.securityContext.capabilities | "add=\(.add | join(",")) drop=\(.drop | join(","))"' <<<"$init" 2>/dev/null)
expect_eq "mesh-init runs meshinject redirect as root with NET_ADMIN and NET_RAW only" \
    "meshinject redirect user=0 add=NET_ADMIN,NET_RAW drop=ALL" \
    "${init_cmd[*]} user=$init_user $init_caps"
out_port=$(printf '%s\n' "${init_args[@]}" | awk 'p { print; exit } $0 == "--outbound-port" { p = 1 }')
[ -n "$out_port" ] || out_port=15001

# pod_netns NAME: a container that holds a network namespace, as a pod's
# pause container does; prints its PID. The caller adds NAME to names.
pod_netns() {
	podman run -d --name "$1" --network none --user "$uid:$uid" --cap-drop ALL \
	    --entrypoint /bin/sleep "$image" infinity >/dev/null &&
	    podman inspect --format '{{.State.Pid}}' "$1"
}
# mesh_init POD CAPS...: the init container in POD's network namespace.
mesh_init() {
	local pod=$1
	shift
	run --network "container:$pod" --user 0:0 --cap-drop ALL "$@" \
	    --security-opt no-new-privileges --entrypoint "${init_cmd[0]:-meshinject}" \
	    "$image" "${init_cmd[@]:1}" "${init_args[@]}"
}
nat() {	# nat PID: both nat tables of PID's network namespace, counters cut
	{ nsenter -t "$1" -n iptables-save -t nat; nsenter -t "$1" -n ip6tables-save -t nat; } 2>&1 |
	    grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//; s/ *$//'
}
host_nat() { { iptables-save -t nat; ip6tables-save -t nat; } 2>/dev/null | grep -c 'MESH_'; }

host_before=$(host_nat)
pod=mi-image-pod-$$
names+=("$pod")
pod_pid=$(pod_netns "$pod")
if out=$(mesh_init "$pod" --cap-add NET_ADMIN --cap-add NET_RAW 2>&1); then
	ok "redirect with the webhook's args, NET_ADMIN and NET_RAW exits 0"
else
	not_ok "redirect with the webhook's args, NET_ADMIN and NET_RAW exits 0" "$out"
fi
# Read inside the pod's namespace with the image's own iptables...
saved=$(run --network "container:$pod" --user 0:0 --cap-drop ALL --cap-add NET_ADMIN \
    --entrypoint sh "$image" -c 'iptables-save -t nat; ip6tables-save -t nat' 2>&1 |
    grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//; s/ *$//')
# Each of these once in the IPv4 and once in the IPv6 table.
want_lines=(':MESH_INBOUND -' ':MESH_OUTPUT -' ':MESH_REDIRECT -' ':MESH_IN_REDIRECT -'
    '-A PREROUTING -p tcp -j MESH_INBOUND' '-A OUTPUT -p tcp -j MESH_OUTPUT'
    "-A MESH_REDIRECT -p tcp -j REDIRECT --to-ports $out_port")
want=$((2 * ${#want_lines[@]}))
got=0
for l in "${want_lines[@]}"; do
	[ "$(grep -cxF -- "$l" <<<"$saved")" -ne 2 ] || got=$((got + 2))
done
if [ "$got" -eq "$want" ]; then
	ok "iptables-save -t nat in the pod's namespace shows the MESH_ chains and jumps (v4 and v6)"
else
	not_ok "iptables-save -t nat in the pod's namespace shows the MESH_ chains and jumps (v4 and v6)" \
	    "$got of $want lines found in:"$'\n'"$saved"
fi
# ...and from the host, into the same namespace.
if [ -n "$pod_pid" ] && [ "$(nat "$pod_pid")" = "$saved" ]; then
	ok "the host sees the same rules in that namespace (nsenter)"
else
	not_ok "the host sees the same rules in that namespace (nsenter)" "$(nat "$pod_pid")"
fi
expect_eq "the host's own nat tables got no MESH_ rule" "$host_before" "$(host_nat)"

# Without the capabilities: a clear failure, nothing applied.
for caps in "none:" "NET_ADMIN only:--cap-add NET_ADMIN" "NET_RAW only:--cap-add NET_RAW"; do
	what=${caps%%:*}
	read -ra capargs <<<"${caps#*:}"
	bare=mi-image-bare-$$-${#names[@]}
	names+=("$bare")
	bare_pid=$(pod_netns "$bare")
	out=$(mesh_init "$bare" "${capargs[@]}" 2>&1 >/dev/null)
	rc=$?
	case $what in
	none) missing="NET_ADMIN and NET_RAW" ;;
	"NET_ADMIN only") missing="NET_RAW" ;;
	*) missing="NET_ADMIN" ;;
	esac
	if [ $rc -ne 0 ] && grep -q "missing the capabilit[a-z]* $missing (" <<<"$out" &&
	    grep -q 'nothing was applied' <<<"$out" && [ -n "$bare_pid" ] &&
	    ! nat "$bare_pid" | grep -q MESH_; then
		ok "redirect as root with capabilities: $what fails naming $missing and applies nothing"
	else
		not_ok "redirect as root with capabilities: $what fails naming $missing and applies nothing" \
		    "exit $rc: $out"$'\n'"$(nat "$bare_pid")"
	fi
done

finish
