#!/usr/bin/env bash
# make run: the fake demo upstream + the origin, a demo key, and a working curl.
set -euo pipefail
port=${PRISM_PORT:-8080}
export PRISM_CONFIG_PATH=${PRISM_CONFIG_PATH:-deploy/demo.toml}
export PRISM_PROVIDER_DEMO_OPENAI_API_KEY=${PRISM_PROVIDER_DEMO_OPENAI_API_KEY:-demo}
export PRISM_PROVIDER_DEMO_ANTHROPIC_API_KEY=${PRISM_PROVIDER_DEMO_ANTHROPIC_API_KEY:-demo}
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

.venv/bin/python -m tests.fakes.provider --host 127.0.0.1 --port 9100 &
pids+=($!)
key=$(.venv/bin/prism keys create --project demo --org demo 2>/dev/null | tail -n 1)
.venv/bin/prism serve --port "$port" &
pids+=($!)
bash scripts/wait-http.sh "http://127.0.0.1:$port/healthz" 30

cat <<MSG

  Prism origin  http://127.0.0.1:$port      (health: http://127.0.0.1:$port/healthz)
  Demo upstream http://127.0.0.1:9100      FAKE PROVIDER: echoes your last message, not a real LLM
  Demo key      $key

  curl -s http://127.0.0.1:$port/v1/chat/completions \\
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" \\
    -H "X-Prism-Session: demo-1" -H "X-Prism-Tags: feature=demo" \\
    -d '{"model": "auto", "messages": [{"role": "user", "content": "Hello, Prism"}]}'

  python - <<'PY'
  from openai import OpenAI
  client = OpenAI(base_url="http://127.0.0.1:$port/v1", api_key="$key")
  print(client.chat.completions.create(model="demo-claude", messages=[{"role": "user", "content": "hi"}]).choices[0].message.content)
  PY

  Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
