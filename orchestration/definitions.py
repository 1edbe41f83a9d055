"""The single entry point of the Dagster code location (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from orchestration.catalog import annotate
from orchestration.engine import WarehouseEngine
from orchestration.extract.assets import extract_job, landed_prices
from orchestration.quality.assets import published_marts
from orchestration.quality.audit import price_audit
from orchestration.quality.checks import warehouse_suites
from orchestration.report.assets import pivot_index_chart
from orchestration.report.dashboard import dashboard
from orchestration.transform.dbt import build_dbt_assets, dbt_resource

everything_job = dg.define_asset_job(
    name="hashpivot_all",
    selection=dg.AssetSelection.all(),
    description="Land prices, then build, check and publish everything downstream.",
)

# US markets close at 16:00 New York time; Yahoo's daily bars settle shortly after. Stopped
# until someone turns it on (the UI's Automation page, or `dagster schedule start`): a fresh
# checkout should not start calling Yahoo on its own.
weekday_after_close_schedule = dg.ScheduleDefinition(
    name="weekday_after_us_close",
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    job=everything_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every weekday at 18:30 New York time: run hashpivot_all (land new prices, "
    "rebuild, check and publish).",
)

# The retraction files (landing/retractions/, see extract/retractions.py) are written by the
# landed_prices step; dbt reads them as a source. Declared here so the catalog (owners, domain,
# freshness) and the lineage show them; materializations come from landed_prices' runs.
landing_retractions = dg.AssetSpec(
    key=dg.AssetKey(["landing", "retractions"]),
    group_name="extract",
    deps=[landed_prices],
    kinds={"parquet"},
    description=(
        "Landed rows their source no longer holds (a line removed from a CSV file, a removed "
        "non-curated file), one immutable Parquet file per run under "
        "`<data dir>/landing/retractions/`, written by landed_prices; dbt's audited prices "
        "leave the retracted rows out."
    ),
)

defs = dg.Definitions(
    assets=dg.map_asset_specs(
        annotate,
        [
            landed_prices,
            landing_retractions,
            price_audit,
            build_dbt_assets(),
            pivot_index_chart,
            published_marts,
            dashboard,
        ],
    ),
    asset_checks=[warehouse_suites],
    jobs=[everything_job, extract_job],
    schedules=[weekday_after_close_schedule],
    resources={"dbt": dbt_resource(), "engine": WarehouseEngine()},
    # One process, one step at a time: DuckDB allows a single writer per file.
    executor=dg.in_process_executor,
)
