#!/usr/bin/env bash
# make run: the whole topology on loopback, in the foreground, and a working curl.
#   fake demo upstream :9100 → origin :8080 ← local edge :8787 (the real Worker in Pyodide)
#   fake Cloudflare KV API :8788 (the origin publishes to it, the edge reads from it)
set -euo pipefail
port=${PRISM_PORT:-8080}
edge_port=${EDGE_PORT:-8787}
kv_port=${KV_PORT:-8788}
source scripts/demo-env.sh
export PRISM_CF_API_TOKEN=local-kv-token PRISM_CF_ACCOUNT_ID=local-account PRISM_CF_KV_NAMESPACE_ID=local-namespace
export PRISM_CF_API_BASE_URL=http://127.0.0.1:$kv_port/client/v4
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/python -m tests.fakes.provider --host 127.0.0.1 --port 9100 &
pids+=($!)
.venv/bin/python -m tests.fakes.cloudflare_api --port "$kv_port" &
pids+=($!)
bash scripts/wait-http.sh "http://127.0.0.1:9100/_fake/requests" 30
key=$(.venv/bin/prism keys create --project demo --org demo 2>/dev/null | tail -n 1)
# The dashboard's demo user (a published password: development only). Already there: kept as it is.
demo_email=demo@example.com demo_password=prism-demo-password
echo "$demo_password" | .venv/bin/prism users create --org demo --email "$demo_email" --password-stdin \
  >/dev/null 2>&1 || true
.venv/bin/prism serve --port "$port" &
pids+=($!)
bash scripts/wait-http.sh "http://127.0.0.1:$port/healthz" 30
edge_line=""
if [ -d node_modules/pyodide ]; then
  EDGE_PORT=$edge_port EDGE_COLO=${EDGE_COLO:-LOC} ORIGIN_URL=http://127.0.0.1:$port \
    KEY_PEPPER=$PRISM_KEY_PEPPER INGEST_SECRET=$PRISM_INGEST_SECRET \
    CF_API_BASE_URL=$PRISM_CF_API_BASE_URL CF_ACCOUNT_ID=$PRISM_CF_ACCOUNT_ID \
    CF_KV_NAMESPACE_ID=$PRISM_CF_KV_NAMESPACE_ID CF_API_TOKEN=$PRISM_CF_API_TOKEN \
    node scripts/edge-local/server.mjs &
  pids+=($!)
  bash scripts/wait-http.sh "http://127.0.0.1:$edge_port/__edge/health" 90
  edge_line="  Local edge    http://127.0.0.1:$edge_port      the real Worker code in Pyodide (X-Prism-Edge-* headers)"
else
  edge_line="  Local edge    not started: run 'make setup' (needs Node.js 20 and npm)"
fi

cat <<MSG

  Prism origin  http://127.0.0.1:$port      (health: http://127.0.0.1:$port/healthz)
$edge_line
  Demo upstream http://127.0.0.1:9100      FAKE PROVIDER: echoes your last message, not a real LLM
  Local KV      http://127.0.0.1:$kv_port      FAKE Cloudflare KV API (the origin publishes, the edge reads)
  Demo key      $key
  Dashboard     http://127.0.0.1:$port/dashboard   sign in as $demo_email / $demo_password
  Admin API     http://127.0.0.1:$port/admin/v1    Authorization: Bearer $PRISM_ADMIN_TOKEN

  Ask twice through the edge: the second answer comes from the PoP (X-Prism-Edge-Cache: hit).

  curl -si http://127.0.0.1:$edge_port/v1/chat/completions \\
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
    -H "X-Prism-Cache-TTL: 600" -H "X-Prism-Tags: feature=demo" \\
    -d '{"model": "auto", "messages": [{"role": "user", "content": "Hello, Prism"}]}'

  python - <<'PY'
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:$port/v1", api_key="$key")
  print(client.chat.completions.create(model="demo-claude", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
  PY

  Anthropic's SDK (and Claude Code) speak the Messages API to the same key:
  ANTHROPIC_BASE_URL=http://127.0.0.1:$edge_port ANTHROPIC_AUTH_TOKEN=$key claude
  curl -s http://127.0.0.1:$edge_port/v1/messages -H "x-api-key: $key" -H "Content-Type: application/json" \\
    -d '{"model": "demo-claude", "max_tokens": 100, "messages": [{"role": "user", "content": "Hello"}]}'

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
