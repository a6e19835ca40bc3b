#!/usr/bin/env bash
# /health and GET /api/v1/components under load on this machine: a release build serving a
# matrix of 15 components × 20 instances × 2–5 tcp checks (920 cells), probed every 5 s, then
# wrk -t2 -c64 -d20s against each, as a logged-in viewer (session cookie) and with a bearer
# token. The 14 components of the built-in inventory keep their real names; the 15th,
# `benchextra`, is an extra entry (the inventory has only 14). Every instance is a loopback
# address 127.0.2.1–127.0.2.20 on which nothing listens, so every check is refused and ends
# `down` (the page renders the same whatever the status). Loopback only; bounded in time.
# Usage: bash benches/health.sh   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed: apt-get install -y curl" >&2; exit 1; }
cargo build --release --locked --quiet
bin=target/release/lhc-ops
work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A loopback port nothing listens on.
for _ in $(seq 1 50); do
  port=$(( 20000 + RANDOM % 20000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done

hosts=$(for i in $(seq 1 20); do printf '"127.0.2.%d", ' "$i"; done)
hosts="[${hosts%, }]"
# name: tcp ports (the guide's ports of each component, 2–5 per component).
components=(
  "apaks:2022, 80, 8080, 8341, 12200"
  "apaksexecutor:2022, 8080, 12200"
  "hub:80, 5000, 8082"
  "metaservice:2022, 8341, 12200, 8888"
  "lhc:80, 8080, 2022, 8341, 12200"
  "fedapiserver:6443, 2022"
  "fedcontroller:8080, 2022"
  "kubecontroller:10252, 2022"
  "appcore:2022, 80, 12200"
  "acprovisioncore:2022, 8341, 12200"
  "iaasconnector:2022, 8341, 12200"
  "opswareorch:80, 2022, 8341, 12200"
  "ldccore:80, 2022, 12200"
  "opswarecore:2022, 12200"
  "benchextra:2022, 12200"
)
config="$work/lhc-ops.toml"
{
  cat <<TOML
[server]
listen = "127.0.0.1:$port"
[store]
url = "sqlite://$work/store/lhc-ops.db"
[log]
level = "warn"
[probes]
interval_seconds = 5
TOML
  cells=0
  for c in "${components[@]}"; do
    name=${c%%:*}
    ports=${c#*:}
    n=$(( $(tr -cd ',' <<<"$ports" | wc -c) + 1 ))
    cells=$(( cells + 20 * n ))
    printf '\n[[components]]\nname = "%s"\nhosts = %s\ntcp = [%s]\n' "$name" "$hosts" "$ports"
  done
  echo "# $cells cells"
} > "$config"
cells=$(awk '/^# [0-9]+ cells/ {print $2}' "$config")
"$bin" check-config --config "$config" >/dev/null

password="bench-viewer-password-1"
echo "$password" | "$bin" user add bench --role viewer --org customer --password-stdin --config "$config"
token=$("$bin" user token bench --label bench --config "$config" 2>/dev/null)
[ -n "$token" ] || { echo "no API token from lhc-ops user token" >&2; exit 1; }

"$bin" serve --config "$config" & pid=$!
started=$(date +%s)
for _ in $(seq 1 3000); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "server exited" >&2; exit 1; }
  sleep 0.01
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "no /healthz answer within 30 s" >&2; exit 1; }
echo "server pid $pid on 127.0.0.1:$port: ${#components[@]} components × 20 instances, $cells tcp checks every 5 s (timeout 2000 ms, concurrency 256)"
echo "waiting 12 s for the matrix to fill (failure_threshold 2: two refused probes turn a check down)..."
sleep 12

curl -sS -o /dev/null -D "$work/login.headers" \
  --data-urlencode "username=bench" --data-urlencode "password=$password" \
  "http://127.0.0.1:$port/login"
session=$(tr -d '\r' < "$work/login.headers" | sed -n 's/^[Ss]et-[Cc]ookie: lhc_session=\([^;]*\).*/\1/p' | head -n1)
[ -n "$session" ] || { echo "login failed: no lhc_session cookie" >&2; cat "$work/login.headers" >&2; exit 1; }

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat"; }
rss() { awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status"; }

count() { grep -o -- "$1" "$work/body" | wc -l || true; }
describe_health() {
  down=$(count 'class="check status-down"')
  echo "matrix: $down down cells, $(count 'class="check status-up"') up, $(count 'class="check status-unknown"') unknown (of $cells)"
}
describe_api() {
  echo "JSON: $(count '"name":') components, $(count '"host":') instances, $(count '"ok":false') checks ok:false"
}

# load NAME URL HEADER DESCRIBE: checks one response (DESCRIBE summarises it), then wrk.
load() {
  local name=$1 url=$2 header=$3
  local code size
  read -r code size < <(curl -sS -o "$work/body" -w '%{http_code} %{size_download}\n' -H "$header" "$url")
  [ "$code" = 200 ] || { echo "$name: HTTP $code before the load" >&2; head -c 500 "$work/body" >&2; exit 1; }
  echo
  echo "== $name =="
  echo "response: HTTP $code, $size bytes ($(( size / 1024 )) KiB)"
  "$4"
  local t0 t1
  t0=$(cpu_ticks)
  wrk -t2 -c64 -d20s --latency -H "$header" "$url" | tee "$work/wrk.txt"
  t1=$(cpu_ticks)
  if grep -q "Non-2xx or 3xx" "$work/wrk.txt"; then
    echo "FAIL: $name answered non-2xx responses under load" >&2
    exit 1
  fi
  local rps p99 total
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  echo "-> $name: $rps requests/s, p99 $p99, $size bytes per response; server CPU $(awk -v a="$t0" -v b="$t1" -v hz="$clk" -v n="$total" \
    'BEGIN { s = (b - a) / hz; printf "%.2f s for %d requests (%.2f ms CPU per request)", s, n, s * 1000 / n }'); server RSS after: $(rss)"
}

echo "server RSS before the load: $(rss)"
down=0
load "GET /health (viewer session cookie)" "http://127.0.0.1:$port/health" "Cookie: lhc_session=$session" describe_health
load "GET /api/v1/components (bearer token)" "http://127.0.0.1:$port/api/v1/components" "Authorization: Bearer $token" describe_api
# The same JSON with the session cookie: a bearer token costs an UPDATE of api_tokens per
# request, a session a lookup (touched at most once a minute).
load "GET /api/v1/components (viewer session cookie, for comparison)" "http://127.0.0.1:$port/api/v1/components" "Cookie: lhc_session=$session" describe_api
echo
# The sparklines keep the last 30 samples, so the page grows until every cell has 30.
size=$(curl -sS -o /dev/null -w '%{size_download}' -H "Cookie: lhc_session=$session" "http://127.0.0.1:$port/health")
echo "GET /health after $(( $(date +%s) - started )) s of probing: $size bytes ($(( size / 1024 )) KiB); the sparklines fill up to 30 samples (150 s at a 5 s interval)"
echo
echo "probe transitions stored meanwhile: $(python3 - "$work/store/lhc-ops.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(c.execute("SELECT COUNT(*) FROM probe_transitions").fetchone()[0])
PY
)"
echo "server RSS at the end: $(rss)"
[ "$down" -gt 0 ] || { echo "FAIL: the /health matrix showed no down cells: were the probes running?" >&2; exit 1; }
