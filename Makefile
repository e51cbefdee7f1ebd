# Everything runs from a local virtualenv built from pyproject.toml.
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/dagster_home
# `dagster dev` re-parses the dbt project with the `dbt` found on PATH: the venv's.
export PATH := $(abspath $(BIN)):$(PATH)
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)
MANIFEST := dbt_project/target/manifest.json
SHOP_DIR := examples/shop/dbt_project
SHOP_SOURCES := $(shell find $(SHOP_DIR) -path $(SHOP_DIR)/target -prune -o -type f \( -name '*.sql' -o -name '*.py' -o -name '*.yml' -o -name '*.csv' \) -print)
SHOP_MANIFEST := $(SHOP_DIR)/target/manifest.json

.PHONY: install demo test check ui benchmark
install: $(VENV)/.installed $(MANIFEST) $(SHOP_MANIFEST)

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# dagster-dbt reads the parsed manifest; `dagster dev` re-parses by itself, the CLI does not.
$(MANIFEST): $(VENV)/.installed $(DBT_SOURCES)
	$(BIN)/dbt parse --project-dir $(CURDIR)/dbt_project --profiles-dir $(CURDIR)/dbt_project --quiet

# The example code location (examples/shop, loaded by workspace.yaml beside the simulation).
$(SHOP_MANIFEST): $(VENV)/.installed $(SHOP_SOURCES)
	$(BIN)/dbt parse --project-dir $(CURDIR)/$(SHOP_DIR) --profiles-dir $(CURDIR)/$(SHOP_DIR) --quiet

demo: install
	$(BIN)/dagster job execute -m orch_assets.definitions -j workforce_simulation
	$(BIN)/orch-assets summary

test: install
	$(BIN)/pytest

# Lint, format and types; the tool versions are pinned by the dev extra in pyproject.toml.
LINTED := orch_assets tests benchmarks
check: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/pyright --pythonpath $(abspath $(BIN))/python

ui: install
	$(BIN)/dagster dev -w workspace.yaml
