"""Great Expectations suites as Dagster asset checks (our own: dagster-ge does not work with GX 1).

``warehouse_suites`` validates each seed and mart after dbt built them: one blocking check per
dataset for its critical expectations, one WARN check for the rest; and a WARN check that no
curated series is stale (``marts.stale_series`` has no row), naming each one when some are.
(The landed prices' audit, whose output is the ledger dbt reads, is the ``price_audit`` asset
in ``audit.py``.)
Each table is validated in SQL (GX's SQL datasource on the warehouse file, read-only), its
``validation_query`` as the batch. Check metadata carries unexpected counts, a few bad rows and
the Data Docs location. Each step builds the Data Docs of its validations once, after the last
one.
"""

import json
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
import duckdb

from orchestration import settings
from orchestration.atomic import write_text_replacing
from orchestration.engine import WarehouseEngine
from orchestration.paths import data_paths
from orchestration.run_lock import hold_run_lock

if TYPE_CHECKING:
    from pathlib import Path

    from orchestration.quality.outcomes import SuiteOutcome
    from orchestration.transform.contract import WarehouseTable

# pandas, numpy and the audit modules are imported inside the check functions: the code
# location (and so `dagster dev` and every run) loads without them.


def _guarded_tables() -> tuple["WarehouseTable", ...]:
    """The seeds and marts with a GX suite (their dbt YAML's meta.hashpivot.gx_suite)."""
    from orchestration.transform.contract import guarded_tables, warehouse_tables
    from orchestration.transform.dbt import dbt_project

    return guarded_tables(warehouse_tables(dbt_project().manifest_path))


def _published_tables() -> tuple["WarehouseTable", ...]:
    """The marts declared published (meta.hashpivot.published) whose values are checked:
    each gets the generated plausibility suite of ``published_values`` (quarantined_prices,
    the list of rejected rows, declares ``check_values: false``)."""
    from orchestration.transform.contract import warehouse_tables
    from orchestration.transform.dbt import dbt_project

    tables = warehouse_tables(dbt_project().manifest_path)
    return tuple(t for t in tables if t.published and t.check_values)


GUARDED_TABLES = _guarded_tables()
PUBLISHED_TABLES = _published_tables()
FRESHNESS_DAYS = 4
STALE_SERIES_ASSET = dg.AssetKey(["marts", "stale_series"])
STALE_SERIES_CHECK = "no_stale_series"


def asset_key(table: "WarehouseTable") -> dg.AssetKey:
    """The Dagster asset of a warehouse table (dagster-dbt keys them schema/name)."""
    return dg.AssetKey([table.schema, table.name])


def critical_check_name(suite: str) -> str:
    return f"gx_{suite}_critical"


def warnings_check_name(suite: str) -> str:
    return f"gx_{suite}_warnings"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """A few rows (dicts with the same keys) as a Markdown table for check metadata."""
    import pandas as pd

    return pd.DataFrame(list(rows)).to_markdown(index=False)


def suite_check_results(
    outcome: "SuiteOutcome", asset_key: dg.AssetKey, docs: str
) -> list[dg.AssetCheckResult]:
    """The blocking (critical) and WARN (warnings) results of one suite's outcome, with the
    first bad rows of the failed rules."""
    results = []
    for check_name, failed, severity in (
        (critical_check_name(outcome.suite), outcome.failed_critical, dg.AssetCheckSeverity.ERROR),
        (warnings_check_name(outcome.suite), outcome.failed_warnings, dg.AssetCheckSeverity.WARN),
    ):
        metadata: dict[str, dg.MetadataValue] = {
            "suite": dg.MetadataValue.text(f"expectations/{outcome.suite}.json"),
            "rows_validated": dg.MetadataValue.int(outcome.row_count),
            "suite_expectations": dg.MetadataValue.int(len(outcome.expectations)),
            "suite_passed": dg.MetadataValue.int(outcome.passed_count),
            "suite_failed": dg.MetadataValue.int(outcome.failed_count),
            "failed_expectations": dg.MetadataValue.json([e.describe() for e in failed]),
            "unexpected_counts": dg.MetadataValue.json(
                {e.rule: e.unexpected_count for e in failed}
            ),
            "data_docs": dg.MetadataValue.path(docs),
        }
        bad_rows: dict[tuple, dict[str, Any]] = {}
        for expectation in failed:
            for row in expectation.unexpected_rows:
                bad_rows.setdefault(tuple(map(str, row.values())), row)
        if bad_rows:
            preview = list(bad_rows.values())[: settings.PREVIEW_ROWS]
            metadata["bad_rows"] = dg.MetadataValue.md(markdown_table(preview))
        results.append(
            dg.AssetCheckResult(
                check_name=check_name,
                asset_key=asset_key,
                passed=not failed,
                severity=severity,
                metadata=metadata,
                description="; ".join(e.describe() for e in failed) or None,
            )
        )
    return results


def _suite_specs() -> list[dg.AssetCheckSpec]:
    from orchestration.quality.published_values import CHECK_NAME

    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=asset_key(table),
            blocking=True,
            description=(
                "Every numeric column finite and within +-1e12 (a suite generated from the "
                "table's columns; NULL passes, NaN and infinities do not). Blocking."
            ),
        )
        for table in PUBLISHED_TABLES
    ]
    specs.append(
        dg.AssetCheckSpec(
            STALE_SERIES_CHECK,
            asset=STALE_SERIES_ASSET,
            description=(
                "No curated series' prices stop more than 5 weekdays before the as-of date "
                "(marts.stale_series is empty); when some do, their figures are NULL where "
                "their windows lack prices, and this warning names each. Not blocking."
            ),
        )
    )
    for table in GUARDED_TABLES:
        specs.append(
            dg.AssetCheckSpec(
                critical_check_name(table.gx_suite),
                asset=asset_key(table),
                blocking=True,
                description=f"Critical expectations of expectations/{table.gx_suite}.json (blocking).",
            )
        )
        specs.append(
            dg.AssetCheckSpec(
                warnings_check_name(table.gx_suite),
                asset=asset_key(table),
                description=f"Warning expectations of expectations/{table.gx_suite}.json.",
            )
        )
    return specs


def validation_parameters(warehouse: duckdb.DuckDBPyConnection) -> dict[str, date]:
    """Values of the suites' $PARAMETERs: today, and the freshness floor from the as-of date."""
    (as_of,) = warehouse.execute("select as_of_date from intermediate.int_as_of_date").fetchall()[0]
    as_of = as_of.date() if isinstance(as_of, datetime) else as_of
    return {
        "today": datetime.now(UTC).date(),
        "fresh_since": as_of - timedelta(days=FRESHNESS_DAYS),
    }


def rows_built_since_sql(table: "WarehouseTable", stamped_through: datetime | None) -> str:
    """The rows of ``table`` its plausibility check validates: all of them, or for a table
    with row stamps, once its rows built through ``stamped_through`` passed, only the rows
    built since (what the publish will copy; the others passed before, unchanged)."""
    stamps = table.row_stamps
    if stamps is None or stamped_through is None:
        return f"select * from {table.relation}"
    return f"""
        select checked.*
        from {table.relation} as checked
        inner join {stamps.relation} as stamped
            on checked.ticker = stamped.ticker and checked.date = stamped.{stamps.date_column}
        where stamped.{stamps.stamp_column} > '{stamped_through.isoformat()}'
    """


def newest_row_stamp(warehouse: duckdb.DuckDBPyConnection, table: "WarehouseTable") -> datetime:
    stamps = table.row_stamps
    (newest,) = warehouse.execute(
        f"select max({stamps.stamp_column}) from {stamps.relation}"
    ).fetchall()[0]
    return newest


def read_plausible_through(path: "Path") -> dict[str, datetime]:
    """Per table with row stamps, the newest stamp of the rows that passed its plausibility
    check (``write_plausible_through``); empty when none passed yet."""
    if not path.exists():
        return {}
    return {
        table: datetime.fromisoformat(stamp)
        for table, stamp in json.loads(path.read_text()).items()
        if stamp is not None
    }


def write_plausible_through(path: "Path", stamps: dict[str, datetime]) -> None:
    """Record what passed (a cache: lost, the next check validates every row again)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_replacing(
        path, json.dumps({table: stamp.isoformat() for table, stamp in sorted(stamps.items())})
    )


@dg.multi_asset_check(specs=_suite_specs(), can_subset=True, name="warehouse_suites")
def warehouse_suites(context: dg.AssetCheckExecutionContext, engine: WarehouseEngine):
    """Validate each selected seed and mart of the warehouse against its suite, and each
    published mart's numeric columns against the generated plausibility suite; warn of the
    stale series."""
    hold_run_lock(context)
    yield from validate_warehouse(context.selected_asset_check_keys, context.log.info)


def spark_session() -> Any:
    """The run's Spark session with ``--engine spark`` (the suites validate Spark DataFrames);
    None with DuckDB."""
    from orchestration.transform.spark import engine_is_spark, spark_engine

    return spark_engine().session if engine_is_spark() else None


def stale_series_result(warehouse: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult:
    """The WARN result of ``no_stale_series``: failed when marts.stale_series has rows, its
    description their messages (the run summary prints it, see cli.check_lines)."""
    columns = ["ticker", "last_price_date", "weekdays_behind", "days_behind", "message"]
    rows = warehouse.execute(
        f"select {', '.join(columns)} from marts.stale_series order by ticker"
    ).fetchall()
    metadata: dict[str, dg.MetadataValue] = {"stale_series": dg.MetadataValue.int(len(rows))}
    if rows:
        preview = [dict(zip(columns, map(str, row), strict=True)) for row in rows]
        metadata["series"] = dg.MetadataValue.md(markdown_table(preview))
    return dg.AssetCheckResult(
        check_name=STALE_SERIES_CHECK,
        asset_key=STALE_SERIES_ASSET,
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description="; ".join(row[-1] for row in rows) or None,
    )


def validate_warehouse(
    selected: Collection[dg.AssetCheckKey], log: Callable[[str], object]
) -> list[dg.AssetCheckResult]:
    """The results of the selected checks of ``warehouse_suites`` on the data dir's warehouse."""
    from orchestration.quality.gx_runner import GxValidator
    from orchestration.quality.published_values import (
        CHECK_NAME,
        numeric_columns,
        plausibility_suite,
    )

    paths = data_paths()
    config = settings.duckdb_config()
    plausibility = [
        table
        for table in PUBLISHED_TABLES
        if dg.AssetCheckKey(asset_key(table), CHECK_NAME) in selected
    ]
    checked_through = read_plausible_through(paths.plausible_rows_through)
    # Read before GX opens the file: its connection and this one share the config.
    with duckdb.connect(str(paths.warehouse), read_only=True, config=config) as warehouse:
        parameters = validation_parameters(warehouse)
        columns = {t.name: numeric_columns(warehouse, t.schema, t.name) for t in plausibility}
        newest_stamps = {
            t.name: newest_row_stamp(warehouse, t) for t in plausibility if t.row_stamps
        }
        stale = (
            [stale_series_result(warehouse)]
            if dg.AssetCheckKey(STALE_SERIES_ASSET, STALE_SERIES_CHECK) in selected
            else []
        )
    validator = GxValidator(
        paths.quality, paths.data_docs_index, paths.warehouse, config, spark_session()
    )
    results: list[dg.AssetCheckResult] = list(stale)
    try:
        for table in plausibility:
            document = plausibility_suite(table.name, columns[table.name])
            query = rows_built_since_sql(table, checked_through.get(table.name))
            outcome = validator.validate(document["name"], query, parameters, (), document)
            if not outcome.failed_critical and table.name in newest_stamps:
                checked_through[table.name] = newest_stamps[table.name]
                write_plausible_through(paths.plausible_rows_through, checked_through)
            critical, _ = suite_check_results(
                outcome, asset_key(table), str(validator.data_docs_index)
            )
            results.append(
                critical._replace(
                    check_name=CHECK_NAME,
                    metadata={
                        **critical.metadata,
                        # Not a file: built from the table's numeric columns by
                        # orchestration/quality/published_values.py.
                        "suite": dg.MetadataValue.text(f"generated/{document['name']}"),
                        "numeric_columns": dg.MetadataValue.json(columns[table.name]),
                    },
                )
            )
        for table in GUARDED_TABLES:
            key = dg.AssetCheckKey(asset_key(table), critical_check_name(table.gx_suite))
            if key not in selected:
                continue
            outcome = validator.validate(table.gx_suite, table.validation_query, parameters)
            log(f"{table.gx_suite}: {outcome.passed_count} passed, {outcome.failed_count} failed")
            results.extend(
                suite_check_results(outcome, asset_key(table), str(validator.data_docs_index))
            )
    finally:
        # Once for the step, also when a validation raised: the docs show what did run.
        validator.build_data_docs()
    return results
