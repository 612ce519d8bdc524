# 民情地图 minqing-map — the two commands: `make demo` and `make test`.
# Both install what is missing (Debian packages as root, the Python venv, the map assets),
# start a local PostGIS under .pgdata/ (or use DATABASE_URL), and are safe to run again.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml maps/assets/package-lock.json 2>/dev/null | cksum | cut -d' ' -f1)
PYTHON ?= python3
# test processes (pytest-xdist, whole files per process; each process has its own test databases, and
# no test depends on what files run before it leave behind). 3 on the 2-core CI machine: the processes
# wait much of the time on PostgreSQL and Chromium, and a third fills those waits; 0: one process.
TEST_WORKERS ?= 3

.PHONY: demo test setup system db data lint format bench stop clean help

help:
	@echo "make demo   — set up, load the demo district, compute coverage, serve http://127.0.0.1:8000"
	@echo "make test   — set up, then run the whole test suite against a real PostGIS"
	@echo "make stop   — stop the task-queue worker and the local PostGIS"
	@echo "make lint   — style, types and the architecture's import contracts"
	@echo "make format — rewrite the code in the house format (ruff format)"
	@echo "make bench  — benchmarks (coverage engine vs peers, API latency)"

# Debian packages: `make demo` needs the database, Python venv, npm and CJK fonts; `make test` adds
# Chromium; `make bench` adds pgRouting and wrk (scripts/system-deps.sh says what each mode installs).
DEPS_MODE ?= demo
test: DEPS_MODE = test
bench: DEPS_MODE = bench

system:
	@scripts/system-deps.sh $(DEPS_MODE)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@if [ -f maps/assets/package.json ]; then cd maps/assets && npm ci --no-audit --no-fund --silent; fi
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

.env:
	@umask 077; echo "MINQING_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(32))')" > .env
	@echo "wrote .env with a new random MINQING_SECRET_KEY"

setup: system $(STAMP) .env

db: setup
	$(BIN)/minqing db up

data: db
	$(BIN)/minqing demo load --if-empty
	$(BIN)/minqing coverage run --if-stale
	$(BIN)/minqing demo scenarios --if-missing
	$(BIN)/minqing users demo

# The task queue's worker runs beside the server (coverage runs, siting, imports, 超时升级 every 5 min); its
# pid is in .worker.pid and its log in .worker.log; `make stop` stops it (jobs wait in the database).
demo: data
	@if [ -f .worker.pid ] && kill -0 $$(cat .worker.pid) 2>/dev/null; then echo "worker already running"; \
	else nohup $(BIN)/minqing worker >> .worker.log 2>&1 & echo $$! > .worker.pid; echo "worker started (.worker.log)"; fi
	$(BIN)/minqing serve

# the style (ruff), the types (mypy) and the architecture (import-linter contracts in .importlinter)
lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: db lint
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# rewrite the code in the house format (ruff format, 110 columns); `make lint` fails on any file that differs
format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(PY) -m pip install -q -e '.[dev,bench]'
	$(PY) bench/coverage.py --scale 1
	$(PY) bench/coverage.py --scale 10

stop:
	-@if [ -f .worker.pid ]; then kill $$(cat .worker.pid) 2>/dev/null && echo "worker stopped"; rm -f .worker.pid; fi
	-$(BIN)/minqing db down

# The local cluster's data may live outside the checkout (as root: /var/lib/postgresql/minqing/…):
# `db down --remove` deletes it wherever the connection file says it is.
clean:
	-@test -x $(BIN)/minqing && $(BIN)/minqing db down --remove
	rm -rf .pgdata $(VENV)
