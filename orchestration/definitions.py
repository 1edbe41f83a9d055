"""The single entry point of the Dagster code location (see workspace.yaml)."""

from __future__ import annotations

import dagster as dg

from orchestration.extract.assets import extract_job, landed_prices, weekday_after_close_schedule
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

defs = dg.Definitions(
    assets=[
        landed_prices,
        price_audit,
        build_dbt_assets(),
        pivot_index_chart,
        published_marts,
        dashboard,
    ],
    asset_checks=[warehouse_suites],
    jobs=[everything_job, extract_job],
    schedules=[weekday_after_close_schedule],
    resources={"dbt": dbt_resource()},
    # One process, one step at a time: DuckDB allows a single writer per file.
    executor=dg.in_process_executor,
)
