"""Row counts and typed columns of warehouse relations, as the Dagster UI shows them."""

from __future__ import annotations

import dagster as dg
import duckdb

from orchestration.transform.table_metadata import (
    COLUMN_SCHEMA,
    ROW_COUNT,
    column_descriptions,
    table_metadata,
)


def test_a_table_gets_its_row_count_and_typed_columns_a_view_only_its_columns() -> None:
    with duckdb.connect() as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.prices as select 'IREN' as ticker, date '2025-01-02' as date, "
            "1.5::double as close from range(3)"
        )
        connection.execute("create view marts.latest as select ticker from marts.prices")
        table = table_metadata(connection, "marts", "prices", {"close": "Closing price."})
        view = table_metadata(connection, "marts", "latest")
        missing = table_metadata(connection, "marts", "nope")
    assert table[ROW_COUNT].value == 3
    columns = table[COLUMN_SCHEMA].value.columns
    assert [(c.name, c.type, c.description) for c in columns] == [
        ("ticker", "varchar", None),
        ("date", "date", None),
        ("close", "double", "Closing price."),
    ]
    assert ROW_COUNT not in view
    assert [c.name for c in view[COLUMN_SCHEMA].value.columns] == ["ticker"]
    assert missing == {}


def test_column_descriptions_come_from_the_spec_schema() -> None:
    schema = dg.TableSchema(columns=[dg.TableColumn("a", description="A."), dg.TableColumn("b")])
    assert column_descriptions({COLUMN_SCHEMA: dg.MetadataValue.table_schema(schema)}) == {
        "a": "A."
    }
    assert column_descriptions({}) == {}
