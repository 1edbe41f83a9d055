"""The local DuckDB copy of a Spark-built warehouse (``--engine spark``).

The checks' row previews, the chart, the table metadata and the publish read the warehouse
with DuckDB SQL, whatever the engine. After each dbt build on Spark the relations they read are
pulled from Spark into ``DataPaths.warehouse`` (``spark-warehouse/local_copy.duckdb``), under
the same schema and table names; the GX suites themselves run on Spark DataFrames
(``quality/gx_runner.py``). The copy is written beside and renamed over the previous one, so a
reader never sees half of it.

How rows travel: a local Spark writes each relation as Parquet under the data dir and DuckDB
reads the files (streamed, never whole in memory); a cluster's rows come through Spark Connect
as Arrow batches (the cluster's disks are not ours).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from orchestration import settings

# Schemas whose relations the Python side reads (staging views are read by dbt only).
COPIED_SCHEMAS = ("seeds", "intermediate", "marts")


@dataclass(frozen=True)
class SparkRelation:
    schema: str
    name: str
    is_view: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def spark_relations(session: Any, schemas: Iterable[str] = COPIED_SCHEMAS) -> list[SparkRelation]:
    """The tables and views of ``schemas`` in the Spark catalog (a missing schema has none)."""
    existing = {row[0] for row in session.sql("show databases").collect()}
    relations = []
    for schema in schemas:
        if schema not in existing:
            continue
        for row in session.sql(f"show views in {schema}").collect():
            relations.append(SparkRelation(schema, row["viewName"], True))
        views = {r.name for r in relations if r.schema == schema}
        for row in session.sql(f"show tables in {schema}").collect():
            if not row["isTemporary"] and row["tableName"] not in views:
                relations.append(SparkRelation(schema, row["tableName"], False))
    return sorted(relations, key=lambda r: (r.schema, r.name))


def relations_to_copy(relations: Sequence[SparkRelation]) -> list[SparkRelation]:
    """Every table, and the views of ``marts`` (such as fct_daily_prices: marts are what the
    checks and the publish read); the other views are dbt's intermediate steps."""
    return [r for r in relations if not r.is_view or r.schema == "marts"]


def copy_spark_warehouse(
    session: Any,
    target: Path,
    *,
    export_dir: Path | None,
) -> dict[str, int]:
    """Replace ``target`` with a DuckDB file holding the Spark warehouse's tables (and the
    marts' views, as tables). ``export_dir``: where a local Spark writes Parquet for DuckDB to
    read (None: rows come as Arrow through the session). Returns the row count per relation."""
    relations = relations_to_copy(spark_relations(session))
    building = target.with_name(target.name + ".building")
    building.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    config = settings.duckdb_config(target.parent / ".spill")
    with duckdb.connect(str(building), config=config) as copy:
        for schema in sorted({r.schema for r in relations}):
            copy.execute(f"create schema if not exists {schema}")
        for relation in relations:
            frame = session.table(relation.qualified)
            if export_dir is not None:
                files = export_dir / relation.qualified
                frame.write.mode("overwrite").parquet(str(files))
                copy.execute(
                    f"create table {relation.qualified} as "
                    "select * from read_parquet(?, union_by_name = true)",
                    [str(files / "*.parquet")],
                )
            else:
                arrow_rows = frame.toArrow()  # noqa: F841 (read by DuckDB's replacement scan)
                copy.execute(f"create table {relation.qualified} as select * from arrow_rows")
            (counts[relation.qualified],) = copy.execute(
                f"select count(*) from {relation.qualified}"
            ).fetchone()
        copy.execute("checkpoint")
    if export_dir is not None:
        shutil.rmtree(export_dir, ignore_errors=True)
    os.replace(building, target)
    return counts
