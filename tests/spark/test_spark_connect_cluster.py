"""The cluster path of ``--engine spark``: a Spark Connect server started apart from the run, as
a cluster runs it (pyspark's own ``sbin/start-connect-server.sh``, in the foreground), and
``hashpivot run --engine spark`` pointed at it by ``HASHPIVOT_SPARK_REMOTE`` alone. dbt builds
through it, GX validates its DataFrames over Spark Connect and the local copy arrives as Arrow
batches; the published marts equal a DuckDB run's."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.exports import write_generated_exports
from tests.pipeline import clean_environ, hashpivot_command
from tests.quality_gate import LAST_CLEAN_DAY
from tests.spark.test_spark_pipeline import mart_differences, published_types

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory):
    """pyspark's Spark Connect server on a free localhost port, its warehouse in a temp dir."""
    pyspark = pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    spark_home = Path(pyspark.__file__).parent
    script = spark_home / "sbin" / "start-connect-server.sh"
    if not script.is_file():
        pytest.skip(f"this pyspark ships no Spark Connect server ({script} is missing)")
    root = tmp_path_factory.mktemp("cluster")
    port = _free_port()
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


def test_a_run_against_a_spark_connect_server_publishes_the_duckdb_marts(
    connect_server, tmp_path: Path
):
    url, server_warehouse = connect_server
    csv_dir = write_generated_exports(tmp_path / "csv", last_day=LAST_CLEAN_DAY, quirky=False)
    options = ("--source", "csv", "--csv-dir", str(csv_dir))
    environ = {**clean_environ(), "HASHPIVOT_SPARK_REMOTE": url}
    on_spark = subprocess.run(
        hashpivot_command(tmp_path / "spark", "--engine", "spark", *options),
        env=environ,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert on_spark.returncode == 0, on_spark.stdout[-4000:] + on_spark.stderr[-4000:]
    assert f"Spark, the cluster at {url}" in on_spark.stdout
    # The tables are the server's: its warehouse, not a Spark of the run's own.
    assert (server_warehouse / "marts.db").is_dir()
    assert not (tmp_path / "spark" / "spark-warehouse" / "metastore_db").exists()
    on_duckdb = subprocess.run(
        hashpivot_command(tmp_path / "duckdb", *options),
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert on_duckdb.returncode == 0, on_duckdb.stdout[-4000:]
    spark_published, duckdb_published = tmp_path / "spark/published", tmp_path / "duckdb/published"
    assert published_types(spark_published) == published_types(duckdb_published)
    assert mart_differences(duckdb_published, spark_published) == {}
