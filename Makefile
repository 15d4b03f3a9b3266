# The single way in. `make setup` is idempotent; every other target runs it first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SLITHER_VENV := .venv-slither
PYTEST_WORKERS ?= 2

.PHONY: setup build build-check lint format test test-postgres slither bench up status demo clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

build: setup
	$(BIN)/scf build

build-check: setup
	$(BIN)/scf build --check

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The API suite again on PostgreSQL (one fresh database per test); skipped when no server listens.
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test-postgres: setup
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2).close()" 2>/dev/null; \
	then SCF_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest tests/api -n $(PYTEST_WORKERS) --dist loadgroup; \
	else echo "test-postgres: SKIPPED - nothing listens on 127.0.0.1:5432 (needs PostgreSQL, database 'test')"; fi

slither: setup $(SLITHER_VENV)/.installed
	$(SLITHER_VENV)/bin/python scripts/slither_check.py

$(SLITHER_VENV)/.installed:
	test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install -q --disable-pip-version-check slither-analyzer==0.11.6
	touch $@

# The whole network on embedded defaults; options: make up UP_ARGS="--mqtt mqtt://127.0.0.1:1883".
up: setup
	$(BIN)/scf up $(UP_ARGS)

status: setup
	$(BIN)/scf status

# The reference story, all 12 steps, on a network started for it (or DEMO_ARGS="--data-dir DIR").
demo: setup
	$(BIN)/scf demo $(DEMO_ARGS)

# Every benchmark, then one summary page (bench/results/summary.md) with figures next to targets.
bench: setup
	$(BIN)/scf bench gas --json
	$(BIN)/scf bench node --json --count 2000 --txs 20000
	$(BIN)/scf bench api --json
	$(BIN)/scf bench iot --json
	$(BIN)/scf bench summary

clean:
	rm -rf $(VENV) $(SLITHER_VENV) node_modules .pytest_cache .ruff_cache .hypothesis crytic-export
