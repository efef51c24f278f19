#!/usr/bin/env bash
# make run: the local origin in the foreground, with a working curl printed once it answers.
set -euo pipefail
port=${PRISM_PORT:-8080}
.venv/bin/prism serve --port "$port" &
origin=$!
trap 'kill $origin 2>/dev/null; wait $origin 2>/dev/null' EXIT INT TERM
bash scripts/wait-http.sh "http://127.0.0.1:$port/healthz" 30
cat <<MSG

Prism origin is running on http://127.0.0.1:$port   (Ctrl-C stops it)

  curl -s http://127.0.0.1:$port/healthz

MSG
wait $origin
