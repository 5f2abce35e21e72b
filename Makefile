# The two commands a newcomer needs: `make run` (the gateway with live demo
# matches) and `make test` (lint, types and the whole test suite).
# Each creates .venv and installs what it needs on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/livegate demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest
	LIVEGATE_PYTHON=$(abspath $(BIN)/python) node --experimental-websocket --test clients/js/test/

# Three nodes on Redis behind nginx, with the demo matches (needs redis-server, nginx).
cluster: $(STAMP)
	$(BIN)/livegate cluster --nodes 3 --demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/fanout.py

# Under a minute: the fan-out ratios against the floor at N = 1000, one run.
bench-quick: $(STAMP)
	$(BIN)/python bench/fanout.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
