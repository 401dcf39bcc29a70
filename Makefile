# `make demo` and `make test` each build their own virtual environment from scratch.
# TensorFlow comes as the tensorflow-cpu wheel: same `tensorflow` module, no CUDA download.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TF_SPEC ?= tensorflow-cpu>=2.16,<2.22
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL := 2
export MLFLOW_TRACKING_URI ?= sqlite:///mlflow.db

.PHONY: demo test test-fast test-e2e lint format docs docs-serve bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TF_SPEC)" -e ".[test]"
	touch $@

# MLFLOW_LOGGING_LEVEL: `mlflow run`'s own INFO lines ("=== Running command ... ===") stay
# out of the demo's output; the demo silences the rest in its own process.
demo: $(BIN)/.installed
	MLFLOW_LOGGING_LEVEL=WARNING $(BIN)/mlflow run . --env-manager local --experiment-name mlflow-sanity-demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m mlflow_sanity.checks.catalog --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/checks.md's tables and entries, regenerated from the check registry (the CLI page
# is rendered from the click commands when the site is built).
docs: $(BIN)/.installed
	$(BIN)/python -m mlflow_sanity.checks.catalog --write

# The documentation site at http://127.0.0.1:8000, rebuilt on every save.
docs-serve: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

test: lint
	$(BIN)/python -m pytest -q

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not keras and not e2e"

test-e2e: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m e2e

bench: $(BIN)/.installed
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) mlruns mlflow.db .pytest_cache build/site
