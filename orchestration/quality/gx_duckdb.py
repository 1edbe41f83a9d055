"""The adapter that lets Great Expectations 1.24's SQL datasource validate DuckDB (duckdb-engine).

Stock GX 1.24 gets two things wrong on DuckDB, both silently (every expectation just fails):

1. **The connection.** ``SqlAlchemyExecutionEngine.execute_query`` runs each metric query inside
   ``with self.get_connection()`` and fetches the rows after the block has returned the
   connection to the pool; duckdb-engine then yields no rows, and every metric fails with
   ``MetricResolutionError: list index out of range``. GX keeps one persisted connection (and a
   ``StaticPool``) only for the dialects in ``_PERSISTED_CONNECTION_DIALECTS`` (sqlite, mssql,
   bigquery, databricks). A pre-built engine does not help: ``get_connection`` still opens and
   returns a pooled connection per query, and the fluent SQL datasource takes a connection
   string, not an engine. So DuckDB is added to that tuple, as an object that is both the
   string ``"duckdb"`` (what ``get_connection`` compares the engine's dialect name with) and
   has the ``.value`` of a ``GXSqlDialect`` (what ``_dialect_requires_persisted_connection``
   reads when GX builds the engine from the connection string).
2. **Regular expressions.** GX picks the regex operator from the dialect's *module*
   (``dialect.dialect``), which it knows only for the dialects it names; duckdb-engine's dialect
   subclasses PostgreSQL's but is not one of them, so ``expect_column_values_to_match_regex``
   raises ``Regex is not supported for dialect duckdb`` (its PostgreSQL branch tests
   ``issubclass(dialect.dialect, sa.dialects.postgresql.dialect)``, psycopg 3's, while
   duckdb-engine subclasses psycopg2's). Giving each duckdb-engine dialect *instance* opened
   inside the adapter a ``dialect`` attribute, PostgreSQL's dialect class, makes GX use PostgreSQL's ``~``, which DuckDB
   implements with the same meaning (a regex search, ``regexp_matches``). Only instances: on the
   class, SQLAlchemy would take that attribute as the dialect to load for ``duckdb://`` URLs.

Both patches hold only inside ``duckdb_sql_adapter()`` and are undone on exit, so nothing else
in the process (dbt, Dagster, other GX users) sees them. On exit the adapter also closes every
DuckDB connection opened inside it: GX never closes its persisted connection, and an open
connection to the warehouse file would lock out the next step's writer (dbt, the publish).

No cleaner hook exists in GX 1.24: the execution engine class is fixed by the fluent datasource
type (a subclass would be a new registered datasource type stored in the GX project), and the
engine kwargs (``poolclass=StaticPool``...) do not change ``get_connection``.
``tests/quality/test_gx_duckdb.py`` fails when a GX upgrade changes either behaviour, so the
adapter can be dropped (or must be fixed) then.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DUCKDB_DIALECT = "duckdb"
_lock = threading.Lock()


class _DuckDBDialectName(str):
    """``"duckdb"`` with a ``GXSqlDialect``'s ``.value``, for ``_PERSISTED_CONNECTION_DIALECTS``."""

    @property
    def value(self) -> str:
        return str(self)


@contextmanager
def duckdb_sql_adapter() -> Iterator[None]:
    """Validate DuckDB through GX's SQL datasource inside this block (see the module doc)."""
    import duckdb_engine
    import sqlalchemy as sa
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine_module

    opened: list[Any] = []

    def remember(connection: Any) -> None:
        if isinstance(connection.dialect, duckdb_engine.Dialect):
            opened.append(connection)

    def regex_as_postgresql(dialect: Any, *_connect_arguments: Any) -> None:
        if isinstance(dialect, duckdb_engine.Dialect):
            dialect.dialect = sa.dialects.postgresql.dialect

    with _lock:
        persisted = engine_module._PERSISTED_CONNECTION_DIALECTS
        engine_module._PERSISTED_CONNECTION_DIALECTS = (
            *persisted,
            _DuckDBDialectName(DUCKDB_DIALECT),
        )
        sa.event.listen(duckdb_engine.Dialect, "do_connect", regex_as_postgresql)
        sa.event.listen(sa.engine.Engine, "engine_connect", remember)
    try:
        yield
    finally:
        with _lock:
            sa.event.remove(sa.engine.Engine, "engine_connect", remember)
            sa.event.remove(duckdb_engine.Dialect, "do_connect", regex_as_postgresql)
            engine_module._PERSISTED_CONNECTION_DIALECTS = persisted
        # GX's persisted connection back to its StaticPool, then the pool's DuckDB connection
        # closed (dispose), so the database file is free.
        for connection in opened:
            if not connection.closed:
                connection.close()
        for engine in {id(c.engine): c.engine for c in opened}.values():
            engine.dispose()
