#!/usr/bin/env bash
# make run-cluster: three origins behind HAProxy on loopback, in the foreground, and a working curl.
#   fake demo upstream :9100 → origins :8101 :8102 :8103 (each its own spool) ← HAProxy :8080
# The production shape of deploy/README.md: deploy/haproxy.cfg with these ports.
set -euo pipefail
port=${PRISM_PORT:-8080}
origin_ports=(8101 8102 8103)
source scripts/demo-env.sh
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

supervise() {  # PORT: the origin, started again whenever it dies, as systemd's Restart=always does
  local child=""
  trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
  while :; do
    PRISM_SPOOL_DIR=var/spool-$1 .venv/bin/prism serve --port "$1" &
    child=$!
    wait "$child" || echo "run-cluster: the origin on :$1 died; starting it again" >&2
    sleep 1
  done
}

.venv/bin/python -m tests.fakes.provider --host 127.0.0.1 --port 9100 &
pids+=($!)
bash scripts/wait-http.sh "http://127.0.0.1:9100/_fake/requests" 30
key=$(.venv/bin/prism keys create --project demo --org demo 2>/dev/null | tail -n 1)
backends=()
for origin_port in "${origin_ports[@]}"; do
  supervise "$origin_port" &
  pids+=($!)
  backends+=("127.0.0.1:$origin_port")
done
for origin_port in "${origin_ports[@]}"; do
  bash scripts/wait-http.sh "http://127.0.0.1:$origin_port/healthz" 30
done
.venv/bin/python -m tests.balancer "$port" "${backends[@]}" >var/haproxy.log 2>&1 &
balancer=$!
pids+=($balancer)
bash scripts/wait-http.sh "http://127.0.0.1:$port/healthz" 30

cat <<MSG

  HAProxy       http://127.0.0.1:$port      round robin over three origins (its log: var/haproxy.log)
  Origins       http://127.0.0.1:${origin_ports[0]}  http://127.0.0.1:${origin_ports[1]}  http://127.0.0.1:${origin_ports[2]}
  Demo upstream http://127.0.0.1:9100      FAKE PROVIDER: echoes your last message, not a real LLM
  Demo key      $key

  curl -si http://127.0.0.1:$port/v1/chat/completions \\
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
    -d '{"model": "auto", "messages": [{"role": "user", "content": "Hello, Prism"}]}'

  Kill an origin and keep asking: HAProxy sends nothing more its way, and it comes back a second
  later replaying its journal (no usage row of an answered request is lost):
  kill -9 \$(pgrep -f 'prism serve --port ${origin_ports[1]}')

  Ctrl-C stops everything.
MSG
wait -n "${pids[0]}" "$balancer"  # the upstream or the balancer: an origin that dies is restarted
