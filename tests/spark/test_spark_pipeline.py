"""The whole pipeline on Spark (``hashpivot run --engine spark``), against the DuckDB engine's.

One module-scoped sequence of `hashpivot run` subprocesses, each with its own local Spark:

1. the sample exports (their generated twin without ../shared) without their last trading day,
   cold on Spark;
2. the whole exports: one new trading day, built incrementally on Spark. Every published mart
   equals the DuckDB engine's full build of the same exports (``published_run``) to 1e-9
   relative, NULLs in the same places, with the same columns and types, and DuckDB 1.x readers
   open the published file.

3. the cluster path: a Spark Connect server started apart from the run, as a cluster runs it
   (pyspark's own ``sbin/start-connect-server.sh``, in the foreground), and a run pointed at it
   by ``HASHPIVOT_SPARK_REMOTE`` alone, from a copy of that data dir with a poisoned curated
   row (a negative MW): dbt builds through the server, the copy arrives as Arrow batches, the
   GX suite validates the server's DataFrames and blocks the publish.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.transform.spark import free_local_port
from tests.bi_readers import BI_DUCKDB_VERSIONS, row_counts_read_by
from tests.marts.compare import compare_frames
from tests.pipeline import clean_environ, hashpivot_command, published_fingerprint, run_hashpivot
from tests.quality_gate import assert_failed_and_nothing_published, copy_project, edit_seed

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
        tables = {name: connection.execute(f'select * from "{name}"').df() for name in names}
    # Instants (quarantined_at) compared in UTC: the comparison's dates are zone-naive.
    for frame in tables.values():
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return tables


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


def without_last_day(exports: Path, target: Path) -> pd.Timestamp:
    """A copy of ``exports`` without the rows of their last date (a line per file, whatever
    its shape: the date is the first field). Returns that date."""
    target.mkdir(parents=True)
    lines = {path.name: path.read_text().splitlines() for path in sorted(exports.glob("*.csv"))}

    def day(line: str) -> pd.Timestamp:
        return pd.to_datetime(line.split(",", 1)[0][:10], errors="coerce", format="mixed")

    last = max(d for file in lines.values() for line in file[1:] if not pd.isna(d := day(line)))
    for name, file in lines.items():
        kept = [file[0], *(line for line in file[1:] if day(line) != last)]
        (target / name).write_text("\n".join(kept) + "\n")
    return last


@dataclass(frozen=True)
class SparkRuns:
    exports: Path  # the whole exports (sample or generated)
    data: Path  # the data dir the two Spark runs built
    spark: Path  # its published/
    duckdb: Path  # published/ of the DuckDB engine's run on the whole exports
    last_day: pd.Timestamp
    output: str  # what the incremental run printed


def succeeded(result) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "published: yes" in result.stdout, result.stdout[-4000:]
    return result.stdout


@pytest.fixture(scope="module")
def spark_runs(published_run, tmp_path_factory: pytest.TempPathFactory) -> SparkRuns:
    pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    root = tmp_path_factory.mktemp("spark_runs")
    last_day = without_last_day(published_run.csv_dir, root / "before_last_day")
    succeeded(run_on_spark(root / "data", root / "before_last_day"))
    output = succeeded(run_on_spark(root / "data", published_run.csv_dir))
    return SparkRuns(
        exports=published_run.csv_dir,
        data=root / "data",
        spark=root / "data" / "published",
        duckdb=published_run.data_dir / "published",
        last_day=last_day,
        output=output,
    )


def test_one_new_day_on_spark_publishes_the_duckdb_full_builds_marts(spark_runs: SparkRuns):
    assert published_types(spark_runs.spark) == published_types(spark_runs.duckdb)
    differences = mart_differences(spark_runs.duckdb, spark_runs.spark)
    assert differences == {}, {k: v.head(20).to_string() for k, v in differences.items()}
    with duckdb.connect(str(spark_runs.spark / "marts.duckdb"), read_only=True) as published:
        (latest,) = published.execute("select max(date) from fct_daily_prices").fetchone()
    assert pd.Timestamp(latest) == spark_runs.last_day
    assert "warehouse    : Spark," in spark_runs.output


def test_the_second_spark_run_built_incrementally(spark_runs: SparkRuns):
    logs = sorted((spark_runs.data / "logs").glob("*.log"), key=lambda path: path.stat().st_mtime)
    assert len(logs) == 2
    first, second = (log.read_text() for log in logs)
    assert "dbt build --full-refresh" in first  # nothing recorded yet: a full build
    assert "dbt build --full-refresh" not in second
    assert "dbt builds on a local Spark, through Spark Connect at sc://127.0.0.1:" in second


def test_the_spark_warehouse_and_its_catalog_live_in_the_data_dir(spark_runs: SparkRuns):
    warehouse = spark_runs.data / "spark-warehouse"
    assert (warehouse / "metastore_db").is_dir()
    assert (warehouse / "marts.db" / "miner_ai_pivot_performance").is_dir()
    assert (warehouse / "local_copy.duckdb").is_file()
    assert not (warehouse / ".copy").exists()  # the Parquet the copy went through is gone


@pytest.mark.parametrize("version", BI_DUCKDB_VERSIONS)
def test_bi_readers_open_what_spark_published(spark_runs: SparkRuns, version: str):
    counts = row_counts_read_by(version, spark_runs.spark / "marts.duckdb")
    marts = {name: len(frame) for name, frame in published_tables(spark_runs.spark).items()}
    assert {k: v for k, v in counts.items() if not k.startswith("_")} == marts


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory):
    """pyspark's Spark Connect server on a free localhost port, its warehouse in a temp dir."""
    pyspark = pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    spark_home = Path(pyspark.__file__).parent
    script = spark_home / "sbin" / "start-connect-server.sh"
    if not script.is_file():
        pytest.skip(f"this pyspark ships no Spark Connect server ({script} is missing)")
    root = tmp_path_factory.mktemp("cluster")
    port = free_local_port()
    environ = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOG_DIR": str(root / "logs"),
        "SPARK_PID_DIR": str(root / "pids"),
    }
    environ.pop("SPARK_REMOTE", None)
    warehouse = root / "warehouse"
    server = subprocess.Popen(
        [
            "bash",
            str(script),
            "--wait",
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            f"spark.sql.warehouse.dir={warehouse}",
            "--conf",
            "spark.sql.catalogImplementation=hive",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            "--driver-java-options",
            f"-Dderby.system.home={warehouse}",
        ],
        env=environ,
        stdout=(root / "server.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None:
            pytest.fail("the Spark Connect server stopped:\n" + (root / "server.log").read_text())
        time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("the Spark Connect server did not open its port in 180 s")
    yield f"sc://127.0.0.1:{port}", warehouse
    os.killpg(server.pid, 15)
    server.wait(timeout=60)


def test_a_poisoned_curated_row_blocks_the_publish_on_a_spark_connect_server(
    spark_runs: SparkRuns, connect_server, tmp_path: Path
):
    url, server_warehouse = connect_server
    project, data = copy_project(tmp_path / "project"), tmp_path / "data"
    shutil.copytree(spark_runs.data, data, symlinks=True)
    before = published_fingerprint(data / "published")
    edit_seed(project, "ai_hosting_contracts", lambda rows: rows[0].update(it_mw="-100"))
    result = subprocess.run(
        hashpivot_command(
            data, "--engine", "spark", "--source", "csv", "--csv-dir", str(spark_runs.exports)
        ),
        cwd=project,
        env={**clean_environ(project), "HASHPIVOT_SPARK_REMOTE": url},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert_failed_and_nothing_published(result, "it_mw_positive", data / "published", before)
    assert f"Spark, the cluster at {url}" in result.stdout
    # dbt built in the server's catalog and warehouse, not in a Spark of the run's own; the
    # GX suite read the server's table (the copy the previews come from holds the bad row too).
    assert (server_warehouse / "seeds.db" / "ai_hosting_contracts").is_dir()
    with duckdb.connect(str(data / "spark-warehouse" / "local_copy.duckdb"), read_only=True) as db:
        (negative,) = db.execute(
            "select count(*) from seeds.ai_hosting_contracts where it_mw < 0"
        ).fetchone()
    assert negative == 1
