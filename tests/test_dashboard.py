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


# --- issue 22: what is partial or old ---------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "built_on", "expected"),
    [
        (date(2026, 8, 3), date(2026, 12, 7), "4 months old"),
        (date(2026, 8, 8), date(2026, 12, 7), "3 months old"),  # 4 months from the 8th
        (date(2026, 12, 7), date(2026, 12, 7), "today"),
        (date(2026, 12, 6), date(2026, 12, 7), "1 day old"),
        (date(2026, 11, 24), date(2026, 12, 7), "13 days old"),
        (date(2026, 11, 23), date(2026, 12, 7), "2 weeks old"),
        (date(2026, 10, 8), date(2026, 12, 7), "8 weeks old"),  # 60 days, not 2 months yet
        (date(2026, 10, 7), date(2026, 12, 7), "2 months old"),
        (date(2025, 4, 4), date(2026, 12, 8), "20 months old"),
        (date(2023, 12, 1), date(2026, 12, 7), "3 years old"),
        (date(2026, 12, 8), date(2026, 12, 7), "1 day in the future"),
    ],
)
def test_data_age_reads_in_days_weeks_months_then_years(as_of, built_on, expected) -> None:
    assert dash.data_age(as_of, built_on) == expected


def capex_rows(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": [r[0] for r in rows],
            "calendar_quarter_end": pd.to_datetime([r[1] for r in rows]),
            "capex_usd": [r[2] for r in rows],
        }
    )


# AAA and BBB report from 2025 Q1, CCC joins in 2025 Q2; in 2025 Q3 only AAA has reported.
CAPEX = capex_rows(
    [
        ("AAA", "2025-03-31", 10e9),
        ("BBB", "2025-03-31", 20e9),
        ("AAA", "2025-06-30", 11e9),
        ("BBB", "2025-06-30", 21e9),
        ("CCC", "2025-06-30", 5e9),
        ("AAA", "2025-09-30", 12e9),
    ]
)


def test_a_quarter_not_every_hyperscaler_has_reported_is_partial() -> None:
    coverage = dash.capex_quarter_coverage(CAPEX)
    q1, q2, q3 = (coverage[date(2025, m, d)] for m, d in [(3, 31), (6, 30), (9, 30)])
    # A company joining later does not make the quarters before it partial.
    assert (q1.reported, q1.expected, q1.is_partial, q1.label) == (2, 2, False, "2025 Q1")
    assert (q2.reported, q2.expected, q2.is_partial) == (3, 3, False)
    assert (q3.reported, q3.expected, q3.is_partial) == (1, 3, True)
    assert q3.label == "2025 Q3 (partial: 1 of 3 companies)"
    assert dash.capex_quarter_coverage(pd.DataFrame()) == {}
    ticks = dash.quarter_ticks(reversed(list(coverage.values())))
    assert ticks == {
        "tickvals": ["2025 Q1", "2025 Q2", "2025 Q3"],
        "ticktext": ["2025 Q1", "2025 Q2", "2025 Q3<br>partial: 1 of 3"],
    }
    style = dash.partial_bar_style([False, True])
    assert style["pattern"]["shape"] == ["", "/"]
    assert style["opacity"] == [1.0, 0.55]
    assert dash.partial_bar_style([False, False]) == {}


def test_index_ticks_are_index_points_not_mantissas() -> None:
    ticks = log_ticks(60.0, 1200.0)
    assert ticks == [50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0]
    assert [dash.index_tick_text(t) for t in ticks] == ["50", "100", "200", "500", "1,000", "2,000"]
    # Under fourfold, finer steps keep several ticks in view.
    assert log_ticks(77.0, 265.0) == [60.0, 80.0, 100.0, 120.0, 150.0, 200.0, 250.0, 300.0]
    assert dash.index_tick_text(2.5) == "2.5"


def test_a_null_windowed_figure_gives_its_coverage() -> None:
    record = {
        "return_1y": None,
        "window_days_1y": 261,
        "days_1y": 62,
        "beta_nvda_1y": None,
        "nvda_days_1y": 230,
        "return_1m": 0.1,
        "window_days_1m": 21,
        "days_1m": 21,
    }
    assert dash.coverage_note(record, "return_1y") == (
        "62 of 261 weekdays in the 1-year window have a price; a figure needs 80%"
    )
    record |= {"beta_btc_1y": None, "btc_days_1y": 200}
    assert dash.coverage_note(record, "beta_btc_1y") == (
        "200 of 261 weekdays in the 1-year window have prices of both the miner and BTC-USD; "
        "a figure needs 80%"
    )
    # 230 of 261 is above 80%: the NULL has another cause, so it is no coverage "n/a".
    assert dash.coverage_note(record, "beta_nvda_1y") is None
    assert dash.coverage_note(record, "corr_nvda_1y") is None  # not in the record at all
    assert dash.coverage_note(record, "return_1m") is None  # a figure is there
    assert dash.coverage_note({"return_1y": None}, "return_1y") is None  # no coverage columns
    assert dash.coverage_note(record, "ai_contract_count") is None  # not windowed
    # A stale BTC leaves the miner's own year covered; the excess return is n/a for BTC's days.
    stale_btc = {
        "excess_return_1y_vs_btc": None,
        "window_days_1y": 261,
        "days_1y": 250,
        "btc_days_1y": 166,
    }
    assert dash.coverage_note(stale_btc, "excess_return_1y_vs_btc") == (
        "166 of 261 weekdays in the 1-year window have prices of both the miner and BTC-USD; "
        "a figure needs 80%"
    )


def test_stale_badges_and_stale_series_messages() -> None:
    assert dash.stale_badge({"is_stale": True, "last_price_date": date(2025, 5, 2)}) == (
        "stale: last price 2025-05-02"
    )
    assert dash.stale_badge({"is_stale": False, "last_price_date": date(2025, 5, 2)}) is None
    assert dash.stale_badge({"ticker": "X"}) is None  # a mart without is_stale
    assert dash.stale_badge({"is_stale": True}) == "stale: no price"
    series = pd.DataFrame(
        {
            "ticker": ["NVDA", "BTC-USD"],
            "last_price_date": [date(2026, 7, 24), date(2025, 11, 29)],
            "as_of_date": [date(2026, 8, 3)] * 2,
            "days_behind": [10, 247],
            "message": [
                None,
                "BTC-USD: last price 2025-11-29, 247 days before the as-of 2026-08-03",
            ],
        }
    )
    assert dash.stale_series_messages(series) == [
        "BTC-USD: last price 2025-11-29, 247 days before the as-of 2026-08-03",
        "NVDA: last price 2026-07-24, before the as-of 2026-08-03",
    ]
    assert dash.stale_series_messages(pd.DataFrame()) == []


BUILT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


AS_OF = date(2026, 8, 3)
# Three miners: FRESH has every figure; YOUNG has 62 of 261 weekdays in its 1-year window, so
# its 1-year figures are NULL; OLD's last price is 2025-05-02, long before the as-of date.
MINERS = pd.DataFrame(
    {
        "ticker": ["FRESH", "YOUNG", "OLD"],
        "company_name": ["Fresh", "Young", "Old"],
        "as_of_date": [AS_OF, AS_OF, AS_OF],
        "is_ai_pivoted": [True, False, False],
        "return_1m": [0.1, 0.2, None],
        "return_ytd": [0.3, 0.1, None],
        "return_1y": [0.5, None, None],
        "volatility_1y": [0.9, None, None],
        "ai_contract_count": [1, 0, 0],
        "contracted_it_mw": [100.0, 0.0, 0.0],
        "contracted_value_usd": [1e9, 0.0, 0.0],
        "last_price_date": [AS_OF, AS_OF, date(2025, 5, 2)],
        "is_stale": [False, False, True],
        "window_days_1m": [21, 21, 21],
        "window_days_3m": [65, 65, 65],
        "window_days_ytd": [153, 153, 153],
        "window_days_1y": [261, 261, 261],
        "days_1m": [21, 21, 0],
        "days_3m": [65, 65, 0],
        "days_ytd": [153, 153, 0],
        "days_1y": [261, 62, 0],
        "btc_days_1y": [261, 62, 0],
        "nvda_days_1y": [261, 62, 0],
    }
)
ISSUE22_COLUMNS = ["last_price_date", "is_stale", *[c for c in MINERS if "days_" in c]]
STALE_MESSAGE = "BTC-USD: last price 2025-11-29, 247 days before the as-of 2026-08-03"


def write_issue22_published(path: Path, *, with_new_columns: bool) -> Path:
    """A published file with the three MINERS, the CAPEX mart (its last quarter partial) and an
    index between 60 and 1,200. With ``with_new_columns`` the performance mart has issue 22's
    coverage and staleness columns and a stale_series mart holds one series; without, the
    marts are as published before issue 22 (as_of_date each miner's last price date)."""
    write_published(path, price_source="csv")
    miners = MINERS.copy()
    if not with_new_columns:
        miners["as_of_date"] = miners["last_price_date"]
        miners = miners.drop(columns=ISSUE22_COLUMNS)
    index = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-01-02", "2026-04-01", "2026-08-03"]),
            "basket": ["btc"] * 3,
            "index_level": [100.0, 1200.0, 60.0],
        }
    )
    stale = pd.DataFrame(
        {
            "ticker": ["BTC-USD"],
            "last_price_date": [date(2025, 11, 29)],
            "as_of_date": [AS_OF],
            "weekdays_behind": [177],
            "days_behind": [247],
            "message": [STALE_MESSAGE],
        }
    )
    with duckdb.connect(str(path)) as con:
        for table, frame in [
            ("miner_ai_pivot_performance", miners),
            ("hyperscaler_capex_quarterly", CAPEX),
            ("miner_pivot_index_daily", index),
        ] + ([("stale_series", stale)] if with_new_columns else []):
            con.register("frame", frame)
            con.execute(f"create or replace table {table} as select * from frame")
            con.unregister("frame")
    return path


def newplot_layout(html: str, div_id: str) -> dict:
    """The layout Plotly.newPlot draws chart ``div_id`` with, parsed from the page."""
    decoder = json.JSONDecoder()
    rest = html[html.index(f'Plotly.newPlot(                        "{div_id}",') :]
    rest = rest[rest.index("[") :]
    _, end = decoder.raw_decode(rest)
    rest = rest[end:].lstrip(", \n")
    layout, _ = decoder.raw_decode(rest)
    return layout


def test_the_pages_say_what_is_old_partial_and_stale(tmp_path) -> None:
    published = write_issue22_published(tmp_path / "marts.duckdb", with_new_columns=True)
    report = build_dashboard(published, tmp_path / "dashboard", now=BUILT)
    folder = tmp_path / "dashboard"
    assert report.as_of == "2026-08-03"
    for name in report.pages:
        html = (folder / name).read_text()
        # The age beside the as-of date, against the build day (2026-12-07): 4 months.
        assert re.search(
            r'data-fact="as_of">2026-08-03, <span class="age old"[^>]*>4 months old<', html
        ), name
        assert 'data-stale-series="1"' in html, name
        assert f"<li>{STALE_MESSAGE}</li>" in html, name

    miners = (folder / "miners.html").read_text()
    old = re.search(r'<tr data-ticker="OLD" data-stale="true">(.*?)</tr>', miners).group(1)
    assert '<span class="badge stale">stale: last price 2025-05-02</span>' in old
    assert '<tr data-ticker="FRESH">' in miners
    assert '<tr data-ticker="YOUNG">' in miners
    young = re.search(r'<tr data-ticker="YOUNG">(.*?)</tr>', miners).group(1)
    assert re.search(
        r'<td data-col="return_1y" data-value="" class="missing not-available" '
        r'title="62 of 261 weekdays in the 1-year window have a price; a figure needs 80%">n/a</td>',
        young,
    )
    assert '<td data-col="return_1m" data-value="0.2" class="pos">+20.0%</td>' in young
    fresh = re.search(r'<tr data-ticker="FRESH">(.*?)</tr>', miners).group(1)
    assert "n/a" not in fresh
    assert "badge" not in fresh
    # Columns the fixture does not have (beta) are plain dashes, never "n/a" without a reason.
    assert '<td data-col="beta_btc_1y" data-value="" class="missing">\u2013</td>' in fresh
    footnote = re.search(r'<p class="footnote">(.*?)</p>', miners).group(1)
    assert "OLD (last price 2025-05-02)" in footnote
    # Each short window once per miner (OLD's 1y return and volatility share one), only the
    # windows of figures the mart has and left NULL.
    assert footnote.endswith(
        "YOUNG 1-year 62 of 261 weekdays; "
        "OLD 1-month 0 of 21 weekdays, year-to-date 0 of 153 weekdays, 1-year 0 of 261 weekdays."
    )
    assert "Stale: OLD&#39;s last price is 2025-05-02" in (folder / "miner-OLD.html").read_text()

    capex = (folder / "capex.html").read_text()
    layout = newplot_layout(capex, "chart-capex")
    assert layout["xaxis"]["ticktext"][-1] == "2025 Q3<br>partial: 1 of 3"
    assert layout["xaxis"]["ticktext"][:2] == ["2025 Q1", "2025 Q2"]
    assert [a["text"] for a in layout["annotations"]] == ["partial: 1 of 3<br>reported"]
    assert "Hatched bars: 2025 Q3 (partial: 1 of 3 companies)" in capex

    index_layout = newplot_layout((folder / "index.html").read_text(), "chart-index")
    assert index_layout["yaxis"]["type"] == "log"
    assert index_layout["yaxis"]["ticktext"] == ["50", "100", "200", "500", "1,000", "2,000"]


def test_marts_published_before_issue_22_still_build(tmp_path) -> None:
    published = write_issue22_published(tmp_path / "marts.duckdb", with_new_columns=False)
    report = build_dashboard(published, tmp_path / "dashboard", now=BUILT)
    folder = tmp_path / "dashboard"
    assert report.as_of == "2026-08-03"  # the latest miner's date
    miners = (folder / "miners.html").read_text()
    assert "data-stale-series" not in miners  # no stale_series mart: no box
    assert 'class="badge' not in miners
    assert "data-stale" not in miners
    assert ">n/a<" not in miners  # no coverage columns: NULLs stay dashes
    young = re.search(r'<tr data-ticker="YOUNG">(.*?)</tr>', miners).group(1)
    assert '<td data-col="return_1y" data-value="" class="missing">\u2013</td>' in young
    assert '<p class="footnote">' not in miners
    # The as-of date's age and the partial quarter need nothing new from the marts.
    assert ">4 months old</span>" in miners
    assert (
        "2025 Q3<br>partial: 1 of 3"
        in newplot_layout((folder / "capex.html").read_text(), "chart-capex")["xaxis"]["ticktext"]
    )


def test_a_fresh_as_of_date_is_not_flagged_old(tmp_path) -> None:
    published = write_issue22_published(tmp_path / "marts.duckdb", with_new_columns=True)
    build_dashboard(published, tmp_path / "dashboard", now=datetime(2026, 8, 4, tzinfo=UTC))
    html = (tmp_path / "dashboard" / "index.html").read_text()
    assert re.search(r', <span class="age"[^>]*>1 day old</span>', html)
