# Two entry points, both doing their own set-up on a fresh machine:
#   make run   - create .venv, install the app, open the TUI
#   make test  - create .venv, install the app with test extras, run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint-imports bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-app

run: $(VENV)/.installed-app
	$(BIN)/interviewer

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint-imports: $(VENV)/.installed-dev
	$(BIN)/lint-imports

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench_bank.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
