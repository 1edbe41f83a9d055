"""Series that stop before the as-of date, on the whole pipeline: one shared `hashpivot run`.

The exports (generated, every curated ticker but GLXY, weekdays without holidays) run to Monday
2026-08-03, and the run asks for Saturday 2026-08-01, so every window ends on a weekend. Then:

* BTC-USD stops on Saturday 2025-11-29 (a feed that broke eight months earlier);
* HIVE stops on Friday 2026-05-15 (delisted);
* RIOT, MARA and CLSK lack the first weekdays of the one-year window (2025-08-01, 2026-08-01],
  which holds 260 weekdays (52 whole weeks), so 0.8 x 260 = 208 are needed: RIOT has 207 (one
  short), MARA 208 (exactly the threshold), CLSK 209 (one over).

Every expected value below comes from the files this module wrote (plain Python and the
statistics module), not from the product or the pandas reference; the mart is then compared
with the reference as a whole too.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.extract.universe import load_companies
from orchestration.paths import COMPANIES_SEED
from tests.marts import reference as ref
from tests.marts.compare import compare_frames, describe_differences
from tests.pipeline import run_hashpivot

pytestmark = pytest.mark.slow

FIRST_DAY, LAST_DAY = date(2024, 6, 3), date(2026, 8, 3)
AS_OF = date(2026, 8, 1)  # a Saturday
YEAR_AGO = date(2025, 8, 1)  # the one-year window is (YEAR_AGO, AS_OF]
BTC_LAST, HIVE_LAST = date(2025, 11, 29), date(2026, 5, 15)
# The miner's trading days in the one-year window (260 weekdays, none a holiday here).
DAYS_IN_YEAR = {"RIOT": 207, "MARA": 208, "CLSK": 209}
WINDOW_WEEKDAYS_1Y = 260
BTC_FIGURES = ("beta_btc_1y", "corr_btc_1y", "excess_return_1y_vs_btc")
ONE_YEAR_FIGURES = ("return_1y", "volatility_1y", "max_drawdown_1y", "beta_nvda_1y", "corr_nvda_1y")


@dataclass(frozen=True)
class CoverageRun:
    exports: Path
    closes: dict[str, dict[date, float]]  # ticker -> date -> close, as written
    miners: pd.DataFrame  # marts.miner_ai_pivot_performance
    stale: pd.DataFrame  # marts.stale_series
    published: Path
    stdout: str


def write_exports(folder: Path) -> dict[str, dict[date, float]]:
    folder.mkdir(parents=True)
    tickers = [c.ticker for c in load_companies(COMPANIES_SEED) if c.ticker != "GLXY"]
    prices = generate_demo_prices(tickers, FIRST_DAY, LAST_DAY)
    closes: dict[str, dict[date, float]] = {}
    for ticker, rows in prices.groupby("ticker"):
        days = [d.date() for d in rows["date"]]
        series = dict(zip(days, rows["close"], strict=True))
        if ticker == "BTC-USD":
            series = {d: c for d, c in series.items() if d <= BTC_LAST}
        elif ticker == "HIVE":
            series = {d: c for d, c in series.items() if d <= HIVE_LAST}
        elif ticker in DAYS_IN_YEAR:
            in_year = sorted(d for d in series if YEAR_AGO < d <= AS_OF)
            assert len(in_year) == WINDOW_WEEKDAYS_1Y
            missing = set(in_year[: WINDOW_WEEKDAYS_1Y - DAYS_IN_YEAR[ticker]])
            series = {d: c for d, c in series.items() if d not in missing}
        closes[str(ticker)] = series
        lines = ["Date,Close", *(f"{d.isoformat()},{c!r}" for d, c in sorted(series.items()))]
        (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
    return closes


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> CoverageRun:
    root = tmp_path_factory.mktemp("window_coverage")
    closes = write_exports(root / "exports")
    result = run_hashpivot(
        root / "data", "--source", "csv", "--csv-dir", str(root / "exports"),
        "--as-of", AS_OF.isoformat(),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    warehouse = root / "data" / "warehouse" / "hashpivot.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        miners = connection.execute("select * from marts.miner_ai_pivot_performance").df()
        stale = connection.execute("select * from marts.stale_series order by ticker").df()
    return CoverageRun(
        root / "exports", closes, miners, stale, root / "data" / "published", result.stdout
    )


def row(frame: pd.DataFrame, ticker: str) -> pd.Series:
    (index,) = frame.index[frame["ticker"] == ticker]
    return frame.loc[index]


def close_on_or_before(closes: dict[date, float], day: date) -> float:
    return closes[max(d for d in closes if d <= day)]


def weekdays_in(start: date, end: date) -> int:
    """Weekdays d with start < d <= end, counted day by day."""
    days = (start + timedelta(days=n) for n in range(1, (end - start).days + 1))
    return sum(1 for d in days if d.weekday() < 5)


def test_a_weekend_as_of_is_every_rows_date_and_makes_no_series_stale(run: CoverageRun) -> None:
    miners = run.miners
    assert (pd.to_datetime(miners["as_of_date"]) == pd.Timestamp(AS_OF)).all()
    fresh = miners[~miners["ticker"].isin(["HIVE", "GLXY"])]
    # Friday's close, one day before a Saturday as-of: not stale.
    assert (pd.to_datetime(fresh["last_price_date"]) == pd.Timestamp("2026-07-31")).all()
    assert not fresh["is_stale"].astype(bool).any()
    assert set(run.stale["ticker"]) == {"BTC-USD", "HIVE"}
    # The window sizes, counted day by day.
    glxy = row(miners, "GLXY")  # no file: no price, nothing to be stale
    assert pd.isna(glxy["last_price_date"])
    assert pd.isna(glxy["is_stale"])
    assert glxy["days_1y"] == 0
    expected = {
        "window_days_1m": weekdays_in(date(2026, 7, 1), AS_OF),
        "window_days_3m": weekdays_in(date(2026, 5, 1), AS_OF),
        "window_days_ytd": weekdays_in(date(2025, 12, 31), AS_OF),
        "window_days_1y": weekdays_in(YEAR_AGO, AS_OF),
    }
    assert expected["window_days_1y"] == WINDOW_WEEKDAYS_1Y
    for column, value in expected.items():
        assert (miners[column] == value).all(), column


def test_a_stale_benchmark_nulls_its_figures_and_is_named(run: CoverageRun) -> None:
    iren = row(run.miners, "IREN")
    iren_closes = run.closes["IREN"]
    # IREN itself is whole: its own figures are there.
    assert iren["days_1y"] == WINDOW_WEEKDAYS_1Y
    assert iren["return_1y"] == pytest.approx(
        iren_closes[date(2026, 7, 31)] / close_on_or_before(iren_closes, YEAR_AGO) - 1, rel=1e-12
    )
    # BTC has a price on IREN's days up to 2025-11-28 only: far below 208.
    btc_days = sum(1 for d in iren_closes if YEAR_AGO < d <= BTC_LAST)
    assert iren["btc_days_1y"] == btc_days < 0.8 * WINDOW_WEEKDAYS_1Y
    for column in BTC_FIGURES:
        assert pd.isna(iren[column]), column
    # NVDA is whole: its beta is IREN's returns against NVDA's over the same days.
    nvda = run.closes["NVDA"]
    days = sorted(iren_closes)
    pairs = [
        (iren_closes[d] / iren_closes[p] - 1, nvda[d] / nvda[p] - 1)
        for p, d in itertools.pairwise(days)
        if YEAR_AGO < d <= AS_OF
    ]
    y, x = zip(*pairs, strict=True)
    assert iren["nvda_days_1y"] == WINDOW_WEEKDAYS_1Y
    assert iren["beta_nvda_1y"] == pytest.approx(
        statistics.covariance(y, x) / statistics.variance(x), rel=1e-9
    )
    assert iren["volatility_1y"] == pytest.approx(statistics.stdev(y) * math.sqrt(252), rel=1e-9)

    btc = row(run.stale, "BTC-USD")
    assert btc["message"] == "BTC-USD: last price 2025-11-29, 245 days before the as-of 2026-08-01"
    assert (btc["days_behind"], btc["weekdays_behind"]) == (245, weekdays_in(BTC_LAST, AS_OF))


def test_a_delisted_stock_is_stale_and_its_windows_null(run: CoverageRun) -> None:
    hive = row(run.miners, "HIVE")
    assert bool(hive["is_stale"])
    assert pd.Timestamp(hive["last_price_date"]) == pd.Timestamp(HIVE_LAST)
    assert hive["close"] == pytest.approx(run.closes["HIVE"][HIVE_LAST])
    assert hive["days_1m"] == 0
    assert hive["days_1y"] == weekdays_in(YEAR_AGO, HIVE_LAST)
    for column in (
        "return_1m", "return_3m", "return_1y", "return_since_first_contract", *ONE_YEAR_FIGURES
    ):  # fmt: skip
        assert pd.isna(hive[column]), column
    message = row(run.stale, "HIVE")["message"]
    assert message == "HIVE: last price 2026-05-15, 78 days before the as-of 2026-08-01"
    # Its neighbours are measured over the whole window, as of the same date.
    assert not pd.isna(row(run.miners, "IREN")["return_3m"])


def test_one_day_short_of_the_coverage_threshold_is_null_at_it_is_not(run: CoverageRun) -> None:
    for ticker, days in DAYS_IN_YEAR.items():
        miner = row(run.miners, ticker)
        assert miner["days_1y"] == days, ticker
        closes = run.closes[ticker]
        if days < 208:
            for column in ONE_YEAR_FIGURES:
                assert pd.isna(miner[column]), (ticker, column)
        else:
            expected = closes[date(2026, 7, 31)] / close_on_or_before(closes, YEAR_AGO) - 1
            assert miner["return_1y"] == pytest.approx(expected, rel=1e-12), ticker
            for column in ONE_YEAR_FIGURES:
                assert not pd.isna(miner[column]), (ticker, column)
        # The shorter windows are whole.
        assert not pd.isna(miner["return_3m"]), ticker


def test_the_run_summary_warns_with_each_stale_series(run: CoverageRun) -> None:
    (line,) = [line for line in run.stdout.splitlines() if "no_stale_series" in line]
    assert line == (
        "  warning marts/stale_series:no_stale_series: "
        "BTC-USD: last price 2025-11-29, 245 days before the as-of 2026-08-01; "
        "HIVE: last price 2026-05-15, 78 days before the as-of 2026-08-01"
    )
    assert "published: yes" in run.stdout


def test_no_published_numeric_column_holds_nan(run: CoverageRun) -> None:
    with duckdb.connect(str(run.published / "marts.duckdb"), read_only=True) as published:
        columns = published.execute(
            "select table_name, column_name from information_schema.columns "
            "where data_type in ('DOUBLE', 'FLOAT', 'REAL') and table_name not like '\\_%' escape '\\'"
        ).fetchall()
        assert ("miner_ai_pivot_performance", "corr_btc_1y") in columns
        nan_counts = {
            (table, column): published.execute(
                f'select count(*) from "{table}" where isnan("{column}")'
            ).fetchone()[0]
            for table, column in columns
        }
    assert {key: count for key, count in nan_counts.items() if count} == {}


def test_the_marts_match_the_reference(run: CoverageRun) -> None:
    prices = ref.load_sample_prices(run.exports)
    companies, contracts = ref.load_companies(), ref.load_contracts()
    expected = ref.miner_performance(prices, companies, contracts, AS_OF.isoformat())
    differences = compare_frames(expected, run.miners, ["ticker"])
    assert differences.empty, describe_differences("miner_ai_pivot_performance", differences)
    expected = ref.stale_series(prices, companies, AS_OF.isoformat())
    differences = compare_frames(expected, run.stale, ["ticker"])
    assert differences.empty, describe_differences("stale_series", differences)
