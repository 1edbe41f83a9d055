"""What each dbt model and seed is to the rest of the pipeline, declared once in its YAML.

A model's or seed's ``meta.hashpivot`` says whether it is published to BI tools
(``published: true``), which Great Expectations suite of ``expectations/`` guards it
(``gx_suite``) and, for a daily table, how many recent days that suite validates
(``gx_recent_days``); a published table's numeric columns are checked finite and plausible
unless it declares ``check_values: false``. A published table keyed by (ticker, date) whose rows
another model stamps with the build that wrote them declares it in ``row_stamps`` (model,
date_column, stamp_column): the publish then copies only the rows built since the last publish.
Publishing, the checks and the tests read it from dbt's manifest, so adding a mart to the
published contract is one line of YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class RowStamps:
    """Where a published table's rows say when they were built: ``relation`` holds one row per
    row of the table, keyed by ``ticker`` and ``date_column``, and ``stamp_column`` is the start
    of the dbt build that wrote it (a row that changes is written again, with a later stamp)."""

    relation: str  # schema.table in the warehouse
    date_column: str
    stamp_column: str


@dataclass(frozen=True)
class WarehouseTable:
    """A seed or model of the warehouse, as its ``meta.hashpivot`` declares it."""

    schema: str
    name: str  # the relation's name: what BI users see
    published: bool
    gx_suite: str | None
    gx_recent_days: int | None
    # Published tables get the generated plausibility check (quality/published_values.py)
    # unless they opt out (quarantined_prices lists the absurd rows it set aside).
    check_values: bool = True
    row_stamps: RowStamps | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def validation_query(self) -> str:
        """The rows its suite validates: all of them, or the latest ``gx_recent_days``."""
        if self.gx_recent_days is None:
            return f"select * from {self.relation}"
        return (
            f"select * from {self.relation} where date >= "
            f"(select max(date) from {self.relation}) - interval {self.gx_recent_days} day"
        )


@cache
def warehouse_tables(manifest_path: Path) -> tuple[WarehouseTable, ...]:
    """Every seed and model with a ``meta.hashpivot``, seeds first, each group by name."""
    manifest = json.loads(manifest_path.read_text())
    relations = {
        node.get("name", node["alias"]): f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("seed", "model")
    }
    tables = []
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("seed", "model"):
            continue
        declared = node["config"].get("meta", {}).get("hashpivot")
        if not declared:
            continue
        where = node["original_file_path"]
        unknown = set(declared) - {
            "published", "gx_suite", "gx_recent_days", "check_values", "row_stamps"
        }  # fmt: skip
        if unknown:
            raise ValueError(f"{where}: unknown meta.hashpivot {unknown}")
        tables.append(
            (
                node["resource_type"] != "seed",
                WarehouseTable(
                    schema=node["schema"],
                    name=node["alias"],
                    published=bool(declared.get("published", False)),
                    gx_suite=declared.get("gx_suite"),
                    gx_recent_days=declared.get("gx_recent_days"),
                    check_values=bool(declared.get("check_values", True)),
                    row_stamps=_row_stamps(declared.get("row_stamps"), relations, where),
                ),
            )
        )
    tables.sort(key=lambda pair: (pair[0], pair[1].name))
    return tuple(table for _, table in tables)


def _row_stamps(declared: dict | None, relations: dict[str, str], where: str) -> RowStamps | None:
    if declared is None:
        return None
    if set(declared) != {"model", "date_column", "stamp_column"}:
        raise ValueError(f"{where}: row_stamps needs model, date_column and stamp_column")
    if declared["model"] not in relations:
        raise ValueError(f"{where}: row_stamps names an unknown model {declared['model']!r}")
    return RowStamps(
        relations[declared["model"]], declared["date_column"], declared["stamp_column"]
    )


def published_row_stamps(tables: tuple[WarehouseTable, ...]) -> dict[str, RowStamps]:
    """``{published table name: its row stamps}`` for the tables that declare them."""
    return {
        table.name: table.row_stamps for table in tables if table.published and table.row_stamps
    }


def published_marts(tables: tuple[WarehouseTable, ...]) -> tuple[str, ...]:
    """The names of the tables copied to the published DuckDB file and Parquet folder."""
    return tuple(table.name for table in tables if table.published)


def guarded_tables(tables: tuple[WarehouseTable, ...]) -> tuple[WarehouseTable, ...]:
    """The tables a GX suite validates after dbt builds them."""
    return tuple(table for table in tables if table.gx_suite)
