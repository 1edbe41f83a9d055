"""Whole-pipeline runs of the quality gate on poisoned prices: they fail loudly and leave the
published copy byte-for-byte as it was; a corrected rerun publishes; BI readers never see an
error while the pipeline writes. (Poisoned seeds: test_quality_gate_seeds.py.)

Each case runs the pipeline in a subprocess from a copy of the project against a copy of a data
dir that already holds a clean publish (``clean_run``, tests/quality_gate.py)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipeline import clean_environ, hashpivot_command, published_fingerprint
from tests.quality_gate import (
    LAST_CLEAN_DAY,
    NEXT_DAY,
    POISONED_TICKER,
    append_row,
    assert_failed_and_nothing_published,
    run_pipeline,
)

pytestmark = pytest.mark.slow

PRICE_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "negative price": (
        lambda d: append_row(d, [NEXT_DAY, "10", "11", "9", "-5", "-5", "100"]),
        "close_positive",
    ),
    "nan price": (
        lambda d: append_row(d, [NEXT_DAY, "10", "11", "9", "nan", "nan", "100"]),
        "line 2",
    ),
    "duplicate dates": (
        lambda d: append_row(d, [str(LAST_CLEAN_DAY), "10", "11", "9", "10", "10", "1"]),
        "duplicate",
    ),
    "future date": (
        lambda d: append_row(d, ["2031-01-02", "10", "11", "9", "10", "10", "100"]),
        "date_not_in_future",
    ),
    "high below low": (
        lambda d: append_row(d, [NEXT_DAY, "10", "8", "9", "10", "10", "100"]),
        "high_not_below_low",
    ),
    "malformed csv": (lambda d: append_row(d, [NEXT_DAY, "abc"]), f"{POISONED_TICKER}.csv line"),
    "empty file": (lambda d: (d / f"{POISONED_TICKER}.csv").write_text(""), "no data rows"),
}


@pytest.mark.parametrize("case", sorted(PRICE_CASES))
def test_poisoned_prices_fail_loudly_and_publish_nothing(
    clean_run, tmp_path: Path, case: str
) -> None:
    poison, expected = PRICE_CASES[case]
    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    before = published_fingerprint(data / "published")
    poison(csv_dir)
    result = run_pipeline(clean_run["project"], data, csv_dir)
    assert_failed_and_nothing_published(result, expected, data / "published", before)


def test_a_clean_rerun_after_a_failure_publishes_again(clean_run, tmp_path: Path) -> None:
    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    append_row(csv_dir, [NEXT_DAY, "10", "11", "9", "-5", "-5", "100"])
    assert run_pipeline(clean_run["project"], data, csv_dir).returncode != 0
    # The source corrects the row: the revision lands, supersedes the bad row and publishes.
    lines = (csv_dir / f"{POISONED_TICKER}.csv").read_text().splitlines()
    lines[-1] = f"{NEXT_DAY},10,11,9,10.5,10.5,100"
    (csv_dir / f"{POISONED_TICKER}.csv").write_text("\n".join(lines) + "\n")
    result = run_pipeline(clean_run["project"], data, csv_dir)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "published: yes" in result.stdout
    import duckdb

    with duckdb.connect(str(data / "published" / "marts.duckdb"), read_only=True) as published:
        close = published.execute(
            "select close from fct_daily_prices where ticker = ? and date = ?",
            [POISONED_TICKER, NEXT_DAY],
        ).fetchall()
        runs = published.execute("select count(*) from _published_runs").fetchall()
    assert close == [(10.5,)]
    assert runs == [(2,)]


def test_bi_reads_the_published_copy_while_the_pipeline_writes(clean_run, tmp_path: Path) -> None:
    """SQLAlchemy + duckdb-engine, as Superset connects, querying again and again during a run."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    data, csv_dir = tmp_path / "data", tmp_path / "csv"
    shutil.copytree(clean_run["data"], data, symlinks=True)
    shutil.copytree(clean_run["csv"], csv_dir)
    append_row(csv_dir, [NEXT_DAY, "10", "11", "9", "10", "10", "100"])  # new data to publish
    engine = create_engine(
        f"duckdb:///{data / 'published' / 'marts.duckdb'}",
        connect_args={"read_only": True},
        poolclass=NullPool,
    )
    log_path = tmp_path / "pipeline.log"  # a file, not a pipe: a full pipe would stall the run
    with log_path.open("w") as log:
        pipeline = subprocess.Popen(
            hashpivot_command(data, "--source", "csv", "--csv-dir", str(csv_dir)),
            cwd=clean_run["project"],
            env=clean_environ(clean_run["project"]),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    queries, errors = 0, []
    deadline = time.monotonic() + 900
    while pipeline.poll() is None and time.monotonic() < deadline:
        try:
            with engine.connect() as connection:
                connection.execute(
                    text("select count(*) from miner_ai_pivot_performance")
                ).scalar_one()
                connection.execute(text("select count(*) from _published_runs")).scalar_one()
            queries += 1
        except Exception as error:  # every error counts: the test is that there are none
            errors.append(repr(error))
        time.sleep(0.2)
    pipeline.wait(timeout=60)
    assert pipeline.returncode == 0, log_path.read_text()[-4000:]
    assert errors == []
    assert queries > 20
    with engine.connect() as connection:  # the new publish is visible to a new connection
        assert connection.execute(text("select count(*) from _published_runs")).scalar_one() == 2
