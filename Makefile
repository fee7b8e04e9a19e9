# Two commands on a fresh machine: `make demo` runs the whole sync against the bundled fake API,
# `make test` runs lint, types and the tests. Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: demo test lint dev stop clean lock

# The package with its dev extra, and the fake APIs and demo beside it (devtools/, not shipped),
# at the versions in constraints.txt (the ones the tests passed with).
$(INSTALLED): pyproject.toml devtools/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]" -e devtools
	touch $@

# A fresh resolve of pyproject.toml's ranges in a throwaway venv, written to constraints.txt.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e ".[dev]" -e devtools
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
	  | grep -v '^eventsync'; } > constraints.new && mv constraints.new constraints.txt
	rm -rf .lock-venv

$(DAGSTER_HOME)/dagster.yaml: instance/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp instance/dagster.yaml $@

demo: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m eventsync_dev.demo

lint: $(INSTALLED)
	$(BIN)/ruff check eventsync_dagster eventsync_dagster_tests devtools bench scripts
	$(BIN)/ruff format --check eventsync_dagster eventsync_dagster_tests devtools bench scripts
	$(BIN)/mypy eventsync_dagster devtools/eventsync_dev

# The destination tests also run against PostgreSQL: scripts/postgres.sh installs Debian's server
# if it is missing and starts one on 127.0.0.1 (`make test POSTGRES=0` runs DuckDB only). It stays
# up afterwards, and `make test` says so: the next run and single tests reuse it, and another
# checkout's `make test` on this machine may be using it at that moment (stopping it at the end
# would kill that run). `make stop` stops it.
POSTGRES ?= 1
# The tests run in parallel, one worker per core (at most 4): most of their time is spent
# waiting on the processes they start. Each test has its own fake API, Dagster home, warehouse,
# budgets and PostgreSQL database. `PYTEST_ARGS=-n0` runs them one after another.
PYTEST_ARGS ?= -n auto --maxprocesses=4 --dist worksteal

test: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml lint
	if [ "$(POSTGRES)" = 1 ]; then url=$$(bash scripts/postgres.sh) || exit 1; fi; \
	EVENTSYNC_TEST_POSTGRES=$$url $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ -n "$$url" ]; then echo "PostgreSQL is still running at $$url; \`make stop\` stops it"; fi; \
	exit $$status

# Everything `make test` leaves running: the tests' PostgreSQL (the fake APIs and Dagster's
# processes of the tests end with their test).
stop:
	bash scripts/postgres.sh stop

dev: $(INSTALLED) $(DAGSTER_HOME)/dagster.yaml
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg dev

clean:
	rm -rf data .dagster_home
