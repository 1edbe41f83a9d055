"""Row counts and typed column schemas of the warehouse's relations, for the Dagster UI.

dagster-dbt's own ``fetch_row_counts`` queries the warehouse through dbt's adapter while dbt
is still building; DuckDB lets no other process open a file its writer holds, so the counts are
read here instead, once dbt has finished, in one read-only connection.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import duckdb

ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"


def table_metadata(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    name: str,
    descriptions: Mapping[str, str] | None = None,
) -> dict[str, dg.MetadataValue]:
    """``dagster/column_schema`` with each column's warehouse type (and its description from
    ``descriptions``), and for a table (not a view, whose count would recompute it)
    ``dagster/row_count``. Empty when the relation does not exist."""
    columns = connection.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    if not columns:
        return {}
    descriptions = descriptions or {}
    metadata: dict[str, dg.MetadataValue] = {
        COLUMN_SCHEMA: dg.MetadataValue.table_schema(
            dg.TableSchema(
                columns=[
                    dg.TableColumn(column, data_type.lower(), descriptions.get(column))
                    for column, data_type in columns
                ]
            )
        )
    }
    (kind,) = connection.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone()
    if kind == "BASE TABLE":
        (rows,) = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
        metadata[ROW_COUNT] = dg.MetadataValue.int(int(rows))
    return metadata


def column_descriptions(spec_metadata: Mapping[str, object]) -> dict[str, str]:
    """The column descriptions dagster-dbt put in an asset spec's column schema (from the
    dbt YAML)."""
    schema = spec_metadata.get(COLUMN_SCHEMA)
    schema = getattr(schema, "schema", schema)  # a TableSchemaMetadataValue or a TableSchema
    if not isinstance(schema, dg.TableSchema):
        return {}
    return {column.name: column.description for column in schema.columns if column.description}
