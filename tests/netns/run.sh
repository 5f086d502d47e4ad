#!/usr/bin/env bash
# tests/netns/run.sh - prove `meshinject redirect` on real packets: two network
# namespaces (a "pod" and a "peer") joined by a veth pair, IPv4 and IPv6, the
# redirect applied in the pod with the arguments the webhook gives mesh-init,
# and a stand-in proxy (netprobe.c) that reports the original destination of
# what it receives. Runs once per iptables flavour installed (nft, legacy),
# each in fresh namespaces.
#
# Needs root and `ip netns`; otherwise prints SKIPPED and exits 0, or with
# CI=true fails saying why. Touches nothing outside the namespaces it creates
# (addresses 10.200.0.0/29 and fd00:200::/64 exist only inside them) and
# depends on no host setting: each namespace's forwarding sysctls are set
# here (a new namespace may inherit the host's net.ipv4.ip_forward, which
# podman, Docker or a CNI turns on). Ends with "N passed, M failed".
#
#   MESHINJECT_BIN=path   the binary to test (default build/meshinject)
#   MESHINJECT_NETNS_FLAVOURS="nft legacy"   the iptables flavours to try (the
#                         default); when none of them is installed, the plain
#                         iptables-restore in PATH is tested instead
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${MESHINJECT_BIN:-$root/build/meshinject}

skip() {
	if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
		echo "FAIL: tests/netns cannot run under CI: $*"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "################################################################"
	echo "SKIPPED: tests/netns: $*"
	echo "################################################################"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "not root (network namespaces and iptables need root)"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"
ip netns list >/dev/null 2>&1 || skip "ip netns is not available"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
command -v cc >/dev/null || skip "no C compiler for the stand-in proxy"
[ -x "$BIN" ] || { echo "FAIL: $BIN is not built (make)"; echo "0 passed, 1 failed"; exit 1; }
if ! out=$(timeout 10 "$BIN" redirect --help 2>&1); then
	echo "FAIL: $BIN redirect --help does not run:"; echo "$out"
	echo "0 passed, 1 failed"; exit 1
fi

flavours=()
for f in ${MESHINJECT_NETNS_FLAVOURS-nft legacy}; do
	command -v "iptables-$f-restore" >/dev/null &&
	    command -v "ip6tables-$f-restore" >/dev/null && flavours+=("$f")
done
# Elsewhere, whatever plain iptables-restore there is.
[ ${#flavours[@]} -gt 0 ] || ! command -v iptables-restore >/dev/null || flavours=(default)
[ ${#flavours[@]} -gt 0 ] || skip "iptables-restore is not installed"

# flv NAME: this flavour's binary for NAME (iptables-restore -> iptables-nft-restore).
flv() {
	local base=${1%%-*}
	if [ "$flavour" = default ]; then echo "$1"; else echo "$base-$flavour${1#"$base"}"; fi
}

tmp=$(mktemp -d /tmp/meshinject-netns.XXXXXX)
chmod 755 "$tmp"	# the app and proxy UIDs run netprobe from here
POD=mi-pod-$$
PEER=mi-peer-$$
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	ip netns del "$POD" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! cc -O2 -Wall -Wextra -o "$tmp/netprobe" "$here/netprobe.c"; then
	echo "FAIL: cannot build netprobe"; echo "0 passed, 1 failed"; exit 1
fi
probe=$tmp/netprobe

passed=0
failed=0
flavour=
ok() { passed=$((passed + 1)); echo "ok   [$flavour] $1"; }
not_ok() {
	failed=$((failed + 1))
	echo "FAIL [$flavour] $1"
	printf '%s\n' "$2" | sed 's/^/       /'
}

# expect NAME PATTERN CMD...: CMD's output (stdout and stderr) must match the
# bash pattern.
expect() {
	local name=$1 want=$2 out
	shift 2
	want=${want//\[/\\[}	# brackets are literal (IPv6 addresses)
	want=${want//\]/\\]}
	out=$("$@" 2>&1)
	if [[ $out == $want ]]; then ok "$name"; else not_ok "$name" "want: $want"$'\n'"got:  $out"; fi
}

# Who connects. Every connect is bounded by netprobe (3 s) and by timeout.
as_app() { ip netns exec "$POD" timeout 10 setpriv --reuid 1000 --regid 1000 --clear-groups "$probe" connect "$@"; }
as_proxy() { ip netns exec "$POD" timeout 10 setpriv --reuid 1337 --regid 1337 --clear-groups "$probe" connect "$@"; }
from_peer() { ip netns exec "$PEER" timeout 10 "$probe" connect "$@"; }

# The redirect, with this flavour's iptables first in PATH.
redirect() { ip netns exec "$POD" env PATH="$tmp/$flavour:$PATH" timeout 30 "$BIN" redirect "$@"; }
save4() { ip netns exec "$POD" "$(flv iptables-save)" -t nat | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; }
save6() { ip netns exec "$POD" "$(flv ip6tables-save)" -t nat | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; }

# What the webhook puts on an injected mesh-init with the default config
# (webhook/inject.c, inject_redirect_args).
WEBHOOK_ARGS=(--proxy-uid 1337 --proxy-gid 1337 --outbound-port 15001
    --inbound-port 15006 --proxy-ports 15000,15021,15090)

start() {	# start NS LABEL PORT...: a listener, waited for
	local ns=$1 out=$tmp/serve.$RANDOM
	shift
	ip netns exec "$ns" "$probe" serve "$@" >"$out" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do
		grep -q ready "$out" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "listener $* did not start:"; cat "$out"
	return 1
}

# no_forwarding NS: NS routes nothing between its interfaces, whatever the
# host's setting that a new namespace may have inherited. The peer must not
# forward: the documentation addresses --check connects to are dropped
# there, not answered with "no route".
FORWARDING=(ipv4/ip_forward ipv4/conf/all/forwarding ipv4/conf/default/forwarding
    ipv6/conf/all/forwarding ipv6/conf/default/forwarding)
no_forwarding() {
	local f v
	for f in "${FORWARDING[@]}"; do
		ip netns exec "$1" sh -c 'echo 0 >"/proc/sys/net/$1"' sh "$f" || return 1
		v=$(ip netns exec "$1" cat "/proc/sys/net/$f") || return 1
		[ "$v" = 0 ] || { echo "$1: net/$f is $v after writing 0"; return 1; }
	done
}

setup() {
	ip netns add "$POD" && ip netns add "$PEER" || return 1
	no_forwarding "$POD" && no_forwarding "$PEER" || return 1
	ip -n "$POD" link set lo up
	ip -n "$PEER" link set lo up
	ip -n "$POD" link add eth0 type veth peer name eth0 netns "$PEER" || return 1
	ip -n "$POD" addr add 10.200.0.1/29 dev eth0
	ip -n "$POD" addr add fd00:200::1/64 dev eth0 nodad
	ip -n "$PEER" addr add 10.200.0.2/29 dev eth0
	ip -n "$PEER" addr add 10.200.0.3/29 dev eth0
	ip -n "$PEER" addr add fd00:200::2/64 dev eth0 nodad
	ip -n "$PEER" addr add fd00:200::3/64 dev eth0 nodad
	ip -n "$POD" link set eth0 up
	ip -n "$PEER" link set eth0 up
	# A pod has a default route; --check connects to documentation
	# addresses through it (the peer drops them: it does not forward).
	ip -n "$POD" route add default via 10.200.0.2
	ip -n "$POD" -6 route add default via fd00:200::2
	# This flavour's iptables under the plain names meshinject runs.
	mkdir -p "$tmp/$flavour"
	local t
	for t in iptables-restore iptables-save ip6tables-restore ip6tables-save; do
		ln -sf "$(command -v "$(flv "$t")")" "$tmp/$flavour/$t"
	done
	# The pod: the app on 8080 and 8081, the proxy on its outbound,
	# inbound and status ports. The peer: a server on 8080 and 9090.
	start "$POD" app 8080 8081 &&
	    start "$POD" proxy 15001 15006 15021 &&
	    start "$PEER" peer 8080 9090
}

teardown() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	pids=()
	ip netns del "$POD" 2>/dev/null
	ip netns del "$PEER" 2>/dev/null
}

# family_checks V4ADDR... : the checks that run for each family.
# $1 peer, $2 second peer address, $3 pod address, $4 localhost, $5 tag,
# $6 how an address is written in netprobe's output ([a] for v6).
defaults_checks() {
	local peer=$1 pod=$3 lo=$4 v=$5 b=$6 e=$7
	expect "$v app -> peer:8080 lands on the outbound port, destination recovered" \
	    "proxy local=*:15001 orig=$b$peer$e:8080" as_app "$peer" 8080
	expect "$v proxy UID -> peer:8080 goes straight to the peer" \
	    "peer local=$b$peer$e:8080 *" as_proxy "$peer" 8080
	expect "$v peer -> pod:8080 lands on the inbound port, destination recovered" \
	    "proxy local=*:15006 orig=$b$pod$e:8080" from_peer "$pod" 8080
	expect "$v peer -> pod:15021 (proxy status port) is not redirected" \
	    "proxy local=$b$pod$e:15021 orig=$b$pod$e:15021" from_peer "$pod" 15021
	expect "$v app -> localhost:8080 reaches the app itself" \
	    "app local=$b$lo$e:8080 orig=$b$lo$e:8080" as_app "$lo" 8080
	expect "$v app -> its own pod IP:8080 reaches the app itself" \
	    "app local=$b$pod$e:8080 orig=$b$pod$e:8080" as_app "$pod" 8080
	expect "$v proxy UID -> localhost:8080 reaches the app (no loop)" \
	    "app local=$b$lo$e:8080 orig=$b$lo$e:8080" as_proxy "$lo" 8080
	expect "$v proxy UID -> own pod IP:8080 goes through the inbound port" \
	    "proxy local=*:15006 orig=$b$pod$e:8080" as_proxy "$pod" 8080
}

exclude_checks() {
	local peer=$1 peer2=$2 pod=$3 v=$5 b=$6 e=$7
	expect "$v app -> peer:9090 (excluded outbound port) goes straight out" \
	    "peer local=$b$peer$e:9090 *" as_app "$peer" 9090
	expect "$v app -> excluded CIDR goes straight out" \
	    "peer local=$b$peer2$e:8080 *" as_app "$peer2" 8080
	expect "$v app -> peer:8080 is still redirected" \
	    "proxy local=*:15001 orig=$b$peer$e:8080" as_app "$peer" 8080
	expect "$v peer -> pod:8081 (excluded inbound port) reaches the app" \
	    "app local=$b$pod$e:8081 orig=$b$pod$e:8081" from_peer "$pod" 8081
	expect "$v peer -> pod:8080 is still redirected inbound" \
	    "proxy local=*:15006 orig=$b$pod$e:8080" from_peer "$pod" 8080
}

include_checks() {	# included: the second peer address, port 8081
	local peer=$1 peer2=$2 pod=$3 v=$5 b=$6 e=$7
	expect "$v app -> included CIDR is redirected" \
	    "proxy local=*:15001 orig=$b$peer2$e:8080" as_app "$peer2" 8080
	expect "$v app -> address outside the included CIDRs goes straight out" \
	    "peer local=$b$peer$e:8080 *" as_app "$peer" 8080
	expect "$v peer -> pod:8081 (included inbound port) is redirected" \
	    "proxy local=*:15006 orig=$b$pod$e:8081" from_peer "$pod" 8081
	expect "$v peer -> pod:8080 (not included) reaches the app" \
	    "app local=$b$pod$e:8080 orig=$b$pod$e:8080" from_peer "$pod" 8080
}

empty_checks() {
	local peer=$1 pod=$3 v=$5 b=$6 e=$7
	expect "$v empty includes: app -> peer:8080 goes straight out" \
	    "peer local=$b$peer$e:8080 *" as_app "$peer" 8080
	expect "$v empty includes: peer -> pod:8080 reaches the app" \
	    "app local=$b$pod$e:8080 orig=$b$pod$e:8080" from_peer "$pod" 8080
}

V4=(10.200.0.2 10.200.0.3 10.200.0.1 127.0.0.1 IPv4 "" "")
V6=(fd00:200::2 fd00:200::3 fd00:200::1 ::1 IPv6 "[" "]")

# applies NAME ARGS...: the redirect exits 0 and prints both rulesets.
applies() {
	local name=$1 out rc
	shift
	out=$(redirect "$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ "$(grep -c -- '^-A OUTPUT -p tcp -j MESH_OUTPUT$' <<<"$out")" = 2 ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc: $out"
	fi
}

# one_copy NAME: exactly one jump from each hook, in both families.
one_copy() {
	local s4 s6
	s4=$(save4)
	s6=$(save6)
	if [ "$(grep -c -- '-A PREROUTING .*-j MESH_INBOUND' <<<"$s4")" = 1 ] &&
	    [ "$(grep -c -- '-A OUTPUT .*-j MESH_OUTPUT' <<<"$s4")" = 1 ] &&
	    [ "$(grep -c -- '-A PREROUTING .*-j MESH_INBOUND' <<<"$s6")" = 1 ] &&
	    [ "$(grep -c -- '-A OUTPUT .*-j MESH_OUTPUT' <<<"$s6")" = 1 ]; then
		ok "$1"
	else
		not_ok "$1" "$s4"$'\n'"$s6"
	fi
}

suite() {
	local out before after rc

	if ! setup; then
		not_ok "set up the namespaces" "see above"
		teardown
		return
	fi

	# 0. --dry-run prints and applies nothing.
	out=$(redirect --dry-run "${WEBHOOK_ARGS[@]}" 2>&1)
	if grep -q -- '-A OUTPUT -p tcp -j MESH_OUTPUT' <<<"$out" &&
	    ! save4 | grep -q MESH_ && ! save6 | grep -q MESH_; then
		ok "--dry-run prints the rules and applies nothing"
	else
		not_ok "--dry-run prints the rules and applies nothing" "$out"
	fi

	# 1. The webhook's default arguments.
	applies "redirect with the webhook's default arguments applies and prints its rules" \
	    "${WEBHOOK_ARGS[@]}"
	defaults_checks "${V4[@]}"
	defaults_checks "${V6[@]}"

	# 2. A re-run with the same arguments changes nothing and leaves one
	# copy of the rules.
	before=$(save4; save6)
	redirect "${WEBHOOK_ARGS[@]}" >/dev/null 2>&1
	redirect "${WEBHOOK_ARGS[@]}" >/dev/null 2>&1
	after=$(save4; save6)
	if [ "$before" = "$after" ]; then ok "two re-runs leave the same rules"
	else not_ok "two re-runs leave the same rules" "$(diff <(echo "$before") <(echo "$after"))"; fi
	one_copy "re-runs leave one jump from PREROUTING and OUTPUT (v4 and v6)"
	# Stacked jumps (an older tool, a half-done run) are cleaned up too.
	ip netns exec "$POD" "$(flv iptables)" -t nat -A OUTPUT -p tcp -j MESH_OUTPUT
	ip netns exec "$POD" "$(flv ip6tables)" -t nat -I PREROUTING -p tcp -j MESH_INBOUND
	redirect "${WEBHOOK_ARGS[@]}" >/dev/null 2>&1
	one_copy "a re-run removes stacked duplicate jumps"

	# 3. Exclusions, applied over the previous rules (which they replace).
	applies "a re-run with exclusions applies" "${WEBHOOK_ARGS[@]}" \
	    --exclude-outbound-ports=9090 \
	    --exclude-outbound-cidrs 10.200.0.3/32,fd00:200::3/128 \
	    --exclude-inbound-ports 8081
	exclude_checks "${V4[@]}"
	exclude_checks "${V6[@]}"
	one_copy "the exclusions replaced the earlier rules"

	# 4. Inclusions.
	applies "a re-run with inclusions applies" "${WEBHOOK_ARGS[@]}" \
	    --include-inbound-ports 8081 \
	    --include-outbound-cidrs=10.200.0.3/32,fd00:200::3/128
	include_checks "${V4[@]}"
	include_checks "${V6[@]}"

	# 5. Empty includes: nothing is captured.
	applies "a re-run with empty includes applies" "${WEBHOOK_ARGS[@]}" \
	    --include-inbound-ports= --include-outbound-cidrs ""
	empty_checks "${V4[@]}"
	empty_checks "${V6[@]}"

	# 6. Bad arguments: exit 2, name the flag and value, apply nothing.
	before=$(save4; save6)
	expect "a bad port exits 2 naming flag and value" \
	    '*--exclude-inbound-ports "80,abc": "abc" is not a port*rc=2' \
	    bash -c 'ip netns exec "$0" "$1" redirect --exclude-inbound-ports 80,abc; echo "rc=$?"' "$POD" "$BIN"
	expect "a bad CIDR exits 2 naming flag and value" \
	    '*--exclude-outbound-cidrs "10.0.0.0/33": "10.0.0.0/33" is not a CIDR*rc=2' \
	    bash -c 'ip netns exec "$0" "$1" redirect --exclude-outbound-cidrs=10.0.0.0/33; echo "rc=$?"' "$POD" "$BIN"
	after=$(save4; save6)
	if [ "$before" = "$after" ]; then ok "bad arguments applied nothing"
	else not_ok "bad arguments applied nothing" "$(diff <(echo "$before") <(echo "$after"))"; fi

	# Root without NET_ADMIN and NET_RAW (a container that was not given
	# them): refused up front, naming them, nothing applied.
	before=$(save4; save6)
	expect "redirect without NET_ADMIN and NET_RAW exits 1 naming them" \
	    '*missing the capabilities NET_ADMIN and NET_RAW (*nothing was applied*rc=1' \
	    bash -c 'ip netns exec "$0" setpriv --inh-caps=-all --bounding-set=-net_admin,-net_raw "$1" redirect "${@:2}"; echo "rc=$?"' \
	    "$POD" "$BIN" "${WEBHOOK_ARGS[@]}"
	after=$(save4; save6)
	if [ "$before" = "$after" ]; then ok "without the capabilities nothing was applied"
	else not_ok "without the capabilities nothing was applied" "$(diff <(echo "$before") <(echo "$after"))"; fi

	# 7. A failing iptables-restore fails the command with iptables' own
	# message (here: a REDIRECT to port 99999, which iptables refuses).
	mkdir -p "$tmp/broken"
	printf '#!/bin/sh\nsed "s/--to-ports 15001/--to-ports 99999/" | exec "%s" "$@"\n' \
	    "$(command -v "$(flv iptables-restore)")" >"$tmp/broken/iptables-restore"
	chmod +x "$tmp/broken/iptables-restore"
	out=$(ip netns exec "$POD" env PATH="$tmp/broken:$tmp/$flavour:$PATH" timeout 30 "$BIN" redirect "${WEBHOOK_ARGS[@]}" 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ] && grep -q "Port \`99999' not valid" <<<"$out" && grep -q 'iptables-restore failed' <<<"$out"; then
		ok "a failing iptables-restore exits $rc with iptables' message"
	else
		not_ok "a failing iptables-restore exits non-zero with iptables' message" "exit $rc: $out"
	fi

	# 8. --check (cni mode): passes with the redirect in place, fails
	# without it. It listens on the outbound port itself, so the stand-in
	# proxy goes away first.
	teardown_proxy
	redirect "${WEBHOOK_ARGS[@]}" >/dev/null 2>&1
	expect "--check passes with the redirect in place (v4 and v6)" \
	    $'IPv4: *redirect in place\nIPv6: *redirect in place*rc=0' \
	    bash -c 'ip netns exec "$0" timeout 30 "$1" redirect --check; echo "rc=$?"' "$POD" "$BIN"
	# It needs no privilege: as an ordinary UID it connects as itself...
	cp "$BIN" "$tmp/meshinject-copy" && chmod 755 "$tmp/meshinject-copy"
	expect "--check as an app UID passes too" \
	    $'IPv4: *redirect in place\nIPv6: *redirect in place*rc=0' \
	    bash -c 'ip netns exec "$0" timeout 30 setpriv --reuid 1000 --regid 1000 --clear-groups "$1" redirect --check; echo "rc=$?"' "$POD" "$tmp/meshinject-copy"
	# ...but the proxy's own traffic is never redirected: it says so.
	expect "--check as the proxy UID fails and says why" \
	    '*must run as root or as a UID and GID other than the proxy*rc=1' \
	    bash -c 'ip netns exec "$0" timeout 30 setpriv --reuid 1337 --regid 1337 --clear-groups "$1" redirect --check; echo "rc=$?"' "$POD" "$tmp/meshinject-copy"
	ip netns exec "$POD" "$(flv iptables)" -t nat -D OUTPUT -p tcp -j MESH_OUTPUT
	expect "--check fails when the IPv4 redirect is missing" \
	    '*IPv4: a connection to 192.0.2.1 port 80 did not arrive on the outbound port 15001*rc=1' \
	    bash -c 'ip netns exec "$0" timeout 30 "$1" redirect --check; echo "rc=$?"' "$POD" "$BIN"

	teardown
}

# The stand-in proxy is the second listener started by setup.
teardown_proxy() {
	kill "${pids[1]}" 2>/dev/null
	wait "${pids[1]}" 2>/dev/null
}

# The command line prints exactly the rules of the golden files (which
# tests/check_redirect.c compares with the rule builder).
flavour=cli
for f in "$root"/tests/redirect/*.args; do
	n=${f%.args}
	[ -e "$n.saved-v4" ] && continue	# needs saved rules: unit test only
	mapfile -t a <"$f"
	if out=$(timeout 10 "$BIN" redirect --dry-run "${a[@]}" 2>&1 | diff "$n.rules" -); then
		ok "redirect --dry-run $(basename "$n") prints $(basename "$n").rules"
	else
		not_ok "redirect --dry-run $(basename "$n") prints $(basename "$n").rules" "$out"
	fi
done

for flavour in "${flavours[@]}"; do
	echo "== iptables-$flavour"
	suite
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
