# Two commands do everything on a fresh machine:
#   make zoo    train, export and verify every registered model (the main job)
#   make test   run the test suite
# Both create .venv and install pinned, tested versions (constraints.txt) first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
STAMP  := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
NODE_DIR   := rnnzoo/runtimes/node
NODE_STAMP := $(NODE_DIR)/node_modules/.rnnzoo-installed

.PHONY: setup zoo test test-numerics lint bench clean node-runtimes

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[torch,plot,real,dev,openvino,tract,litert,tune]"
	@for p in $(dir $(PLUGINS)); do echo "installing plugin $$p"; $(PIP) -e "$$p" || exit 1; done
	touch $(STAMP)

# The `web` (onnxruntime-web, WebAssembly) and `node` (onnxruntime-node) runtimes run in Node.js; their npm
# packages are pinned by $(NODE_DIR)/package-lock.json. --ignore-scripts: onnxruntime-node's install script
# reaches for the network (it downloads optional GPU binaries); the CPU binaries ship in the package. Without
# node on PATH this only says so: those two runtimes then report themselves unavailable and their tests skip.
node-runtimes: $(NODE_STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		echo "installing the web and node runtimes (npm ci in $(NODE_DIR))"; \
		cd $(NODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund && touch node_modules/.rnnzoo-installed; \
	else \
		echo "node/npm not on PATH: skipping the web and node runtimes (install Node.js >= 18, then make node-runtimes)"; \
	fi

zoo: setup
	$(BIN)/rnnzoo zoo

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

# Training outcomes differ slightly between CPUs (AVX2 vs AVX-512) and thread counts. CI reruns the tests that
# assert on trained models with torch's plain (non-vectorized) kernels and one thread, so a test that only
# passes by a hair on one machine fails here instead of on a user's.
NUMERICS_TESTS := tests/test_export.py tests/test_trainer.py tests/test_variants.py tests/test_zoo.py tests/test_drift.py
test-numerics: setup
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider $(NUMERICS_TESTS)

bench: setup
	$(BIN)/python benchmarks/bench_export.py

clean:
	rm -rf $(VENV) exports/*/ exports/REPORT.md exports/*.json exports/*.png
