"""The benchmark's real-shaped market (bench/run_benchmarks.py, scenario market-real): a small
instance has the properties of a real folder of Date,Close exports."""

from __future__ import annotations

import importlib.util
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
