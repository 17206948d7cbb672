# Two commands set everything up on a fresh machine:
#   make run   - create .venv, install, render examples/platform.yaml into build/ and list what was written
#   make test  - create .venv, install with test extras, lint, type-check and run the whole suite
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install run test lint bench bench-sync conformance clean

$(BIN)/gatewayctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/gatewayctl

run: install
	@set -a && . examples/example.env && set +a && $(BIN)/gatewayctl render examples/platform.yaml --out build/

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/python bench/render.py

# gatewayctl apply against the Kong emulator next to a raw-httpx baseline (results in bench/results/sync.*)
bench-sync: install
	$(BIN)/python bench/sync.py

# Development aid (needs ../shared): hold every example's rendering against the upstream schemas.
conformance: install
	@set -a && . examples/example.env && set +a && for c in examples/*.yaml; do \
	  n=$$(basename $$c .yaml); $(BIN)/gatewayctl render $$c --out build/conformance/$$n >/dev/null && \
	  $(BIN)/python ../shared/checks/conformance.py build/conformance/$$n; done

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
