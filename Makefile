# snapstack — the two commands are `make demo` and `make test`; everything they need is set up here.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The FC runtime is python3.10: use a working python3.10 when the machine has one, else python3.
PY310 := $(shell for c in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
	"$$c" -c 'import sys' >/dev/null 2>&1 && { echo "$$c"; break; }; done)
PYTHON ?= $(if $(PY310),$(PY310),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv system-deps lint test bench demo package clean

help:
	@echo "make test   - set up .venv, lint, type-check and run the test suite"
	@echo "make demo   - run scheduled_backup twice on the sample fleet (created, then deduplicated)"
	@echo "make bench  - run the benchmarks (bench/)"
	@echo "make package - build the function and layer zips template.yml deploys"

$(STAMP): pyproject.toml
	@echo "snapstack: using $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Real servers and tools the tests use, from Debian's packages: redis-server, and jq (the README
# pipes `snapstack ... --json` into it, and a test runs those commands as written).
system-deps:
	@for pkg in redis-server jq; do command -v $$pkg >/dev/null 2>&1 || { \
		echo "snapstack: installing $$pkg"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkg >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkg >/dev/null; }; }; done

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv system-deps lint
	@echo "snapstack: tests on $$($(BIN)/python -c 'import sys; print(sys.version.split()[0])')"
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv system-deps
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true \
		$(BIN)/python -m bench

demo: venv
	$(BIN)/snapstack demo

# Deployable zips for template.yml (upload dist/ to the CodeBucket parameter's bucket).
package: venv
	$(BIN)/python -m devkit.package --deps

clean:
	rm -rf $(VENV) .snapstack dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
