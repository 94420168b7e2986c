# `make test` installs everything the tests need (into .venv, checkov into .venv-checkov, and a local wheel
# cache so that no test reaches a package index), then runs the linters, the type checker and every test.
# CI runs exactly this. The environments are made by deployer/bootstrap.py, which also works on a stock OS
# Python without ensurepip (PEP 668: Debian, Ubuntu, Homebrew).
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
WHEELS := .build/wheels
LAMBDA_PLATFORM := --platform manylinux2014_aarch64 --python-version 3.13 --implementation cp --only-binary=:all:

.PHONY: test lint sandbox bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt deployer/bootstrap.py
	$(PYTHON) -m deployer.bootstrap $(VENV) requirements-dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt deployer/bootstrap.py
	$(PYTHON) -m deployer.bootstrap $(CHECKOV_VENV) requirements-checkov.txt
	touch $@

# What the packaging and quick-start tests install from: this machine's requirements, and the Lambda
# runtime's (arm64, Python 3.13) for the deployment package.
$(WHEELS)/.complete: requirements.txt handlers/requirements.txt $(VENV)/.installed
	$(VENV)/bin/pip download --quiet --disable-pip-version-check -d $(WHEELS)/local -r requirements.txt
	$(VENV)/bin/pip download --quiet --disable-pip-version-check --no-deps -d $(WHEELS)/lambda \
		$(LAMBDA_PLATFORM) -r handlers/requirements.txt
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The headless browser the sandbox's page tests use: Debian's chromium package, installed when missing
# (as root, or through sudo without a password).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(shell [ "$$(id -u)" = 0 ] || echo sudo),sudo -n) sh -c 'apt-get install -y -qq --no-install-recommends \
		chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }'

test: lint $(CHECKOV_VENV)/.installed $(WHEELS)/.complete $(CHROMIUM)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov WHEELS=$(WHEELS) CHROMIUM=$(CHROMIUM) $(VENV)/bin/python -m pytest

sandbox:
	$(PYTHON) deploy.py

bench: $(VENV)/.installed
	$(VENV)/bin/python bench/run.py --write bench/RESULTS.md

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .build .mypy_cache .ruff_cache .pytest_cache
