#!/usr/bin/env bash
# run.sh - make bench: meshinject's numbers against the ceiling of this
# machine, all on 127.0.0.1 (BENCHMARKS.md says what each one means):
#   1. start-up to ready (20 starts);
#   2. throughput: wrk posting the ReplicaSet review to /mutate/traffic over
#      TLS with keep-alive, against meshinject and, in the same run, against
#      nginx serving a static body of the same size with the same
#      certificate and TLS versions; the ratio;
#   3. latency at a fixed rate of 2000 reviews/s (openloop.c, open loop);
#   4. the 2000-env-var pod and a ~1.4 MiB pod: per review in the core
#      (corebench.c) and over HTTPS;
#   5. RSS idle and while 1,000,000 reviews go through (sampled every
#      ~100,000 from /proc/PID/status);
#   6. a profile (perf while wrk runs; callgrind of the core).
# Results: build/bench/results.txt (also printed). Knobs: BENCH_SECONDS
# (each wrk run, default 15), BENCH_REVIEWS (default 1000000),
# BENCH_ROUNDS (wrk rounds per server, default 3), MESHINJECT_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
BIN=$(realpath "${MESHINJECT_BIN:-build/meshinject}")
OUT=$REPO/build/bench
SECS=${BENCH_SECONDS:-15}
REVIEWS=${BENCH_REVIEWS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
PORT_MI=18443 PORT_MIM=19090 PORT_NGX=18444
mkdir -p "$OUT"
RESULTS=$OUT/results.txt
: > "$RESULTS"
say() { echo "$*" | tee -a "$RESULTS"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

for tool in wrk nginx openssl node cc; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install wrk nginx-light)"; exit 1; }
done

say "# meshinject bench, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -m | awk '/Mem:/{print $2}') MiB RAM, kernel $(uname -r)"
say "binary: $BIN ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'))"
say "tools: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), nginx $(nginx -v 2>&1 | cut -d/ -f2), $(openssl version | cut -d' ' -f1-2), node $(node -v)"

# ---- tools and inputs ----
CORE_OBJS="build/libmeshcore.a"	# the core library (make check-core holds its fence)
cc -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude -o "$OUT/corebench" tests/bench/corebench.c $CORE_OBJS -ljansson -lyaml -lcrypto -lpthread
cc -O2 -g -o "$OUT/openloop" tests/bench/openloop.c -lssl -lcrypto
node tests/bench/make-reviews.mjs "$OUT" >/dev/null
RS=$REPO/tests/fixtures/review-replicaset-pod.json
PKI=$OUT/pki
rm -rf "$PKI" && mkdir -p "$PKI"
( cd "$PKI"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=meshinject bench CA" -out ca.crt 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls.key 2>/dev/null
  openssl req -new -key tls.key -subj /CN=localhost -out tls.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 -extfile ext.cnf -out tls.crt 2>/dev/null )
cat > "$OUT/post.lua" <<'EOF'
local f = io.open(os.getenv("BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
wait_ready() {
	for _ in $(seq 1 500); do
		curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.01
	done
	echo "run.sh: not ready on $1"; exit 1
}
start_mi() {	# $1: log file; rest: extra flags
	local log=$1; shift
	"$BIN" serve --tls-cert "$PKI/tls.crt" --tls-key "$PKI/tls.key" \
	    --listen 127.0.0.1:$PORT_MI --metrics-listen 127.0.0.1:$PORT_MIM "$@" 2>"$log" &
	MI=$!
	pids+=("$MI")
	wait_ready $PORT_MIM
}
stop_mi() { kill "$MI"; wait "$MI" || true; }
wrk_rps() {	# $1 url, $2 body → "rps p50 p99" (ms)
	BENCH_BODY=$2 wrk -t1 -c32 -d"${SECS}s" --latency -s "$OUT/post.lua" "$1" > "$OUT/wrk.last" 2>&1
	local rps p50 p99 non2xx
	rps=$(awk '/Requests\/sec/{print $2}' "$OUT/wrk.last")
	p50=$(awk '$1=="50%"{print $2}' "$OUT/wrk.last")
	p99=$(awk '$1=="99%"{print $2}' "$OUT/wrk.last")
	non2xx=$(awk '/Non-2xx/{print $NF}' "$OUT/wrk.last")
	[ -z "$non2xx" ] || { echo "run.sh: wrk got $non2xx non-2xx answers from $1"; cat "$OUT/wrk.last"; exit 1; }
	echo "$rps $p50 $p99"
}

# ---- 1. start-up ----
say ""
say "## start-up to ready (spawn to the first 200 from /readyz)"
say "$(node tests/bench/startup.mjs "$BIN" "$PKI/tls.crt" "$PKI/tls.key" $PORT_MI $PORT_MIM 20)"

# ---- 2. throughput against nginx ----
start_mi "$OUT/meshinject.log"
say ""
say "## RSS idle: $(rss_kib "$MI") KiB"
curl -fs --cacert "$PKI/ca.crt" -H 'Content-Type: application/json' --data-binary @"$RS" \
    "https://127.0.0.1:$PORT_MI/mutate/traffic" > "$OUT/response.json"
NGX=$OUT/nginx
rm -rf "$NGX" && mkdir -p "$NGX/client_body"
cp "$OUT/response.json" "$NGX/response.json"
sed -e "s|@DIR@|$NGX|g; s|@PORT@|$PORT_NGX|; s|@CERT@|$PKI/tls.crt|; s|@KEY@|$PKI/tls.key|" \
    tests/bench/nginx.conf.in > "$NGX/nginx.conf"
nginx -c "$NGX/nginx.conf" -e "$NGX/nginx-error.log" &
NGINX=$!
pids+=("$NGINX")
for _ in $(seq 1 200); do curl -fsk "https://127.0.0.1:$PORT_NGX/" -o /dev/null -w '' 2>/dev/null; [ -s "$NGX/nginx.pid" ] && break; sleep 0.01; done
nsize=$(curl -fs --cacert "$PKI/ca.crt" -H 'Content-Type: application/json' --data-binary @"$RS" "https://127.0.0.1:$PORT_NGX/mutate/traffic" | wc -c)
say ""
say "## throughput: wrk -t1 -c32 -d${SECS}s, POST $(wc -c < "$RS")-byte review, $(wc -c < "$OUT/response.json")-byte answer (nginx: $nsize bytes), TLS 1.3, keep-alive; $ROUNDS rounds each, alternating"
best_mi=0 best_ngx=0
for r in $(seq 1 "$ROUNDS"); do
	read -r rps p50 p99 <<<"$(wrk_rps "https://127.0.0.1:$PORT_MI/mutate/traffic" "$RS")"
	say "meshinject round $r: $rps req/s, p50 $p50, p99 $p99"
	best_mi=$(echo "$rps $best_mi" | awk '{print ($1>$2)?$1:$2}')
	read -r rps p50 p99 <<<"$(wrk_rps "https://127.0.0.1:$PORT_NGX/mutate/traffic" "$RS")"
	say "nginx      round $r: $rps req/s, p50 $p50, p99 $p99"
	best_ngx=$(echo "$rps $best_ngx" | awk '{print ($1>$2)?$1:$2}')
done
say "best: meshinject $best_mi req/s, nginx $best_ngx req/s, ratio $(echo "$best_mi $best_ngx" | awk '{printf "%.2f", $1/$2}')"

# ---- 3. fixed rate ----
say ""
say "## latency at a fixed 2000 reviews/s for 30 s (open loop, 32 connections; ms from when each was due)"
say "meshinject: $("$OUT/openloop" 127.0.0.1 $PORT_MI /mutate/traffic "$RS" 2000 30 32 "$PKI/ca.crt")"
say "nginx:      $("$OUT/openloop" 127.0.0.1 $PORT_NGX /mutate/traffic "$RS" 2000 30 32 "$PKI/ca.crt")"
kill "$NGINX"; wait "$NGINX" 2>/dev/null || true

# ---- 4. big pods ----
say ""
say "## big pods, per review at /mutate/traffic (ms)"
for f in review-env2000.json review-1400k.json; do
	n=1000; [ "$f" = review-1400k.json ] && n=100
	say "core: $("$OUT/corebench" "$OUT/$f" traffic $n)"
done
say "https, 2000 env vars: $("$OUT/openloop" 127.0.0.1 $PORT_MI /mutate/traffic "$OUT/review-env2000.json" 50 20 4 "$PKI/ca.crt")"
say "https, 1.4 MiB pod:   $("$OUT/openloop" 127.0.0.1 $PORT_MI /mutate/traffic "$OUT/review-1400k.json" 5 20 2 "$PKI/ca.crt")"
say "core, ReplicaSet review: $("$OUT/corebench" "$RS" traffic 20000)"

# ---- 5. memory over a million reviews ----
stop_mi
start_mi /dev/null
say ""
say "## RSS over $REVIEWS reviews (wrk -t1 -c32 in chunks; logging to /dev/null)"
say "idle: $(rss_kib "$MI") KiB"
total=0 chunk=1
while [ "$total" -lt "$REVIEWS" ]; do
	BENCH_BODY=$RS wrk -t1 -c32 -d"${chunk}s" -s "$OUT/post.lua" "https://127.0.0.1:$PORT_MI/mutate/traffic" > "$OUT/wrk.last" 2>&1
	n=$(awk '/requests in/{print $1}' "$OUT/wrk.last")
	total=$((total + n))
	# Aim each chunk at ~100,000 reviews from the last rate.
	rate=$(awk '/Requests\/sec/{print int($2)}' "$OUT/wrk.last")
	chunk=$(( (100000 + rate - 1) / (rate > 0 ? rate : 1) ))
	say "after $total reviews: RSS $(rss_kib "$MI") KiB"
done
stop_mi

# ---- 6. profile ----
say ""
say "## profile"
start_mi /dev/null
if command -v perf >/dev/null; then
	(BENCH_BODY=$RS wrk -t1 -c32 -d10s -s "$OUT/post.lua" "https://127.0.0.1:$PORT_MI/mutate/traffic" >/dev/null 2>&1 &)
	sleep 1
	perf record -q -g -p "$MI" -o "$OUT/perf.data" -- sleep 6 >/dev/null 2>&1 || true
	sleep 4
	perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 | tee -a "$RESULTS"
	perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25 > "$OUT/perf-symbols.txt" || true
fi
stop_mi
if command -v valgrind >/dev/null; then
	valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$OUT/corebench" "$RS" traffic 300 >/dev/null 2>&1
	callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null |
	    sed -n '/file:function/,/^-- /p' |
	    grep -E 'webhook/|json_(dumps|loadb|delete|pack)|malloc|free' |
	    head -20 | tee -a "$RESULTS"
	say "core: $(awk '/^summary:/{printf "%.2fM instructions per review", $2/330/1e6}' "$OUT/callgrind.out") (callgrind, 330 reviews incl. warm-up)"
fi
say ""; MESHINJECT_BIN="$BIN" node tests/bench/policy.mjs "$RESULTS"	# 7. policy vs webhook in a real kube-apiserver
say ""
say "results: $RESULTS"
