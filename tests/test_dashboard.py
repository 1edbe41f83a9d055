"""The dashboard's pure parts: number formats, the build from a published file (empty marts,
demo prices, nothing published), the atomic swap, the commands and the asset's wiring. The
whole dashboard in a real browser is tests/test_dashboard_browser.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.definitions import defs
from orchestration.paths import DataPaths
from orchestration.report import dashboard as dash
from orchestration.report.dashboard import (
    MISSING,
    NothingPublishedError,
    build_dashboard,
    fmt_date,
    fmt_int,
    fmt_mw,
    fmt_number,
    fmt_pct,
    fmt_source,
    fmt_usd,
    log_ticks,
    quarter_label,
    summarise_runs,
)

TOP_PAGES = ["index.html", "miners.html", "contracts.html", "capex.html", "quality.html"]
NOW = datetime(2025, 4, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1234, "+12.3%"), (-0.5, "-50.0%"), (0.0, "+0.0%"), (1.05891, "+105.9%"), (None, MISSING)],
)
def test_returns_read_as_signed_percentages(value, expected) -> None:
    assert fmt_pct(value) == expected


def test_volatility_reads_without_a_sign_and_nan_as_a_dash() -> None:
    assert fmt_pct(0.965, signed=False) == "96.5%"
    assert fmt_pct(float("nan")) == MISSING
    assert fmt_pct(pd.NA, signed=False) == MISSING
    assert fmt_int(pd.NA) == MISSING


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8.7e9, "$8.7B"),
        (1.27e11, "$127.0B"),
        (3.5e8, "$350M"),
        (12_500, "$12,500"),
        (-2e9, "-$2.0B"),
        (None, MISSING),
        (float("nan"), MISSING),
    ],
)
def test_dollars_read_at_their_scale(value, expected) -> None:
    assert fmt_usd(value) == expected


def test_megawatts_counts_dates_and_sources() -> None:
    assert fmt_mw(1250.0) == "1,250 MW"
    assert fmt_mw(None) == MISSING
    assert fmt_int(3) == "3"
    assert fmt_number(0.7512) == "0.75"
    assert fmt_date(pd.Timestamp("2025-04-04")) == "2025-04-04"
    assert fmt_date(date(2025, 4, 4)) == "2025-04-04"
    assert fmt_date(pd.NaT) == MISSING
    assert fmt_source("https://www.nasdaq.com/articles/x?y=1") == "nasdaq.com"
    assert quarter_label(pd.Timestamp("2025-03-31")) == "2025 Q1"
    assert quarter_label(date(2024, 12, 31)) == "2024 Q4"


def test_log_ticks_cover_the_range_in_1_2_5_steps() -> None:
    assert log_ticks(0.9, 23.0) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
    assert log_ticks(2.2, 9.5) == [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]  # finer under 10x
    assert log_ticks(0.0, 5.0) == []  # no log axis without positive prices


def test_published_runs_are_summarised_from_their_json() -> None:
    runs = pd.DataFrame(
        {
            "row_counts": [json.dumps({"a": 2, "b": 3})],
            "check_summary": [json.dumps({"x:critical": True, "y:warnings": False})],
        }
    )
    (row,) = summarise_runs(runs).to_dict("records")
    assert (row["rows_published"], row["marts_published"]) == (5, 2)
    assert (row["checks_passed"], row["checks_failed"], row["failed_checks"]) == (
        1,
        1,
        "y:warnings",
    )


def write_published(path: Path, *, price_source: str | None, with_tables: bool = True) -> Path:
    """A published file in the marts' shapes: empty marts, plus one run and (optionally) one
    price row of ``price_source``."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            "create table _published_runs (run_id varchar, published_at timestamptz, "
            "row_counts json, price_sources varchar, check_summary json)"
        )
        con.execute(
            "insert into _published_runs values ('run-1', '2025-04-07 10:00:00+00', "
            "'{\"fct_daily_prices\": 1}', ?, '{\"c\": true}')",
            [price_source or ""],
        )
        if not with_tables:
            return path
        con.execute(
            "create table fct_daily_prices (ticker varchar, date date, adj_close double, "
            "price_source varchar)"
        )
        if price_source:
            con.execute(
                "insert into fct_daily_prices values ('IREN', '2025-04-04', 7.0, ?)", [price_source]
            )
        con.execute(
            "create table miner_ai_pivot_performance (ticker varchar, company_name varchar, "
            "as_of_date date, return_1y double, ai_contract_count bigint)"
        )
        con.execute(
            "create table fct_contract_announcement_returns (ticker varchar, counterparty varchar, "
            "announced_on date, event_date date)"
        )
        con.execute(
            "create table miner_pivot_index_daily (date date, basket varchar, index_level double)"
        )
        con.execute(
            "create table hyperscaler_capex_quarterly (ticker varchar, calendar_quarter_end date)"
        )
        con.execute("create table hyperscaler_capex_guidance (ticker varchar, announced_on date)")
        con.execute("create table capex_vs_miner_returns (calendar_quarter_end date)")
        con.execute(
            "create table quarantined_prices (ticker varchar, date date, "
            "quarantined_at timestamptz)"
        )
    return path


def page_texts(folder: Path) -> dict[str, str]:
    return {name: (folder / name).read_text() for name in TOP_PAGES}


def test_empty_marts_say_no_data_instead_of_drawing(tmp_path) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source="csv")
    report = build_dashboard(published, tmp_path / "dashboard", now=NOW)
    assert list(report.pages) == TOP_PAGES  # no miner, no miner page
    pages = page_texts(tmp_path / "dashboard")
    for name, html in pages.items():
        assert "No data:" in html, name
        assert "Plotly.newPlot" not in html, name  # never an empty chart
        assert "plotly.min.js" not in html, name  # nor plotly.js loaded for nothing
    assert 'data-empty="index"' in pages["index.html"]
    assert 'data-empty="cars"' in pages["contracts.html"]
    assert "Quarantined price rows: 0" in pages["quality.html"]
    assert report.as_of == MISSING
    assert not report.is_demo


def test_a_file_without_the_marts_still_builds(tmp_path) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source=None, with_tables=False)
    report = build_dashboard(published, tmp_path / "dashboard", now=NOW)
    assert (tmp_path / "dashboard" / "index.html").is_file()
    assert report.price_source == MISSING


def test_demo_prices_are_announced_on_every_page(tmp_path) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source="demo")
    report = build_dashboard(published, tmp_path / "dashboard", now=NOW)
    assert report.is_demo
    for name, html in page_texts(tmp_path / "dashboard").items():
        assert 'class="demo-banner"' in html, name
        assert "SYNTHETIC" in re.search(r"<title>(.*)</title>", html).group(1), name
        assert "demo (SYNTHETIC)" in html, name


def test_real_prices_carry_no_demo_banner_and_name_their_source(tmp_path) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source="csv")
    build_dashboard(published, tmp_path / "dashboard", now=NOW)
    for name, html in page_texts(tmp_path / "dashboard").items():
        assert "demo-banner" not in html, name
        assert '<dd data-fact="price_source">csv</dd>' in html, name


def test_nothing_published_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(NothingPublishedError, match="nothing published yet"):
        build_dashboard(tmp_path / "missing.duckdb", tmp_path / "dashboard")
    assert not (tmp_path / "dashboard").exists()


def test_each_build_swaps_the_folder_whole_and_keeps_few_builds(tmp_path) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source="csv")
    out = tmp_path / "dashboard"
    out.mkdir()  # a plain folder left by hand is replaced too
    (out / "stale.html").write_text("old")
    targets = []
    for second in range(4):
        build_dashboard(published, out, now=NOW.replace(second=second))
        assert out.is_symlink()
        targets.append(out.resolve())
        assert (out / "index.html").is_file()
    assert not (out / "stale.html").exists()
    assert len(set(targets)) == 4
    kept = sorted(p for p in targets[0].parent.iterdir())
    assert kept == targets[-dash.BUILDS_KEPT :]


def test_a_failed_build_leaves_the_previous_dashboard(tmp_path, monkeypatch) -> None:
    published = write_published(tmp_path / "marts.duckdb", price_source="csv")
    out = tmp_path / "dashboard"
    build_dashboard(published, out, now=NOW)
    before = out.resolve()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(dash, "quality_page", broken)
    with pytest.raises(RuntimeError, match="boom"):
        build_dashboard(published, out, now=NOW.replace(second=5))
    assert out.resolve() == before
    assert [p for p in before.parent.iterdir()] == [before]  # the half build was removed


def test_make_dashboard_without_a_publish_exits_1_with_the_reason(tmp_path, capsys) -> None:
    assert dash.main(["build", "--data-dir", str(tmp_path)]) == 1
    assert "nothing published yet" in capsys.readouterr().err


def test_make_dashboard_prints_how_to_open_it(tmp_path, capsys) -> None:
    paths = DataPaths(tmp_path)
    paths.published.root.mkdir(parents=True)
    write_published(paths.published.duckdb, price_source="csv")
    assert dash.main(["build", "--data-dir", str(tmp_path), "--port", "8123"]) == 0
    printed = capsys.readouterr().out
    assert f"file://{paths.dashboard / 'index.html'}" in printed
    assert f"python -m http.server 8123 --bind 127.0.0.1 --directory {paths.dashboard}" in printed


def test_the_dashboard_asset_rebuilds_after_each_publish() -> None:
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("dashboard"))
    assert node.parent_keys == {dg.AssetKey("published_marts")}
    assert node.group_name == "publish"


def test_the_asset_writes_into_the_data_dir_and_reports_the_path(tmp_path, monkeypatch) -> None:
    paths = DataPaths(tmp_path)
    paths.published.root.mkdir(parents=True)
    write_published(paths.published.duckdb, price_source="demo")
    monkeypatch.setenv("HASHPIVOT_DATA_DIR", str(tmp_path))
    result = dg.materialize([dash.dashboard], instance=dg.DagsterInstance.ephemeral())
    assert result.success
    (materialization,) = result.asset_materializations_for_node("dashboard")
    metadata = materialization.metadata
    assert metadata["path"].value == str(paths.dashboard / "index.html")
    assert metadata["demo_data"].value is True
    assert (paths.dashboard / "index.html").is_file()
