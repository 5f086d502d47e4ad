#!/usr/bin/env bash
# tests/image/build.sh - build the image users pull (`make image`): the
# top-level Dockerfile, with podman, tagged meshinject/meshinject:<the
# chart's appVersion>, and print its size.
#
# No container registry is reachable here, so the Dockerfile's base images
# are made first: `debootstrap --variant=minbase bookworm` from the Debian
# archive apt uses (read from /etc/apt/sources.list{,.d/}), given the
# Docker Official Image's container tweaks (debuerreotype's minimizing
# config: no services started by dpkg, apt's docker-clean so no apt cache
# stays in a layer, no translations, gzipped indexes), apt sources for
# bookworm, bookworm-updates and bookworm-security, and imported as
# debian:12. debian:12-slim is the same tree with the slim image's dpkg
# path excludes (/etc/dpkg/dpkg.cfg.d/docker) applied and those paths
# removed. The bases are made once: kept in podman's storage, and as
# tarballs under build/image/base/<date>-<mirror>/ to re-import from;
# MESHINJECT_IMAGE_NEW_BASE=1 makes them again.
#
# podman runs with tests/image/containers.conf (runc, pinned ulimits;
# through CONTAINERS_CONF, /etc is not touched). The build uses the host's
# network (--network host): podman's default bridge network would turn on
# the host's net.ipv4.ip_forward, which other tests must not inherit.
#
#   tests/image/build.sh [podman build options...]   e.g. --no-cache
#
# Needs root (rootful podman, debootstrap); installs the Debian packages it
# needs when they are missing. Exit status 0 when the image is built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CONTAINERS_CONF=$here/containers.conf

say() { echo "image: $*"; }
die() { echo "image: FAILED: $*" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || die "needs root (rootful podman, debootstrap); run as root or in CI"

# One build at a time (make image and make test-image may overlap).
mkdir -p "$root/build/image"
exec 9>"$root/build/image/.lock"
flock 9

# --- Prerequisites -----------------------------------------------------------

need=()
for p in podman:podman buildah:buildah runc:runc debootstrap:debootstrap \
    jq:jq curl:curl nsenter:util-linux iptables-save:iptables; do
	command -v "${p%%:*}" >/dev/null 2>&1 || need+=("${p#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || die "apt-get update failed"
	apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 \
	    "${need[@]}" || die "apt-get install ${need[*]} failed"
fi

# --- The Debian archive apt uses ---------------------------------------------

# sources_for SUITE: the URI of the first enabled "deb" entry for SUITE in
# apt's sources (one-line .list files and deb822 .sources files).
sources_for() {
	local suite=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [option=value ...] URI SUITE COMPONENT...
		awk -v s="$suite" '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# One stanza per paragraph; Types, URIs, Suites, Enabled.
		awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
		{
			types = ""; uris = ""; suites = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/) continue
				split($i, kv, ":[ \t]*")
				k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2)
				sub(/^[ \t]+/, "", v)
				if (k == "types") types = v
				else if (k == "uris") uris = v
				else if (k == "suites") suites = v
				else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled == "no" || (" " types " ") !~ / deb /) next
			n = split(suites, ss, /[ \t]+/)
			for (j = 1; j <= n; j++) if (ss[j] == s) {
				split(uris, us, /[ \t]+/); print us[1]; exit
			}
		}' "$f"
	done
}

mirror=$(sources_for bookworm | head -n 1)
security=$(sources_for bookworm-security | head -n 1)
[ -n "$mirror" ] || die "no 'deb ... bookworm' entry in /etc/apt/sources.list or /etc/apt/sources.list.d/ (debootstrap needs the archive apt uses)"
mirror=${mirror%/}
security=${security%/}
[ -n "$security" ] || say "no bookworm-security entry in apt's sources: the base images get none"
say "Debian archive: $mirror${security:+ (security: $security)}"

# --- Base images ----------------------------------------------------------------

LABEL_MIRROR=org.meshinject.base.mirror
base_ok() {	# base_ok TAG: made by this script from this mirror
	podman image exists "$1" &&
	    [ "$(podman image inspect --format "{{index .Labels \"$LABEL_MIRROR\"}}" "$1" 2>/dev/null)" = "$mirror" ]
}

# The Docker Official Image's tweaks (debuerreotype-minimizing-config).
minimize() {
	local d=$1
	cat >"$d/usr/sbin/policy-rc.d" <<-'EOF'
	#!/bin/sh
	# Services are not started by package installs in an image build.
	exit 101
	EOF
	chmod 0755 "$d/usr/sbin/policy-rc.d"
	printf '%s\n' '# Image builds do not survive power loss: no sync() per package.' \
	    force-unsafe-io >"$d/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	printf '%s\n' 'Apt::AutoRemove::SuggestsImportant "false";' \
	    >"$d/etc/apt/apt.conf.d/docker-autoremove-suggests"
	# apt-get clean after every install and update: no .deb files and no
	# package caches stay in an image layer.
	local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
	cat >"$d/etc/apt/apt.conf.d/docker-clean" <<-EOF
	DPkg::Post-Invoke { $clean };
	APT::Update::Post-Invoke { $clean };

	Dir::Cache::pkgcache "";
	Dir::Cache::srcpkgcache "";
	EOF
	echo 'Acquire::GzipIndexes "true";' >"$d/etc/apt/apt.conf.d/docker-gzip-indexes"
	echo 'Acquire::Languages "none";' >"$d/etc/apt/apt.conf.d/docker-no-languages"
	chmod 0644 "$d"/etc/dpkg/dpkg.cfg.d/docker-* "$d"/etc/apt/apt.conf.d/docker-*

	# apt sources as the official image has them, on this archive.
	rm -f "$d/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\n' "$mirror"
		printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		if [ -n "$security" ]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\n' "$security"
			printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		fi
	} >"$d/etc/apt/sources.list.d/debian.sources"

	# Nothing of this machine or of the bootstrap stays in the tree.
	chroot "$d" apt-get clean
	rm -rf "$d"/var/lib/apt/lists/* "$d"/var/cache/apt/*.bin \
	    "$d"/var/cache/ldconfig/aux-cache "$d"/var/log/apt/* \
	    "$d"/var/log/bootstrap.log "$d"/var/log/dpkg.log \
	    "$d"/var/log/alternatives.log "$d"/etc/resolv.conf "$d"/etc/hostname \
	    "$d"/tmp/* "$d"/root/.bash_history
	: >"$d/etc/machine-id"
}

# The slim variant (debuerreotype-slimify): dpkg excludes these paths from
# every later install, and what is there now is removed.
SLIM_EXCLUDES=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*'
    /usr/share/linda/'*' /usr/share/lintian/overrides/'*' /usr/share/locale/'*'
    /usr/share/man/'*')
SLIM_INCLUDES=(/usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*'
    /usr/share/gnome/help/'*'/C/'*' /usr/share/locale/all_languages
    /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*'
    /usr/share/locale/languages /usr/share/locale/locale.alias
    /usr/share/omf/'*'/'*'-C.emf)
slimify() {
	local d=$1 x i keep=()
	{
		echo '# The "slim" variant of the Debian base image (made by'
		echo '# tests/image/build.sh): files normally unneeded in containers'
		echo '# are excluded, and this file keeps them that way.'
		for x in "${SLIM_EXCLUDES[@]}"; do echo "path-exclude $x"; done
		for i in "${SLIM_INCLUDES[@]}"; do echo "path-include $i"; done
	} >"$d/etc/dpkg/dpkg.cfg.d/docker"
	chmod 0644 "$d/etc/dpkg/dpkg.cfg.d/docker"
	for i in "${SLIM_INCLUDES[@]}"; do
		[ ${#keep[@]} -eq 0 ] || keep+=(-o)
		keep+=(-path "$i")
	done
	for x in "${SLIM_EXCLUDES[@]}"; do
		x=${x%/\*}
		[ -d "$d$x" ] || continue
		# Files first (not the included ones), then empty directories and
		# dangling links until none is left; inside the tree, so that
		# absolute links resolve there.
		chroot "$d" find "$x" -depth -mindepth 1 -not \( "${keep[@]}" \) \
		    -not \( -type d -o -type l \) -exec rm -f '{}' +
		while [ "$(chroot "$d" find "$x" -depth -mindepth 1 \
		    \( -empty -o -xtype l \) -exec rm -rf '{}' ';' -printf . | wc -c)" -gt 0 ]; do :; done
	done
}

make_bases() {
	local key dir work t
	key=$(date -u +%Y%m%d)-$(printf '%s' "$mirror $security" | sha256sum | cut -c1-12)
	dir=$root/build/image/base/$key
	if [ "${MESHINJECT_IMAGE_NEW_BASE:-}" = 1 ] || [ ! -f "$dir/.complete" ]; then
		work=$root/build/image/base/rootfs.tmp
		rm -rf "$work" "$dir"
		mkdir -p "$work" "$dir"
		say "debootstrap --variant=minbase bookworm from $mirror"
		t=$(now)
		debootstrap --variant=minbase bookworm "$work" "$mirror" \
		    >"$dir/debootstrap.log" 2>&1 ||
		    { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
		say "debootstrap took $(took "$t") s"
		t=$(now)
		minimize "$work"
		tar --numeric-owner --xattrs --xattrs-include='*' -C "$work" -cf "$dir/debian-12.tar" .
		say "debian:12 rootfs: $(du -m "$dir/debian-12.tar" | cut -f1) MB ($(took "$t") s)"
		t=$(now)
		slimify "$work"
		tar --numeric-owner --xattrs --xattrs-include='*' -C "$work" -cf "$dir/debian-12-slim.tar" .
		say "debian:12-slim rootfs: $(du -m "$dir/debian-12-slim.tar" | cut -f1) MB (slimmed in $(took "$t") s)"
		rm -rf "$work"
		touch "$dir/.complete"
		# Older bases are not needed any more.
		find "$root/build/image/base" -mindepth 1 -maxdepth 1 -type d \
		    ! -name "$key" -exec rm -rf '{}' +
	else
		say "reusing the base rootfs tarballs in $dir"
	fi
	local tag
	for tag in 12 12-slim; do
		podman import --quiet \
		    --change 'CMD ["bash"]' \
		    --change "LABEL $LABEL_MIRROR=$mirror" \
		    --change "LABEL org.meshinject.base.made=debootstrap-minbase-$key" \
		    "$dir/debian-$tag.tar" "debian:$tag" >/dev/null ||
		    die "podman import of debian:$tag failed"
		say "imported debian:$tag ($(podman image inspect --format '{{.Size}}' "debian:$tag" | awk '{ printf "%.1f", $1 / 1e6 }') MB)"
	done
}

if [ "${MESHINJECT_IMAGE_NEW_BASE:-}" != 1 ] && base_ok debian:12 && base_ok debian:12-slim; then
	say "base images debian:12 and debian:12-slim are in podman's storage (MESHINJECT_IMAGE_NEW_BASE=1 makes them again)"
else
	make_bases
fi

# --- The image ---------------------------------------------------------------------

version=$(sed -n 's/^appVersion:[[:space:]]*"\{0,1\}\([^"]*\)"\{0,1\}[[:space:]]*$/\1/p' \
    "$root/charts/meshinject/Chart.yaml")
[ -n "$version" ] || die "no appVersion in charts/meshinject/Chart.yaml"
image=meshinject/meshinject:$version

say "podman build -t $image ${*:-}"
t=$(now)
podman build --pull=never --network host -t "$image" "$@" "$root" ||
    die "podman build failed"
say "podman build took $(took "$t") s"

size=$(podman image inspect --format '{{.Size}}' "$image") || die "podman image inspect $image failed"
say "built localhost/$image: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }') MB)"
