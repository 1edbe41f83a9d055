"""The dbt marts agree with the independent pandas reference, on the real sample prices (when
../shared is beside the checkout) and on exports the tests generate in the same shapes (always,
so a plain clone and the GitHub workflow run the comparison too).

The product runs end to end in a subprocess (``hashpivot run --source csv``) once per exports
and as-of date; its financial marts and stale_series are then compared cell by cell with
``tests.marts.reference``: same keys, numbers equal within a relative tolerance of 1e-9
(absolute 1e-12 near 0), NULLs in the same places, dates equal.
"""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.exports import write_sample_like_exports
from tests.marts import reference as ref
from tests.marts.compare import compare_frames, describe_differences
from tests.pipeline import run_hashpivot

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PRICES_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "sample_prices"
# (exports, as-of date) of each product run.
# "sample_like": generated exports in every export shape (tests/exports.py) with the sample
# folder's layout and quirks (exchange holidays, no GLXY file, KEEL as BITF.csv, another
# security's CORZ/HUT rows before their prices_valid_from): the twin of each sample run.
RUNS = [
    ("sample", "2025-04-04"),
    ("sample", "2024-12-31"),
    ("sample_like", "2025-04-04"),
    ("sample_like", "2024-12-31"),
]
SAMPLE_LIKE_FIRST_DAY, SAMPLE_LIKE_LAST_DAY = date(2022, 6, 1), date(2025, 4, 4)

# mart -> (key columns, reference builder)
MARTS = {
    "miner_ai_pivot_performance": (
        ["ticker"],
        lambda prices, companies, contracts, as_of: ref.miner_performance(
            prices, companies, contracts, as_of
        ),
    ),
    "fct_contract_announcement_returns": (
        ["contract_id"],
        lambda prices, companies, contracts, as_of: ref.contract_announcement_returns(
            prices, contracts, as_of
        ),
    ),
    "miner_pivot_index_daily": (
        ["date", "basket"],
        lambda prices, companies, contracts, as_of: ref.pivot_index_daily(
            prices, companies, contracts, as_of
        ),
    ),
    # Empty on these exports (every series runs to the as-of date): an empty mart is compared
    # (and published) too.
    "stale_series": (
        ["ticker"],
        lambda prices, companies, contracts, as_of: ref.stale_series(prices, companies, as_of),
    ),
}


def run_product(data_dir: Path, exports: Path, as_of: str) -> subprocess.CompletedProcess[str]:
    return run_hashpivot(data_dir, "--source", "csv", "--csv-dir", str(exports), "--as-of", as_of)


@pytest.fixture(scope="module")
def sample_like_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_like_exports(
        tmp_path_factory.mktemp("sample_like_exports"),
        first_day=SAMPLE_LIKE_FIRST_DAY,
        last_day=SAMPLE_LIKE_LAST_DAY,
    )


def exports_dir(kind: str, request: pytest.FixtureRequest) -> Path:
    if kind == "sample_like":
        return request.getfixturevalue("sample_like_exports")
    if not SAMPLE_PRICES_DIR.is_dir():
        pytest.skip(f"{SAMPLE_PRICES_DIR} is not there (../shared beside the checkout)")
    return SAMPLE_PRICES_DIR


@pytest.fixture(scope="module", params=RUNS, ids=[f"{kind}-{as_of}" for kind, as_of in RUNS])
def warehouse_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """(as-of date, warehouse path, reference inputs) of one product run; each runs once."""
    kind, as_of = request.param
    exports = exports_dir(kind, request)
    data_dir = tmp_path_factory.mktemp(f"run_{kind}_{as_of}")
    result = run_product(data_dir, exports, as_of)
    if result.returncode != 0:
        pytest.fail(
            f"hashpivot run --as-of {as_of} exited {result.returncode}\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    warehouse = data_dir / "warehouse" / "hashpivot.duckdb"
    assert warehouse.is_file(), f"no warehouse at {warehouse}\n{result.stdout[-3000:]}"
    inputs = ref.load_sample_prices(exports), ref.load_companies(), ref.load_contracts()
    return as_of, warehouse, inputs


def read_mart(warehouse: Path, mart: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        if (mart,) not in tables:
            found = sorted(name for (name,) in tables)
            pytest.fail(f"marts.{mart} is not in the warehouse (marts found: {found})")
        return connection.execute(f"select * from marts.{mart}").df()


@pytest.mark.slow
@pytest.mark.parametrize("mart", list(MARTS))
def test_mart_matches_reference(
    mart: str, warehouse_run: tuple[str, Path, tuple[pd.DataFrame, ...]]
) -> None:
    as_of, warehouse, reference_inputs = warehouse_run
    keys, build = MARTS[mart]
    expected = build(*reference_inputs, as_of)
    actual = read_mart(warehouse, mart)
    differences = compare_frames(expected, actual, keys)
    assert differences.empty, describe_differences(f"marts.{mart} as of {as_of}", differences)
