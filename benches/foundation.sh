#!/usr/bin/env bash
# Foundation figures on this machine: cold start to the first /healthz answer, idle RSS, and
# GET /login throughput and latency under wrk -c64 -d20s. Loopback only; bounded in time.
# Usage: benches/foundation.sh   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked --quiet
bin=target/release/lhc-ops
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(( 20000 + RANDOM % 20000 ))
cat > "$work/lhc-ops.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[store]
url = "sqlite://$work/store/lhc-ops.db"
[log]
level = "warn"
TOML

start=$(date +%s%N)
"$bin" serve --config "$work/lhc-ops.toml" & pid=$!
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { echo "server exited" >&2; exit 1; }
  sleep 0.005
done
end=$(date +%s%N)
echo "cold start to first /healthz (new store, migrations applied): $(( (end - start) / 1000000 )) ms"
sleep 3
echo "idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
wrk -t2 -c64 -d20s --latency "http://127.0.0.1:$port/login" | tee "$work/wrk.txt"
echo "RSS after load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
