"""kill -9 at random points of real runs, in a bounded loop, each time checking what a user
relies on: no landed row lost or rewritten, the published DuckDB file and Parquet files open
and agree with each other and with ``_published_runs``, and in the end a clean rerun succeeds.

Each killed run asks for one more demo day than the last, so every run has new data and goes
through every step (landing, audit, dbt, checks, publish); the kill times are drawn over the
length of an uninterrupted run measured first. ``HASHPIVOT_FAULT_KILLS`` sets the number of
kills: `make faults` runs 20 (CI runs it after `make test`); without the variable the loop is
skipped, as it takes minutes. The seed of the kill times is printed, so a failing sequence can
be replayed with ``HASHPIVOT_FAULT_SEED``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT_ROOT
from tests.pipeline import clean_environ, hashpivot_command

KILLS = int(os.environ.get("HASHPIVOT_FAULT_KILLS", "0"))
SEED = int(os.environ.get("HASHPIVOT_FAULT_SEED", str(random.SystemRandom().randrange(10**6))))
FIRST_END = date(2026, 6, 1)


def start_run(data_dir: Path, end: date) -> subprocess.Popen[str]:
    """A demo run up to ``end`` in its own process group (the CLI and dbt's subprocess)."""
    return subprocess.Popen(
        hashpivot_command(data_dir, "--source", "demo", "--start", "2024-01-01", "--end", str(end)),
        cwd=PROJECT_ROOT,
        env=clean_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], timeout: int = 900) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def landing_hashes(data_dir: Path) -> dict[str, str]:
    landing = data_dir / "landing" / "prices"
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(landing.glob("*.parquet"))
    }


def published_state(data_dir: Path) -> tuple[str, dict[str, int]]:
    """(run id of the version in use, row counts) after checking that both formats open, show
    the same rows, and that ``_published_runs``' last entry describes them."""
    published = data_dir / "published"
    version = (published / "current").resolve()
    assert (published / "marts.duckdb").resolve().parent == version
    assert (published / "parquet").resolve().parent == version
    with duckdb.connect(str(published / "marts.duckdb"), read_only=True) as copy:
        run_id, counts_json = copy.execute(
            "select run_id, row_counts from _published_runs "
            "order by published_at desc, rowid desc limit 1"
        ).fetchall()[0]
        counts = {name: int(rows) for name, rows in json.loads(counts_json).items()}
        for mart, rows in counts.items():
            assert copy.execute(f"select count(*) from {mart}").fetchall()[0][0] == rows, mart
    assert run_id == version.name
    parquet = published / "parquet"
    for mart, rows in counts.items():
        source = (
            f"read_parquet('{parquet / mart}/*/*.parquet')"
            if (parquet / mart).is_dir()
            else f"'{parquet / f'{mart}.parquet'}'"
        )
        assert duckdb.sql(f"select count(*) from {source}").fetchall()[0][0] == rows, mart
    return run_id, counts


@pytest.mark.skipif(KILLS < 1, reason="the kill loop runs with HASHPIVOT_FAULT_KILLS (make faults)")
def test_random_kills_lose_nothing_and_never_show_a_torn_publish(tmp_path: Path) -> None:
    print(f"kill loop: {KILLS} kills, HASHPIVOT_FAULT_SEED={SEED}")
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    started = time.monotonic()
    code, output = finish(start_run(data_dir, FIRST_END))
    assert code == 0, output[-3000:]
    full_run_s = time.monotonic() - started
    landed = landing_hashes(data_dir)
    published_run, _ = published_state(data_dir)

    end = FIRST_END
    kills = attempts = 0
    # A run with one new day is shorter than the first, so a drawn time may come after it
    # ended: such a run counts as a clean one, and the loop goes on until KILLS real kills.
    while kills < KILLS and attempts < 3 * KILLS:
        attempts += 1
        end += timedelta(days=1)
        process = start_run(data_dir, end)
        delay = rng.uniform(0.5, full_run_s)
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        code, output = finish(process)
        now = landing_hashes(data_dir)
        lost = {name for name in landed if now.get(name) != landed[name]}
        assert not lost, f"a kill after {delay:.1f} s rewrote or lost landing files {lost}"
        landed = now
        run_id, _ = published_state(data_dir)
        assert code in (0, -signal.SIGKILL), output[-3000:]
        if code == 0:
            published_run = run_id
        else:
            kills += 1
        print(f"run {attempts}: after {delay:.1f} s, exit {code}, published {run_id}")
    assert kills == KILLS, f"only {kills} of {attempts} runs were killed before they ended"

    code, output = finish(start_run(data_dir, end + timedelta(days=1)))
    assert code == 0, output[-3000:]
    run_id, counts = published_state(data_dir)
    assert run_id != published_run
    assert counts["fct_daily_prices"] > 0
    assert landing_hashes(data_dir).items() >= landed.items()
