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

# FC's python3.10 image as a clean environment: exactly the modules FC preinstalls (tests/stack runs
# the built function zips in it). Needs a real python3.10, as FC's bytecode does.
FC_ENV := .snapstack/fc-python310
FC_STAMP := $(FC_ENV)/.installed

.PHONY: help venv system-deps fc-image-env lint test bench demo package mutation clean

help:
	@echo "make test   - set up .venv, lint, type-check and run the test suite"
	@echo "make demo   - run scheduled_backup twice on the sample fleet (created, then deduplicated)"
	@echo "make bench  - run the benchmarks (bench/)"
	@echo "make package - build the function zips template.yml deploys (dist/, byte-reproducible)"
	@echo "make mutation [MODULE=snapstack/ratelimit.py] - mutation testing of the library's core"

$(STAMP): pyproject.toml
	@echo "snapstack: using $$($(PYTHON) -c 'import sys; print(sys.executable, sys.version.split()[0])')"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Real servers and tools the tests use, from Debian's packages: redis-server, Node for ROS's
# own resource-schema validators (the ROS CDK's JavaScript), and jq (the README pipes
# `snapstack ... --json` into it, and a test runs those commands as written).
system-deps:
	@for pkg in redis-server:redis-server nodejs:node jq:jq; do \
		name=$${pkg%%:*}; cmd=$${pkg##*:}; \
		command -v $$cmd >/dev/null 2>&1 || { \
		echo "snapstack: installing $$name"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$name >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$name >/dev/null; }; }; \
	done

$(FC_STAMP): layers/deps/fc-python310.txt
	@test -n "$(PY310)" || { echo "snapstack: FC's image env needs python3.10 (FC's runtime); none found" >&2; exit 1; }
	@echo "snapstack: FC python3.10 image environment in $(FC_ENV)"
	@rm -rf $(FC_ENV) && $(PY310) -m venv $(FC_ENV)
	@$(FC_ENV)/bin/python -m pip install -q --disable-pip-version-check -r layers/deps/fc-python310.txt
	@touch $(FC_STAMP)

fc-image-env: $(FC_STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv system-deps fc-image-env lint
	@echo "snapstack: tests on $$($(BIN)/python -c 'import sys; print(sys.version.split()[0])')"
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv system-deps
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true \
		$(BIN)/python -m bench

# Mutation testing (cosmic-ray; tests/mutation/targets.py maps each module to its tests). Not part of
# `make test`. MODULE= one module or a prefix (snapstack/ecs/); empty runs every mapped module.
mutation: venv system-deps
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true \
		$(BIN)/python -m tests.mutation $(MODULE)

demo: venv
	$(BIN)/snapstack demo

# Deployable zips for template.yml: dist/<function>.zip (`snapstack package` uploads them).
package: venv
	SNAPSTACK_PYTHON310=$(PY310) $(BIN)/python -m devkit.package

clean:
	rm -rf $(VENV) .snapstack dist packaged-template.yml .pytest_cache .mypy_cache .ruff_cache .hypothesis
