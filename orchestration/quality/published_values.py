"""Nothing absurd is ever published: a Great Expectations suite built from each published
table's columns, one expectation per numeric column, ``-1e12 <= x <= 1e12``.

The suite is generated (not a file in ``expectations/``) because it follows the table's
columns: a new numeric column of a published mart is guarded without anyone writing a rule.
It runs in the warehouse suites step (``checks.warehouse_suites``) as one blocking check per
published table, ``published_values_plausible``, on the whole table (not only the recent days
of ``gx_recent_days``: an absurd value anywhere would be published).

NULL vs NaN: a NULL is an honest "no value" (a one-year metric without a year of history, a
contract that disclosed no MW) and passes, as GX treats nulls in ``between``. A NaN is the
result of a broken computation (0/0, inf - inf) and fails: in DuckDB NaN compares greater than
every number, so ``x <= 1e12`` is false for it (and for +inf), and ``x >= -1e12`` is false for
-inf. No real value of our marts comes near 1e12 in absolute value (the largest are quarterly
capex sums, about 1e11 USD, and BTC-USD's daily volume, below 4e11 USD).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

PLAUSIBLE_BOUND = 1e12
CHECK_NAME = "published_values_plausible"
# DuckDB's numeric types (information_schema.columns.data_type), DECIMAL(p, s) by its prefix.
_NUMERIC_TYPES = frozenset(
    {
        "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
        "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
        "FLOAT", "REAL", "DOUBLE",
    }
)  # fmt: skip


def suite_name(table_name: str) -> str:
    return f"published_{table_name}"


def is_numeric(data_type: str) -> bool:
    data_type = data_type.upper()
    return data_type in _NUMERIC_TYPES or data_type.startswith("DECIMAL")


def numeric_columns(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    """The numeric columns of ``schema.table``, in table order."""
    rows = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = $schema and table_name = $table order by ordinal_position",
        {"schema": schema, "table": table},
    ).fetchall()
    return [name for name, data_type in rows if is_numeric(data_type)]


def plausibility_suite(table_name: str, columns: Sequence[str]) -> dict[str, Any]:
    """The generated suite of one published table: every numeric column finite and within
    ``PLAUSIBLE_BOUND`` (nulls allowed, NaN and infinities not)."""
    bound = PLAUSIBLE_BOUND
    return {
        "name": suite_name(table_name),
        "notes": (
            f"Generated from {table_name}'s numeric columns (orchestration/quality/"
            f"published_values.py): no published value is NaN, infinite or beyond +-{bound:g}."
        ),
        "meta": {"guards": table_name, "generated": True},
        "expectations": [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": column, "min_value": -bound, "max_value": bound},
                "severity": "critical",
                "meta": {"rule": f"{column}_finite_and_within_1e12"},
            }
            for column in columns
        ],
    }
