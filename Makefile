# Two commands: `make run` (the demo on SQLite) and `make test` (lint, types, the whole suite).

VENV ?= .venv
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
# more pytest options, e.g. PYTEST_ARGS='-n 2 --dist loadscope' for two test processes (pytest-xdist)
PYTEST_ARGS ?=
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

# The embedded default: SQLite under var/ (set SHIFO_DATABASE_URL to use PostgreSQL instead).
export SHIFO_DATABASE_URL ?= sqlite+aiosqlite:///var/shifo.db
export PORT

.PHONY: run test

run: $(VENV)/.installed
	$(BIN)/shifo migrate
	$(BIN)/shifo demo
	$(BIN)/shifo serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps: (re)install only when pyproject.toml changed since the last install.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e ".[dev]"
	touch $@ $(VENV)/.installed
