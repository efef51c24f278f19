#!/usr/bin/env bash
# wait-http.sh URL [SECONDS]: wait until URL answers with a 2xx.
set -euo pipefail
for _ in $(seq 1 $(( ${2:-30} * 5 ))); do
  curl -fsS -o /dev/null "$1" 2>/dev/null && exit 0
  sleep 0.2
done
echo "no answer from $1" >&2
exit 1
