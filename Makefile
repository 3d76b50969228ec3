# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench wheel

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/alipay-emulator serve

lint: $(STAMP)
	$(BIN)/ruff check emulator tests bench
	$(BIN)/ruff format --check emulator tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage report

bench: $(STAMP)
	$(BIN)/python bench/gateway.py $(BENCH_ARGS)

# A wheel (and sdist) to install into another project: pip install dist/alipay_emulator-*.whl
wheel: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --sdist --wheel --outdir dist
