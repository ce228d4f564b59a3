# Entry points: install, up, demo, test, chaos, bench. Each one works on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install services up demo test lint types pytest chaos bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	touch $@

install: $(VENV)/.installed ## virtualenv with the service and its dev tools

services: ## start PostgreSQL, Redis and RabbitMQ on loopback if they are down
	bash scripts/services.sh

up: install services ## the whole stack: web, two workers, beat, fake Stripe
	bash scripts/up.sh

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

chaos: install services ## the fault suite
	$(VENV)/bin/pytest -m chaos tests/chaos $(PYTEST_ARGS)

bench: install services ## benchmarks; report and plots under reports/
	$(PY) -m tests.bench.run

clean:
	rm -rf $(VENV) var reports .mypy_cache .ruff_cache .pytest_cache
