"""Great Expectations suites as Dagster asset checks (our own: dagster-ge does not work with GX 1).

``warehouse_suites`` validates each seed and mart after dbt built them: one blocking check per
dataset for its critical expectations, one WARN check for the rest. (The landed prices' audit,
whose output is the ledger dbt reads, is the ``price_audit`` asset in ``audit.py``.)
Check metadata carries unexpected counts, a few bad rows and the Data Docs location. Each step
builds the Data Docs of its validations once, after the last one.
"""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from orchestration import settings
from orchestration.paths import data_paths

if TYPE_CHECKING:
    import pandas as pd

    from orchestration.quality.outcomes import SuiteOutcome
    from orchestration.transform.contract import WarehouseTable

# pandas, numpy and the audit modules are imported inside the check functions: the code
# location (and so `dagster dev` and every run) loads without them.


def _guarded_tables() -> tuple["WarehouseTable", ...]:
    """The seeds and marts with a GX suite (their dbt YAML's meta.hashpivot.gx_suite)."""
    from orchestration.transform.contract import guarded_tables, warehouse_tables
    from orchestration.transform.dbt import dbt_project

    return guarded_tables(warehouse_tables(dbt_project().manifest_path))


GUARDED_TABLES = _guarded_tables()
FRESHNESS_DAYS = 4


def asset_key(table: "WarehouseTable") -> dg.AssetKey:
    """The Dagster asset of a warehouse table (dagster-dbt keys them schema/name)."""
    return dg.AssetKey([table.schema, table.name])


def critical_check_name(suite: str) -> str:
    return f"gx_{suite}_critical"


def warnings_check_name(suite: str) -> str:
    return f"gx_{suite}_warnings"


def suite_check_results(
    outcome: "SuiteOutcome", asset_key: dg.AssetKey, frame: "pd.DataFrame", docs: str
) -> list[dg.AssetCheckResult]:
    """The blocking (critical) and WARN (warnings) results of one suite's outcome.

    ``frame`` holds the validated rows indexed by their position in the validated frame (a
    default index), or at least the rows the outcome names first (a chunked audit's preview).
    """
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
        bad_rows = sorted({row for e in failed for row in e.unexpected_rows})[
            : settings.PREVIEW_ROWS
        ]
        if bad_rows:
            metadata["bad_rows"] = dg.MetadataValue.md(frame.loc[bad_rows].to_markdown(index=False))
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
    specs = []
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


def validation_parameters(warehouse: duckdb.DuckDBPyConnection) -> dict[str, "pd.Timestamp"]:
    """Values of the suites' $PARAMETERs: today, and the freshness floor from the as-of date."""
    import pandas as pd

    (as_of,) = warehouse.execute("select as_of_date from intermediate.int_as_of_date").fetchall()[0]
    return {
        "today": pd.Timestamp(datetime.now(UTC).date()),
        "fresh_since": pd.Timestamp(as_of) - timedelta(days=FRESHNESS_DAYS),
    }


@dg.multi_asset_check(specs=_suite_specs(), can_subset=True, name="warehouse_suites")
def warehouse_suites(context: dg.AssetCheckExecutionContext):
    """Validate each selected seed and mart of the warehouse against its suite."""
    from orchestration.quality.gx_runner import GxValidator

    paths = data_paths()
    validator = GxValidator(paths.quality, paths.data_docs_index)
    selected = context.selected_asset_check_keys
    results: list[dg.AssetCheckResult] = []
    try:
        with duckdb.connect(
            str(paths.warehouse), read_only=True, config=settings.duckdb_config()
        ) as warehouse:
            parameters = validation_parameters(warehouse)
            for table in GUARDED_TABLES:
                key = dg.AssetCheckKey(asset_key(table), critical_check_name(table.gx_suite))
                if key not in selected:
                    continue
                frame = warehouse.sql(table.validation_query).df()
                outcome = validator.validate(table.gx_suite, frame, parameters)
                context.log.info(
                    f"{table.gx_suite}: {outcome.passed_count} passed, {outcome.failed_count} failed"
                )
                results.extend(
                    suite_check_results(
                        outcome, asset_key(table), frame, str(validator.data_docs_index)
                    )
                )
    finally:
        # Once for the step, also when a validation raised: the docs show what did run.
        validator.build_data_docs()
    yield from results
