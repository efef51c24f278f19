# The verbs people type. Each target does its own set-up on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

export PRISM_DATABASE_URL ?= postgresql://postgres:postgres@127.0.0.1:5432/prism
export PRISM_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup chromium haproxy services migrate run run-cluster test lint bench bench-peers deploy-edge

# The edge's Node tooling (wrangler, Pyodide) and the Workers SDK wheel the local edge installs
# into Pyodide (the version pinned in package.json's config.workers_runtime_sdk).
WORKERS_SDK := $(shell sed -n 's/.*"workers_runtime_sdk": *"\([^"]*\)".*/\1/p' package.json)
SDK_WHEEL := build/wheels/workers_runtime_sdk-$(WORKERS_SDK)-py3-none-any.whl

setup: $(VENV)/.installed node_modules/.installed $(SDK_WHEEL) chromium haproxy

# The dashboard's browser tests drive Debian's chromium through Playwright (no `playwright install`).
chromium:
	@[ -x /usr/bin/chromium ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "setup: chromium could not be installed; the dashboard's browser tests will be skipped"

# Three origins behind a real load balancer: make run-cluster and tests/origin/test_origin_fleet.py.
haproxy:
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] \
		|| (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy) \
		|| echo "setup: haproxy could not be installed; the load-balanced tests will be skipped"

node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund && touch $@; \
	else echo "setup: npm not found; install Node.js >= 20.3 for the edge's wrangler and Pyodide"; fi

$(SDK_WHEEL): | $(VENV)/.installed
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
		-d build/wheels workers-runtime-sdk==$(WORKERS_SDK)

$(VENV)/.installed: pyproject.toml
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

services:
	@bash scripts/services.sh

# The local services: development mode (public default secrets) unless PRISM_ENV says otherwise.
migrate: setup services
	PRISM_ENV=$${PRISM_ENV:-development} $(BIN)/prism migrate

run: migrate
	@bash scripts/run.sh

# Three origins on 8101-8103 behind HAProxy on 8080 (deploy/README.md's shape, on loopback).
run-cluster: migrate
	@mkdir -p var && bash scripts/run-cluster.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Redis-facing tests run twice: on a single node, then on a three-master Redis Cluster of their own.
REDIS_FACING := tests/origin/controls tests/origin/cache tests/origin/chat tests/origin/ops \
	tests/origin/stores/test_redis_scripts.py tests/origin/dashboard/test_throttle.py \
	$(addprefix tests/origin/http/endpoints/test_,chat.py cache.py limits.py key_limits.py sessions.py semantic_cache.py)
test: lint services
	$(BIN)/pytest
	PRISM_TEST_REDIS=cluster $(BIN)/pytest $(REDIS_FACING)

# Added latency and req/s against the fake provider on 127.0.0.1 (a report: missed targets do not fail it).
# BENCH_ARGS passes options through, e.g. BENCH_ARGS="--scenario chat --duration 2"; see --help.
bench: migrate
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) \
		|| echo "bench: wrk could not be installed; the Python load generator will be used"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# LiteLLM's proxy for the bench's side-by-side, in a venv of its own: a peer measured, not a dependency.
PEERS := .venv-peers
bench-peers:
	@[ -x $(PEERS)/bin/python ] || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(PEERS)/bin/pip install --quiet --disable-pip-version-check 'litellm[proxy]'

# Deploy the Worker (edge/ + shared/ only; see wrangler.toml). Needs `npx wrangler login` (or
# CLOUDFLARE_API_TOKEN) and the secrets KEY_PEPPER and INGEST_SECRET set once with `wrangler secret put`.
deploy-edge: setup
	npx wrangler deploy
