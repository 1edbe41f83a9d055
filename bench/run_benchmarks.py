"""hashpivot benchmarks: end-to-end `hashpivot run` per scenario, its stages, reruns, and the
floor (the same CSV read and mart-like SQL in one DuckDB process). Prints one table.

    .venv/bin/python bench/run_benchmarks.py            # every scenario (about an hour)
    .venv/bin/python bench/run_benchmarks.py --quick    # default universe only
    .venv/bin/python bench/run_benchmarks.py --scenario market --tickers 12000 --years 11

Each measurement runs `hashpivot run` in a subprocess; wall time from the parent, peak RSS from
the kernel's accounting of the child (resource.getrusage(RUSAGE_CHILDREN) per run), stage times
from Dagster's "Finished execution of step ... in Ns" lines. Everything is written under
bench/out/ (ignored by git). Machines are shared and noisy: read medians, compare ratios
measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
HASHPIVOT = Path(sys.executable).with_name("hashpivot")
STEP_LINE = re.compile(r'Finished execution of step "([^"]+)" in ([0-9.]+)(ms|s|m)')
STAGES = {
    "land": ["landed_prices"],
    "audit": ["price_audit"],
    "dbt build": ["hashpivot_dbt_assets"],
    "checks": ["warehouse_suites"],
    "publish": ["published_marts", "pivot_index_chart"],
}


@dataclass
class Measurement:
    scenario: str
    run: str
    wall_s: float
    peak_rss_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    ok: bool = True


def run_hashpivot(data_dir: Path, *options: str) -> tuple[float, float, str, bool]:
    """One `hashpivot run`: (wall seconds, peak RSS MB of the run, its log, success).

    The peak comes from wait4() on this very child: the kernel's maximum resident set size of
    the child and of the processes it waited for (the dbt subprocess), this run only.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HASHPIVOT_", "DAGSTER_"))}
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}.log"
    with log_path.open("w") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(HASHPIVOT), "run", "--data-dir", str(data_dir), *options],
            cwd=ROOT, env=environ, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    log = log_path.read_text()
    if process.returncode != 0:
        print(log[-3000:], file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, log, process.returncode == 0


STEP_EVENT = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) .* - (\w+) - STEP_(START|SUCCESS|FAILURE) - ", re.M
)


def stage_seconds(log: str) -> dict[str, float]:
    """Seconds per stage from Dagster's step log lines. Dagster rounds steps over a minute to
    whole minutes ("in 2m"), so those are measured between the step's start and end stamps."""
    started: dict[str, datetime] = {}
    ended: dict[str, datetime] = {}
    for stamp, step, kind in STEP_EVENT.findall(log):
        moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
        (started if kind == "START" else ended)[step] = moment
    seconds: dict[str, float] = {}
    for step, value, unit in STEP_LINE.findall(log):
        if unit == "m" and step in started and step in ended:
            duration = (ended[step] - started[step]).total_seconds()
        else:
            duration = float(value) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
        for stage, steps in STAGES.items():
            if step in steps:
                seconds[stage] = seconds.get(stage, 0.0) + duration
    return seconds


def median_measurement(runs: list[Measurement]) -> Measurement:
    """The median of repeated measurements, stage by stage (a noisy machine's honest figure)."""
    first = runs[0]
    stages = {
        stage: statistics.median(run.stages.get(stage, 0.0) for run in runs)
        for stage in {stage for run in runs for stage in run.stages}
    }
    return Measurement(
        first.scenario,
        f"{first.run} (median of {len(runs)})" if len(runs) > 1 else first.run,
        statistics.median(run.wall_s for run in runs),
        statistics.median(run.peak_rss_mb for run in runs),
        stages,
        all(run.ok for run in runs),
    )


def measure(scenario: str, label: str, data_dir: Path, *options: str) -> Measurement:
    wall, peak, log, ok = run_hashpivot(data_dir, *options)
    measurement = Measurement(scenario, label, wall, peak, stage_seconds(log), ok)
    print(
        f"  {label:<22} {wall:8.1f} s  peak {peak:8.0f} MB  {'ok' if ok else 'FAILED'}", flush=True
    )
    return measurement


def write_market_csvs(csv_dir: Path, tickers: int, years: int, end: date) -> int:
    """`tickers` files in the minimal `Date,Close` shape, weekdays over `years` years."""
    csv_dir.mkdir(parents=True, exist_ok=True)
    dates = pd.bdate_range(end=end, periods=years * 252)
    stamps = dates.strftime("%Y-%m-%d").to_numpy()
    rng = np.random.default_rng(7)
    for index in range(tickers):
        closes = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates))))
        body = "\n".join(f"{d},{c:.4f}" for d, c in zip(stamps, closes, strict=True))
        (csv_dir / f"T{index:05d}.csv").write_text("Date,Close\n" + body + "\n")
    return tickers * len(dates)


def append_day(csv_dir: Path, day: date) -> None:
    for path in csv_dir.glob("*.csv"):
        with path.open("a") as handle:
            handle.write(f"{day:%Y-%m-%d},21.0\n")


def floor_seconds(csv_dir: Path) -> float:
    """The floor: one DuckDB process reads the same CSV files and runs mart-like SQL (daily
    returns, then one-year volatility, drawdown and return per ticker)."""
    started = time.perf_counter()
    with duckdb.connect() as connection:
        connection.execute(
            f"""
            create table prices as
            select regexp_extract(filename, '([^/]+)\\.csv$', 1) as ticker, "Date" as date,
                   "Close" as close
            from read_csv('{csv_dir}/*.csv', filename = true, columns = {{'Date': 'DATE', 'Close': 'DOUBLE'}})
            """
        )
        connection.execute(
            """
            create table daily as
            select *, close / lag(close) over (partition by ticker order by date) - 1 as r
            from prices
            """
        )
        connection.execute(
            """
            create table stats as
            with as_of as (select ticker, max(date) as a from daily group by ticker),
            w as (
                select daily.*, close / max(close) over (
                    partition by daily.ticker order by date rows unbounded preceding) - 1 as dd
                from daily join as_of using (ticker)
                where date > a - interval 1 year
            )
            select ticker, stddev_samp(r) * sqrt(252) as vol, min(dd) as mdd,
                   last(close order by date) / first(close order by date) - 1 as ret
            from w group by ticker
            """
        )
        connection.execute("copy daily to '/dev/null' (format parquet)")
    return time.perf_counter() - started


def code_location_load_seconds(repeats: int = 5) -> float:
    """Median seconds to import the Dagster definitions in a fresh interpreter (what
    `dagster dev` does when it loads the code location)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import orchestration.definitions"], cwd=ROOT, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def scenario_runs(
    name: str, data_dir: Path, options: list[str], next_day: list[str], repeat: int = 1
) -> list[Measurement]:
    """Cold run, rerun with no new data, run with one more trading day; each sequence from an
    empty data dir, ``repeat`` times, reported as medians."""
    print(f"{name}:", flush=True)
    sequences = []
    for _ in range(repeat):
        shutil.rmtree(data_dir, ignore_errors=True)
        sequences.append(
            [
                measure(name, "cold", data_dir, *options),
                measure(name, "no new data", data_dir, *options),
                measure(name, "one new trading day", data_dir, *next_day),
            ]
        )
    return [median_measurement(list(runs)) for runs in zip(*sequences, strict=True)]


def print_table(measurements: list[Measurement], floors: dict[str, float], load_s: float) -> None:
    header = f"| scenario | run | wall s | peak RSS MB | {' | '.join(STAGES)} | vs floor |"
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for m in measurements:
        stages = " | ".join(f"{m.stages.get(stage, 0):.1f}" for stage in STAGES)
        floor = floors.get(m.scenario)
        ratio = f"{m.wall_s / floor:.1f}x" if floor and m.run == "cold" else ""
        status = "" if m.ok else " (FAILED)"
        print(
            f"| {m.scenario} | {m.run}{status} | {m.wall_s:.1f} | {m.peak_rss_mb:.0f} | {stages} | {ratio} |"
        )
    for scenario, seconds in floors.items():
        print(f"| {scenario} | floor (one DuckDB process) | {seconds:.1f} | | | | | | | 1.0x |")
    print(
        f"\ncode location load (median of 5 imports of orchestration.definitions): {load_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default universe only")
    parser.add_argument("--scenario", choices=["default", "demo2000", "market"], action="append")
    parser.add_argument("--tickers", type=int, default=12000, help="market scenario tickers")
    parser.add_argument("--years", type=int, default=11, help="market scenario years")
    parser.add_argument(
        "--repeat", type=int, default=3, help="sequences of the default-universe scenario"
    )
    arguments = parser.parse_args()
    chosen = arguments.scenario or (
        ["default"] if arguments.quick else ["default", "demo2000", "market"]
    )
    OUT.mkdir(parents=True, exist_ok=True)
    today = date.today()
    end = today - timedelta(days=1)
    measurements: list[Measurement] = []
    floors: dict[str, float] = {}
    # First, as it also prepares the dbt manifest of a fresh checkout (not a pipeline cost).
    load_seconds = code_location_load_seconds()
    if "default" in chosen:
        start = (end - timedelta(days=6 * 365)).isoformat()
        options = [
            "--source",
            "demo",
            "--start",
            start,
            "--end",
            (end - timedelta(days=1)).isoformat(),
        ]
        next_day = ["--source", "demo", "--start", start, "--end", end.isoformat()]
        measurements += scenario_runs(
            "default universe, demo, 6y", OUT / "default", options, next_day, arguments.repeat
        )
    if "demo2000" in chosen:
        start = (end - timedelta(days=10 * 365)).isoformat()
        common = [
            "--source",
            "demo",
            "--universe",
            "all",
            "--demo-tickers",
            "2000",
            "--start",
            start,
        ]
        options = [*common, "--end", (end - timedelta(days=1)).isoformat()]
        measurements += scenario_runs(
            "2,000 tickers x 10y, demo",
            OUT / "demo2000",
            options,
            [*common, "--end", end.isoformat()],
        )
    if "market" in chosen:
        csv_dir = OUT / f"market_{arguments.tickers}x{arguments.years}"
        last_day = date(2025, 4, 3)
        shutil.rmtree(csv_dir, ignore_errors=True)
        rows = write_market_csvs(csv_dir, arguments.tickers, arguments.years, last_day)
        name = f"{arguments.tickers:,} tickers x {arguments.years}y CSV ({rows / 1e6:.0f} M rows)"
        floors[name] = floor_seconds(csv_dir)
        options = ["--source", "csv", "--csv-dir", str(csv_dir), "--universe", "all"]
        data_dir = OUT / "market"
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"{name}:", flush=True)
        measurements.append(measure(name, "cold", data_dir, *options))
        measurements.append(measure(name, "no new data", data_dir, *options))
        append_day(csv_dir, last_day + timedelta(days=1))
        measurements.append(measure(name, "one new trading day", data_dir, *options))
    print_table(measurements, floors, load_seconds)


if __name__ == "__main__":
    main()
