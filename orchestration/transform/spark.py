"""The Spark engine (``--engine spark``): where its Spark session comes from.

dbt builds the warehouse on Spark through dbt-spark's ``session`` method, and the checks and the
publish read it through a Spark session of the run's own process. Both speak Spark Connect:

- ``HASHPIVOT_SPARK_REMOTE`` set (``sc://host:15002``): a cluster's Spark Connect endpoint. The
  run's process and dbt are its clients; the cluster's catalog holds the warehouse.
- not set: the run starts a local Spark in its own process (pyspark's bundled jars on Java 17),
  with Spark Connect served on a free localhost port for dbt's subprocess. The warehouse's files
  and its persistent catalog (Hive's embedded Derby metastore) live under
  ``<data dir>/spark-warehouse/``, so an incremental build sees what the previous run built.

Derby lets one JVM open a metastore at a time: that is why dbt does not start a Spark of its own
(its ``session`` method would) but connects to the run's. The JVM ends with the run's process.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration import settings
from orchestration.paths import DataPaths, data_paths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# What dbt's `spark` target connects to (dbt_project/profiles.yml): the run's Spark Connect URL.
CONNECT_URL_ENV = "HASHPIVOT_SPARK_CONNECT_URL"
# Spark's own settings of every session hashpivot starts or joins. Spark's defaults are for
# clusters: 200 shuffle partitions make every small aggregation 200 tasks on a laptop.
SESSION_SETTINGS = {
    # Dates and timestamps as the DuckDB engine has them: UTC, whatever the machine's zone.
    "spark.sql.session.timeZone": "UTC",
    # dbt-spark turns ANSI mode off in its sessions (Spark 3 and 4 behave alike: a division by
    # zero is NULL, as in DuckDB); the checks and the publish read with the same semantics.
    "spark.sql.ansi.enabled": "false",
    # Landing files written by different versions may add columns (read_parquet's union_by_name).
    "spark.sql.parquet.mergeSchema": "true",
    # Timestamps in Parquet as INT64 microseconds in UTC (Spark's default INT96 is legacy).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
LOCAL_SETTINGS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "2g",
    # Spark Connect for dbt's subprocess, on localhost only.
    "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
    "spark.connect.grpc.binding.address": "127.0.0.1",
}


_LOCAL_ROOTS: list[Path] = []


class SparkUnavailableError(RuntimeError):
    """The Spark engine was asked for but cannot start: the message says what to install."""


@dataclass(frozen=True)
class SparkEngine:
    """The run's Spark session and the Spark Connect URL dbt connects to."""

    session: SparkSession
    connect_url: str
    local: bool
    warehouse_dir: Path


def local_spark_settings(paths: DataPaths, port: int) -> dict[str, str]:
    """A local Spark's settings: its warehouse and Derby metastore under the data dir."""
    warehouse = paths.spark_warehouse
    return {
        **SESSION_SETTINGS,
        **LOCAL_SETTINGS,
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.sql.catalogImplementation": "hive",
        # Derby puts metastore_db/ and derby.log in its home: the warehouse dir, never the cwd.
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse}",
        "javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={warehouse / 'metastore_db'};create=true"
        ),
    }


def free_local_port() -> int:
    """A localhost TCP port no one listens on now, for a Spark Connect server to bind."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The packages of the `spark` dependency group, by the module each provides.
SPARK_PACKAGES = {"pyspark": "pyspark", "dbt.adapters.spark": "dbt-spark"}


def missing_spark_packages() -> list[str]:
    """The packages of the `spark` group that are not installed (`make run` installs none)."""
    import importlib.util

    absent = []
    for module, package in SPARK_PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            absent.append(package)
    return absent


def install_spark_packages_message(absent: list[str]) -> str:
    return (
        f"{settings.ENGINE.env_var}=spark needs {' and '.join(absent)}, which `make run` does not "
        "install: run `uv sync --group spark` (or `make test`, which installs them), then again"
    )


def _import_pyspark() -> Any:
    try:
        import pyspark.sql
    except ImportError as error:
        absent = missing_spark_packages() or ["pyspark"]
        raise SparkUnavailableError(install_spark_packages_message(absent)) from error
    return pyspark.sql


def _wait_for_port(port: int, timeout_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SparkUnavailableError(f"the local Spark Connect server did not open port {port}")


@cache
def _engine_for(root: Path, remote: str | None) -> SparkEngine:
    sql = _import_pyspark()
    paths = data_paths(root)
    if not remote and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise SparkUnavailableError(
            "a local Spark needs Java 17 (no `java` on PATH and no JAVA_HOME): install it "
            "(apt-get install openjdk-17-jre-headless), or set "
            f"{settings.SPARK_REMOTE.env_var} to a cluster's Spark Connect URL"
        )
    started = [key for key in _LOCAL_ROOTS if key != root]
    if started and not remote:
        # One SparkContext per JVM, its warehouse and metastore fixed when it starts.
        raise SparkUnavailableError(
            f"this process runs a local Spark for {started[0]} already; a data dir is one "
            "process's (one `hashpivot run`)"
        )
    if remote:
        builder = sql.SparkSession.builder.remote(remote)
        for key, value in SESSION_SETTINGS.items():
            builder = builder.config(key, value)
        return SparkEngine(builder.getOrCreate(), remote, False, paths.spark_warehouse)
    warehouse = paths.spark_warehouse
    warehouse.mkdir(parents=True, exist_ok=True)
    port = free_local_port()
    # Spark's launcher reads SPARK_REMOTE: a user's leftover would turn this session into a client.
    os.environ.pop("SPARK_REMOTE", None)
    builder = sql.SparkSession.builder.master("local[*]").appName("hashpivot")
    for key, value in local_spark_settings(paths, port).items():
        builder = builder.config(key, value)
    session = builder.enableHiveSupport().getOrCreate()
    _LOCAL_ROOTS.append(root)
    session.sparkContext.setLogLevel("ERROR")
    _wait_for_port(port)
    return SparkEngine(session, f"sc://127.0.0.1:{port}", True, warehouse)


def spark_engine(paths: DataPaths | None = None) -> SparkEngine:
    """The run's Spark: the cluster's (``HASHPIVOT_SPARK_REMOTE``) or a local one, started once
    per process and data dir."""
    paths = paths or data_paths()
    return _engine_for(paths.root, settings.SPARK_REMOTE.value())


def engine_is_spark() -> bool:
    return settings.ENGINE.value() == "spark"
