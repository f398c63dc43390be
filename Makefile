# Two entry points for a fresh clone: `make demo` and `make test`.
# Each does its own setup: a virtualenv for the tap (.venv) and one for Meltano
# (.venv-meltano, kept apart so Meltano's pins never fight the tap's).
# `make check` is the fast loop for development: lint and every test that needs no
# Meltano, dbt, PyAirbyte, PostgreSQL or browser (pytest marker `e2e`), about a minute.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MELTANO_VENV := .venv-meltano
MELTANO := $(MELTANO_VENV)/bin/meltano
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: setup demo report metrics test lint pytest check check-sdk-next bench docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

$(MELTANO_VENV)/.installed:
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/pip install --quiet --upgrade pip
	$(MELTANO_VENV)/bin/pip install --quiet 'meltano==4.4.1'
	touch $@

.meltano/.installed: meltano.yml pyproject.toml $(MELTANO_VENV)/.installed $(VENV)/.installed
	$(MELTANO) install
	touch $@

setup: $(VENV)/.installed .meltano/.installed

# PyAirbyte, Airbyte's own Python client, runs the Airbyte face in tests. It gets its own
# virtualenv (its pins - pydantic, SQLAlchemy, DuckDB... - are not the tap's business),
# installed from the versions it was tested with; `pytest` depends on it.
PYAIRBYTE_VENV := .venv-pyairbyte
$(PYAIRBYTE_VENV)/.installed: airbyte/pyairbyte-constraints.txt
	$(PYTHON) -m venv $(PYAIRBYTE_VENV)
	$(PYAIRBYTE_VENV)/bin/pip install --quiet --upgrade pip
	$(PYAIRBYTE_VENV)/bin/pip install --quiet --constraint airbyte/pyairbyte-constraints.txt 'airbyte==0.71.3'
	touch $@
pytest: $(PYAIRBYTE_VENV)/.installed

# Third-party clients the tests run the tap with (tests/test_clients.py), each in its own
# virtualenv at the versions in tests/clients/ (their pins - jsonschema 2.6 and 3.2,
# old singer-python - clash with ours and with each other), and airbyte-cdk, whose
# standard connector tests run the Airbyte face (tests/test_airbyte_cdk.py).
CLIENT_VENVS := .venv-target-jsonl .venv-pipelinewise-target-postgres .venv-airbyte-cdk
.venv-target-jsonl/.installed: tests/clients/target-jsonl.txt
.venv-pipelinewise-target-postgres/.installed: tests/clients/pipelinewise-target-postgres.txt
.venv-airbyte-cdk/.installed: tests/clients/airbyte-cdk.txt
$(addsuffix /.installed,$(CLIENT_VENVS)):
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install --quiet --upgrade pip
	$(@D)/bin/pip install --quiet --requirement $<
	touch $@
pytest: $(addsuffix /.installed,$(CLIENT_VENVS))

# The exact versions the Airbyte image installs, from the tested environment.
.PHONY: airbyte-constraints
airbyte-constraints: $(VENV)/.installed
	$(PY) -m scripts.airbyte_constraints

demo: setup
	$(PY) -m scripts.demo

# The KPI marts (transform/) as output/report.html; reads DBT_DUCKDB_PATH like dbt-duckdb.
report: $(VENV)/.installed
	$(PY) -m scripts.report

# The semantic layer on the marts in $DBT_DUCKDB_PATH (default output/indigo.duckdb, after
# `make demo`): MetricFlow's manifest from transform/, then every KPI by ISO week and
# workspace (meltano.yml's metricflow utility; `meltano invoke metricflow query ...` for more).
metrics: setup
	$(MELTANO) invoke metricflow:parse --quiet
	$(MELTANO) invoke metricflow:weekly

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The fast tiers in parallel, then the end-to-end ones (shared PostgreSQL, Meltano
# project and browser) one at a time.
pytest: setup
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" $(PY) -m pytest $(FAST_TESTS)
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" $(PY) -m pytest -m e2e

test: lint pytest

# Workers overlap the tests' waits (timeouts, backoffs, rate windows); 4 on 2 cores.
FAST_TESTS := -m "not e2e" -n 4
check: lint
	$(PY) -m pytest $(FAST_TESTS)

# The fast loop against the newest singer-sdk on the index, pre-releases included, so a
# coming SDK release breaks here first (tests/test_sdk_surface.py names what changed).
SDK_NEXT_VENV := .venv-sdk-next
$(SDK_NEXT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SDK_NEXT_VENV)
	$(SDK_NEXT_VENV)/bin/pip install --quiet --upgrade pip
	$(SDK_NEXT_VENV)/bin/pip install --quiet -e '.[test,lint]'
	$(SDK_NEXT_VENV)/bin/pip install --quiet --pre --upgrade 'singer-sdk[msgspec,testing]'
	touch $@
check-sdk-next: $(SDK_NEXT_VENV)/.installed
	@$(SDK_NEXT_VENV)/bin/python -c "import importlib.metadata as m; print('singer-sdk', m.version('singer-sdk'))"
	$(SDK_NEXT_VENV)/bin/mypy
	# Files generated from the pinned SDK (settings table, Hub definition, constraints) are
	# regenerated when the pin moves; here only behaviour is checked.
	$(SDK_NEXT_VENV)/bin/python -m pytest -m "not e2e and not pinned_sdk" -n 4

docs: $(VENV)/.installed
	$(PY) -m scripts.sync_readme

bench: setup
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) $(MELTANO_VENV) $(PYAIRBYTE_VENV) $(SDK_NEXT_VENV) $(CLIENT_VENVS) .meltano output .pytest_cache .mypy_cache .ruff_cache
