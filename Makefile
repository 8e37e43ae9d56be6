# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps test lint typecheck unit demo airflow stop bench compose-check clean

install: system-deps $(STAMP)

# Debian packages the project needs beyond Python: a CJK TrueType font that the report PDFs
# and charts embed (fonts-wqy-microhei), and for the tests pdftotext/pdffonts (poppler-utils)
# and a headless browser (chromium). Installed when missing and running as root; otherwise
# say what is missing and go on (the tests that need them say so too).
SYSTEM_PACKAGES := fonts-wqy-microhei poppler-utils chromium
system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "system-deps: not Debian/Ubuntu; install the equivalents of: $$missing" >&2; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "system-deps: not root, skipped; run as root: apt-get install -y --no-install-recommends $$missing" >&2; \
		exit 0; fi; \
	echo "system-deps: installing $$missing"; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }

# (Re)install when the venv is missing or older than the pinned requirements / project.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check include dags plugins tests bench sql/migrations/env.py
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install lint
	$(BIN)/pytest -q -p no:cacheprovider

demo: install
	$(BIN)/python -m dossiers.local.demo

# make airflow: LocalExecutor; make airflow EXECUTOR=celery: CeleryExecutor, Redis, 2 workers.
EXECUTOR ?= local
airflow: install
	$(BIN)/python -m dossiers.local.local_airflow --executor $(EXECUTOR)

bench: install
	$(BIN)/python bench/run.py

compose-check: install
	$(BIN)/pytest -q -p no:cacheprovider tests/test_compose.py

clean:
	rm -rf $(VENV) .dossier

# Stops what `make demo` and `make airflow` left running for this checkout (its .dossier/ or
# DOSSIER_HOME): the local Airflow's processes, then the embedded PostgreSQL.
stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m dossiers.local.stop; \
	else echo "nothing to stop: no $(VENV) here, so no embedded PostgreSQL or Airflow of it"; fi
