# `make test` installs everything the tests need into .venv (and checkov into .venv-checkov), then
# runs the linters, the type checker and the whole test suite. CI runs exactly this.
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov

.PHONY: test lint sandbox bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint $(CHECKOV_VENV)/.installed
	CHECKOV=$(CHECKOV_VENV)/bin/checkov $(VENV)/bin/python -m pytest

sandbox: $(VENV)/.installed
	$(VENV)/bin/python deploy.py

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/run.py --write bench/RESULTS.md

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache
