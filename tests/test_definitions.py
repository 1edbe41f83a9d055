"""The Dagster code location loads, with the lineage and jobs the UI shows."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs
from orchestration.extract.assets import PriceExtractionConfig, extraction_options
from orchestration.transform.dbt import dbt_build_args, group_for_layer


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_raw_prices_view_depends_on_the_landed_prices_asset() -> None:
    graph = defs.resolve_asset_graph()
    staging = dg.AssetKey("stg_landing__prices")
    assert dg.AssetKey("landed_prices") in graph.get(staging).parent_keys


def test_jobs_and_schedule_are_registered() -> None:
    assert defs.resolve_job_def("hashpivot_all") is not None
    assert defs.resolve_job_def("extract_prices_job") is not None
    schedule = defs.resolve_schedule_def("weekday_after_us_close")
    assert schedule.cron_schedule == "30 18 * * 1-5"
    assert schedule.execution_timezone == "America/New_York"


def test_assets_are_grouped_by_layer() -> None:
    groups = {
        key.to_user_string(): spec.group_name
        for key, spec in ((spec.key, spec) for spec in defs.resolve_all_asset_specs())
    }
    assert groups["landed_prices"] == "extract"
    assert groups["stg_landing__prices"] == "staging"
    assert groups["companies"] == "seeds"
    assert (
        group_for_layer({"resource_type": "model", "fqn": ["hashpivot", "marts", "x"]}) == "marts"
    )


def test_launchpad_config_overrides_the_environment() -> None:
    environ = {"HASHPIVOT_PRICE_SOURCE": "csv", "HASHPIVOT_CSV_DIR": "/data/csv"}
    from_env = extraction_options(PriceExtractionConfig(), environ)
    assert from_env.source == "csv"
    overridden = extraction_options(
        PriceExtractionConfig(source="demo", start="2021-01-01"), environ
    )
    assert overridden.source == "demo"
    assert str(overridden.start) == "2021-01-01"


def test_dbt_vars_are_passed_as_json() -> None:
    assert dbt_build_args({}) == ["build"]
    assert dbt_build_args({"as_of_date": "2025-04-04"}) == [
        "build", "--vars", '{"as_of_date": "2025-04-04"}'
    ]  # fmt: skip
