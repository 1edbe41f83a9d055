"""The Dagster code location loads, with the lineage and jobs the UI shows."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs
from orchestration.extract.assets import PriceExtractionConfig, extraction_options
from orchestration.paths import LedgerPaths
from orchestration.quality.assets import PUBLISHED_MARTS
from orchestration.transform.dbt import dbt_build_args, group_for_layer


def test_definitions_load_and_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_raw_prices_view_depends_on_the_landed_prices_asset() -> None:
    graph = defs.resolve_asset_graph()
    staging = dg.AssetKey(["staging", "stg_landing__prices"])
    assert dg.AssetKey("landed_prices") in graph.get(staging).parent_keys


def test_lineage_runs_from_prices_and_seeds_to_the_marts_and_the_chart() -> None:
    graph = defs.resolve_asset_graph()
    performance = dg.AssetKey(["marts", "miner_ai_pivot_performance"])
    upstream = graph.get_ancestor_asset_keys(performance)
    assert dg.AssetKey("landed_prices") in upstream
    assert dg.AssetKey(["seeds", "ai_hosting_contracts"]) in upstream
    assert dg.AssetKey(["seeds", "companies"]) in upstream
    chart_parents = graph.get(dg.AssetKey("pivot_index_chart")).parent_keys
    assert dg.AssetKey(["marts", "miner_pivot_index_daily"]) in chart_parents


# The contract with BI users, spelled out here on purpose: a mart renamed or dropped from the
# dbt YAML's meta.hashpivot.published fails this test instead of silently changing what BI reads.
PUBLISHED_CONTRACT = {
    "fct_daily_prices",
    "miner_ai_pivot_performance",
    "fct_contract_announcement_returns",
    "miner_pivot_index_daily",
    "hyperscaler_capex_quarterly",
    "hyperscaler_capex_guidance",
    "capex_vs_miner_returns",
    "quarantined_prices",
    "stale_series",
}


def test_marts_keep_their_published_names() -> None:
    assert set(PUBLISHED_MARTS) == PUBLISHED_CONTRACT
    keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    for mart in PUBLISHED_CONTRACT:
        assert f"marts/{mart}" in keys
    assert "seeds/hyperscaler_capex_actuals" in keys  # the seed behind the capex mart


def test_dbt_data_tests_are_asset_checks() -> None:
    check_keys = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert any(name.startswith("unique_miner_ai_pivot_performance_ticker") for name in check_keys)


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
    assert groups["staging/stg_landing__prices"] == "staging"
    assert groups["seeds/companies"] == "seeds"
    assert groups["marts/miner_ai_pivot_performance"] == "marts"
    assert groups["pivot_index_chart"] == "reports"
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


def test_a_changed_seed_file_changes_its_code_version(tmp_path, monkeypatch) -> None:
    """Dagster marks downstream assets stale when a code version changes: seeds get theirs from
    the file's bytes."""
    from orchestration.transform import dbt as dbt_module

    seed = tmp_path / "seeds" / "companies.csv"
    seed.parent.mkdir()
    monkeypatch.setattr(dbt_module, "DBT_PROJECT_DIR", tmp_path)
    translator = dbt_module.HashpivotDbtTranslator()
    props = {"resource_type": "seed", "original_file_path": "seeds/companies.csv"}
    seed.write_text("ticker\nIREN\n")
    before = translator.get_code_version(props)
    seed.write_text("ticker\nIREN\nCIFR\n")
    assert translator.get_code_version(props) != before


def test_the_inputs_fingerprint_changes_with_what_dbt_reads(tmp_path) -> None:
    """A rerun skips dbt only when nothing it reads changed: project files, ledger, vars."""
    from orchestration.transform.dbt import build_inputs_fingerprint

    project, ledger = tmp_path / "dbt", LedgerPaths(tmp_path / "ledger")
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "companies.csv").write_text("ticker\nIREN\n")
    ledger.accepted.mkdir(parents=True)
    first = build_inputs_fingerprint(project, ledger, {})
    assert build_inputs_fingerprint(project, ledger, {}) == first
    (ledger.accepted / "run-2.parquet").write_bytes(b"x")
    after_audit = build_inputs_fingerprint(project, ledger, {})
    assert after_audit != first
    (project / "seeds" / "companies.csv").write_text("ticker\nIREN\nCIFR\n")
    after_seed_edit = build_inputs_fingerprint(project, ledger, {})
    assert after_seed_edit != after_audit
    assert (
        build_inputs_fingerprint(project, ledger, {"as_of_date": "2025-04-04"}) != after_seed_edit
    )


def test_every_published_or_checked_table_is_declared_in_the_dbt_yaml() -> None:
    from orchestration.quality.checks import GUARDED_TABLES

    suites = {table.gx_suite: table.relation for table in GUARDED_TABLES}
    assert suites["mart_fct_daily_prices"] == "marts.fct_daily_prices"
    assert suites["seed_companies"] == "seeds.companies"
    assert len(suites) == 14  # 7 seeds and 7 marts; quarantined_prices is published unchecked
    recent = next(t for t in GUARDED_TABLES if t.name == "fct_daily_prices")
    assert "interval 45 day" in recent.validation_query


def test_an_unknown_meta_key_is_refused(tmp_path) -> None:
    import json

    import pytest

    from orchestration.transform.contract import warehouse_tables

    manifest = tmp_path / "manifest.json"
    node = {
        "resource_type": "model",
        "schema": "marts",
        "alias": "m",
        "original_file_path": "models/marts/m.sql",
        "config": {"meta": {"hashpivot": {"publised": True}}},
    }
    manifest.write_text(json.dumps({"nodes": {"model.hashpivot.m": node}}))
    with pytest.raises(
        ValueError, match=r"models/marts/m.sql: unknown meta.hashpivot \{'publised'\}"
    ):
        warehouse_tables(manifest)


def test_the_daily_prices_are_published_by_the_rows_their_model_stamps() -> None:
    from orchestration.quality.assets import PUBLISHED_ROW_STAMPS
    from orchestration.transform.contract import RowStamps

    stamps = RowStamps("intermediate.int_prices__daily_returns", "price_date", "built_at")
    assert dict(PUBLISHED_ROW_STAMPS) == {"fct_daily_prices": stamps}


def test_row_stamps_naming_an_unknown_model_are_refused(tmp_path) -> None:
    import json

    import pytest

    from orchestration.transform.contract import warehouse_tables

    manifest = tmp_path / "manifest.json"
    stamps = {"model": "int_missing", "date_column": "d", "stamp_column": "s"}
    node = {
        "resource_type": "model",
        "name": "m",
        "schema": "marts",
        "alias": "m",
        "original_file_path": "models/marts/m.sql",
        "config": {"meta": {"hashpivot": {"published": True, "row_stamps": stamps}}},
    }
    manifest.write_text(json.dumps({"nodes": {"model.hashpivot.m": node}}))
    with pytest.raises(ValueError, match=r"models/marts/m\.sql: row_stamps names an unknown model"):
        warehouse_tables(manifest)


def test_the_audit_is_an_asset_whose_ledger_gates_the_warehouse() -> None:
    graph = defs.resolve_asset_graph()
    accepted = dg.AssetKey(["quality", "ledger_accepted"])
    assert dg.AssetKey("landed_prices") in graph.get(accepted).parent_keys
    staged = dg.AssetKey(["staging", "stg_quality__accepted_files"])
    assert accepted in graph.get(staged).parent_keys
    audited = dg.AssetKey(["intermediate", "int_prices__audited"])
    assert {staged, dg.AssetKey(["staging", "stg_landing__prices"])} <= graph.get(
        audited
    ).parent_keys
    critical = dg.AssetCheckKey(accepted, "gx_raw_prices_critical")
    assert graph.get_check_spec(critical).blocking


def test_the_schedule_runs_the_whole_job() -> None:
    schedule = defs.resolve_schedule_def("weekday_after_us_close")
    assert schedule.job_name == "hashpivot_all"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def test_descriptions_survive_markdown() -> None:
    """The UI renders descriptions as Markdown: a bare <data dir> would vanish as an HTML tag."""
    import re

    graph = defs.resolve_asset_graph()
    descriptions = [graph.get(key).description or "" for key in graph.get_all_asset_keys()]
    descriptions += [graph.get_check_spec(key).description or "" for key in graph.asset_check_keys]
    for description in descriptions:
        outside_code = re.sub(r"`[^`]*`", "", description)
        assert not re.search(r"<[a-z][^>]*>", outside_code), description


def test_every_asset_has_owners_a_domain_and_a_freshness_policy() -> None:
    from orchestration.catalog import SEED_FRESHNESS

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, key
        assert all(owner.startswith("team:") for owner in node.owners), key
        assert node.tags.get("domain") in {"prices", "contracts", "capex", "reference"}, key
        assert node.freshness_policy is not None, key
    seed = graph.get(dg.AssetKey(["seeds", "companies"]))
    assert seed.freshness_policy == SEED_FRESHNESS
    assert (
        graph.get(dg.AssetKey(["marts", "hyperscaler_capex_quarterly"])).tags["domain"] == "capex"
    )
    assert graph.get(dg.AssetKey(["quality", "ledger_accepted"])).tags["domain"] == "prices"


def test_every_check_says_what_it_asserts() -> None:
    graph = defs.resolve_asset_graph()
    specs = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert all(spec.description for spec in specs.values()), [
        key.name for key, spec in specs.items() if not spec.description
    ]
    unique_prices = next(
        spec for key, spec in specs.items()
        if key.name.startswith("unique_combination_of_columns_int_prices__daily_returns")
    )  # fmt: skip
    assert unique_prices.description == (
        "dbt test: one row per (ticker, price_date) among the rows of the latest build"
    )
