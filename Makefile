# Entry points: install, up, demo, test, chaos, bench. Each one works on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Settings default to production (DEBUG=False refuses development secrets); everything
# these targets run is local development, tests or benchmarks.
export DEBUG ?= True

.PHONY: install system-packages services up ps lock upgrade outdated lock-check demo test lint types pytest chaos bench fuzz clean \
  compose-images compose-build compose-up compose-down compose-ps compose-chaos

# Every install comes from uv.lock (hashes checked, nothing resolved); uv itself comes from
# scripts/bootstrap-uv.txt, pinned with its hashes, in a small venv of its own.
TOOLS ?= .tools
UV := $(TOOLS)/bin/uv
# uv uses the machine's Python 3.11, never one it downloads.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

$(UV): scripts/bootstrap-uv.txt
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --progress-bar off --require-hashes --no-deps \
	  -r scripts/bootstrap-uv.txt
	touch $@

$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --extra dev --python python3.11
	touch $@

install: $(VENV)/.installed .env system-packages ## virtualenv with the service and its dev tools, from uv.lock

# Settings read .env when it exists, so `manage.py` works in any terminal of this checkout;
# production has no such file and refuses development secrets (DEBUG defaults to False).
.env:
	printf '%s\n' "# Local development (written by make; every setting: .env.example)." \
	  "DEBUG=True" > $@

system-packages: ## apt packages the tests need (promtool); a no-op once installed
	bash scripts/system_packages.sh

services: ## start PostgreSQL, Redis and RabbitMQ on loopback if they are down
	bash scripts/services.sh

up: install ## the whole stack under supervisord: Redis, web, two workers, beat, monitor, Flower, fake Stripe
	bash scripts/services.sh postgresql
	bash scripts/up.sh

ps: ## the processes of a running `make up` and their state
	VAR_DIR=$${VAR_DIR:-var} $(VENV)/bin/supervisorctl -c scripts/supervisord.conf status

lock: $(UV) ## after editing pyproject.toml: uv.lock (and uv's own pin) in step with it
	$(UV) lock
	$(UV) pip compile scripts/bootstrap-uv.in --generate-hashes --quiet \
	  --custom-compile-command "make lock" --output-file $(TOOLS)/bootstrap-uv.txt
	@# Only a changed pin touches the file: its time decides whether uv is installed again.
	cmp -s $(TOOLS)/bootstrap-uv.txt scripts/bootstrap-uv.txt \
	  || cp $(TOOLS)/bootstrap-uv.txt scripts/bootstrap-uv.txt

upgrade: $(UV) ## move every dependency to its newest allowed version (then make test)
	$(UV) lock --upgrade

outdated: install ## what the lock pins below the newest release (changes nothing)
	$(UV) pip list --outdated --python $(VENV)/bin/python

lock-check: $(UV) ## fails when pyproject.toml and uv.lock disagree
	@out=$$($(UV) lock --check 2>&1) || { echo "$$out" >&2; \
	  echo "uv.lock does not match pyproject.toml: run 'make lock', then commit uv.lock." >&2; \
	  exit 1; }

demo: install ## send a handful of payments through the running stack
	$(PY) manage.py demo

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

types: install
	$(VENV)/bin/mypy

# Two xdist workers: most of the suite waits on the processes it starts. Each worker has its
# own test database, broker and temp tree; tests/conftest.py keeps a module, or the tests of
# a shared stack, on one worker. PYTEST_WORKERS=0 runs it in this one process.
PYTEST_WORKERS ?= 2
pytest: install services
	$(VENV)/bin/pytest -m "not chaos and not containers" -n $(PYTEST_WORKERS) --dist loadfile \
	  $(PYTEST_ARGS)

test: lock-check lint types pytest ## lint, types and the test suite against real services

CHAOS_N ?= 500
chaos: install services ## the fault suite and the crash-point matrix, then compose-chaos; tables and plot in reports/
	rm -rf reports/chaos
	CHAOS_N=$(CHAOS_N) $(VENV)/bin/pytest -m chaos tests/chaos -s -p no:randomly $(PYTEST_ARGS); \
	  status=$$?; $(PY) -m tests.chaos.report; \
	  $(MAKE) --no-print-directory compose-chaos || status=1; exit $$status

# --- the compose stack under Podman (README "Deploying"); BROKER=redis or rabbitmq ----------
BROKER ?= redis
export BROKER
compose-images: ## base images from Debian packages (debootstrap + podman import), cached by recipe
	bash scripts/container_images.sh

compose-build: ## the app image from uv.lock on the Debian-built Python; build time and size
	bash scripts/compose.sh build

compose-up: compose-build ## docker/compose.yaml under Podman (BROKER=rabbitmq for the override)
	bash scripts/compose.sh up
	bash scripts/compose.sh ps

compose-ps:
	bash scripts/compose.sh ps

compose-down: ## stop and remove every container, volume and network of compose-up
	bash scripts/compose.sh down

COMPOSE_CHAOS_N ?= 120
compose-chaos: install compose-build ## container faults under load, Redis then RabbitMQ; reports/containers.md
	rm -rf reports/containers
	COMPOSE_CHAOS_N=$(COMPOSE_CHAOS_N) $(VENV)/bin/pytest -m containers tests/containers -s \
	  -p no:randomly $(PYTEST_ARGS)
	cat reports/containers.md

FUZZ_EXAMPLES ?= 300
fuzz: install services ## a longer schemathesis run (all checks) against a real gunicorn
	SCHEMATHESIS_MAX_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/api/test_schemathesis.py -p no:randomly $(PYTEST_ARGS)

bench: install services ## benchmarks against raw Celery; reports/bench.md and PNG plots
	$(PY) -m tests.bench $(BENCH_ARGS)
	$(PY) -m tests.bench.bench_fakestripe

clean:
	rm -rf $(VENV) $(TOOLS) var reports .mypy_cache .ruff_cache .pytest_cache
