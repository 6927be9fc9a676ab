# Two commands on a fresh machine: `make run` (the main job) and `make test` (the suite).
# Both create .venv and install the pinned dependencies first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test test-fast bench lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## simulate a small world into var/, then serve the API on http://127.0.0.1:8000 (docs at /docs)
run: install
	$(BIN)/lodestar demo

## the whole suite (PostgreSQL/Redis tests run when LODESTAR_TEST_*_URL are set, as .ci/run does)
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

## speed and memory figures, as ratios to baselines run in the same process
bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache
