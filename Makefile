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

.PHONY: setup run run-one calibrate validate results reference notebooks dashboard test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@if [ -z "$(PYTHON)" ]; then echo "clustersim needs Python >= 3.12 (none found on PATH)" >&2; exit 1; fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,dist,slurm,viz,notebooks,sensitivity]"
	@touch $(STAMP)

run: setup  ## the headline comparison: 30 pairs of 12 vs 7 clusters (EUR 5M, 6/21 staff); REPLICATIONS=N for N pairs
	$(BIN)/clustersim experiment=twelve_vs_seven $(if $(REPLICATIONS),--replications $(REPLICATIONS))

run-one: setup  ## one run of the default scenario: Piedmont 2009-2020, 12 clusters
	$(BIN)/clustersim

# on every core (pytest-xdist); tests sharing a sweep or a service keep to one worker (conftest.py)
XDIST := -n auto --dist loadgroup

test: setup lint  ## lint, format check, and the whole test suite (slow tests included)
	$(BIN)/python -m pytest $(XDIST)

test-fast: setup  ## tests without the `slow` marker
	$(BIN)/python -m pytest $(XDIST) -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/ruff format --check src tests benchmarks experiments

format: setup
	$(BIN)/ruff check --fix src tests benchmarks experiments
	$(BIN)/ruff format src tests benchmarks experiments

calibrate: setup  ## simulated method of moments against the Piedmont targets (~15 min)
	$(BIN)/clustersim-calibrate

validate: setup  ## non-target outputs against public figures (docs/VALIDATION.md)
	$(BIN)/clustersim-validate

dashboard: setup  ## the policy dashboard on http://127.0.0.1:8765/
	$(BIN)/clustersim-dashboard

bench: setup  ## speed and memory at 1k..428k firms (several minutes)
	$(BIN)/python benchmarks/bench_scaling.py

SWEEPS := twelve_vs_seven reform_decomposed budget_staffing_grid reform_timeline sensitivity_morris sensitivity_sobol

results: setup  ## every canonical experiment at full size from clean sweep folders, then the notebooks (~2.5 h on 2 cores)
	for s in $(SWEEPS); do rm -rf results/sweeps/$$s; done
	$(BIN)/clustersim -m experiment=twelve_vs_seven
	$(BIN)/clustersim -m experiment=reform_decomposed
	rm -rf results/reform_decomposed && mkdir -p results/reform_decomposed
	cp results/sweeps/reform_decomposed/{report.md,report.html,effects.csv,pairing.csv} results/reform_decomposed/
	sed -i "s#(../../../docs/#(../../docs/#g" results/reform_decomposed/report.md
	$(BIN)/clustersim -m experiment=budget_staffing_grid
	$(BIN)/clustersim -m experiment=reform_timeline
	$(BIN)/clustersim experiment=calibrate calibrate.jobs=2
	$(BIN)/clustersim -m experiment=sensitivity_morris
	$(BIN)/clustersim -m experiment=sensitivity_sobol
	for m in morris sobol; do rm -rf results/sensitivity/$$m; mkdir -p results/sensitivity; \
	  cp -r results/sweeps/sensitivity_$$m/sensitivity results/sensitivity/$$m; done
	$(BIN)/clustersim-validate
	$(MAKE) reference
	$(BIN)/clustersim-notebooks

reference: setup  ## regenerate the committed regression reference (the headline's small variant, ~1 min)
	rm -rf results/sweeps/twelve_vs_seven_small
	$(BIN)/clustersim -m experiment=twelve_vs_seven_small
	rm -rf results/reference/twelve_vs_seven_small && mkdir -p results/reference/twelve_vs_seven_small
	cp results/sweeps/twelve_vs_seven_small/effects.csv results/sweeps/twelve_vs_seven_small/report.md \
	  results/reference/twelve_vs_seven_small/

notebooks: setup  ## execute the result notebooks on the saved results (make results runs everything)
	$(BIN)/clustersim-notebooks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
