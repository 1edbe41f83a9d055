"""Shared fixtures. No test may reach the network: Yahoo is mocked at our extractor's boundary.

`make test` runs the tests in one worker per core (pytest-xdist, ``--dist loadscope``): each test
module goes to one worker, so a module-scoped fixture (most are whole pipeline runs) is built once.
A session-scoped one is built once per worker that needs it. Modules are handed out in collection
order (``--no-loadscope-reorder``), which ``pytest_collection_modifyitems`` below sorts.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PRICES_DIR = PROJECT_ROOT.parent / "shared" / "data" / "sample_prices"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with the most whole-pipeline tests (marked ``slow``) first, each module's tests
    kept together and in order: xdist starts the longest modules first and fills the end with
    the quick ones, instead of finishing on one worker with a long module it took last."""
    slow_tests = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow_tests[item.path])


@pytest.fixture(autouse=True)
def hashpivot_settings_stay_with_their_test():
    """A test that changes a HASHPIVOT_ variable in this process (a run's engine resource, the
    CLI) gets it put back, so the next test on the worker (and dbt's target it derives) does not
    depend on which tests ran before it."""
    before = {k: v for k, v in os.environ.items() if k.startswith("HASHPIVOT_")}
    yield
    for name in [k for k in os.environ if k.startswith("HASHPIVOT_") and k not in before]:
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture
def sample_prices_dir() -> Path:
    """The real yfinance exports in ../shared, read in place (never copied into the project)."""
    if not SAMPLE_PRICES_DIR.is_dir():
        pytest.skip(f"{SAMPLE_PRICES_DIR} is not there (../shared beside the checkout)")
    return SAMPLE_PRICES_DIR


@pytest.fixture(scope="session")
def generated_exports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Exports of every curated ticker in the real files' shapes and quirks (tests/exports.py),
    written once per session: the twin of ``sample_prices_dir``. Read-only for tests."""
    from tests.exports import write_generated_exports

    return write_generated_exports(tmp_path_factory.mktemp("generated_exports"))


@pytest.fixture(params=["sample", "generated"])
def exports_dir(request: pytest.FixtureRequest) -> Path:
    """The real sample exports (skipped without ../shared), then their generated twin."""
    return request.getfixturevalue(
        f"{request.param}_prices_dir" if request.param == "sample" else "generated_exports_dir"
    )


@pytest.fixture
def small_companies_seed(tmp_path: Path) -> Path:
    """A three-company seed: an equity, a crypto pair and a benchmark."""
    seed = tmp_path / "companies.csv"
    seed.write_text(
        "ticker,name,segment,listing_notes,source_url,as_of_date\n"
        "IREN,IREN Ltd,bitcoin_miner,,https://iren.com,2026-11-27\n"
        "BTC-USD,Bitcoin,crypto,,https://bitcoin.org,2026-11-27\n"
        "QQQ,Invesco QQQ,benchmark,,https://invesco.com,2026-11-27\n"
    )
    return seed


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A data dir holding a clean publish of generated exports, and the project copy it was run
    from, once per quality-gate test module (tests/quality_gate.py). Tests copy it first."""
    from tests.quality_gate import make_clean_run

    return make_clean_run(tmp_path_factory)


@dataclass(frozen=True)
class PublishedRun:
    """A data dir holding one successful publish, and the price exports it was built from."""

    data_dir: Path
    csv_dir: Path
    exports: str  # "sample" (the real exports in ../shared) or "generated" (their twin)


@pytest.fixture(scope="session")
def published_run(tmp_path_factory: pytest.TempPathFactory) -> PublishedRun:
    """One whole pipeline run shared by the tests of what BI users read (the published file with
    DuckDB 1.x readers, the dashboard): on the real sample exports when ../shared is beside the
    checkout, else on generated exports of every curated ticker. Tests that publish again copy
    the data dir first."""
    from tests.exports import write_generated_exports
    from tests.pipeline import run_hashpivot

    root = tmp_path_factory.mktemp("published_run")
    if SAMPLE_PRICES_DIR.is_dir():
        csv_dir, exports = SAMPLE_PRICES_DIR, "sample"
    else:
        csv_dir, exports = root / "exports", "generated"
        write_generated_exports(csv_dir)
    result = run_hashpivot(root / "data", "--source", "csv", "--csv-dir", str(csv_dir))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # What a user sees: a line per step, then the summary; the logs went to a file.
    printed = result.stdout.splitlines()
    assert len(printed) < 60, result.stdout
    assert printed[-1].startswith("  full log"), result.stdout
    (log,) = (root / "data" / "logs").glob("*.log")
    logged = log.read_text()
    assert "dbt" in logged
    assert "STEP_SUCCESS" in logged
    assert "STEP_SUCCESS" not in result.stdout + result.stderr
    assert_recorded_like_a_launched_run(root / "data")
    return PublishedRun(root / "data", csv_dir, exports)


def assert_recorded_like_a_launched_run(data_dir: Path) -> None:
    """The CLI's run is in the data dir's Dagster instance with its tags and the code location
    the UI loads, which is what puts it on the UI's Overview timeline."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
        (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["hashpivot/started_by"] == "hashpivot run"
    assert run.tags["hashpivot/source"] == "csv"
    assert run.tags["hashpivot/demo_prices"] == "false"
    location = run.remote_job_origin.repository_origin.code_location_origin.location_name
    assert (location, run.job_name) == ("orchestration.definitions", "hashpivot_all")


@pytest.fixture(scope="session")
def local_spark(tmp_path_factory: pytest.TempPathFactory):
    """One local Spark per test process (a JVM holds one SparkContext, its warehouse fixed at
    start): the in-process Spark tests share it, each in tables of its own. Skipped without the
    spark dependency group (`make test` installs it)."""
    pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    from orchestration.paths import data_paths
    from orchestration.transform.spark import spark_engine

    return spark_engine(data_paths(tmp_path_factory.mktemp("spark-data")))
