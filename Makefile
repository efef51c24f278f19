# The verbs people type. Each target does its own set-up on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

export PRISM_DATABASE_URL ?= postgresql://postgres:postgres@127.0.0.1:5432/prism
export PRISM_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup services migrate run test lint bench deploy-edge

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

services:
	@bash scripts/services.sh

migrate: setup services
	$(BIN)/prism migrate

run: migrate
	@bash scripts/run.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint services
	$(BIN)/pytest

bench: migrate
	@echo "no benchmarks yet"
