# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The stamp files re-run pip only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/avsl demo

lint: install-test
	$(BIN)/ruff check src tests hubconf.py app.py
	$(BIN)/ruff format --check src tests hubconf.py app.py

test: lint
	$(BIN)/python -m pytest

# The inner loop: everything but the tests marked slow (about a third of the time).
test-fast: install-test
	$(BIN)/python -m pytest -m "not slow"

clean:
	rm -rf $(VENV) runs data .pytest_cache
