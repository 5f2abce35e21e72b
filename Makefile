# The two commands a newcomer needs: `make run` (the gateway with live demo
# matches) and `make test` (lint, types and the whole test suite).
# Each creates .venv and installs what it needs on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-quick bench-peers cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/livegate demo

# The Node peers of bench/peers (ws, socket.io), exactly as package-lock.json pins them.
PEERS_NODE := bench/peers/node_modules/.package-lock.json
$(PEERS_NODE): bench/peers/package-lock.json
	npm ci --prefix bench/peers --no-audit --no-fund --loglevel=error
	touch $(PEERS_NODE)

test: $(STAMP) $(PEERS_NODE)
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

# livegate beside Node ws, socket.io, websockets and python-socketio (~40 min).
bench-peers: $(STAMP) $(PEERS_NODE)
	$(BIN)/python bench/peers/run.py --json bench/results/peers.json --plots docs/plots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/peers/node_modules
