# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Each does its own set-up; every step is idempotent.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

AIRFLOW_VENV ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

.PHONY: demo test test-dag test-celery lint setup venv clean image-lock settings-doc

# setup.py and the C source: the compiled look-up module is rebuilt whenever they change.
BUILD_INPUTS := pyproject.toml setup.py src/kwrec/core/models/_mapped.c

$(STAMP): $(BUILD_INPUTS) image.lock venv.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	bash scripts/ensure-compiler.sh $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c venv.lock -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Airflow 3 pins older fastapi/starlette than the service uses, so the DAG is tested in its own venv.
$(AIRFLOW_STAMP): $(BUILD_INPUTS)
	test -x $(AIRFLOW_VENV)/bin/python || $(PY) -m venv $(AIRFLOW_VENV)
	bash scripts/ensure-compiler.sh $(AIRFLOW_VENV)/bin/python
	$(AIRFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install -q -e '.[dev]' 'apache-airflow==3.3.*'
	touch $(AIRFLOW_STAMP)

setup: venv
	bash scripts/setup-test-env.sh

demo: venv
	bash scripts/demo.sh

test: setup
	$(BIN)/ruff check src tests benchmarks $(wildcard dags)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	$(MAKE) test-dag
	$(MAKE) test-celery

test-dag: setup $(AIRFLOW_STAMP)
	$(AIRFLOW_VENV)/bin/python -m pytest -q tests/integration/test_dag.py

# The DAG on a real CeleryExecutor cluster (Redis, PostgreSQL, two workers): its own database and ports.
test-celery: setup $(AIRFLOW_STAMP)
	$(AIRFLOW_VENV)/bin/python -m pytest -q tests/integration/test_dag_celery.py

lint: venv
	$(BIN)/ruff check src tests benchmarks $(wildcard dags)
	$(BIN)/ruff format --check src tests benchmarks $(wildcard dags)
	$(BIN)/mypy

# After changing runtime dependencies: pin what the venv now has: the serving stack for the image
# (image.lock), everything the chain needs for the next venv (venv.lock).
image-lock: venv
	$(BIN)/python -m kwrec.adapters.image.wheels > image.lock
	$(BIN)/python -m kwrec.adapters.image.wheels all > venv.lock

# After changing a settings model: docs/settings.md from the models (a unit test fails while it is stale).
settings-doc: venv
	$(BIN)/python -m kwrec.cli.reference > docs/settings.md

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache .mypy_cache .ruff_cache build
	find src -name "*.so" -delete
