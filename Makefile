# clustersim: `make run` and `make test` set everything up on a fresh machine.
# Needs Python 3.12 or newer; the first of python3.12, python3.13, python3.14, python3
# that is new enough is used (pyenv machines honour .python-version).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= $(shell for p in python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: setup run run-one calibrate validate dashboard test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ]; then echo "clustersim needs Python >= 3.12 (none found on PATH)" >&2; exit 1; fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,dist,slurm,viz]"
	@touch $(STAMP)

run: setup  ## the headline comparison: 30 pairs of 12 vs 7 clusters (EUR 5M, 6/21 staff)
	$(BIN)/clustersim experiment=twelve_vs_seven

run-one: setup  ## one run of the default scenario: Piedmont 2009-2020, 12 clusters
	$(BIN)/clustersim

test: setup lint  ## lint, format check, and the whole test suite
	$(BIN)/python -m pytest

test-fast: setup  ## tests without the `slow` marker
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

calibrate: setup  ## simulated method of moments against the Piedmont targets (~15 min)
	$(BIN)/clustersim-calibrate

validate: setup  ## non-target outputs against public figures (docs/VALIDATION.md)
	$(BIN)/clustersim-validate

dashboard: setup  ## the policy dashboard on http://127.0.0.1:8765/
	$(BIN)/clustersim-dashboard

bench: setup  ## speed and memory at 1k..428k firms (several minutes)
	$(BIN)/python benchmarks/bench_scaling.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
