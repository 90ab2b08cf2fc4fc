# Headroom: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
TEST_WORKERS ?= 2  # pytest-xdist processes for `make test` (each takes its own test database and Redis database)

.PHONY: run test test-fast lint bench venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: venv
	DEBUG=$${DEBUG:-true} $(PY) manage.py runall --bind $${BIND:-127.0.0.1:8000}

test: venv
	scripts/system-packages
	$(PY) -m pytest -n $(TEST_WORKERS)

test-fast: venv
	$(PY) -m pytest -m "not e2e" -x

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: venv
	for b in bench/*.py; do $(PY) $$b || exit 1; done
