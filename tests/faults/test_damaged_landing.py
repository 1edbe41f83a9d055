"""A landing file that cannot be read (truncated by a failing disk) is set aside, never
deleted, and its prices are fetched again: nothing is lost and later runs are not blocked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.extract.landed import landed_files
from orchestration.extract.prices import ExtractionOptions, extract_prices
from orchestration.paths import DataPaths
from orchestration.transform.dbt import project_fingerprint

RUN_AT = datetime(2026, 11, 27, 22, tzinfo=UTC)


def write_csv(folder: Path, ticker: str, days: int) -> None:
    dates = [date(2025, 1, 1) + timedelta(days=day) for day in range(days)]
    rows = "".join(f"{day},{100 + index}\n" for index, day in enumerate(dates))
    (folder / f"{ticker}.csv").write_text("Date,Close\n" + rows)


def extract(options: ExtractionOptions, paths: DataPaths, seed: Path, run: int):
    return extract_prices(
        options,
        paths=paths,
        companies_seed=seed,
        run_id=f"r{run}",
        fetched_at=RUN_AT + timedelta(hours=run),
        is_reachable=lambda: False,
    )


def current_rows(paths: DataPaths) -> set[tuple]:
    files = [str(path) for path in landed_files(paths.landing_prices)]
    return set(
        duckdb.execute(
            "select ticker, date, close from read_parquet($files) "
            "qualify row_number() over (partition by ticker, date order by fetched_at desc) = 1",
            {"files": files},
        ).fetchall()
    )


def test_a_truncated_landing_file_is_set_aside_and_its_rows_landed_again(
    tmp_path: Path, small_companies_seed: Path
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    paths = DataPaths(tmp_path / "data")
    options = ExtractionOptions(source="csv", csv_dir=folder, max_failed_share=1.0)
    for ticker in ("IREN", "QQQ", "BTC-USD"):
        write_csv(folder, ticker, days=10)
    extract(options, paths, small_companies_seed, 1)
    write_csv(folder, "IREN", days=12)  # two new days for IREN
    second = extract(options, paths, small_companies_seed, 2)
    (damaged,) = second.landing_files
    expected = current_rows(paths)
    fingerprint_before = project_fingerprint(tmp_path, {}, damaged_landing=paths.landing_damaged)
    damaged_bytes = damaged.read_bytes()
    damaged.write_bytes(damaged_bytes[: len(damaged_bytes) // 2])  # a disk that failed

    third = extract(options, paths, small_companies_seed, 3)

    set_aside = paths.landing_damaged / damaged.name
    assert set_aside.is_file()  # kept, not deleted
    assert not damaged.exists()
    assert any(damaged.name in warning for warning in third.warnings)
    assert third.rows_landed_by_ticker == {"IREN": 2}  # the two days only that file held
    assert current_rows(paths) == expected
    # The warehouse may hold rows only that file had: its next build is a full refresh.
    assert (
        project_fingerprint(tmp_path, {}, damaged_landing=paths.landing_damaged)
        != fingerprint_before
    )
    # And the next run is an ordinary one.
    fourth = extract(options, paths, small_companies_seed, 4)
    assert fourth.rows_landed == 0
    assert not fourth.warnings
