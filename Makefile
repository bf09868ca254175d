# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Each does its own set-up; every step is idempotent.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

setup: venv
	bash scripts/setup-test-env.sh

demo: venv
	bash scripts/demo.sh

test: setup
	$(BIN)/ruff check src tests benchmarks $(wildcard dags)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check src tests benchmarks $(wildcard dags)
	$(BIN)/ruff format --check src tests benchmarks $(wildcard dags)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
