# omni311 — every command a developer, CI or an ops person needs on a bare machine (no Docker).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export OMNI311_SHARED_DATA ?= $(abspath ../shared/data)

.PHONY: help venv assets browser infra-up infra-down infra-status migrate run stop reset test test-unit bench clean

help:
	@echo "make run         infrastructure + every service + replay (REPLAY=file, REPLAY_MODE=structured|free-text|both)"
	@echo "                 SCALE=case=2,router=2,dedup=2,notifier=2: replicas in their consumer groups (docs/operations.md)"
	@echo "make test        infrastructure + every test (unit, integration, e2e)"
	@echo "make test-unit   tests that need no infrastructure"
	@echo "make stop        stop services and infrastructure"
	@echo "make reset       empty the jurisdiction's database and topics (REPLAY=file or OMNI311_JURISDICTION=id)"
	@echo "make migrate     apply every service's migrations"
	@echo "make bench       routing throughput and memory on the real NYC sample; routing, location and dedup quality on every dataset;"
	@echo "                 the pipeline end to end against the raw Kafka->PostgreSQL floor (var/bench.json; docs/benchmarks.md)"
	@echo "make soak        the fault tests (replica kills, broker and PostgreSQL restarts, a poison message) on SOAK_EVENTS=20000 events (the issue's burst)"
	@echo "make infra-up | infra-down | infra-status   Kafka, PostgreSQL and GreenMail on their own (KAFKA_BROKERS=3: three brokers)"
	@echo "make browser     Debian chromium and Playwright for the browser tests"
	@echo "make assets      the web pages' front-end libraries (npm ci in shared/web, copied to shared/web/static/vendor)"
	@echo "make clean       remove test logs and run files under var/"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The development issuer's key pair (var/dev-issuer/, never committed): kept when present.
venv: $(VENV)/.installed assets
	$(PY) -m shared.auth.dev_issuer keygen >/dev/null

# USWDS, htmx, Leaflet and leaflet.heat (and axe-core and the GeoJSON schema for tests) from npm, served by
# each web service itself (portal, workbench);
# node_modules and static/vendor are never committed. Debian's nodejs and npm are enough.
WEB := shared/web
$(WEB)/static/vendor/.installed: $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/scripts/vendor.mjs
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent vendor

assets: $(WEB)/static/vendor/.installed

browser: venv
	PYTHON=$(PY) deploy/local/bin/browser.sh install

# KAFKA_BROKERS=3: a three-broker Kafka (deploy/local/bin/kafka.sh); unset, whichever this checkout runs (else one).
infra-up: venv
	PYTHON=$(PY) $(if $(KAFKA_BROKERS),KAFKA_BROKERS=$(KAFKA_BROKERS)) deploy/local/bin/infra.sh up

infra-down:
	deploy/local/bin/infra.sh down

infra-status:
	$(if $(KAFKA_BROKERS),KAFKA_BROKERS=$(KAFKA_BROKERS)) deploy/local/bin/infra.sh status

migrate: venv
	$(PY) -m shared.db.migrate --create-database

run: venv assets
	PYTHON=$(PY) deploy/local/bin/run.sh

stop:
	-deploy/local/bin/services.sh stop
	deploy/local/bin/infra.sh down

reset: infra-up
	PYTHON=$(PY) deploy/local/bin/reset.sh

test-unit: venv
	$(PY) -m pytest tests/unit -q

# Two pytest-xdist workers (TEST_WORKERS=0: one process): end-to-end stacks mostly wait on Kafka and
# PostgreSQL, so a second worker uses the second core; each module stays whole in one worker, and the two
# modules that run `make run` on the fixed ports take turns (tests/conftest.py).
TEST_WORKERS ?= 2
test: infra-up browser assets
	$(PY) -m pytest tests -q -p no:cacheprovider $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

bench: infra-up
	$(PY) -m benchmarks.routing
	$(PY) -m benchmarks.judgement
	$(PY) -m benchmarks.pipeline

# The fault tests (tests/e2e/test_e2e_faults.py: replica kills, a poison message, broker and PostgreSQL
# restarts on private instances) on the issue's 20,000-event burst, longer than make test's: SOAK_EVENTS events.
SOAK_EVENTS ?= 20000
.PHONY: soak
soak: venv
	OMNI311_FAULTS_EVENTS=$(SOAK_EVENTS) OMNI311_FAULTS_SETTLE_S=3600 OMNI311_FAULTS_TIMEOUT_S=7200 $(PY) -m pytest tests/e2e/test_e2e_faults.py -s -q -p no:cacheprovider

clean:
	rm -rf var/test-logs var/run
