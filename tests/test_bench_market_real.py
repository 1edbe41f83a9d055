"""The benchmark's real-shaped market (bench/run_benchmarks.py, scenario market-real): a small
instance has the properties of a real folder of Date,Close exports."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run_benchmarks.py"


def _bench():
    spec = importlib.util.spec_from_file_location("run_benchmarks", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_benchmarks", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_small_real_shaped_market_has_the_real_folders_properties(tmp_path: Path) -> None:
    bench = _bench()
    files = bench.real_market_files(50)
    assert [f.symbol for f in files] == [f.symbol for f in bench.real_market_files(50)]
    symbols = [f.symbol for f in files]
    assert len({s.upper() for s in symbols}) == 50
    assert any("-" in s for s in symbols)
    assert any(s.startswith("^") for s in symbols)
    assert any(f.closes is None for f in files)  # header-only
    with_rows = [f for f in files if f.closes is not None]
    assert any(len(f.dates) == 1 for f in with_rows)
    assert max(len(f.dates) for f in with_rows) == bench.REAL_MARKET_MAX_ROWS
    assert min(f.dates[0] for f in with_rows) < "1980-01-01"
    assert any((f.closes == 0).any() for f in with_rows)
    jumps = sum(
        int(np.sum(f.closes[1:] > 4 * f.closes[:-1]) if len(f.closes) > 1 else 0)
        for f in with_rows
        if (f.closes > 0).all()
    )
    assert jumps >= 2  # daily moves above +300%
    rows = bench.write_real_market_csvs(tmp_path, files)
    assert rows == sum(len(f.dates) for f in with_rows)
    assert len(list(tmp_path.glob("*.csv"))) == 50
    assert (tmp_path / "BRK-B.csv").read_text().startswith("Date,Close\n")
    assert bench.real_market_files(3, end=date(2026, 4, 2))[0].symbol == files[0].symbol


def test_the_fetched_markets_yesterday_copy_and_its_new_day(tmp_path: Path) -> None:
    """Scenario market-fetched: the working copy leaves the last date out of the files that
    end on it, appending the day restores them byte for byte, the fetched folder is untouched."""
    bench = _bench()
    source = tmp_path / "fetched"
    source.mkdir()
    originals = {
        "AAA.csv": b"Date,Close\n2026-07-31,10.5\n2026-08-03,10.75\n",
        "BRK-B.csv": b"Date,Close\n2026-07-30,400.0\n2026-07-31,401.25\n2026-08-03,402.5",
        "OLD.csv": b"Date,Close\n2026-07-30,1.0\n2026-07-31,1.5\n",
    }
    for name, content in originals.items():
        (source / name).write_bytes(content)
    work = tmp_path / "work"

    assert bench.write_fetched_yesterday_copy(source, work) == date(2026, 8, 3)
    assert (work / "AAA.csv").read_bytes() == b"Date,Close\n2026-07-31,10.5\n"
    assert (work / "BRK-B.csv").read_bytes() == b"Date,Close\n2026-07-30,400.0\n2026-07-31,401.25\n"
    assert (work / "OLD.csv").read_bytes() == originals["OLD.csv"]
    assert (work / "OLD.csv").samefile(source / "OLD.csv")  # linked, not copied
    assert not (work / "AAA.csv").samefile(source / "AAA.csv")
    btc = (work / "BTC-USD.csv").read_text().splitlines()
    assert btc[:3] == [
        "Price,Close,High,Low,Open,Volume",
        "Ticker,BTC-USD,BTC-USD,BTC-USD,BTC-USD,BTC-USD",
        "Date,,,,,",
    ]
    days = [row.split(",")[0] for row in btc[3:]]
    assert days[0] == "2014-09-17"
    assert days[-1] == "2026-08-02"
    assert len(days) == (date(2026, 8, 2) - date(2014, 9, 17)).days + 1  # every calendar day
    assert all(len(row.split(",")) == 6 for row in btc[3:])
    assert bench.fetched_floor_files(work) == (
        [str(work / name) for name in ("AAA.csv", "BRK-B.csv", "OLD.csv")],
        [str(work / "BTC-USD.csv")],
    )
    assert bench.fetched_floor_seconds(work) > 0

    assert bench.append_fetched_day(source, work) == 3
    for name, content in originals.items():
        assert (work / name).read_bytes() == content
        assert (source / name).read_bytes() == content
    regenerated = tmp_path / "BTC-USD.csv"
    bench.write_btc_usd_csv(regenerated, date(2026, 8, 3))
    assert (work / "BTC-USD.csv").read_bytes() == regenerated.read_bytes()
    assert sorted(p.name for p in source.iterdir()) == sorted(originals)


def test_the_summed_rss_of_a_process_tree_counts_its_children() -> None:
    bench = _bench()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alone = bench._rss_from_proc(os.getpid())
        assert alone > 0
        assert child.pid in bench._descendants_from_proc(os.getpid())
        assert bench.tree_rss_bytes(os.getpid()) > alone
    finally:
        child.kill()
        child.wait()


def test_the_generated_market_has_a_file_of_another_shape_beside_the_minimal_ones(
    tmp_path: Path,
) -> None:
    """What made the real export run out of memory in landing: a file parsed one by one (the
    fetched table) beside the streamed minimal files."""
    from orchestration.extract.sources.csv_file import read_price_csv
    from orchestration.extract.sources.csv_folder import has_minimal_header

    bench = _bench()
    csv_dir = tmp_path / "market"
    end = date(2026, 4, 2)
    rows = bench.write_real_market(csv_dir, end, 20)
    btc = csv_dir / "BTC-USD.csv"
    assert not has_minimal_header(btc)
    parsed = read_price_csv(btc)
    assert parsed["date"].max().date() == end
    assert len(parsed) == (end - date(2014, 9, 17)).days + 1
    minimal = [path for path in csv_dir.glob("*.csv") if path != btc]
    assert all(has_minimal_header(path) for path in minimal)
    assert rows == sum(len(path.read_text().splitlines()) - 1 for path in minimal) + len(parsed)

    bench.append_real_market_day_again(csv_dir, end, date(2026, 4, 6), 20)
    assert read_price_csv(btc)["date"].max().date() == date(2026, 4, 6)
