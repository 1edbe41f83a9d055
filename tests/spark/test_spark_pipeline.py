"""The whole pipeline on Spark (``hashpivot run --engine spark``), against the DuckDB engine's.

One module-scoped sequence of runs (each a `hashpivot run` subprocess with its own local Spark):

- the sample exports (their generated twin without ../shared) on Spark: every published mart
  equals the DuckDB run's (``published_run``) to 1e-9 relative, NULLs in the same places, with
  the same columns and types, and DuckDB 1.x readers open the published file;
- generated exports to LAST_CLEAN_DAY on Spark, then one more trading day: the incremental build
  publishes what a full build of the longer exports publishes;
- then a poisoned curated row (a negative MW): the GX suite, run on Spark, blocks the publish.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.bi_readers import BI_DUCKDB_VERSIONS, row_counts_read_by
from tests.exports import write_generated_exports
from tests.marts.compare import compare_frames
from tests.pipeline import published_fingerprint, run_hashpivot
from tests.quality_gate import (
    LAST_CLEAN_DAY,
    NEXT_DAY,
    assert_failed_and_nothing_published,
    copy_project,
    edit_seed,
)

NEW_DAY = date.fromisoformat(NEXT_DAY)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def published_tables(published: Path) -> dict[str, pd.DataFrame]:
    """Every mart of a published DuckDB file (not the publish's own bookkeeping tables)."""
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as connection:
        names = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables order by 1"
            ).fetchall()
            if not name.startswith("_")
        ]
        return {name: connection.execute(f'select * from "{name}"').df() for name in names}


def published_types(published: Path) -> dict[str, list[tuple[str, str]]]:
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_name not like '\\_%' escape '\\' order by table_name, ordinal_position"
        ).fetchall()
    types: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        types.setdefault(table, []).append((column, data_type))
    return types


def mart_differences(expected: Path, actual: Path) -> dict[str, pd.DataFrame]:
    """Per mart, the cells that differ beyond 1e-9 relative (or NULL against a value), rows
    matched on every column that is not a float."""
    differences = {}
    expected_tables, actual_tables = published_tables(expected), published_tables(actual)
    assert sorted(expected_tables) == sorted(actual_tables)
    for name, reference in expected_tables.items():
        mart = actual_tables[name]
        keys = [c for c in reference.columns if not pd.api.types.is_float_dtype(reference[c])]
        assert not reference.duplicated(keys).any(), f"{name}: {keys} is not a key"
        found = compare_frames(reference, mart, keys)
        if not found.empty:
            differences[name] = found
    return differences


def run_on_spark(data: Path, csv_dir: Path, project: Path | None = None):
    options = ("--engine", "spark", "--source", "csv", "--csv-dir", str(csv_dir))
    if project is None:
        return run_hashpivot(data, *options)
    return run_hashpivot(data, *options, project=project)


@dataclass(frozen=True)
class SparkRuns:
    sample_spark: Path  # published/ of the sample exports on Spark
    sample_duckdb: Path  # published/ of the same exports on DuckDB
    sample_output: str
    incremental: Path  # published/ after one new day on Spark
    full_duckdb: Path  # published/ of a full DuckDB build of the same exports
    incremental_output: str
    data: Path
    project: Path
    csv_dir: Path


def succeeded(result) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "published: yes" in result.stdout, result.stdout[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def spark_runs(published_run, tmp_path_factory: pytest.TempPathFactory) -> SparkRuns:
    pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    root = tmp_path_factory.mktemp("spark_runs")
    sample = run_on_spark(root / "sample", published_run.csv_dir)
    sample_output = succeeded(sample)

    project = copy_project(root / "project")
    csv_dir = root / "csv"
    write_generated_exports(csv_dir, last_day=LAST_CLEAN_DAY, quirky=False)
    succeeded(run_on_spark(root / "data", csv_dir, project))
    write_generated_exports(csv_dir, last_day=NEW_DAY, quirky=False)
    incremental_output = succeeded(run_on_spark(root / "data", csv_dir, project))
    full = run_hashpivot(root / "full", "--source", "csv", "--csv-dir", str(csv_dir))
    succeeded(full)
    return SparkRuns(
        sample_spark=root / "sample" / "published",
        sample_duckdb=published_run.data_dir / "published",
        sample_output=sample_output,
        incremental=root / "data" / "published",
        full_duckdb=root / "full" / "published",
        incremental_output=incremental_output,
        data=root / "data",
        project=project,
        csv_dir=csv_dir,
    )


def test_sample_exports_publish_the_duckdb_runs_marts_on_spark(spark_runs: SparkRuns):
    assert published_types(spark_runs.sample_spark) == published_types(spark_runs.sample_duckdb)
    differences = mart_differences(spark_runs.sample_duckdb, spark_runs.sample_spark)
    assert differences == {}, {k: v.head(20).to_string() for k, v in differences.items()}
    assert "warehouse    : Spark," in spark_runs.sample_output


def test_the_spark_warehouse_and_its_catalog_live_in_the_data_dir(spark_runs: SparkRuns):
    warehouse = spark_runs.sample_spark.parent / "spark-warehouse"
    assert (warehouse / "metastore_db").is_dir()
    assert (warehouse / "marts.db" / "miner_ai_pivot_performance").is_dir()
    assert (warehouse / "local_copy.duckdb").is_file()


@pytest.mark.parametrize("version", BI_DUCKDB_VERSIONS)
def test_bi_readers_open_what_spark_published(spark_runs: SparkRuns, version: str):
    counts = row_counts_read_by(version, spark_runs.sample_spark / "marts.duckdb")
    expected = {
        name: len(frame) for name, frame in published_tables(spark_runs.sample_spark).items()
    }
    assert {k: v for k, v in counts.items() if not k.startswith("_")} == expected


def test_one_new_day_on_spark_equals_a_full_build(spark_runs: SparkRuns):
    # The second Spark run built incrementally: dbt said so in the run's log.
    (log,) = sorted((spark_runs.data / "logs").glob("*.log"))[-1:]
    assert "--full-refresh" not in log.read_text().split("dbt build", 1)[-1][:2000]
    differences = mart_differences(spark_runs.full_duckdb, spark_runs.incremental)
    assert differences == {}, {k: v.head(20).to_string() for k, v in differences.items()}
    with duckdb.connect(str(spark_runs.incremental / "marts.duckdb"), read_only=True) as db:
        (latest,) = db.execute("select max(date) from fct_daily_prices").fetchone()
    assert latest == NEW_DAY


def test_a_poisoned_curated_row_blocks_the_publish_on_spark(spark_runs: SparkRuns, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(spark_runs.data, data, symlinks=True)
    before = published_fingerprint(data / "published")
    edit_seed(spark_runs.project, "ai_hosting_contracts", lambda rows: rows[0].update(it_mw="-100"))
    result = run_on_spark(data, spark_runs.csv_dir, spark_runs.project)
    assert_failed_and_nothing_published(result, "it_mw_positive", data / "published", before)
