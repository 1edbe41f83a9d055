"""The static dashboard: HTML pages built from the published marts, readable offline.

Why not Evidence (issue 9): Evidence's build (`evidence sources`), its page prerender and the
built site read Parquet through DuckDB-Wasm, whose Parquet extension is downloaded at run time
from DuckDB's extension server; no npm package ships it, and that server is unreachable here, in
CI and for offline users (evidence-dev/evidence#3155, duckdb/duckdb-wasm#2010). So the pages are
rendered in Python: Plotly draws the charts (its wheel bundles plotly.js, written once beside the
pages, never fetched from a CDN), Jinja2 renders the pages, and DuckDB reads the published file
read-only. The result is one folder of HTML that works from ``file://`` and from any static
server, with no network at all.

``build_dashboard`` is the pure part (published file in, folder out, a report back); the
``dashboard`` asset, ``make dashboard`` and ``make dashboard-dev`` (``python -m
orchestration.report.dashboard build|serve``) are thin wrappers around it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import math
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dagster as dg
import duckdb
import jinja2
import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from orchestration.atomic import replace_symlink
from orchestration.paths import DBT_PROJECT_DIR, data_paths
from orchestration.report.chart import BASKET_STYLES
from orchestration.run_lock import hold_run_lock

SITE_FILES = Path(__file__).with_name("dashboard_site")
PLOTLY_JS = "plotly.min.js"
MISSING = "\u2013"  # what a cell shows for NULL: an en dash, never "nan" or "None"
QUARANTINE_ROWS_SHOWN = 200
PUBLISHED_RUNS_SHOWN = 20
# Builds kept beside the current one: a page a browser is loading from the previous build
# stays readable while the symlink moves.
BUILDS_KEPT = 2
# Announcement markers: a colour none of the basket lines uses.
ANNOUNCEMENT_COLOR = "#6a3d9a"
HYPERSCALER_COLORS = ["#1f77b4", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#bcbd22"]
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
NOT_AVAILABLE = "n/a"  # a windowed figure the mart left NULL because its window lacks days


@functools.cache
def _dbt_vars() -> dict:
    """The dbt project's vars, where the marts' rules are declared (read once, when first
    needed, never at import)."""
    import yaml

    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def coverage_share() -> float:
    """The share of a window's weekdays a windowed figure needs (the mart's var
    min_window_coverage: below it the figure is NULL); the dashboard only quotes it."""
    return float(_dbt_vars()["min_window_coverage"])


def stale_after_weekdays() -> int:
    """Weekdays behind the as-of date after which a series is stale (the var
    stale_after_weekdays); the dashboard only quotes it."""
    return int(_dbt_vars()["stale_after_weekdays"])


# Miners-table figures measured over a window: the column of the window's expected weekdays and
# the column of the days the figure had (both absent from marts published before issue 22).
WINDOW_COVERAGE: dict[str, tuple[str, str]] = {
    "return_1m": ("window_days_1m", "days_1m"),
    "return_3m": ("window_days_3m", "days_3m"),
    "return_ytd": ("window_days_ytd", "days_ytd"),
    "return_1y": ("window_days_1y", "days_1y"),
    # (BTC's days are counted on the miner's, so they are never more: the binding count.)
    "excess_return_1y_vs_btc": ("window_days_1y", "btc_days_1y"),
    "volatility_1y": ("window_days_1y", "days_1y"),
    "max_drawdown_1y": ("window_days_1y", "days_1y"),
    "beta_btc_1y": ("window_days_1y", "btc_days_1y"),
    "corr_btc_1y": ("window_days_1y", "btc_days_1y"),
    "beta_nvda_1y": ("window_days_1y", "nvda_days_1y"),
    "corr_nvda_1y": ("window_days_1y", "nvda_days_1y"),
}
WINDOW_NAMES = {"1m": "1-month", "3m": "3-month", "ytd": "year-to-date", "1y": "1-year"}
PARTIAL_COLOR = "#9a5b00"  # partial quarters' hatching, outline and notes
# Data older than this many days shows its age in the header's warning colour.
OLD_AFTER_DAYS = 7
PAGES = (
    ("index.html", "Overview"),
    ("miners.html", "Miners"),
    ("contracts.html", "Contracts"),
    ("capex.html", "Capex"),
    ("quality.html", "Data quality"),
)


class NothingPublishedError(FileNotFoundError):
    """No published marts file to build from yet."""


# --- formatting: numbers as people read them -------------------------------------------------


def is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    )


def missing_as_dash(format_value: Callable[..., str]) -> Callable[..., str]:
    """Every formatter shows a missing value (None, NaN, NaT, NA) as ``MISSING``."""

    @functools.wraps(format_value)
    def formatted(value: Any, *args: Any, **kwargs: Any) -> str:
        return MISSING if is_missing(value) else format_value(value, *args, **kwargs)

    return formatted


@missing_as_dash
def fmt_pct(value: Any, *, signed: bool = True, digits: int = 1) -> str:
    """0.1234 -> '+12.3%' (a return); with ``signed=False`` '12.3%' (a volatility)."""
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


@missing_as_dash
def fmt_usd(value: Any) -> str:
    """Dollars at the scale people say them: $9.7B, $350M, $12,500."""
    amount = float(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1e9:
        return f"{sign}${amount / 1e9:,.1f}B"
    if amount >= 1e6:
        return f"{sign}${amount / 1e6:,.0f}M"
    return f"{sign}${amount:,.0f}"


@missing_as_dash
def fmt_mw(value: Any) -> str:
    return f"{float(value):,.0f} MW"


@missing_as_dash
def fmt_number(value: Any, digits: int = 2) -> str:
    return f"{float(value):,.{digits}f}"


@missing_as_dash
def fmt_int(value: Any) -> str:
    return f"{int(value):,}"


@missing_as_dash
def fmt_years(value: Any) -> str:
    return f"{float(value):g} y"


@missing_as_dash
def fmt_date(value: Any) -> str:
    if isinstance(value, datetime | pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


@missing_as_dash
def fmt_bool(value: Any) -> str:
    return "yes" if value else "no"


@missing_as_dash
def fmt_text(value: Any) -> str:
    return str(value)


@missing_as_dash
def fmt_timestamp(value: Any) -> str:
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


@missing_as_dash
def fmt_source(value: Any) -> str:
    """A source URL shown as its site (the link keeps the whole address)."""
    host = urlparse(str(value)).hostname or str(value)
    return host.removeprefix("www.")


FORMATS: dict[str, Callable[[Any], str]] = {
    "pct": fmt_pct,
    "pct_unsigned": functools.partial(fmt_pct, signed=False),
    "usd": fmt_usd,
    "mw": fmt_mw,
    "number": fmt_number,
    "int": fmt_int,
    "years": fmt_years,
    "date": fmt_date,
    "bool": fmt_bool,
    "text": fmt_text,
    "link": fmt_text,
    "timestamp": fmt_timestamp,
    "source": fmt_source,
}


def data_age(as_of: date, built_on: date) -> str:
    """How old the as-of date is on the build day, at the grain people say it: days below two
    weeks, weeks below two months, months below two years, then years."""
    days = (built_on - as_of).days
    if days < 0:
        return f"{-days} day{'s' if days != -1 else ''} in the future"
    if days == 0:
        return "today"
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''} old"
    months = (built_on.year - as_of.year) * 12 + built_on.month - as_of.month
    if built_on.day < as_of.day:
        months -= 1  # a month counts once its day of the month is reached
    if months < 2:
        return f"{days // 7} weeks old"
    if months < 24:
        return f"{months} months old"
    return f"{months // 12} years old"


def as_date(value: Any) -> date | None:
    """A date, datetime, Timestamp or ISO string as a date (None when missing)."""
    if is_missing(value):
        return None
    return pd.Timestamp(value).date()


@dataclass(frozen=True)
class WindowCoverage:
    """The days behind a NULL windowed figure: ``days`` of the window's ``weekdays`` had a
    price (of the miner, and of ``partner`` too for a beta or correlation)."""

    window: str  # "1-year"
    days: int
    weekdays: int
    partner: str = ""  # "BTC-USD" or "NVDA" when both series' prices count

    @property
    def name(self) -> str:
        return f"{self.window} with {self.partner}" if self.partner else self.window

    @property
    def note(self) -> str:
        """The cell's tooltip: '62 of 261 weekdays in the 1-year window have a price; a figure
        needs 80%'."""
        have = f"prices of both the miner and {self.partner}" if self.partner else "a price"
        return (
            f"{self.days} of {self.weekdays} weekdays in the {self.window} window have {have}; "
            f"a figure needs {coverage_share():.0%}"
        )


def window_coverage(record: pd.Series | dict[str, Any], key: str) -> WindowCoverage | None:
    """The coverage behind a NULL windowed figure of the miners table, from the mart's coverage
    columns, when it is below coverage_share() (why the mart left the figure NULL). None when
    the figure is there or absent from the mart, is not windowed, its window is covered
    enough (then the NULL has another cause), or the mart has no coverage columns (marts
    published before issue 22)."""
    if key not in WINDOW_COVERAGE or key not in record or not is_missing(record.get(key)):
        return None
    window_key, days_key = WINDOW_COVERAGE[key]
    weekdays, days = record.get(window_key), record.get(days_key)
    if is_missing(weekdays) or is_missing(days):
        return None
    if int(days) >= coverage_share() * int(weekdays):
        return None
    partner = {"btc_": "BTC-USD", "nvda_": "NVDA"}.get(days_key[: days_key.index("_") + 1], "")
    return WindowCoverage(
        WINDOW_NAMES[window_key.removeprefix("window_days_")], int(days), int(weekdays), partner
    )


def coverage_note(record: pd.Series | dict[str, Any], key: str) -> str | None:
    """The tooltip of a NULL windowed figure (``WindowCoverage.note``), or None."""
    coverage = window_coverage(record, key)
    return coverage.note if coverage else None


def stale_badge(record: pd.Series | dict[str, Any]) -> str | None:
    """'stale: last price 2025-05-02' for a miner whose last price is too old for the as-of
    date (the mart's is_stale), else None; None too when the mart has no is_stale column."""
    stale = record.get("is_stale")
    if is_missing(stale) or not bool(stale):
        return None
    last = record.get("last_price_date")
    return "stale: no price" if is_missing(last) else f"stale: last price {fmt_date(last)}"


def stale_series_messages(stale_series: pd.DataFrame) -> list[str]:
    """The stale_series mart's messages (one per series behind the as-of date), most behind
    first; a row without a message is described from its columns."""
    if stale_series.empty:
        return []
    rows = stale_series
    if "days_behind" in rows:
        rows = rows.sort_values("days_behind", ascending=False, na_position="last", kind="stable")
    messages = []
    for record in rows.to_dict("records"):
        message = record.get("message")
        if is_missing(message) or not str(message).strip():
            message = (
                f"{fmt_text(record.get('ticker'))}: last price "
                f"{fmt_date(record.get('last_price_date'))}, before the as-of "
                f"{fmt_date(record.get('as_of_date'))}"
            )
        messages.append(str(message))
    return messages


@dataclass(frozen=True)
class QuarterCoverage:
    """How many hyperscalers reported a calendar quarter's capex against how many were
    expected to (those with a figure for that quarter or an earlier one)."""

    quarter_end: date
    reported: int
    expected: int

    @property
    def is_partial(self) -> bool:
        return self.reported < self.expected

    @property
    def label(self) -> str:
        """The axis and hover label: '2026 Q1' or '2026 Q1 (partial: 2 of 5 companies)'."""
        quarter = quarter_label(self.quarter_end)
        if not self.is_partial:
            return quarter
        return f"{quarter} (partial: {self.reported} of {self.expected} companies)"


def capex_quarter_coverage(capex: pd.DataFrame) -> dict[date, QuarterCoverage]:
    """Per calendar quarter of hyperscaler_capex_quarterly (ticker, calendar_quarter_end): the
    companies that reported it and those expected to. A company is expected from its first
    reported quarter on, so a company added to the data later does not make the earlier
    quarters partial, while the latest quarter, before every company has reported, is."""
    if capex.empty:
        return {}
    rows = capex.dropna(subset=["ticker", "calendar_quarter_end"])
    first = rows.groupby("ticker")["calendar_quarter_end"].min().map(as_date)
    coverage = {}
    for quarter_end, group in rows.groupby("calendar_quarter_end"):
        day = as_date(quarter_end)
        expected = int(sum(1 for start in first if start <= day))
        coverage[day] = QuarterCoverage(day, int(group["ticker"].nunique()), expected)
    return coverage


def quarter_ticks(coverage: Iterable[QuarterCoverage]) -> dict[str, list[str]]:
    """A category axis of quarters ('2026 Q1') whose partial quarters' ticks say so on a
    second line: Plotly's tickvals/ticktext."""
    quarters = sorted(coverage, key=lambda c: c.quarter_end)
    return {
        "tickvals": [quarter_label(c.quarter_end) for c in quarters],
        "ticktext": [
            f"{quarter_label(c.quarter_end)}<br>partial: {c.reported} of {c.expected}"
            if c.is_partial
            else quarter_label(c.quarter_end)
            for c in quarters
        ],
    }


def partial_bar_style(partial: Sequence[bool]) -> dict[str, Any]:
    """Per-bar marker settings that set partial quarters' bars apart: hatched and faded."""
    if not any(partial):
        return {}
    return {
        "pattern": {
            "shape": ["/" if p else "" for p in partial],
            "fgcolor": PARTIAL_COLOR,
            "solidity": 0.35,
        },
        "opacity": [0.55 if p else 1.0 for p in partial],
        "line": {"color": [PARTIAL_COLOR if p else "rgba(0,0,0,0)" for p in partial], "width": 1},
    }


def index_tick_text(value: float) -> str:
    """An index level on a log axis as people read it: 50, 100, 1,000, 2.5."""
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


# --- reading the published file --------------------------------------------------------------


@dataclass(frozen=True)
class Marts:
    """The published tables the pages show (an absent table reads as an empty frame)."""

    performance: pd.DataFrame
    contracts: pd.DataFrame
    index: pd.DataFrame
    prices: pd.DataFrame
    capex: pd.DataFrame
    guidance: pd.DataFrame
    capex_returns: pd.DataFrame
    quarantined: pd.DataFrame
    quarantined_count: int
    runs: pd.DataFrame
    price_sources: tuple[str, ...]
    # Series whose last price is behind the as-of date (absent before issue 22: empty).
    stale_series: pd.DataFrame = field(default_factory=pd.DataFrame)


def _frame(con: duckdb.DuckDBPyConnection, tables: set[str], table: str, sql: str) -> pd.DataFrame:
    return con.sql(sql).df() if table in tables else pd.DataFrame()


def read_marts(published_duckdb: Path) -> Marts:
    """Read what the pages need from the published file, read-only (never the warehouse)."""
    if not published_duckdb.is_file():
        raise NothingPublishedError(
            f"nothing published yet: {published_duckdb} does not exist. Run the pipeline first "
            "(`make run`, or `hashpivot run --source demo` offline)."
        )
    with duckdb.connect(str(published_duckdb), read_only=True) as con:
        tables = {row[0] for row in con.sql("select table_name from duckdb_tables()").fetchall()}

        def frame(table: str, sql: str | None = None) -> pd.DataFrame:
            return _frame(con, tables, table, sql or f"select * from {table}")

        prices = frame(
            "fct_daily_prices",
            "select ticker, date, adj_close, price_source from fct_daily_prices "
            "where ticker in (select ticker from miner_ai_pivot_performance) order by ticker, date"
            if "miner_ai_pivot_performance" in tables
            else None,
        )
        sources = frame(
            "fct_daily_prices", "select distinct price_source from fct_daily_prices order by 1"
        )
        quarantined_count = (
            con.sql("select count(*) from quarantined_prices").fetchall()[0][0]
            if "quarantined_prices" in tables
            else 0
        )
        return Marts(
            performance=frame(
                "miner_ai_pivot_performance",
                "select * from miner_ai_pivot_performance order by return_1y desc nulls last",
            ),
            contracts=frame(
                "fct_contract_announcement_returns",
                "select * from fct_contract_announcement_returns order by announced_on, ticker",
            ),
            index=frame(
                "miner_pivot_index_daily",
                "select date, basket, index_level from miner_pivot_index_daily order by date",
            ),
            prices=prices,
            capex=frame(
                "hyperscaler_capex_quarterly",
                "select * from hyperscaler_capex_quarterly order by calendar_quarter_end, ticker",
            ),
            guidance=frame(
                "hyperscaler_capex_guidance",
                "select * from hyperscaler_capex_guidance order by announced_on desc, ticker",
            ),
            capex_returns=frame(
                "capex_vs_miner_returns",
                "select * from capex_vs_miner_returns order by calendar_quarter_end",
            ),
            quarantined=frame(
                "quarantined_prices",
                "select * from quarantined_prices order by quarantined_at desc, ticker, date "
                f"limit {QUARANTINE_ROWS_SHOWN}",
            ),
            quarantined_count=int(quarantined_count),
            runs=frame(
                "_published_runs",
                "select run_id, published_at, price_sources, row_counts::varchar as row_counts, "
                "check_summary::varchar as check_summary from _published_runs "
                f"order by published_at desc limit {PUBLISHED_RUNS_SHOWN}",
            ),
            price_sources=tuple(sources["price_source"].dropna()) if not sources.empty else (),
            stale_series=frame("stale_series"),
        )


# --- page building blocks --------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # a FORMATS key
    title: str = ""  # the header's tooltip: what the column means
    href: Callable[[pd.Series], str | None] | None = None  # a cell link built from its row
    external: bool = False
    wrap: bool = False  # long text (notes, sites) wraps instead of widening the table
    # A short label shown beside the cell's value (e.g. "stale: last price ..."), from its row.
    badge: Callable[[pd.Series], str | None] | None = None
    badge_css: str = ""
    # Why a missing value is missing, from its row: the cell then reads NOT_AVAILABLE with
    # this as its tooltip instead of a bare dash.
    missing_note: Callable[[pd.Series], str | None] | None = None


@dataclass(frozen=True)
class Cell:
    key: str
    text: str
    sort_value: str
    css: str
    href: str | None
    external: bool
    badge: str | None = None
    badge_css: str = ""
    title: str | None = None


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    attrs: list[tuple[str, str]]


def _sort_value(value: Any) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, datetime | date | pd.Timestamp):
        return fmt_date(value)
    return str(value)


def _css(kind: str, value: Any) -> str:
    if is_missing(value):
        return "missing"
    if kind == "pct" and float(value) != 0:
        return "pos" if float(value) > 0 else "neg"
    return "text" if kind in {"text", "date", "bool", "timestamp", "source"} else kind


def render_table(
    env: jinja2.Environment,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    *,
    table_id: str,
    sortable: bool = True,
    row_attrs: Callable[[pd.Series], list[tuple[str, str]]] | None = None,
    caption: str = "",
) -> Markup:
    rows = []
    for _, record in frame.iterrows():
        cells = []
        for column in columns:
            value = record.get(column.key)
            text = FORMATS[column.kind](value)
            href = column.href(record) if column.href and not is_missing(value) else None
            css = "wrap" if column.wrap else _css(column.kind, value)
            note = column.missing_note(record) if column.missing_note else None
            if note is not None:
                text, css = NOT_AVAILABLE, "missing not-available"
            cells.append(
                Cell(
                    column.key,
                    text,
                    _sort_value(value),
                    css,
                    href,
                    column.external,
                    badge=column.badge(record) if column.badge else None,
                    badge_css=column.badge_css,
                    title=note,
                )
            )
        rows.append(Row(cells, row_attrs(record) if row_attrs else []))
    return Markup(
        env.get_template("table.html").render(
            table={
                "table_id": table_id,
                "columns": columns,
                "rows": rows,
                "sortable": sortable,
                "caption": caption,
            }
        )
    )


def new_figure(*traces: Any) -> go.Figure:
    """Every chart's common look; a chart's own layout settings override it."""
    figure = go.Figure(list(traces))
    figure.update_layout(
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 30, "b": 50},
        font={"family": "system-ui, sans-serif", "size": 13},
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks covering [low, high] for a log axis: Plotly's own log ticks over a narrow
    range label only the leading digit ("2" for 20), which reads as the wrong price."""
    if not (low > 0 and high >= low):
        return []
    # Under a tenfold range 1-2-5 leaves too few ticks in view: use finer steps, finer still
    # under fourfold (an index between 80 and 270: 80, 100, 120, 150, 200, 250).
    if high / low >= 10:
        steps: tuple[float, ...] = (1, 2, 5)
    elif high / low >= 4:
        steps = (1, 1.5, 2, 3, 4, 5, 6, 8)
    else:
        steps = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    # One tick beyond each end: Plotly pads the axis a little and shows only ticks in view.
    values = [step * 10.0**e for e in range(first, last + 1) for step in steps]
    below = [v for v in values if v < low][-1:]
    above = [v for v in values if v > high][:1]
    return below + [v for v in values if low <= v <= high] + above


def chart_html(figure: go.Figure, div_id: str) -> Markup:
    """A chart's div and its newPlot call; plotly.js itself is loaded once per page."""
    return Markup(
        figure.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOTLY_CONFIG)
    )


@dataclass
class Section:
    anchor: str
    heading: str = ""
    text: str = ""
    chart: Markup | None = None
    table: Markup | None = None
    controls: Markup | None = None
    footnote: str = ""
    collapsed: str = ""  # when set, the table folds under a <summary> with this text
    empty_note: str = ""  # set when the mart is empty: the page says so instead of drawing


@dataclass
class Page:
    filename: str
    title: str
    question: str
    sections: list[Section]
    nav_href: str = ""

    @property
    def has_charts(self) -> bool:
        return any(
            section.chart is not None and not section.empty_note for section in self.sections
        )


@dataclass(frozen=True)
class SiteFacts:
    """What every page's header says: as-of date, price source, publish, demo or not."""

    as_of: str
    price_source: str
    is_demo: bool
    published_at: str
    run_id: str
    built_at: str
    source_file: str
    nav: list[dict[str, str]] = field(default_factory=list)
    as_of_age: str = ""  # "4 months old" on the build day; empty without an as-of date
    is_old: bool = False  # the as-of date is more than OLD_AFTER_DAYS before the build day
    stale_messages: tuple[str, ...] = ()  # the stale_series mart's messages


def site_facts(marts: Marts, source_file: Path, built_at: datetime) -> SiteFacts:
    sources: list[str] = []
    if not marts.runs.empty and not is_missing(marts.runs["price_sources"].iloc[0]):
        sources = [s for s in str(marts.runs["price_sources"].iloc[0]).split(",") if s]
    sources = sorted(set(sources) | set(marts.price_sources))
    is_demo = "demo" in sources
    label = ", ".join("demo (SYNTHETIC)" if s == "demo" else s for s in sources) or MISSING
    as_of_day = None
    if not marts.performance.empty and marts.performance["as_of_date"].notna().any():
        as_of_day = as_date(marts.performance["as_of_date"].max())
    elif not marts.index.empty and marts.index["date"].notna().any():
        as_of_day = as_date(marts.index["date"].max())
    as_of = fmt_date(as_of_day)
    built_on = built_at.astimezone(UTC).date()
    published_at, run_id = MISSING, MISSING
    if not marts.runs.empty:
        published_at = fmt_timestamp(marts.runs["published_at"].iloc[0])
        run_id = str(marts.runs["run_id"].iloc[0])
    return SiteFacts(
        as_of=as_of,
        price_source=label,
        is_demo=is_demo,
        published_at=published_at,
        run_id=run_id,
        built_at=built_at.strftime("%Y-%m-%d %H:%M UTC"),
        source_file=str(source_file),
        nav=[{"href": href, "label": label} for href, label in PAGES],
        as_of_age=data_age(as_of_day, built_on) if as_of_day else "",
        is_old=as_of_day is not None and (built_on - as_of_day).days > OLD_AFTER_DAYS,
        stale_messages=tuple(stale_series_messages(marts.stale_series)),
    )


def quarter_label(quarter_end: Any) -> str:
    """2025-03-31 -> '2025 Q1': a quarter's bar is labelled by its quarter, not a date axis's
    month tick (which reads as the next quarter)."""
    stamp = pd.Timestamp(quarter_end)
    return f"{stamp.year} Q{stamp.quarter}"


def miner_page_name(ticker: str) -> str:
    """One flat folder (relative links work the same from file:// and a server)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in ticker)
    return f"miner-{safe}.html"


# --- the pages -------------------------------------------------------------------------------


def overview_page(env: jinja2.Environment, marts: Marts) -> Page:
    index, contracts = marts.index, marts.contracts
    section = Section(
        "index",
        "Basket index (log scale, 100 = first common date)",
        "Equal-weighted baskets; pivoted miners are the miners after their first AI/HPC contract. "
        "Purple triangles mark contract announcements on the pivoted-miners line; hover for the "
        "miner and the counterparty.",
    )
    if index.empty:
        section.empty_note = (
            "miner_pivot_index_daily is empty (no date on which every basket has a return)."
        )
    else:
        figure = new_figure()
        # Baskets in one fixed order (the legend's), whatever order the mart returns.
        order = {basket: i for i, basket in enumerate(BASKET_STYLES)}
        baskets = sorted(index["basket"].unique(), key=lambda b: (order.get(b, len(order)), b))
        for basket in baskets:
            rows = index[index["basket"] == basket]
            style = BASKET_STYLES.get(str(basket), {"color": "#333333", "label": str(basket)})
            figure.add_trace(
                go.Scatter(
                    x=rows["date"].dt.strftime("%Y-%m-%d").tolist(),
                    y=rows["index_level"].tolist(),
                    name=style["label"],
                    mode="lines",
                    line={"color": style["color"], "width": 2},
                    hovertemplate="%{x}: %{y:.1f}<extra>" + style["label"] + "</extra>",
                )
            )
        events = contracts.dropna(subset=["event_date"]) if not contracts.empty else contracts
        if not events.empty:
            anchor = index[index["basket"] == "pivoted_miners"][["date", "index_level"]]
            if anchor.empty:
                anchor = index.groupby("date", as_index=False)["index_level"].max()
            events = events.assign(event_date=pd.to_datetime(events["event_date"]))
            events = events[events["event_date"].between(index["date"].min(), index["date"].max())]
            placed = pd.merge_asof(
                events.sort_values("event_date"),
                anchor.sort_values("date"),
                left_on="event_date",
                right_on="date",
            )
            if not placed.empty:
                figure.add_trace(
                    go.Scatter(
                        x=placed["event_date"].dt.strftime("%Y-%m-%d").tolist(),
                        y=placed["index_level"].tolist(),
                        mode="markers",
                        name="Contract announcement",
                        marker={
                            "symbol": "triangle-down",
                            "size": 13,
                            "color": ANNOUNCEMENT_COLOR,
                            "line": {"color": "white", "width": 1},
                        },
                        text=[
                            f"{r.ticker} · {r.counterparty} · {fmt_mw(r.it_mw)} · "
                            f"{fmt_usd(r.contract_value_usd)}"
                            for r in placed.itertuples()
                        ],
                        hovertemplate="%{x}<br>%{text}<extra></extra>",
                    )
                )
        ticks = log_ticks(float(index["index_level"].min()), float(index["index_level"].max()))
        figure.update_yaxes(
            type="log",
            title_text="Index level (log, 100 = start)",
            tickvals=ticks,
            ticktext=[index_tick_text(t) for t in ticks],
        )
        figure.update_layout(height=520, hovermode="closest")
        section.chart = chart_html(figure, "chart-index")
        latest = index.sort_values("date").groupby("basket", sort=False).tail(1)
        latest = latest.assign(
            label=latest["basket"].map(lambda b: BASKET_STYLES.get(b, {"label": b})["label"]),
            change=latest["index_level"] / 100 - 1,
        )
        section.table = render_table(
            env,
            latest.sort_values("index_level", ascending=False),
            [
                Column("label", "Basket"),
                Column("date", "Last date", "date"),
                Column("index_level", "Index level", "number", "100 on the first common date"),
                Column("change", "Change since start", "pct"),
            ],
            table_id="basket-latest",
        )
    return Page(
        "index.html",
        "Overview",
        "Have bitcoin miners that signed AI/HPC hosting contracts outperformed the miners that did "
        "not, bitcoin, Nvidia and the hyperscalers?",
        [section],
    )


SOURCE_COLUMN = Column(
    "source_url",
    "Source",
    "source",
    "Where the figures come from",
    lambda r: str(r["source_url"]),
    True,
)


def _with_coverage(column: Column) -> Column:
    """A windowed figure's column: a NULL reads n/a with the window's coverage as tooltip."""
    if column.key not in WINDOW_COVERAGE:
        return column
    return replace(column, missing_note=functools.partial(coverage_note, key=column.key))


PERFORMANCE_COLUMNS = [
    Column(
        "ticker",
        "Ticker",
        "link",
        href=lambda r: miner_page_name(str(r["ticker"])),
    ),
    Column("company_name", "Company", wrap=True, badge=stale_badge, badge_css="stale"),
    Column("is_ai_pivoted", "Pivoted", "bool", "At least one AI/HPC contract counts"),
    Column("return_1m", "1m", "pct", "Return over one month"),
    Column("return_3m", "3m", "pct", "Return over three months"),
    Column("return_ytd", "YTD", "pct", "Return since 31 December"),
    Column("return_1y", "1y", "pct", "Return over one year"),
    Column("excess_return_1y_vs_btc", "1y vs BTC", "pct", "1y return minus BTC-USD's"),
    Column("volatility_1y", "Volatility", "pct_unsigned", "Annualised, one year"),
    Column("max_drawdown_1y", "Max drawdown", "pct", "Deepest fall from a peak, one year"),
    Column("beta_btc_1y", "Beta BTC", "number", "Beta to BTC-USD, one year"),
    Column("corr_btc_1y", "Corr BTC", "number", "Correlation with BTC-USD, one year"),
    Column("beta_nvda_1y", "Beta NVDA", "number", "Beta to NVDA, one year"),
    Column("corr_nvda_1y", "Corr NVDA", "number", "Correlation with NVDA, one year"),
    Column("ai_contract_count", "Contracts", "int", "Counted AI/HPC contracts"),
    Column("contracted_it_mw", "Contracted IT", "mw", "Critical IT MW contracted"),
    Column("contracted_value_usd", "Contract value", "usd", "Initial-term value, USD"),
]
PERFORMANCE_COLUMNS = [_with_coverage(column) for column in PERFORMANCE_COLUMNS]


def miners_footnote(performance: pd.DataFrame) -> str:
    """What the miners table marks, spelled out: the stale miners with their last price, and
    the windows too short for a figure with their coverage ('' when there is nothing)."""
    stale, short = [], []
    for record in performance.to_dict("records"):
        ticker = fmt_text(record.get("ticker"))
        badge = stale_badge(record)
        if badge:
            stale.append(f"{ticker} ({badge.removeprefix('stale: ')})")
        # Each window once per miner, however many of its figures are NULL.
        windows = dict.fromkeys(
            coverage
            for key in WINDOW_COVERAGE
            if (coverage := window_coverage(record, key)) is not None
        )
        if windows:
            short.append(
                f"{ticker} "
                + ", ".join(f"{w.name} {w.days} of {w.weekdays} weekdays" for w in windows)
            )
    parts = []
    if stale:
        parts.append(
            f"Stale (the last price is more than {stale_after_weekdays()} weekdays before the as-of "
            f"date): "
            f"{'; '.join(stale)}."
        )
    if short:
        parts.append(
            f"{NOT_AVAILABLE}: too few prices in the window for a figure (a figure needs "
            f"{coverage_share():.0%} of the window's weekdays): {'; '.join(short)}."
        )
    return " ".join(parts)


def miners_page(env: jinja2.Environment, marts: Marts) -> Page:
    section = Section(
        "performance",
        "Performance and contracts per miner",
        "Click a header to sort, a ticker for the miner's contracts and price history. "
        f"Returns use adjusted closes; {NOT_AVAILABLE} means the window has too few trading "
        "days for a figure (hover it for the coverage), a dash that there is no figure; a "
        "'stale' badge marks a miner whose prices end before the as-of date.",
    )
    if marts.performance.empty:
        section.empty_note = "miner_ai_pivot_performance is empty."
    else:
        section.table = render_table(
            env,
            marts.performance,
            PERFORMANCE_COLUMNS,
            table_id="miners",
            row_attrs=lambda r: (
                [("ticker", str(r["ticker"]))] + ([("stale", "true")] if stale_badge(r) else [])
            ),
        )
        section.footnote = miners_footnote(marts.performance)
    return Page(
        "miners.html",
        "Miners",
        "How has each listed bitcoin miner performed, how risky is it, and how much AI/HPC "
        "capacity has it contracted?",
        [section],
    )


CONTRACT_COLUMNS = [
    Column("announced_on", "Announced", "date"),
    Column("ticker", "Miner", "link", href=lambda r: miner_page_name(str(r["ticker"]))),
    Column("counterparty", "Counterparty", wrap=True),
    Column("it_mw", "IT capacity", "mw"),
    Column("contract_value_usd", "Value", "usd", "Initial-term value, USD"),
    Column("term_years", "Term", "years"),
    Column("site", "Site", wrap=True),
    Column("return_day0", "Day-0 return", "pct"),
    Column("car_m1_p1", "CAR -1..+1", "pct", "Cumulative abnormal return vs the benchmark"),
    Column("car_0_p5", "CAR 0..+5", "pct", "Cumulative abnormal return vs the benchmark"),
    Column("car_0_p20", "CAR 0..+20", "pct", "Cumulative abnormal return vs the benchmark"),
    Column("volume_ratio_day0", "Volume ratio", "number", "Day-0 volume over the 20 days before"),
    Column("is_uncertain", "Uncertain", "bool", "A figure is derived, rounded or single-sourced"),
    SOURCE_COLUMN,
]
CAR_WINDOWS = [
    ("car_m1_p1", "CAR -1..+1", "#9ecae1"),
    ("car_0_p5", "CAR 0..+5", "#3182bd"),
    ("car_0_p20", "CAR 0..+20", "#08306b"),
]


def _contract_label(record: Any, width: int = 34) -> str:
    counterparty = fmt_text(record.counterparty)
    if len(counterparty) > width:
        counterparty = counterparty[: width - 1] + "\u2026"
    return f"{record.ticker} · {counterparty} · {fmt_date(record.announced_on)}"


def contracts_page(env: jinja2.Environment, marts: Marts) -> Page:
    contracts = marts.contracts
    chart = Section(
        "cars",
        "Cumulative abnormal returns per contract",
        "The miner's return minus the benchmark's around the first trading day on or after the "
        "announcement (day 0). Contracts without a trading day after them yet have no bars.",
    )
    table = Section("contracts", "Contracts", "Every AI/HPC hosting contract, with its source.")
    if contracts.empty:
        chart.empty_note = table.empty_note = "fct_contract_announcement_returns is empty."
    else:
        measured = contracts.dropna(subset=["event_date"])
        if measured.empty:
            chart.empty_note = "no contract has a trading day on or after its announcement yet."
        else:
            labels = [_contract_label(r) for r in measured.itertuples()]
            customdata = [[str(c)] for c in measured["counterparty"]]
            figure = new_figure()
            for key, label, color in CAR_WINDOWS:
                values = measured[key].astype("float64")
                # Horizontal bars: one row per contract, its label readable at any count.
                figure.add_trace(
                    go.Bar(
                        y=labels,
                        x=[None if math.isnan(v) else v for v in values],
                        orientation="h",
                        name=label,
                        marker_color=color,
                        customdata=customdata,
                        text=[fmt_pct(v) for v in values],
                        textposition="none",
                        hovertemplate="%{y}<br>" + label + ": %{text}<extra></extra>",
                    )
                )
            figure.update_xaxes(tickformat="+.0%", title_text="Cumulative abnormal return")
            figure.update_yaxes(autorange="reversed", automargin=True)
            figure.update_layout(
                barmode="group",
                height=max(320, 120 + 36 * len(measured)),
                legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
                margin={"t": 40},
            )
            chart.chart = chart_html(figure, "chart-cars")
        counterparties = sorted(contracts["counterparty"].dropna().astype(str).unique())
        chart.controls = Markup(
            env.from_string(
                '<p class="controls"><label>Counterparty: <select id="counterparty-filter" '
                'data-filter-table="contracts-table" data-filter-chart="chart-cars" '
                'data-filter-attr="counterparty"><option value="">All ({{ n }})</option>'
                "{% for c in counterparties %}<option>{{ c }}</option>{% endfor %}"
                "</select></label> filters the chart and the table.</p>"
            ).render(counterparties=counterparties, n=len(contracts))
        )
        benchmark = contracts["benchmark_ticker"].dropna().unique()
        if len(benchmark):
            chart.footnote = f"Benchmark of the abnormal returns: {', '.join(benchmark)}."
        table.table = render_table(
            env,
            contracts,
            CONTRACT_COLUMNS,
            table_id="contracts-table",
            row_attrs=lambda r: [("counterparty", fmt_text(r["counterparty"]))],
        )
    return Page(
        "contracts.html",
        "Contracts",
        "How did each miner's stock react when it announced an AI/HPC hosting contract?",
        [chart, table],
    )


def capex_page(env: jinja2.Environment, marts: Marts) -> Page:
    capex, guidance, versus = marts.capex, marts.guidance, marts.capex_returns
    quarterly = Section(
        "quarterly",
        "Capex per quarter",
        "Each hyperscaler's capex by calendar quarter, as the company defines it.",
    )
    if capex.empty:
        quarterly.empty_note = "hyperscaler_capex_quarterly is empty."
    else:
        coverage = capex_quarter_coverage(capex)
        figure = new_figure()
        for i, (ticker, rows) in enumerate(capex.groupby("ticker", sort=True)):
            covered = [coverage[as_date(q)] for q in rows["calendar_quarter_end"]]
            figure.add_trace(
                go.Bar(
                    x=[quarter_label(c.quarter_end) for c in covered],
                    y=(rows["capex_usd"] / 1e9).tolist(),
                    name=str(ticker),
                    marker={
                        "color": HYPERSCALER_COLORS[i % len(HYPERSCALER_COLORS)],
                        **partial_bar_style([c.is_partial for c in covered]),
                    },
                    customdata=[[c.label] for c in covered],
                    hovertemplate="%{customdata[0]}: $%{y:.1f}B<extra>" + str(ticker) + "</extra>",
                )
            )
        totals = capex.groupby("calendar_quarter_end")["capex_usd"].sum()
        for quarter_end, total in totals.items():
            quarter = coverage[as_date(quarter_end)]
            if quarter.is_partial:
                figure.add_annotation(
                    x=quarter_label(quarter.quarter_end),
                    y=total / 1e9,
                    text=f"partial: {quarter.reported} of {quarter.expected}<br>reported",
                    showarrow=False,
                    yanchor="bottom",
                    font={"size": 11, "color": PARTIAL_COLOR},
                )
        figure.update_layout(barmode="stack", height=420)
        figure.update_yaxes(title_text="Capex, $B", tickprefix="$", ticksuffix="B")
        figure.update_xaxes(
            title_text="Calendar quarter",
            type="category",
            categoryorder="category ascending",
            **quarter_ticks(coverage.values()),
        )
        quarterly.chart = chart_html(figure, "chart-capex")
        partial = [c.label for c in coverage.values() if c.is_partial]
        if partial:
            quarterly.footnote = (
                f"Hatched bars: {'; '.join(partial)}. Not every hyperscaler has reported "
                "these quarters yet (a company is expected from its first reported quarter "
                "on), so their totals are not comparable with the full quarters."
            )
        quarterly.collapsed = f"Every figure ({len(capex)} rows, with its source)"
        quarterly.table = render_table(
            env,
            capex.sort_values(["calendar_quarter_end", "ticker"], ascending=[False, True]),
            [
                Column("calendar_quarter_end", "Quarter end", "date"),
                Column("ticker", "Company"),
                Column("fiscal_year", "FY", "text"),
                Column("fiscal_quarter", "FQ", "text"),
                Column("capex_usd", "Capex", "usd"),
                Column("capex_yoy_growth", "YoY", "pct"),
                Column("total_capex_usd", "All hyperscalers", "usd"),
                Column("total_capex_yoy_growth", "Total YoY", "pct"),
                Column("is_uncertain", "Uncertain", "bool"),
                SOURCE_COLUMN,
            ],
            table_id="capex-table",
        )
    guided = Section(
        "guidance",
        "Capex guidance",
        "Each guidance update: the range, its midpoint, the change from the previous one and "
        "the surprise against consensus where reported.",
    )
    if guidance.empty:
        guided.empty_note = "hyperscaler_capex_guidance is empty."
    else:
        guided.table = render_table(
            env,
            guidance,
            [
                Column("announced_on", "Announced", "date"),
                Column("ticker", "Company"),
                Column("guided_period", "Period"),
                Column("low_usd", "Low", "usd"),
                Column("high_usd", "High", "usd"),
                Column("midpoint_usd", "Midpoint", "usd"),
                Column("midpoint_change_usd", "Change", "usd"),
                Column("consensus_usd", "Consensus", "usd"),
                Column("surprise_vs_consensus_pct", "Surprise", "pct"),
                Column("notes", "Notes", wrap=True),
                SOURCE_COLUMN,
            ],
            table_id="guidance-table",
        )
    beside = Section(
        "capex-vs-returns",
        "Capex beside each basket's quarterly return",
        "Total hyperscaler capex (bars, right axis) and each basket's return over the same "
        "calendar quarter (lines). A quarter that ends after the as-of date has returns to "
        "that date only; a hatched bar is a quarter not every hyperscaler has reported yet.",
    )
    if versus.empty:
        beside.empty_note = "capex_vs_miner_returns is empty."
    else:
        quarters = [quarter_label(q) for q in versus["calendar_quarter_end"]]
        coverage = capex_quarter_coverage(capex)
        covered = [coverage.get(as_date(q)) for q in versus["calendar_quarter_end"]]
        figure = new_figure()
        figure.add_trace(
            go.Bar(
                x=quarters,
                y=(versus["total_capex_usd"] / 1e9).tolist(),
                name="Hyperscaler capex ($B, right axis)",
                marker={
                    "color": "#dfe6ee",
                    **partial_bar_style([c is not None and c.is_partial for c in covered]),
                },
                customdata=[[c.label if c else q] for c, q in zip(covered, quarters, strict=True)],
                hovertemplate="%{customdata[0]}: $%{y:.1f}B<extra>capex</extra>",
            )
        )
        for basket in ["pivoted_miners", "other_miners", "hyperscalers", "nvda", "btc"]:
            column = f"{basket}_return"
            if column not in versus:
                continue
            style = BASKET_STYLES[basket]
            values = versus[column].astype("float64")
            figure.add_trace(
                go.Scatter(
                    x=quarters,
                    y=[None if math.isnan(v) else v for v in values],
                    name=style["label"],
                    mode="lines+markers",
                    line={"color": style["color"]},
                    yaxis="y2",
                    hovertemplate="%{x}: %{y:+.1%}<extra>" + style["label"] + "</extra>",
                )
            )
        # The capex bars sit on the first axis so that the return lines (second axis, drawn
        # on top) are never hidden behind them; the returns axis goes on the left.
        figure.update_layout(
            height=460,
            xaxis={
                "type": "category",
                "categoryorder": "category ascending",
                **quarter_ticks(c for c in covered if c is not None),
            },
            yaxis={
                "title": {"text": "Capex, $B"},
                "side": "right",
                "showgrid": False,
                "tickprefix": "$",
                "ticksuffix": "B",
            },
            yaxis2={
                "title": {"text": "Quarterly return"},
                "overlaying": "y",
                "side": "left",
                "tickformat": "+.0%",
                "zeroline": True,
                "zerolinecolor": "#888",
            },
        )
        beside.chart = chart_html(figure, "chart-capex-returns")
        beside.table = render_table(
            env,
            versus.sort_values("calendar_quarter_end", ascending=False),
            [
                Column("calendar_quarter_end", "Quarter end", "date"),
                Column("total_capex_usd", "Capex", "usd"),
                Column("total_capex_yoy_growth", "Capex YoY", "pct"),
                Column("companies_in_total", "Companies", "int", "Hyperscalers in the total"),
                Column("pivoted_miners_return", "Pivoted miners", "pct"),
                Column("other_miners_return", "Other miners", "pct"),
                Column("hyperscalers_return", "Hyperscalers", "pct"),
                Column("nvda_return", "NVDA", "pct"),
                Column("btc_return", "BTC", "pct"),
                Column(
                    "is_partial_quarter",
                    "Returns to date",
                    "bool",
                    "The quarter ends after the as-of date: its returns run to that date only",
                ),
            ],
            table_id="capex-returns-table",
        )
    return Page(
        "capex.html",
        "Capex",
        "How fast is hyperscaler capex growing, what do they guide, and do miners' returns move "
        "with it?",
        [quarterly, guided, beside],
    )


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """One line per publish from _published_runs' JSON columns: rows published, checks passed,
    and the names of the (non-blocking) checks that did not pass."""
    summary = runs.copy()
    row_counts = [json.loads(r) if isinstance(r, str) else {} for r in runs["row_counts"]]
    checks = [json.loads(c) if isinstance(c, str) else {} for c in runs["check_summary"]]
    summary["rows_published"] = [sum(int(n) for n in counts.values()) for counts in row_counts]
    summary["marts_published"] = [len(counts) for counts in row_counts]
    summary["checks_passed"] = [sum(1 for ok in c.values() if ok) for c in checks]
    summary["checks_failed"] = [sum(1 for ok in c.values() if not ok) for c in checks]
    summary["failed_checks"] = [
        ", ".join(sorted(k for k, ok in c.items() if not ok)) for c in checks
    ]
    return summary


def quality_page(env: jinja2.Environment, marts: Marts) -> Page:
    runs = Section(
        "runs",
        "Published runs",
        f"The last {PUBLISHED_RUNS_SHOWN} publishes (newest first): each happened only after "
        "every blocking check of its run passed.",
    )
    if marts.runs.empty:
        runs.empty_note = "_published_runs is empty."
    else:
        runs.table = render_table(
            env,
            summarise_runs(marts.runs),
            [
                Column("published_at", "Published", "timestamp"),
                Column("run_id", "Run"),
                Column("price_sources", "Price sources"),
                Column("marts_published", "Marts", "int"),
                Column("rows_published", "Rows", "int"),
                Column("checks_passed", "Checks passed", "int"),
                Column("checks_failed", "Not passed", "int", "Warnings: they do not block"),
                Column("failed_checks", "Checks not passed (non-blocking)", wrap=True),
            ],
            table_id="runs-table",
        )
    quarantine = Section(
        "quarantine",
        f"Quarantined price rows: {marts.quarantined_count:,}",
        "Rows of non-curated tickers the quality gate kept out of the marts, and the rule each "
        f"broke (at most {QUARANTINE_ROWS_SHOWN} shown, newest first).",
    )
    if marts.quarantined.empty:
        quarantine.empty_note = "no price row was quarantined."
    else:
        quarantine.table = render_table(
            env,
            marts.quarantined,
            [
                Column("ticker", "Ticker"),
                Column("date", "Date", "date"),
                Column("close", "Close", "number"),
                Column("broken_rules", "Broken rules"),
                Column("quarantined_at", "Quarantined at", "timestamp"),
                Column("run_id", "Run"),
            ],
            table_id="quarantine-table",
        )
    return Page(
        "quality.html",
        "Data quality",
        "Which publishes produced these numbers, from which price sources, and which price "
        "rows were kept out?",
        [runs, quarantine],
    )


def miner_pages(env: jinja2.Environment, marts: Marts) -> list[Page]:
    pages = []
    for record in marts.performance.itertuples():
        ticker = str(record.ticker)
        contracts = (
            marts.contracts[marts.contracts["ticker"] == ticker]
            if not marts.contracts.empty
            else marts.contracts
        )
        summary = Section(
            "summary",
            "",
            f"{fmt_text(record.company_name)}: 1y return {fmt_pct(record.return_1y)}, "
            f"YTD {fmt_pct(record.return_ytd)}, volatility {fmt_pct(record.volatility_1y, signed=False)}, "
            f"{fmt_int(record.ai_contract_count)} counted contract(s) for "
            f"{fmt_mw(record.contracted_it_mw)} and {fmt_usd(record.contracted_value_usd)}, "
            f"as of {fmt_date(record.as_of_date)}.",
        )
        if stale_badge(record._asdict()):
            summary.footnote = (
                f"Stale: {ticker}'s last price is "
                f"{fmt_date(getattr(record, 'last_price_date', None))}, more than "
                f"{stale_after_weekdays()} weekdays before the as-of date; its figures rest on "
                "old prices."
            )
        deals = Section("contracts", "Contracts", "Every AI/HPC hosting contract of this miner.")
        if contracts.empty:
            deals.empty_note = (
                f"{ticker} had announced no AI/HPC hosting contract by the as-of date."
            )
        else:
            deals.table = render_table(
                env,
                contracts,
                [c for c in CONTRACT_COLUMNS if c.key != "ticker"],
                table_id="miner-contracts",
                row_attrs=lambda r: [("contract", str(r["contract_id"]))],
            )
        history = Section(
            "prices",
            "Price history",
            "Adjusted close (log scale); purple lines mark contract announcements.",
        )
        prices = (
            marts.prices[marts.prices["ticker"] == ticker]
            if not marts.prices.empty
            else marts.prices
        )
        if prices.empty:
            history.empty_note = f"no published prices for {ticker}."
        else:
            figure = new_figure(
                go.Scatter(
                    x=prices["date"].astype(str).tolist(),
                    y=prices["adj_close"].tolist(),
                    mode="lines",
                    name=ticker,
                    line={"color": BASKET_STYLES["hyperscalers"]["color"], "width": 1.6},
                    hovertemplate="%{x}: $%{y:,.2f}<extra></extra>",
                )
            )
            for deal in contracts.dropna(subset=["event_date"]).itertuples():
                figure.add_vline(
                    x=fmt_date(deal.event_date), line_dash="dot", line_color=ANNOUNCEMENT_COLOR
                )
                figure.add_annotation(
                    x=fmt_date(deal.event_date),
                    y=1,
                    yref="paper",
                    text=str(deal.counterparty),
                    showarrow=False,
                    textangle=-90,
                    xanchor="right",
                    yanchor="top",
                    font={"color": ANNOUNCEMENT_COLOR, "size": 11},
                )
            ticks = log_ticks(float(prices["adj_close"].min()), float(prices["adj_close"].max()))
            figure.update_yaxes(
                type="log",
                title_text="Adjusted close, USD (log)",
                tickvals=ticks,
                ticktext=[f"${t:,.2f}".rstrip("0").rstrip(".") for t in ticks],
            )
            figure.update_layout(height=420, showlegend=False)
            history.chart = chart_html(figure, "chart-prices")
        pages.append(
            Page(
                miner_page_name(ticker),
                f"{ticker}: {fmt_text(record.company_name)}",
                f"What has {ticker} contracted for AI/HPC hosting, and how has its stock done?",
                [summary, deals, history],
                nav_href="miners.html",
            )
        )
    return pages


# --- the build -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardReport:
    out_dir: Path
    index: Path
    pages: tuple[str, ...]
    as_of: str
    price_source: str
    is_demo: bool
    seconds: float


def template_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SITE_FILES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_site(marts: Marts, facts: SiteFacts, folder: Path) -> list[str]:
    """Write every page, the stylesheet, the script and plotly.js into ``folder``."""
    env = template_environment()
    pages = [
        overview_page(env, marts),
        miners_page(env, marts),
        contracts_page(env, marts),
        capex_page(env, marts),
        quality_page(env, marts),
        *miner_pages(env, marts),
    ]
    template = env.get_template("page.html")
    for page in pages:
        page.nav_href = page.nav_href or page.filename
        (folder / page.filename).write_text(template.render(page=page, site=facts))
    for name in ("dashboard.css", "dashboard.js"):
        shutil.copyfile(SITE_FILES / name, folder / name)
    (folder / PLOTLY_JS).write_text(get_plotlyjs())
    return [page.filename for page in pages]


def build_dashboard(
    published_duckdb: Path, out_dir: Path, *, now: datetime | None = None
) -> DashboardReport:
    """Build the dashboard from the published marts file into ``out_dir`` atomically.

    ``out_dir`` is a symlink to the current build (``.<name>.builds/<stamp>`` beside it): the
    pages are written into a new build folder, then the symlink is swapped in one rename, so a
    browser (or ``make dashboard-dev``) never sees half a dashboard. Older builds beyond
    ``BUILDS_KEPT`` are removed. Raises NothingPublishedError when there is no published file.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    marts = read_marts(published_duckdb)
    facts = site_facts(marts, published_duckdb, now)
    builds = out_dir.with_name(f".{out_dir.name}.builds")
    builds.mkdir(parents=True, exist_ok=True)
    folder = builds / f"{now.strftime('%Y%m%dT%H%M%S%f')}-{os.getpid()}"
    folder.mkdir()
    try:
        pages = render_site(marts, facts, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if out_dir.is_dir() and not out_dir.is_symlink():
        shutil.rmtree(out_dir)  # a plain folder left by hand: the symlink takes its place
    replace_symlink(out_dir, folder)
    current = out_dir.resolve()
    old = sorted(p for p in builds.iterdir() if p.is_dir() and p.resolve() != current)
    for stale in old[: max(0, len(old) - (BUILDS_KEPT - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return DashboardReport(
        out_dir=out_dir,
        index=out_dir / "index.html",
        pages=tuple(pages),
        as_of=facts.as_of,
        price_source=facts.price_source,
        is_demo=facts.is_demo,
        seconds=time.perf_counter() - started,
    )


# --- the Dagster asset -----------------------------------------------------------------------


@dg.asset(
    group_name="publish",
    kinds={"html", "plotly"},
    deps=[dg.AssetKey("published_marts")],
    description=(
        "The static dashboard (Plotly + Jinja2, works offline and from file://) built from "
        "`<data dir>/published/marts.duckdb` into `<data dir>/dashboard/index.html` after each "
        "publish."
    ),
)
def dashboard(context) -> dg.MaterializeResult:
    # No annotation on context: under `from __future__ import annotations` it is a string,
    # which Dagster's context type check rejects.
    hold_run_lock(context)
    paths = data_paths()
    report = build_dashboard(paths.published.duckdb, paths.dashboard)
    context.log.info(f"dashboard: {report.index} ({len(report.pages)} pages)")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.index)),
            "pages": dg.MetadataValue.int(len(report.pages)),
            "as_of": dg.MetadataValue.text(report.as_of),
            "price_source": dg.MetadataValue.text(report.price_source),
            "demo_data": dg.MetadataValue.bool(report.is_demo),
            "build_seconds": dg.MetadataValue.float(round(report.seconds, 2)),
        }
    )


# --- make dashboard / make dashboard-dev -----------------------------------------------------


def how_to_open(report: DashboardReport, port: int) -> str:
    return (
        f"dashboard: {len(report.pages)} pages, as of {report.as_of}, prices: "
        f"{report.price_source} ({report.seconds:.1f} s)\n"
        f"  open   file://{report.index}\n"
        f"  or     python -m http.server {port} --bind 127.0.0.1 --directory {report.out_dir}"
        f"  ->  http://127.0.0.1:{port}/"
    )


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def serve(
    published_duckdb: Path,
    out_dir: Path,
    port: int,
    *,
    poll_seconds: float = 2.0,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> None:
    """Serve ``out_dir`` on 127.0.0.1 and rebuild whenever the published file changes
    (polling its modification time: a publish renames a new file over it)."""
    stop = stop or threading.Event()
    log = log or functools.partial(print, flush=True)  # flushed: make's output is often piped
    seen = _mtime(published_duckdb)
    log(how_to_open(build_dashboard(published_duckdb, out_dir), port))
    # The handler resolves out_dir (the symlink) on every request, so it follows each swap.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    log(
        f"serving http://127.0.0.1:{port}/ ; rebuilding when {published_duckdb} changes (Ctrl-C stops)"
    )
    try:
        while not stop.wait(poll_seconds):
            current = _mtime(published_duckdb)
            if current is not None and current != seen:
                seen = current
                try:
                    report = build_dashboard(published_duckdb, out_dir)
                    log(f"rebuilt: as of {report.as_of} ({report.seconds:.1f} s)")
                except Exception as error:  # keep serving the last good build
                    log(f"rebuild failed, still serving the previous build: {error}")
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.report.dashboard",
        description="Build (or serve, rebuilding on each publish) the static dashboard.",
    )
    parser.add_argument("command", choices=["build", "serve"])
    parser.add_argument("--data-dir", default=None, help="default: $HASHPIVOT_DATA_DIR or ./data")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(list(argv) if argv is not None else None)
    paths = data_paths(args.data_dir)
    try:
        if args.command == "build":
            print(how_to_open(build_dashboard(paths.published.duckdb, paths.dashboard), args.port))
        else:
            serve(paths.published.duckdb, paths.dashboard, args.port)
    except NothingPublishedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
