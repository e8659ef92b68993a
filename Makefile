# smctl developer tasks. `make setup` prepares a Debian host (Docker engine, base image, local registry).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -n 2

.PHONY: setup install test test-fast test-pythons lint bench golden clean demo

setup:
	bash .ci/setup-host.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed

# Sets everything up on a fresh (Debian) machine and walks the whole flow: init, build, local-train, package
# inspect, local-serve, invoke, local-transform, doctor; then cleans up.
demo: setup install
	bash .ci/demo.sh

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest $(PYTEST_ARGS) tests/unit tests/cli

# The unit and CLI suites on pyenv's 3.10, 3.12 and 3.13 and Debian's python3 (each in its own venv).
test-pythons:
	bash .ci/pythons.sh

lint: install
	$(VENV)/bin/ruff check smctl tests benchmarks
	$(VENV)/bin/mypy smctl

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache benchmarks/.work

# Rewrites tests/golden/<variant>/ from templates/ (every preset, cpu/gpu, --separate-images);
# review the result with `git diff tests/golden` before committing.
golden: install
	$(PY) -m tests.golden.regen
