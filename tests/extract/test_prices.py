"""extract_prices end to end: source choice, windows, landing, idempotency and failures."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from orchestration.extract.landed import landed_files, read_watermarks
from orchestration.extract.prices import (
    ExtractionError,
    ExtractionOptions,
    extract_prices,
    fetch_windows,
    resolve_source,
)
from orchestration.extract.retractions import retraction_files
from orchestration.extract.sources import csv_folder
from orchestration.extract.ticker_changes import (
    current_symbols,
    load_ticker_changes,
    ticker_changes_path,
)
from orchestration.paths import DataPaths
from tests.landing_files import read_latest_landed, write_landing_file

RUN_AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
YF_FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]


def unreachable() -> bool:
    return False


def must_not_be_asked() -> bool:
    raise AssertionError("reachability is only asked in auto mode")


def yfinance_frame(closes: dict[str, list[float]], dates: list[str]) -> pd.DataFrame:
    """A frame in yfinance 1.7's exact download() shape: MultiIndex (Price, Ticker) columns."""
    tickers = sorted(closes)
    columns = pd.MultiIndex.from_product([YF_FIELDS, tickers], names=["Price", "Ticker"])
    frame = pd.DataFrame(
        index=pd.DatetimeIndex(pd.to_datetime(dates), name="Date"), columns=columns
    )
    for ticker, values in closes.items():
        for field in ("Adj Close", "Close", "High", "Low", "Open"):
            frame[(field, ticker)] = [float(v) for v in values]
        frame[("Volume", ticker)] = [1000.0] * len(values)
    return frame.astype("float64")


def run(options: ExtractionOptions, tmp_path: Path, seed: Path, run_id: str = "r1", **kwargs):
    return extract_prices(
        options,
        paths=DataPaths(tmp_path),
        companies_seed=seed,
        run_id=run_id,
        fetched_at=kwargs.pop("fetched_at", RUN_AT),
        **{"is_reachable": unreachable, **kwargs},
    )


def test_auto_falls_back_to_labelled_demo_when_yahoo_is_unreachable(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    options = ExtractionOptions(source="auto", end=date(2025, 1, 31))
    report = run(options, tmp_path, small_companies_seed)
    assert report.source == "demo"
    assert any("unreachable" in w and "DEMO" in w for w in report.warnings)
    assert report.source_by_ticker == {"IREN": "demo", "BTC-USD": "demo", "QQQ": "demo"}
    landed = pd.read_parquet(landed_files(DataPaths(tmp_path).landing_prices)[0])
    assert set(landed["price_source"]) == {"demo"}
    assert landed["date"].min() == date(2020, 1, 1)  # BTC-USD trades on New Year's Day


def test_auto_prefers_the_csv_dir_over_demo_when_offline() -> None:
    options = ExtractionOptions(source="auto", csv_dir=Path("/somewhere"))
    assert resolve_source(options, unreachable)[0] == "csv"
    assert resolve_source(options, lambda: True) == ("yfinance", [])


def test_explicit_source_never_probes_reachability() -> None:
    assert resolve_source(ExtractionOptions(source="demo"), must_not_be_asked) == ("demo", [])


def test_a_rerun_with_no_new_data_lands_nothing(tmp_path: Path, small_companies_seed: Path) -> None:
    options = ExtractionOptions(source="demo", end=date(2025, 1, 31))
    first = run(options, tmp_path, small_companies_seed, run_id="r1")
    later = RUN_AT + timedelta(hours=1)
    second = run(options, tmp_path, small_companies_seed, run_id="r2", fetched_at=later)
    assert first.rows_landed > 0
    assert second.rows_fetched > 0  # the re-fetch window was fetched again...
    assert second.rows_landed == 0  # ...and nothing in it was new
    assert len(landed_files(DataPaths(tmp_path).landing_prices)) == 1


def test_an_incremental_run_lands_only_the_new_days(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    run(ExtractionOptions(source="demo", end=date(2025, 1, 31)), tmp_path, small_companies_seed)
    report = run(
        ExtractionOptions(source="demo", end=date(2025, 2, 4)),
        tmp_path,
        small_companies_seed,
        run_id="r2",
        fetched_at=RUN_AT + timedelta(days=1),
    )
    # Feb 1-4 2025: Sat..Tue, so 2 weekdays for the equities and 4 days for bitcoin.
    assert report.rows_landed_by_ticker == {"BTC-USD": 4, "IREN": 2, "QQQ": 2}
    assert read_watermarks(DataPaths(tmp_path).landing_prices, demo=True)["IREN"] == date(
        2025, 2, 4
    )


def test_windows_refetch_before_the_watermark_and_backfill_ignores_it() -> None:
    watermarks = {"IREN": date(2025, 3, 10)}
    options = ExtractionOptions(start=date(2024, 1, 1), refetch_days=7)
    assert fetch_windows(["IREN", "NEW"], watermarks, options) == {
        "IREN": date(2025, 3, 3),
        "NEW": date(2024, 1, 1),
    }
    backfill = ExtractionOptions(start=date(2021, 1, 1), backfill=True)
    assert fetch_windows(["IREN"], watermarks, backfill) == {"IREN": date(2021, 1, 1)}


def test_yfinance_path_lands_mocked_frames_and_reports_failures(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    calls = []

    def fake_download(**kwargs) -> pd.DataFrame:
        calls.append(kwargs)
        frame = yfinance_frame(
            {"IREN": [10.0, 11.0, 12.0], "QQQ": [400.0, 401.0, 402.0]},
            ["2025-01-02", "2025-01-03", "2025-01-06"],
        )
        missing = pd.MultiIndex.from_product([YF_FIELDS, ["BTC-USD"]], names=["Price", "Ticker"])
        return frame.join(pd.DataFrame(float("nan"), index=frame.index, columns=missing))

    options = ExtractionOptions(source="yfinance", start=date(2025, 1, 1), max_failed_share=0.5)
    report = extract_prices(
        options,
        paths=DataPaths(tmp_path),
        companies_seed=small_companies_seed,
        run_id="r1",
        fetched_at=RUN_AT,
        is_reachable=must_not_be_asked,
        download=fake_download,
        sleep=lambda seconds: None,
    )
    assert all(call["auto_adjust"] is False for call in calls)
    assert report.source_by_ticker == {"IREN": "yfinance", "QQQ": "yfinance"}
    assert list(report.failed) == ["BTC-USD"]
    assert report.rows_landed_by_ticker == {"IREN": 3, "QQQ": 3}
    landed = read_latest_landed(DataPaths(tmp_path).landing_prices, ["IREN"], date(2025, 1, 1))
    assert sorted(landed["close"]) == [10.0, 11.0, 12.0]


def test_too_many_failures_fail_the_run_after_landing_the_rest(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "IREN.csv").write_text("Date,Close\n2025-01-02,10\n2025-01-03,11\n")
    (csv_dir / "QQQ.csv").write_text("Date,Close\n2025-01-02,400\n2025-01-03,oops\n")
    options = ExtractionOptions(source="csv", csv_dir=csv_dir, max_failed_share=0.5)
    with pytest.raises(ExtractionError, match=r"2 of 3 tickers failed") as failure:
        run(options, tmp_path, small_companies_seed)
    assert "QQQ.csv line 3" in str(failure.value)
    assert "BTC-USD" in str(failure.value)
    assert read_watermarks(DataPaths(tmp_path).landing_prices, demo=False) == {
        "IREN": date(2025, 1, 3)
    }


def test_bad_options_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ExtractionError, match="needs a CSV dir"):
        ExtractionOptions(source="csv")
    with pytest.raises(ExtractionError, match="'bloomberg' is not one of"):
        ExtractionOptions(source="bloomberg")
    with pytest.raises(ExtractionError, match="backfill needs a start"):
        ExtractionOptions(backfill=True)


def test_universe_all_adds_every_csv_file_as_other(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    for ticker in ("IREN", "BTC-USD", "QQQ", "ZZZZ"):
        (csv_dir / f"{ticker}.csv").write_text("Date,Close\n2025-01-02,10\n")
    options = ExtractionOptions(source="csv", csv_dir=csv_dir, universe="all")
    report = run(options, tmp_path, small_companies_seed)
    segments = {company.ticker: company.segment for company in report.universe}
    assert segments["ZZZZ"] == "other"
    assert segments["IREN"] == "bitcoin_miner"
    assert report.rows_landed == 4


def test_sample_exports_land_every_row_exactly_once(tmp_path: Path, exports_dir: Path) -> None:
    from orchestration.paths import COMPANIES_SEED

    if not COMPANIES_SEED.exists():
        pytest.skip("companies seed not written yet")
    options = ExtractionOptions(source="csv", csv_dir=exports_dir)
    report = run(options, tmp_path, COMPANIES_SEED)
    files = sorted(exports_dir.glob("*.csv"))
    expected_rows = sum(len(path.read_text().strip().splitlines()) - 1 for path in files)
    assert report.rows_landed == expected_rows
    # BITF.csv lands as KEEL (dbt_project/seeds/ticker_changes.csv).
    renamed = current_symbols(load_ticker_changes(ticker_changes_path(COMPANIES_SEED)))
    assert set(report.source_by_ticker) == {renamed.get(path.stem, path.stem) for path in files}
    assert "KEEL" not in report.failed
    again = run(options, tmp_path, COMPANIES_SEED, run_id="r2", fetched_at=RUN_AT + timedelta(1))
    assert again.rows_landed == 0


def test_csv_files_unchanged_since_they_landed_are_not_read_again(
    tmp_path: Path, small_companies_seed: Path, monkeypatch
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    for ticker in ("AAA", "BBB"):
        (folder / f"{ticker}.csv").write_text("Date,Close\n2025-01-02,10\n2025-01-03,11\n")
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all", max_failed_share=1.0)
    first = run(options, tmp_path, small_companies_seed, "r1")
    assert first.rows_landed_by_ticker == {"AAA": 2, "BBB": 2}

    # BBB gets a new day; AAA is untouched, so it is not read at all (reading it would fail).
    with (folder / "BBB.csv").open("a") as handle:
        handle.write("2025-01-06,12\n")
    read = []
    real_read = csv_folder.MinimalFilesScan.__init__

    def recording_init(self, connection, files, *args):
        read.extend(files)
        real_read(self, connection, files, *args)

    real_read_new_bytes = csv_folder.read_new_bytes

    def recording_read_new_bytes(grown):  # a grown file, read from its previous end
        read.append(grown.path.stem)
        return real_read_new_bytes(grown)

    monkeypatch.setattr(csv_folder.MinimalFilesScan, "__init__", recording_init)
    monkeypatch.setattr(csv_folder, "read_new_bytes", recording_read_new_bytes)
    second = run(options, tmp_path, small_companies_seed, "r2", fetched_at=RUN_AT.replace(hour=23))
    assert read == ["BBB"]
    assert second.rows_landed_by_ticker == {"BBB": 1}
    assert "AAA" not in second.failed
    assert any("1 unchanged since they landed" in note for note in second.notes)

    # A backfill reads every file again (and finds nothing new).
    read.clear()
    backfill = ExtractionOptions(
        source="csv",
        csv_dir=folder,
        universe="all",
        backfill=True,
        start=date(2025, 1, 1),
        max_failed_share=1.0,
    )
    third = run(
        backfill,
        tmp_path,
        small_companies_seed,
        "r3",
        fetched_at=RUN_AT.replace(hour=23, minute=30),
    )
    assert sorted(read) == ["AAA", "BBB"]
    assert third.rows_landed == 0


def test_a_csv_file_that_failed_is_read_again_next_run(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "AAA.csv").write_text("Date,Close\n2025-01-02,10\n2025-01-02,11\n")  # repeated date
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all", max_failed_share=1.0)
    first = run(options, tmp_path, small_companies_seed, "r1")
    assert "duplicate date" in first.failed["AAA"]
    second = run(options, tmp_path, small_companies_seed, "r2", fetched_at=RUN_AT.replace(hour=23))
    assert "duplicate date" in second.failed["AAA"]  # not skipped as "unchanged"


@pytest.mark.parametrize("universe", ["seeds", "all"])
def test_two_files_for_one_ticker_fail_that_ticker_and_land_the_others(
    tmp_path: Path, small_companies_seed: Path, universe: str
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "IREN.csv").write_text("Date,Close\n2025-01-02,10\n")
    (folder / "iren.csv").write_text("Date,Close\n2025-01-02,11\n")
    if len(list(folder.iterdir())) < 2:
        pytest.skip("case-insensitive file system: IREN.csv and iren.csv are one file")
    for ticker in ("BTC-USD", "QQQ", "ZZZZ"):
        (folder / f"{ticker}.csv").write_text("Date,Close\n2025-01-02,5\n2025-01-03,6\n")
    options = ExtractionOptions(
        source="csv", csv_dir=folder, universe=universe, max_failed_share=1.0
    )
    report = run(options, tmp_path, small_companies_seed)
    assert set(report.failed) == {"IREN"}
    assert "IREN.csv, iren.csv all hold ticker IREN" in report.failed["IREN"]
    landed = {"BTC-USD": 2, "QQQ": 2} | ({"ZZZZ": 2} if universe == "all" else {})
    assert report.rows_landed_by_ticker == landed


def test_an_unreachable_yahoo_is_named_instead_of_every_ticker_delisted(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    def nothing_comes_back(tickers, **kwargs) -> pd.DataFrame:
        # What yfinance 1.7 returns offline: every column NaN (it logs "possibly delisted").
        frame = yfinance_frame({t: [float("nan")] for t in tickers}, ["2025-01-02"])
        return frame

    options = ExtractionOptions(source="yfinance", start=date(2025, 1, 1))
    with pytest.raises(ExtractionError, match="Yahoo Finance is unreachable from this machine"):
        extract_prices(
            options,
            paths=DataPaths(tmp_path),
            companies_seed=small_companies_seed,
            run_id="r1",
            fetched_at=RUN_AT,
            is_reachable=unreachable,
            download=nothing_comes_back,
            sleep=lambda seconds: None,
        )
    assert landed_files(DataPaths(tmp_path).landing_prices) == []


def test_demo_prices_never_land_in_a_data_dir_of_real_prices(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    for ticker in ("IREN", "BTC-USD", "QQQ"):
        (folder / f"{ticker}.csv").write_text("Date,Close\n2025-01-02,10\n")
    run(ExtractionOptions(source="csv", csv_dir=folder), tmp_path, small_companies_seed, "r1")
    landing = DataPaths(tmp_path).landing_prices
    before = landed_files(landing)

    offline = run(
        ExtractionOptions(source="auto"), tmp_path, small_companies_seed, "r2",
        fetched_at=RUN_AT.replace(hour=23),
    )  # fmt: skip
    assert offline.source == "none"
    assert offline.rows_landed == 0
    assert offline.warnings == [
        "Yahoo Finance is unreachable and this data dir holds real prices (csv): nothing "
        "landed (demo prices never go into it); the published marts stay as they were."
    ]
    with pytest.raises(
        ExtractionError, match=r"--source demo refused: the data dir .* holds real prices \(csv\)"
    ):
        run(
            ExtractionOptions(source="demo"), tmp_path, small_companies_seed, "r3",
            fetched_at=RUN_AT.replace(hour=23, minute=30),
        )  # fmt: skip
    assert landed_files(landing) == before

    # A demo data dir takes real prices: they replace every demo series at once, with one
    # line, also those of tickers without a CSV file (BTC-USD and QQQ here), which are then
    # without prices rather than synthetic.
    demo_dir, only_iren = tmp_path / "demo", tmp_path / "only_iren"
    only_iren.mkdir()
    (only_iren / "IREN.csv").write_text("Date,Close\n2025-01-02,10\n")
    run(ExtractionOptions(source="demo", end=date(2025, 1, 31)), demo_dir, small_companies_seed)
    demo_rows = latest(demo_dir, retracted=False)
    real = run(
        ExtractionOptions(source="csv", csv_dir=only_iren, max_failed_share=1), demo_dir,
        small_companies_seed, "r2", fetched_at=RUN_AT.replace(hour=23),
    )  # fmt: skip
    assert real.rows_landed == 1
    assert real.rows_retracted_by_ticker == demo_rows.groupby("ticker").size().to_dict()
    assert set(real.rows_retracted_by_ticker) == {"IREN", "BTC-USD", "QQQ"}
    (line,) = [warning for warning in real.warnings if "set aside the demo prices" in warning]
    assert line.startswith(f"set aside the demo prices of 3 tickers ({len(demo_rows)} rows: ")
    current = latest(demo_dir)
    assert list(zip(current["ticker"], current["price_source"], strict=True)) == [("IREN", "csv")]


def latest(data_dir: Path, retracted: bool = True) -> pd.DataFrame:
    """Every ticker's current landed rows; with ``retracted``, without the withdrawn ones."""
    paths = DataPaths(data_dir)
    tickers = set(pd.read_parquet(paths.landing_prices)["ticker"])
    retractions = retraction_files(paths.landing_retractions) if retracted else ()
    return read_latest_landed(paths.landing_prices, tickers, date(1900, 1, 1), retractions)


def priced(closes: pd.DataFrame) -> pd.DataFrame:
    """Rows of ticker, date and close with every price column (the close) and a volume."""
    return closes.assign(
        open=closes["close"], high=closes["close"], low=closes["close"],
        adj_close=closes["close"], volume=1.0,
    )  # fmt: skip


def test_a_data_dir_mixed_by_an_earlier_version_recovers_on_its_next_run(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    """Real prices, then demo prices of the same and other tickers fetched later (what an
    earlier version let a demo run land): the next run, offline `auto`, lands nothing and sets
    every demo row aside; the real rows beneath the later demo rows count again."""
    landing = DataPaths(tmp_path).landing_prices
    real = priced(
        pd.DataFrame(
            {"ticker": "IREN", "date": [date(2025, 1, 2), date(2025, 1, 3)], "close": [10.0, 11.0]}
        )
    )
    write_landing_file(real, landing, price_source="csv", run_id="r1", fetched_at=RUN_AT)
    demo = priced(
        pd.DataFrame(
            {
                "ticker": ["IREN", "IREN", "GLXY"],
                "date": [date(2025, 1, 2), date(2025, 1, 6), date(2025, 1, 2)],
                "close": [99.0, 98.0, 5.0],
            }
        )
    )
    write_landing_file(
        demo, landing, price_source="demo", run_id="r2", fetched_at=RUN_AT + timedelta(hours=1)
    )

    recovery = run(
        ExtractionOptions(source="auto"), tmp_path, small_companies_seed, "r3",
        fetched_at=RUN_AT + timedelta(hours=2),
    )  # fmt: skip
    assert recovery.source == "none"
    assert recovery.rows_retracted_by_ticker == {"GLXY": 1, "IREN": 2}
    assert recovery.warnings[0].endswith("the marts are rebuilt without the demo prices set aside.")
    assert recovery.warnings[1].startswith("set aside the demo prices of 2 tickers (3 rows: GLXY")
    current = latest(tmp_path).sort_values("date")
    assert list(current["ticker"]) == ["IREN", "IREN"]
    assert list(current["close"]) == [10.0, 11.0]
    # Nothing left to set aside: the next run says only that Yahoo is unreachable.
    again = run(
        ExtractionOptions(source="auto"), tmp_path, small_companies_seed, "r4",
        fetched_at=RUN_AT + timedelta(hours=3),
    )  # fmt: skip
    assert again.rows_retracted_by_ticker == {}
    assert len(again.warnings) == 1
