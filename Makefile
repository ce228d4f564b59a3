# Entry points: install, up, demo, test, chaos, bench. Each one works on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Settings default to production (DEBUG=False refuses development secrets); everything
# these targets run is local development, tests or benchmarks.
export DEBUG ?= True

.PHONY: install system-packages services up ps lock demo test lint types pytest chaos bench fuzz clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	touch $@

install: $(VENV)/.installed system-packages ## virtualenv with the service and its dev tools

system-packages: ## apt packages the tests need (promtool); a no-op once installed
	bash scripts/system_packages.sh

services: ## start PostgreSQL, Redis and RabbitMQ on loopback if they are down
	bash scripts/services.sh

up: install ## the whole stack under supervisord: Redis, web, two workers, beat, monitor, Flower, fake Stripe
	bash scripts/services.sh postgresql
	bash scripts/up.sh

ps: ## the processes of a running `make up` and their state
	VAR_DIR=$${VAR_DIR:-var} $(VENV)/bin/supervisorctl -c scripts/supervisord.conf status

lock: install ## docker/requirements.lock: every runtime dependency pinned with its hashes
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --no-emit-find-links \
	  --no-emit-index-url --output-file docker/requirements.lock pyproject.toml

demo: install ## send a handful of payments through the running stack
	$(PY) manage.py demo

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: install
	$(VENV)/bin/mypy

pytest: install services
	$(VENV)/bin/pytest -m "not chaos" $(PYTEST_ARGS)

test: lint types pytest ## lint, types and the test suite against real services

CHAOS_N ?= 500
chaos: install services ## the fault suite and the crash-point matrix; tables and plot in reports/chaos.md, reports/chaos.png
	rm -rf reports/chaos
	CHAOS_N=$(CHAOS_N) $(VENV)/bin/pytest -m chaos tests/chaos -s -p no:randomly $(PYTEST_ARGS); \
	  status=$$?; $(PY) -m tests.chaos.report; exit $$status

FUZZ_EXAMPLES ?= 300
fuzz: install services ## a longer schemathesis run (all checks) against a real gunicorn
	SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/api/test_schemathesis.py -p no:randomly $(PYTEST_ARGS)

bench: install services ## benchmarks against raw Celery; reports/bench.md and PNG plots
	$(PY) -m tests.bench $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_fakestripe

clean:
	rm -rf $(VENV) var reports .mypy_cache .ruff_cache .pytest_cache
