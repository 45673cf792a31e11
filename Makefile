# Fresh-machine entry points. Each target builds its own virtualenv from constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench infra clean

# Quiet, so that `make demo ARGS=--json` prints nothing but the demo's JSON on stdout.
.SILENT: demo $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	echo "installing $(VENV) from constraints.txt" >&2
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,dev]'
	touch $(STAMP)

## The whole request → approve → grant → expire story against local Slack and AWS emulators.
demo: $(STAMP)
	$(BIN)/cloud-access-bot demo $(ARGS)

## The CI test suite (unit, integration against moto server, end-to-end over Socket Mode).
## pytest's exit code 5 (no tests collected) is not a failure here. Two xdist workers per core:
## much of the suite waits (bot processes, real sweeps, AWS retries), so one per core leaves the
## cores idle half the time (docs/testing.md has the measurements). WORKERS=n overrides it.
## --maxschedchunk=1 hands out one test at a time to whichever worker is free: by default
## xdist sends runs of consecutive tests, so a file's minute-long tests queue on one worker.
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
test: $(STAMP)
	$(BIN)/pytest -q -n $(WORKERS) --maxschedchunk=1 -m "not slow" $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

## Everything, including the slow reliability and soak tests.
test-all: $(STAMP)
	$(BIN)/pytest -q $(ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src tests bench
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

infra:
	scripts/check-infra

clean:
	rm -rf $(VENV) .venv-infra .pytest_cache .mypy_cache .ruff_cache
