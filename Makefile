# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit demo airflow bench compose-check clean

install: $(STAMP)

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

test: install lint
	$(BIN)/pytest -q -p no:cacheprovider

demo: install
	$(BIN)/python -m dossiers.demo

airflow: install
	$(BIN)/python -m dossiers.local_airflow

bench: install
	$(BIN)/python bench/run.py

compose-check: install
	$(BIN)/pytest -q -p no:cacheprovider tests/test_compose.py

clean:
	rm -rf $(VENV) .dossier
