# hashpivot: every target bootstraps .venv from uv.lock by itself.
# After cloning you need only `make run` (the pipeline) and `make test` (the tests).

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HASHPIVOT_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(HASHPIVOT_DATA_DIR)/dagster_home
export GX_ANALYTICS_ENABLED := false
# uv must use the machine's Python 3.11, never download one (there is no internet but PyPI).
export UV_PYTHON_DOWNLOADS := never
# Compile every installed module to bytecode once, at install. Where PYTHONDONTWRITEBYTECODE is
# set (as on our CI machines) Python would otherwise recompile Dagster, dbt, pandas and GX from
# source in every process: seconds of every run, dbt call and code-location load.
export UV_COMPILE_BYTECODE := 1
DASHBOARD_PORT ?= 8000
# pytest-xdist workers for `make test`: one per core, at most 4 (each may run a whole pipeline,
# DuckDB capped at 2 GB); each test module goes to one worker (--dist loadscope), so its
# module-scoped pipeline runs are built once, the slowest modules first (tests/conftest.py).
# TEST_WORKERS=0 runs the tests in one process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: run test lint ui bench venv clean dashboard dashboard-dev

# Re-sync only when the lock or the project metadata changed. --inexact: a sync never removes
# the optional spark group that `make test` added.
$(VENV)/.synced: uv.lock pyproject.toml
	@echo "setting up .venv from uv.lock (the first time takes a minute or two)"
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --frozen --inexact --quiet --python $(PYTHON)
	@touch $@

# The Spark engine's packages (pyspark bundles Spark's jars: about 400 MB): `make test` runs the
# Spark tests, `make run` does not need them (--engine spark says how to add them).
$(VENV)/.synced-spark: $(VENV)/.synced
	@echo "adding the spark dependency group (pyspark, dbt-spark) to .venv"
	@$(UV) sync --frozen --inexact --quiet --group spark --python $(PYTHON)
	@touch $@

# Our own modules too (only the changed ones are recompiled; __pycache__ is git-ignored).
venv: $(VENV)/.synced
	@$(BIN)/python -m compileall -q orchestration >/dev/null

run: venv  ## Land prices and build everything (hashpivot run); options via HASHPIVOT_* env vars
	$(BIN)/hashpivot run

test: venv $(VENV)/.synced-spark  ## The test suite (no network needed), one worker per core (at most 4)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

faults: venv  ## kill -9 at random points of 20 runs, checking nothing is lost or torn (about 10 min)
	HASHPIVOT_FAULT_KILLS=$${HASHPIVOT_FAULT_KILLS:-20} $(BIN)/pytest -s tests/faults/test_kill_loop.py

lint: venv  ## ruff for Python, sqlfluff for the dbt SQL (its dbt templater opens the warehouse)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	env $$($(BIN)/python -m orchestration.transform.dbt) $(BIN)/sqlfluff lint dbt_project/models dbt_project/macros

dashboard: venv  ## The static dashboard from the current publish, into $(HASHPIVOT_DATA_DIR)/dashboard/
	$(BIN)/python -m orchestration.report.dashboard build --port $(DASHBOARD_PORT)

dashboard-dev: venv  ## Serve the dashboard on 127.0.0.1:$(DASHBOARD_PORT), rebuilt whenever a publish lands
	$(BIN)/python -m orchestration.report.dashboard serve --port $(DASHBOARD_PORT)

ui: venv  ## The Dagster UI on http://127.0.0.1:3000, with the CLI's run history
	@mkdir -p "$(DAGSTER_HOME)"
	@# hashpivot's dagster.yaml (as `hashpivot run` writes it): the UI and the schedule queue their
	@# runs one at a time (concurrency.runs.max_concurrent_runs: 1; Dagster's default is 10).
	@$(BIN)/python -c 'import os; from orchestration.cli import prepare_dagster_home; \
		from orchestration.paths import data_paths; prepare_dagster_home(data_paths(), os.environ)'
	$(BIN)/dagster dev -w workspace.yaml

bench: venv $(VENV)/.synced-spark  ## The benchmarks (bench/run_benchmarks.py; see docs/benchmarks.md). BENCH_ARGS=--quick for a short run
	$(BIN)/python bench/run_benchmarks.py $(BENCH_ARGS)

clean:  ## Remove the environment and dbt's build output (never the data dir)
	rm -rf $(VENV) dbt_project/target dbt_project/logs
