"""Dagster wiring of publishing: the ``published_marts`` asset, downstream of every mart and
every check, the last step of write-audit-publish."""

from datetime import UTC, datetime

import dagster as dg

from orchestration import settings
from orchestration.atomic import write_text_replacing
from orchestration.engine import WarehouseEngine
from orchestration.paths import data_paths
from orchestration.quality.audit import CRITICAL_CHECK, LANDED_PRICES, LEDGER_ACCEPTED
from orchestration.quality.checks import GUARDED_TABLES, asset_key
from orchestration.quality.publish import publish_marts
from orchestration.run_lock import hold_run_lock
from orchestration.transform import contract
from orchestration.transform.dbt import (
    current_inputs_fingerprint,
    dbt_project,
    published_fingerprint_path,
)

# Declared in the dbt YAML (meta.hashpivot.published): the contract with BI users.
PUBLISHED_TABLES = tuple(
    table for table in contract.warehouse_tables(dbt_project().manifest_path) if table.published
)
PUBLISHED_MARTS = contract.published_marts(PUBLISHED_TABLES)
PUBLISHED_ROW_STAMPS = contract.published_row_stamps(PUBLISHED_TABLES)
# Everything published and everything checked is built before the publish.
PUBLISH_DEPS = sorted(
    {asset_key(table) for table in (*GUARDED_TABLES, *PUBLISHED_TABLES)},
    key=lambda key: key.to_user_string(),
)


def blocking_check_evaluations(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    """``{"asset_key:check_name": passed}`` of every check evaluated in this run."""
    evaluations = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        evaluations[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"] = (
            evaluation.passed
        )
    return evaluations


def gate_failures(evaluations: dict[str, bool], required: list[str]) -> list[str]:
    """Required checks that failed, or did not run in this run."""
    return [
        f"{name} {'failed' if name in evaluations else 'did not run in this run'}"
        for name in required
        if not evaluations.get(name, False)
    ]


def required_checks() -> list[str]:
    """The blocking checks that must pass, in this run, before anything is published."""
    from orchestration.quality.checks import critical_check_name

    names = [
        f"{asset_key(t).to_user_string()}:{critical_check_name(t.gx_suite)}" for t in GUARDED_TABLES
    ]
    return [
        f"{LEDGER_ACCEPTED.to_user_string()}:{CRITICAL_CHECK}",
        f"{LANDED_PRICES.to_user_string()}:curated_price_sources_readable",
        *names,
    ]


@dg.asset(
    group_name="publish",
    kinds={"duckdb", "parquet"},
    deps=PUBLISH_DEPS,
    description=(
        "The validated marts as a new published version for BI tools: "
        "`<data dir>/published/marts.duckdb` and `<data dir>/published/parquet/` (links through "
        "`published/current`, switched to the new version in one rename), with a "
        "_published_runs table. Runs only when every blocking check of this run passed; "
        "otherwise the version in use stays exactly as it was."
    ),
)
def published_marts(
    context: dg.AssetExecutionContext, engine: WarehouseEngine
) -> dg.MaterializeResult:
    hold_run_lock(context)
    evaluations = blocking_check_evaluations(context.instance, context.run_id)
    failures = gate_failures(evaluations, required_checks())
    if failures:
        raise dg.Failure(
            description="nothing published: " + "; ".join(failures),
            metadata={"failed_or_missing_checks": dg.MetadataValue.json(failures)},
        )
    paths = data_paths()
    fingerprint = current_inputs_fingerprint()
    import duckdb

    try:
        report = publish_marts(
            paths.warehouse,
            paths.published,
            run_id=context.run_id,
            published_at=datetime.now(UTC),
            check_summary=evaluations,
            marts=PUBLISHED_MARTS,
            row_stamps=PUBLISHED_ROW_STAMPS,
        )
    except duckdb.OutOfMemoryException as error:
        message = settings.out_of_memory_message("publishing (step published_marts)", error)
        raise dg.Failure(description=message) from error
    if report.damaged_previous is not None:
        context.log.warning(
            f"the published copy {report.damaged_previous} could not be opened; it was rebuilt "
            "whole (its _published_runs history is lost)."
        )
    # Recorded last, so a failed publish never lets the next run skip its rebuild.
    write_text_replacing(published_fingerprint_path(), fingerprint + "\n")
    return dg.MaterializeResult(
        metadata={
            "duckdb": dg.MetadataValue.path(str(report.duckdb_path)),
            "parquet": dg.MetadataValue.path(str(report.parquet_dir)),
            "version": dg.MetadataValue.path(str(report.version_dir)),
            "row_counts": dg.MetadataValue.json(report.row_counts),
            "marts": dg.MetadataValue.json(list(PUBLISHED_MARTS)),
            "checks_passed": dg.MetadataValue.int(sum(evaluations.values())),
            "checks_failed_warn": dg.MetadataValue.int(
                len(evaluations) - sum(evaluations.values())
            ),
        }
    )
