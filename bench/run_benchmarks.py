"""hashpivot benchmarks: end-to-end `hashpivot run` per scenario, its stages, reruns, and the
floor (the same CSV read and mart-like SQL in one DuckDB process). Prints one table.

    .venv/bin/python bench/run_benchmarks.py            # every scenario (about an hour)
    .venv/bin/python bench/run_benchmarks.py --quick    # default universe only (both engines)
    .venv/bin/python bench/run_benchmarks.py --scenario default --scenario demo2000 --engine spark
    .venv/bin/python bench/run_benchmarks.py --scenario market --tickers 12000 --years 11
    .venv/bin/python bench/run_benchmarks.py --scenario market-real   # real exports' shapes
    .venv/bin/python bench/run_benchmarks.py --scenario market-fetched --fetched-dir PATH
    export HASHPIVOT_BENCH_FETCHED_DIR=PATH   # instead of --fetched-dir (the option wins)
    .venv/bin/python bench/run_benchmarks.py --scenario market-fetched

market-fetched runs a folder of real `Date,Close` exports (PATH: the `data/` folder of
github.com/dsturdy/Factor_Attribution, 12,467 files, 34 M rows), never writing to it: a working
copy under bench/out/market_fetched holds hard links to its files, but the files that run to the
folder's last date are real copies without that day (the export "as of yesterday"), plus a
yfinance-shaped BTC-USD.csv. Cold run, then the last day appended back byte for byte (one new
trading day), then a run with no new data. Without a PATH it prints one "skipped" line.

Each measurement runs `hashpivot run` in a subprocess; wall time from the parent, peak RSS from
the kernel's accounting of the child (wait4(): the largest single process of the run), and the
peak of the RSS of all the run's processes summed (sampled every 0.2 s), stage times from
Dagster's "Finished execution of step ... in Ns" lines. Everything is written under bench/out/
(ignored by git). Machines are shared and noisy: read medians, compare ratios measured in the
same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

try:
    import psutil
except ImportError:  # not a dependency: /proc is read instead
    psutil = None

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
    peak_tree_rss_mb: float = 0.0


def _descendants_from_proc(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/<pid>/task/*/children."""
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in children.read_text().split()]
            except (OSError, ValueError):
                continue  # the thread or process is gone
    return pids


def _rss_from_proc(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) * 1024 if found else 0


def tree_rss_bytes(pid: int) -> int:
    """The resident set sizes of ``pid`` and all its descendants, summed, now (0 once gone).
    Pages shared between the processes count once per process."""
    if psutil is None:
        return sum(_rss_from_proc(each) for each in _descendants_from_proc(pid))
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


class TreeRssSampler:
    """In a thread, every ``interval`` seconds, the summed RSS of a process tree; ``peak``
    (bytes) is the largest sum seen between ``start`` and ``stop``."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            if self._stopped.wait(self.interval):
                return

    def start(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stopped.set()
        self._thread.join()
        return self.peak


def run_hashpivot(data_dir: Path, *options: str) -> tuple[float, float, float, str, bool]:
    """One `hashpivot run`: (wall seconds, peak RSS MB, peak RSS MB of all its processes
    summed, its log, success).

    The peak comes from wait4() on this very child: the kernel's maximum resident set size of
    the child and of the processes it waited for (the dbt subprocess), this run only: the
    largest single process, not their sum. The sum is sampled every 0.2 s over the child's
    process tree (the run's python process, dbt's, a Spark JVM): the largest sum seen.
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
        sampler = TreeRssSampler(process.pid).start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            tree_peak = sampler.stop()
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    log = log_path.read_text()
    # Without --verbose the run prints one line per step; Dagster's step lines (the stages) are
    # in the full log it names.
    full_log = re.search(r"\(full log: (\S+)\)", log)
    if full_log and Path(full_log.group(1)).is_file():
        log += Path(full_log.group(1)).read_text()
    if process.returncode != 0:
        print(log[-3000:], file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, tree_peak / 2**20, log, process.returncode == 0


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
        statistics.median(run.peak_tree_rss_mb for run in runs),
    )


def measure(scenario: str, label: str, data_dir: Path, *options: str) -> Measurement:
    wall, peak, tree_peak, log, ok = run_hashpivot(data_dir, *options)
    measurement = Measurement(
        scenario, label, wall, peak, stage_seconds(log), ok, peak_tree_rss_mb=tree_peak
    )
    print(
        f"  {label:<22} {wall:8.1f} s  peak {peak:8.0f} MB  all processes {tree_peak:8.0f} MB  "
        f"{'ok' if ok else 'FAILED'}",
        flush=True,
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


# The real-shaped market: what a folder of real `Date,Close` exports (one per listed symbol)
# holds that equal-length synthetic files do not.
REAL_MARKET_TICKERS = 12467
REAL_MARKET_FIRST_DAY = date(1976, 1, 2)
REAL_MARKET_MEDIAN_ROWS = 1400
REAL_MARKET_MAX_ROWS = 12600


@dataclass(frozen=True)
class MarketFile:
    """One generated export: its symbol, dates, closes (None: a header-only file) and how the
    closes are written (None: Python's shortest repr, as pandas' to_csv writes floats)."""

    symbol: str
    dates: np.ndarray  # 'YYYY-MM-DD' strings
    closes: np.ndarray | None
    decimals: int | None

    def text(self) -> str:
        if self.closes is None or not len(self.dates):
            return "Date,Close\n"
        if self.decimals is None:
            values = [repr(float(close)) for close in self.closes]
        else:
            values = [f"{close:.{self.decimals}f}" for close in self.closes]
        return (
            "Date,Close\n"
            + "\n".join(f"{day},{value}" for day, value in zip(self.dates, values, strict=True))
            + "\n"
        )


def _real_symbols(count: int, rng: np.random.Generator) -> list[str]:
    """Unique (case-insensitively) symbols: mostly 1-5 letters, a share with a class suffix
    (BRK-B, AGM-A), warrants and units (-WT, -U), and index symbols (^TNX, ^GSPC)."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    symbols: list[str] = []
    seen: set[str] = set()
    fixed = ["BRK-B", "BRK-A", "AGM-A", "^TNX", "^GSPC", "^VIX", "BF-B", "A"]
    for symbol in fixed[: max(3, min(len(fixed), count // 10))]:
        symbols.append(symbol)
        seen.add(symbol)
    while len(symbols) < count:
        length = int(rng.choice([1, 2, 3, 4, 5], p=[0.01, 0.06, 0.33, 0.45, 0.15]))
        symbol = "".join(rng.choice(letters, length))
        kind = rng.random()
        if kind < 0.03:
            symbol += "-" + str(rng.choice(["A", "B", "C", "WT", "U", "PA"]))
        elif kind < 0.035:
            symbol = "^" + symbol
        if symbol not in seen:
            seen.add(symbol)
            symbols.append(symbol)
    return symbols


def real_market_files(
    tickers: int = REAL_MARKET_TICKERS, end: date = date(2026, 4, 2), seed: int = 11
) -> list[MarketFile]:
    """A real-shaped market, deterministically (``seed``): ``tickers`` exports whose lengths
    are drawn from a lognormal (median about 1,400 rows, capped at 12,600, a few of one row),
    starting as far back as 1976; most run to ``end``, a fifth stop earlier (delisted). A few
    files are header-only, a few tickers have only zero closes and some have zero days; about
    one ticker in twelve is a penny stock or has splits, with daily moves above +300%.
    At 12,467 tickers this is about 34 M rows."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(REAL_MARKET_FIRST_DAY, end)
    stamps = days.strftime("%Y-%m-%d").to_numpy()
    symbols = _real_symbols(tickers, rng)
    lengths = np.minimum(
        np.exp(rng.normal(np.log(REAL_MARKET_MEDIAN_ROWS), 1.3, tickers)).astype(int) + 1,
        REAL_MARKET_MAX_ROWS,
    )
    # The oldest listings run the whole span; a few files hold one row.
    lengths[rng.choice(tickers, max(1, tickers // 400), replace=False)] = REAL_MARKET_MAX_ROWS
    lengths[rng.choice(tickers, max(1, tickers // 500), replace=False)] = 1
    header_only = set(rng.choice(tickers, max(2, tickers // 2500), replace=False).tolist())
    all_zero = set(rng.choice(tickers, max(1, tickers // 1000), replace=False).tolist())
    jumpy = set(rng.choice(tickers, max(2, tickers // 12), replace=False).tolist())
    files: list[MarketFile] = []
    for index, symbol in enumerate(symbols):
        length = int(lengths[index])
        last = len(stamps) - 1
        if rng.random() < 0.2:  # delisted: stops before the end
            last -= int(rng.integers(0, max(1, len(stamps) - length)))
        first = max(0, last - length + 1)
        dates = stamps[first : last + 1]
        if index in header_only:
            files.append(MarketFile(symbol, dates[:0], None, None))
            continue
        returns = rng.normal(0.0003, rng.uniform(0.01, 0.06), len(dates))
        if index in jumpy and len(dates) > 1:
            # Two jumps up (+320% .. +3,900%: a penny stock's day, a reverse split) and one
            # down (a split).
            moves = rng.choice(np.arange(1, len(dates)), min(len(dates) - 1, 3), replace=False)
            returns[moves] = np.log(rng.uniform(4.2, 40.0, len(moves)))
            if len(moves) == 3:
                returns[moves[2]] *= -1
        closes = float(rng.lognormal(2.5, 1.5)) * np.exp(np.cumsum(returns))
        if index in all_zero:
            closes = np.zeros(len(dates))
        elif rng.random() < 0.01 and len(dates) > 10:  # a few zero days
            closes[rng.choice(len(dates), 3, replace=False)] = 0.0
        decimals = None if rng.random() < 0.5 else int(rng.choice([2, 4, 6]))
        files.append(MarketFile(symbol, dates, closes, decimals))
    return files


def write_real_market_csvs(csv_dir: Path, files: list[MarketFile]) -> int:
    """Write ``real_market_files`` as ``<symbol>.csv``; returns the data rows written."""
    csv_dir.mkdir(parents=True, exist_ok=True)
    rows = 0
    for market_file in files:
        (csv_dir / f"{market_file.symbol}.csv").write_text(market_file.text())
        rows += 0 if market_file.closes is None else len(market_file.dates)
    return rows


def append_real_market_day(csv_dir: Path, files: list[MarketFile], day: date) -> None:
    """One more trading day for the listings that run to the last day (not the delisted, not
    the header-only), at their last close."""
    last_day = max(str(f.dates[-1]) for f in files if len(f.dates))
    for market_file in files:
        if market_file.closes is None or str(market_file.dates[-1]) != last_day:
            continue
        with (csv_dir / f"{market_file.symbol}.csv").open("a") as handle:
            handle.write(f"{day:%Y-%m-%d},{float(market_file.closes[-1])!r}\n")


def write_real_market(csv_dir: Path, end: date, tickers: int = REAL_MARKET_TICKERS) -> int:
    """The real-shaped market, plus a ``BTC-USD.csv`` in yfinance's full shape to ``end``, as
    the fetched export has: a file of another shape is parsed one by one into the fetched
    table, beside the 34 M streamed rows, which is what made landing run out of memory
    (tests/extract/test_landing_memory.py)."""
    shutil.rmtree(csv_dir, ignore_errors=True)
    rows = write_real_market_csvs(csv_dir, real_market_files(tickers, end))
    write_btc_usd_csv(csv_dir / BTC_USD_FILE, end)
    return rows + len(btc_usd_rows(end))


def append_real_market_day_again(csv_dir: Path, end: date, day: date, tickers: int) -> None:
    """``append_real_market_day`` on the market ``write_real_market`` wrote (regenerated: the
    generator is deterministic), and BTC-USD's days up to ``day``."""
    append_real_market_day(csv_dir, real_market_files(tickers, end), day)
    for missing in pd.date_range(end + timedelta(days=1), day, freq="D"):
        append_btc_usd_day(csv_dir / BTC_USD_FILE, missing.date())


def in_fresh_process(function, *args):
    """``function(*args)`` in a spawned interpreter. Linux gives a child run, at exec, the peak
    RSS of the process it was spawned from as its own starting ru_maxrss: the generator's or
    the floor's memory in this process would be counted as every later run's peak."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


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
        _mart_like_sql(connection)
    return time.perf_counter() - started


def _mart_like_sql(connection: duckdb.DuckDBPyConnection) -> None:
    """The floor's SQL on a ``prices(ticker, date, close)`` table: daily returns, then per
    ticker the one-year volatility (stddev_samp of the daily returns over the year before its
    last date, times sqrt(252)), drawdown and return; the daily rows written as Parquet."""
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


# The fetched market: a folder of real `Date,Close` exports (the `data/` folder of
# github.com/dsturdy/Factor_Attribution), run from a working copy that never writes to it.
FETCHED_DIR_VARIABLE = "HASHPIVOT_BENCH_FETCHED_DIR"
FETCHED_SKIPPED = (
    "market-fetched: skipped (no fetched export: give --fetched-dir or "
    f"{FETCHED_DIR_VARIABLE}; see docs/benchmarks.md)"
)
BTC_USD_FILE = "BTC-USD.csv"
BTC_USD_FIRST_DAY = date(2014, 9, 17)
BTC_USD_HEADER = (
    "Price,Close,High,Low,Open,Volume\nTicker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD\nDate,,,,,\n"
)


def last_line(path: Path) -> tuple[int, bytes]:
    """The byte offset where ``path``'s last non-empty line starts, and the bytes from there to
    the end of the file (that line and whatever line end follows it, as written)."""
    size = path.stat().st_size
    probe = 4096
    with path.open("rb") as handle:
        while True:
            start = max(0, size - probe)
            handle.seek(start)
            tail = handle.read()
            cut = tail.rstrip(b"\r\n").rfind(b"\n")
            if cut >= 0 or start == 0:
                offset = start + cut + 1
                return offset, tail[offset - start :]
            probe *= 4


def row_date(line: bytes) -> str | None:
    """The ``YYYY-MM-DD`` date a CSV row starts with; None for a header or anything else."""
    field = line.split(b",", 1)[0].strip()[:10].decode("ascii", errors="replace")
    try:
        date.fromisoformat(field)
    except ValueError:
        return None
    return field if len(field) == 10 else None


def fetched_last_rows(source_dir: Path) -> tuple[dict[Path, tuple[int, bytes]], str]:
    """The fetched folder's ``*.csv`` files whose last row holds the folder's last date, each
    with where that row starts and its bytes; and that date (``YYYY-MM-DD``). A file named like
    the generated BTC-USD file is left out."""
    rows = {
        path: last_line(path)
        for path in sorted(source_dir.glob("*.csv"))
        if path.name.upper() != BTC_USD_FILE.upper()
    }
    dates = {path: row_date(line) for path, (_, line) in rows.items()}
    last_day = max((day for day in dates.values() if day), default=None)
    if last_day is None:
        raise ValueError(f"no dated rows in the *.csv files of {source_dir}")
    return {path: rows[path] for path, day in dates.items() if day == last_day}, last_day


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links refused
        shutil.copyfile(source, target)


def _check_apart(source_dir: Path, work_dir: Path) -> None:
    source, work = source_dir.resolve(), work_dir.resolve()
    if source == work or source in work.parents or work in source.parents:
        raise ValueError(f"the working copy {work} must lie outside the fetched folder {source}")


def write_fetched_yesterday_copy(source_dir: Path, work_dir: Path) -> date:
    """``work_dir`` (emptied first) as the fetched folder was the day before its last date:
    a hard link (or copy) of each ``*.csv`` file, except that the files whose last row holds
    the folder's last date are real copies without that row; plus a yfinance-shaped
    ``BTC-USD.csv`` up to the day before. Returns the folder's last date. Nothing is written
    to ``source_dir``."""
    _check_apart(source_dir, work_dir)
    latest, last_day = fetched_last_rows(source_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    for path in sorted(source_dir.glob("*.csv")):
        if path.name.upper() == BTC_USD_FILE.upper():
            continue
        target = work_dir / path.name
        if path in latest:
            shutil.copyfile(path, target)
            os.truncate(target, latest[path][0])
        else:
            _link_or_copy(path, target)
    day = date.fromisoformat(last_day)
    write_btc_usd_csv(work_dir / BTC_USD_FILE, day - timedelta(days=1))
    return day


def append_fetched_day(source_dir: Path, work_dir: Path) -> int:
    """The fetched folder's last day into the copy ``write_fetched_yesterday_copy`` wrote: each
    truncated file gets its removed last row back, byte for byte as in the original, and
    ``BTC-USD.csv`` its next day. Returns the rows appended."""
    _check_apart(source_dir, work_dir)
    latest, last_day = fetched_last_rows(source_dir)
    for path, (offset, _) in latest.items():
        target = work_dir / path.name
        if target.stat().st_size != offset or os.path.samefile(path, target):
            raise ValueError(f"{target} is not {path} without its last row")
    for path, (_, row) in latest.items():
        with (work_dir / path.name).open("ab") as handle:
            handle.write(row)
    append_btc_usd_day(work_dir / BTC_USD_FILE, date.fromisoformat(last_day))
    return len(latest) + 1


def btc_usd_rows(last_day: date, seed: int = 17) -> list[str]:
    """Rows of a yfinance ``yf.download("BTC-USD").to_csv()`` export, every calendar day from
    2014-09-17 to ``last_day``: ``Date,Close,High,Low,Open,Volume``, a deterministic random
    walk (a later ``last_day`` gives the same rows, and more)."""
    days = pd.date_range(BTC_USD_FIRST_DAY, last_day, freq="D").strftime("%Y-%m-%d")
    draws = np.random.default_rng(seed).normal(size=(len(days), 4))
    closes = 457.334 * np.exp(np.cumsum(0.001 + 0.035 * draws[:, 0]))
    opens = np.concatenate([[465.864], closes[:-1]])
    highs = np.maximum(opens, closes) * (1 + 0.01 * np.abs(draws[:, 1]))
    lows = np.minimum(opens, closes) * (1 - 0.01 * np.abs(draws[:, 2]))
    volumes = np.exp(23 + 0.4 * draws[:, 3]).astype(np.int64)
    return [
        f"{day},{close!r},{high!r},{low!r},{open_!r},{volume}"
        for day, close, high, low, open_, volume in zip(
            days,
            closes.tolist(),
            highs.tolist(),
            lows.tolist(),
            opens.tolist(),
            volumes.tolist(),
            strict=True,
        )
    ]


def write_btc_usd_csv(path: Path, last_day: date) -> None:
    """``BTC-USD.csv`` in yfinance's three-header-line shape, up to ``last_day`` (a new file:
    a link in its place is removed, not written through)."""
    path.unlink(missing_ok=True)
    path.write_text(BTC_USD_HEADER + "".join(row + "\n" for row in btc_usd_rows(last_day)))


def append_btc_usd_day(path: Path, day: date) -> None:
    """``day``'s row, as ``write_btc_usd_csv`` would write it, after the day before."""
    _, line = last_line(path)
    if row_date(line) != (day - timedelta(days=1)).isoformat():
        raise ValueError(f"{path} does not end the day before {day}")
    with path.open("a") as handle:
        handle.write(btc_usd_rows(day)[-1] + "\n")


def fetched_floor_files(csv_dir: Path) -> tuple[list[str], list[str]]:
    """The ``*.csv`` files of ``csv_dir`` by their first line: the minimal ``Date,Close``
    exports and the yfinance ``Price,Close,...`` ones (files of any other shape are left out)."""
    minimal: list[str] = []
    yfinance: list[str] = []
    for path in sorted(csv_dir.glob("*.csv")):
        with path.open("rb") as handle:
            first = handle.readline().decode("utf-8-sig", errors="replace").strip()
        if first == "Date,Close":
            minimal.append(str(path))
        elif first.startswith("Price,Close,"):
            yfinance.append(str(path))
    return minimal, yfinance


def fetched_floor_seconds(csv_dir: Path) -> float:
    """The floor of the fetched market: one DuckDB process reads every file of ``csv_dir``
    once (the ``Date,Close`` exports and the yfinance-shaped ones) and runs the same mart-like
    SQL as ``floor_seconds`` (one-year volatility per ticker and more)."""
    started = time.perf_counter()
    minimal, yfinance = fetched_floor_files(csv_dir)
    ticker = r"regexp_extract(filename, '([^/]+)\.csv$', 1)"
    reads = []
    if minimal:
        reads.append(
            f"""
            select {ticker} as ticker, "Date" as date, "Close" as close
            from read_csv($minimal, filename = true, header = true,
                          columns = {{'Date': 'DATE', 'Close': 'DOUBLE'}})
            """
        )
    if yfinance:
        reads.append(
            f"""
            select {ticker} as ticker, "Date" as date, "Close" as close
            from read_csv($yfinance, filename = true, header = false, skip = 3,
                          columns = {{'Date': 'DATE', 'Close': 'DOUBLE', 'High': 'DOUBLE',
                                     'Low': 'DOUBLE', 'Open': 'DOUBLE', 'Volume': 'DOUBLE'}})
            """
        )
    if not reads:
        raise ValueError(f"no Date,Close or yfinance-shaped CSV files in {csv_dir}")
    parameters = {"minimal": minimal} if minimal else {}
    if yfinance:
        parameters["yfinance"] = yfinance
    with duckdb.connect() as connection:
        connection.execute("create table prices as " + " union all ".join(reads), parameters)
        _mart_like_sql(connection)
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


def csv_market_runs(
    name: str,
    csv_dir: Path,
    data_dir: Path,
    add_day: Callable[[], object],
    *,
    no_change_first: bool = True,
) -> list[Measurement]:
    """A CSV market's sequence from an empty data dir, with default settings and ``--universe
    all``: cold, no new data and, after ``add_day``, one new trading day (with
    ``no_change_first=False``: cold, the new day, then no new data)."""
    options = ["--source", "csv", "--csv-dir", str(csv_dir), "--universe", "all"]
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"{name}:", flush=True)
    runs = [measure(name, "cold", data_dir, *options)]
    if no_change_first:
        runs.append(measure(name, "no new data", data_dir, *options))
    add_day()
    runs.append(measure(name, "one new trading day", data_dir, *options))
    if not no_change_first:
        runs.append(measure(name, "no new data", data_dir, *options))
    return runs


def print_table(measurements: list[Measurement], floors: dict[str, float], load_s: float) -> None:
    header = (
        "| scenario | run | wall s | peak RSS MB | peak RSS all processes MB | "
        f"{' | '.join(STAGES)} | vs floor |"
    )
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for m in measurements:
        stages = " | ".join(f"{m.stages.get(stage, 0):.1f}" for stage in STAGES)
        floor = floors.get(m.scenario)
        ratio = f"{m.wall_s / floor:.1f}x" if floor and m.run == "cold" else ""
        status = "" if m.ok else " (FAILED)"
        print(
            f"| {m.scenario} | {m.run}{status} | {m.wall_s:.1f} | {m.peak_rss_mb:.0f} "
            f"| {m.peak_tree_rss_mb:.0f} | {stages} | {ratio} |"
        )
    blanks = " |" * (2 + len(STAGES))  # the two peaks and the stages
    for scenario, seconds in floors.items():
        print(f"| {scenario} | floor (one DuckDB process) | {seconds:.1f} |{blanks} 1.0x |")
    print(
        f"\ncode location load (median of 5 imports of orchestration.definitions): {load_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="default universe only")
    parser.add_argument(
        "--scenario",
        choices=["default", "demo2000", "market", "market-real", "market-fetched"],
        action="append",
    )
    parser.add_argument(
        "--fetched-dir",
        type=Path,
        help="market-fetched scenario: the folder of real Date,Close exports (the data/ "
        f"folder of dsturdy/Factor_Attribution; default: ${FETCHED_DIR_VARIABLE}); never "
        "written to",
    )
    parser.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        action="append",
        help="engines of the default and demo2000 scenarios (default: both, in one run; the "
        "market scenarios run on DuckDB)",
    )
    parser.add_argument("--tickers", type=int, default=12000, help="market scenario tickers")
    parser.add_argument("--years", type=int, default=11, help="market scenario years")
    parser.add_argument(
        "--repeat", type=int, default=3, help="sequences of the default-universe scenario"
    )
    arguments = parser.parse_args()
    arguments.engine = arguments.engine or ["duckdb", "spark"]
    chosen = arguments.scenario or (
        ["default"] if arguments.quick else ["default", "demo2000", "market"]
    )
    fetched_dir = arguments.fetched_dir or os.environ.get(FETCHED_DIR_VARIABLE) or None
    if "market-fetched" in chosen and (fetched_dir is None or not Path(fetched_dir).is_dir()):
        print(FETCHED_SKIPPED, flush=True)
        chosen = [scenario for scenario in chosen if scenario != "market-fetched"]
        if not chosen:
            return
    OUT.mkdir(parents=True, exist_ok=True)
    today = date.today()
    end = today - timedelta(days=1)
    measurements: list[Measurement] = []
    floors: dict[str, float] = {}
    # First, as it also prepares the dbt manifest of a fresh checkout (not a pipeline cost).
    load_seconds = code_location_load_seconds()
    for engine in arguments.engine:
        engine_options = ["--engine", engine]
        if "default" in chosen:
            start = (end - timedelta(days=6 * 365)).isoformat()
            common = [*engine_options, "--source", "demo", "--start", start]
            measurements += scenario_runs(
                f"default universe, demo, 6y, {engine}",
                OUT / f"default-{engine}",
                [*common, "--end", (end - timedelta(days=1)).isoformat()],
                [*common, "--end", end.isoformat()],
                arguments.repeat,
            )
        if "demo2000" in chosen:
            start = (end - timedelta(days=10 * 365)).isoformat()
            common = [
                *engine_options,
                "--source",
                "demo",
                "--universe",
                "all",
                "--demo-tickers",
                "2000",
                "--start",
                start,
            ]
            measurements += scenario_runs(
                f"2,000 tickers x 10y, demo, {engine}",
                OUT / f"demo2000-{engine}",
                [*common, "--end", (end - timedelta(days=1)).isoformat()],
                [*common, "--end", end.isoformat()],
            )
    if "market" in chosen:
        csv_dir = OUT / f"market_{arguments.tickers}x{arguments.years}"
        last_day = date(2025, 4, 3)
        shutil.rmtree(csv_dir, ignore_errors=True)
        rows = write_market_csvs(csv_dir, arguments.tickers, arguments.years, last_day)
        name = f"{arguments.tickers:,} tickers x {arguments.years}y CSV ({rows / 1e6:.0f} M rows)"
        floors[name] = in_fresh_process(floor_seconds, csv_dir)
        measurements += csv_market_runs(
            name, csv_dir, OUT / "market", lambda: append_day(csv_dir, last_day + timedelta(1))
        )
    if "market-real" in chosen:
        # Real exports' shapes (see real_market_files) at the real folder's size; the folder's
        # path is about as long as the real one's (~30 characters).
        csv_dir = OUT / "market_real"
        last_day = date(2026, 4, 2)
        tickers = REAL_MARKET_TICKERS
        rows = in_fresh_process(write_real_market, csv_dir, last_day, tickers)
        name = f"real-shaped market, {tickers:,} CSV files ({rows / 1e6:.1f} M rows)"
        floors[name] = in_fresh_process(fetched_floor_seconds, csv_dir)
        measurements += csv_market_runs(
            name,
            csv_dir,
            OUT / "market-real",
            lambda: in_fresh_process(
                append_real_market_day_again, csv_dir, last_day, date(2026, 4, 3), tickers
            ),
        )
    if "market-fetched" in chosen:
        # The real exports as of the day before their last date, then that day appended.
        source_dir = Path(fetched_dir).resolve()
        csv_dir = OUT / "market_fetched"
        last_day = write_fetched_yesterday_copy(source_dir, csv_dir)
        files = len(list(csv_dir.glob("*.csv")))
        name = f"fetched market, {files:,} CSV files to {last_day}"
        floors[name] = in_fresh_process(fetched_floor_seconds, csv_dir)

        def append_last_day() -> None:
            rows = append_fetched_day(source_dir, csv_dir)
            print(f"  (appended {last_day}: {rows:,} rows)", flush=True)

        measurements += csv_market_runs(
            name, csv_dir, OUT / "market-fetched", append_last_day, no_change_first=False
        )
    print_table(measurements, floors, load_seconds)


if __name__ == "__main__":
    main()
