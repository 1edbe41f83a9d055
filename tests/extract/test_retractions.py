"""Retractions: a re-read CSV file supersedes what it held before; a removed non-curated file
stops counting (whatever the run's universe); landing files are never rewritten."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.extract.landed import landed_files, read_watermarks
from orchestration.extract.prices import ExtractionOptions, extract_prices
from orchestration.extract.retractions import retraction_files
from orchestration.paths import DataPaths
from orchestration.quality.ledger import record_audit, stage_pending_batch

RUN_AT = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
FULL_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def run(options: ExtractionOptions, data: Path, seed: Path, run_id: str, hour: int):
    return extract_prices(
        options,
        paths=DataPaths(data),
        companies_seed=seed,
        run_id=run_id,
        fetched_at=RUN_AT.replace(hour=hour),
        is_reachable=lambda: False,
    )


def hashes(data: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (data / "landing").rglob("*.parquet")
    }


def retracted(data: Path) -> pd.DataFrame:
    files = retraction_files(DataPaths(data).landing_retractions)
    frames = [pd.read_parquet(path) for path in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def test_a_line_removed_from_a_csv_file_is_retracted_and_lands_again_when_restored(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    data, folder = tmp_path / "data", tmp_path / "csv"
    folder.mkdir()
    minimal = "Date,Close\n2025-01-02,10\n2025-01-03,0\n2025-01-06,12\n"
    full = FULL_HEADER + "2025-01-02,1,1,1,5,5,10\n2025-01-03,1,1,1,0,0,10\n"
    (folder / "AAA.csv").write_text(minimal)
    (folder / "BBB.csv").write_text(full)
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all", max_failed_share=1)
    run(options, data, small_companies_seed, "r1", 20)
    before = hashes(data)

    # The bad lines go: the scanned file (AAA) and the parsed one (BBB) retract them.
    (folder / "AAA.csv").write_text(minimal.replace("2025-01-03,0\n", ""))
    (folder / "BBB.csv").write_text(full.replace("2025-01-03,1,1,1,0,0,10\n", ""))
    report = run(options, data, small_companies_seed, "r2", 21)
    assert report.rows_retracted_by_ticker == {"AAA": 1, "BBB": 1}
    rows = retracted(data)
    assert sorted(zip(rows["ticker"], rows["date"], strict=True)) == [
        ("AAA", date(2025, 1, 3)),
        ("BBB", date(2025, 1, 3)),
    ]
    assert set(rows["reason"]) == {"no longer in the source"}
    after = hashes(data)
    assert {path: after[path] for path in before} == before
    retractions = retraction_files(DataPaths(data).landing_retractions)
    landing = DataPaths(data).landing_prices
    watermarks = read_watermarks(landing, demo=False, retractions=retractions)
    assert watermarks["BBB"] == date(2025, 1, 2)  # the retracted date no longer counts

    # A rerun retracts nothing more; the line restored lands again.
    assert run(options, data, small_companies_seed, "r3", 22).rows_retracted_by_ticker == {}
    (folder / "BBB.csv").write_text(full.replace(",0,0,", ",6,6,"))
    report = run(options, data, small_companies_seed, "r4", 23)
    assert report.rows_landed_by_ticker == {"BBB": 1}


def test_a_removed_non_curated_file_is_retracted_and_a_removed_curated_one_fails(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    data, folder = tmp_path / "data", tmp_path / "csv"
    folder.mkdir()
    for ticker in ("IREN", "BTC-USD", "QQQ", "ZZZZ", "YYYY"):
        (folder / f"{ticker}.csv").write_text("Date,Close\n2025-01-02,10\n2025-01-03,11\n")
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all", max_failed_share=1)
    run(options, data, small_companies_seed, "r1", 20)
    (folder / "ZZZZ.csv").unlink()
    (folder / "IREN.csv").unlink()
    report = run(options, data, small_companies_seed, "r2", 21)
    assert report.rows_retracted_by_ticker == {"ZZZZ": 2}
    assert "IREN" in report.failed
    assert set(retracted(data)["reason"]) == {"the source no longer has the ticker"}

    # The audit's pending batch no longer holds the retracted rows.
    paths = DataPaths(data)
    with duckdb.connect() as connection:
        rows = stage_pending_batch(
            connection,
            landed_files(paths.landing_prices),
            "batch",
            retraction_files(paths.landing_retractions),
        )
        tickers = {t for (t,) in connection.execute("select distinct ticker from batch").fetchall()}
    assert rows == 8
    assert "ZZZZ" not in tickers
    assert "IREN" in tickers

    # A file that is gone is gone whatever the universe: a --universe seeds run retracts the
    # rows of a removed non-curated file too, and leaves those of a file still there.
    seeds = ExtractionOptions(source="csv", csv_dir=folder, universe="seeds", max_failed_share=1)
    (folder / "YYYY.csv").unlink()
    assert (folder / "QQQ.csv").exists()
    assert run(seeds, data, small_companies_seed, "r3", 22).rows_retracted_by_ticker == {"YYYY": 2}


def test_a_pending_row_however_old_is_compared_again_and_retracted(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    data, folder = tmp_path / "data", tmp_path / "csv"
    folder.mkdir()
    days = pd.bdate_range("2025-01-02", periods=30)
    lines = [f"{day.date()},{0 if number == 3 else 10 + number}" for number, day in enumerate(days)]
    (folder / "AAA.csv").write_text("Date,Close\n" + "\n".join(lines) + "\n")
    options = ExtractionOptions(source="csv", csv_dir=folder, universe="all", max_failed_share=1)
    run(options, data, small_companies_seed, "r1", 20)
    # An audit ran (the ledger exists) and blocked: nothing accepted, the file is pending.
    ledger = DataPaths(data).ledger
    record_audit(ledger, accepted=[], run_id="audit", audited_at=RUN_AT)

    # The zero close, weeks before the watermark, is removed from the file.
    (folder / "AAA.csv").write_text("Date,Close\n" + "\n".join(lines[:3] + lines[4:]) + "\n")
    report = run(options, data, small_companies_seed, "r2", 21)
    assert report.rows_retracted_by_ticker == {"AAA": 1}
    assert list(retracted(data)["date"]) == [days[3].date()]
