#!/usr/bin/env bash
# build.sh - build the real components the tests run against, from the Go
# module proxy, with the machine's Go, into .tools/ (ignored by git):
#
#   kube-apiserver, kube-controller-manager, kubectl   k8s.io/kubernetes v1.37.2
#   etcd                                                go.etcd.io/etcd/server/v3 v3.7.3
#   helm                                                helm.sh/helm/v4 v4.3.2
#   envoy-validate                                      tests/tools/envoyvalidate (go-control-plane)
#   vegeta (only when named)                            github.com/tsenart/vegeta/v12 v12.13.0
#
#   tests/tools/build.sh [NAME...]     (default: the first four; NAME is
#                                       kubernetes, etcd, helm, envoy-validate
#                                       or vegeta, which only make bench needs)
#
# Each lands in .tools/<name>-<version>/ and is linked from .tools/bin/. A
# version folder that is complete is kept: a second run does nothing. The
# module files (go.mod, go.sum) beside this script pin every dependency; the
# Go build cache makes a rebuild after `rm -rf .tools` take seconds. From an
# empty Go cache the five take about 15 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tools=${MESHINJECT_TOOLS:-$top/.tools}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

if ! command -v go >/dev/null 2>&1; then
	echo "build.sh: go is not on PATH; the real components are built with Go 1.26" >&2
	exit 1
fi

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
HELM_VERSION=v4.3.2
VEGETA_VERSION=v12.13.0

# build NAME VERSION MODULE-DIR LDFLAGS PACKAGE...
build() {
	local name=$1 version=$2 dir=$3 ldflags=$4
	shift 4
	local dest=$tools/$name-$version
	if [ -f "$dest/.complete" ]; then
		return 0
	fi
	echo "build.sh: building $name $version into $dest" >&2
	local start=$SECONDS
	rm -rf "$dest.tmp"
	mkdir -p "$dest.tmp"
	(cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dest.tmp/" "$@")
	touch "$dest.tmp/.complete"
	rm -rf "$dest"
	mv "$dest.tmp" "$dest"
	echo "build.sh: $name $version built in $((SECONDS - start)) s" >&2
}

link() {
	local name=$1 version=$2
	mkdir -p "$tools/bin"
	local f
	for f in "$tools/$name-$version"/*; do
		ln -sfn "../$name-$version/$(basename "$f")" "$tools/bin/$(basename "$f")"
	done
}

# One build at a time: tests and people may call this concurrently.
mkdir -p "$tools"
exec 9>"$tools/.lock"
flock 9

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kubernetes etcd helm envoy-validate)
for w in "${want[@]}"; do
	case $w in
	kubernetes)
		v=k8s.io/component-base/version
		build kubernetes $K8S_VERSION "$here/kubernetes" \
			"-X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=37 -X $v.gitTreeState=clean" \
			k8s.io/kubernetes/cmd/kube-apiserver \
			k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kubectl
		link kubernetes $K8S_VERSION
		;;
	etcd)
		build etcd $ETCD_VERSION "$here/etcd" "" go.etcd.io/etcd/server/v3
		# the main package of go.etcd.io/etcd/server/v3 builds as "server"
		# (Go drops the major-version element; older Go named it "v3")
		for b in server v3; do
			[ -e "$tools/etcd-$ETCD_VERSION/etcd" ] || [ ! -e "$tools/etcd-$ETCD_VERSION/$b" ] ||
				mv "$tools/etcd-$ETCD_VERSION/$b" "$tools/etcd-$ETCD_VERSION/etcd"
		done
		link etcd $ETCD_VERSION
		;;
	helm)
		v=helm.sh/helm/v4/internal/version
		build helm $HELM_VERSION "$here/helm" \
			"-X $v.version=$HELM_VERSION -X $v.gitTreeState=clean" \
			helm.sh/helm/v4/cmd/helm
		link helm $HELM_VERSION
		;;
	envoy-validate)
		if [ -f "$here/envoyvalidate/go.mod" ]; then
			# keyed by the hash of its own sources, so an edit rebuilds it
			h=$(cat "$here"/envoyvalidate/*.go "$here/envoyvalidate/go.mod" "$here/envoyvalidate/go.sum" | sha256sum | cut -c1-12)
			build envoy-validate "$h" "$here/envoyvalidate" "" .
			[ -e "$tools/envoy-validate-$h/envoy-validate" ] || mv "$tools/envoy-validate-$h/envoyvalidate" "$tools/envoy-validate-$h/envoy-validate"
			link envoy-validate "$h"
		fi
		;;
	vegeta)
		# Go names the binary "vegeta" (dropping /v12); older Go named it "v12"
		build vegeta $VEGETA_VERSION "$here/vegeta" "-X main.Version=$VEGETA_VERSION" \
			github.com/tsenart/vegeta/v12
		[ -e "$tools/vegeta-$VEGETA_VERSION/vegeta" ] || [ ! -e "$tools/vegeta-$VEGETA_VERSION/v12" ] || mv "$tools/vegeta-$VEGETA_VERSION/v12" "$tools/vegeta-$VEGETA_VERSION/vegeta"
		link vegeta $VEGETA_VERSION
		;;
	*)
		echo "build.sh: unknown component $w (kubernetes, etcd, helm, envoy-validate, vegeta)" >&2
		exit 2
		;;
	esac
done
