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

.PHONY: setup zoo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[torch,plot,real,dev]"
	@for p in $(dir $(PLUGINS)); do echo "installing plugin $$p"; $(PIP) -e "$$p" || exit 1; done
	touch $(STAMP)

zoo: setup
	$(BIN)/rnnzoo zoo

test: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_export.py

clean:
	rm -rf $(VENV) exports/*/ exports/REPORT.md exports/*.json exports/*.png
