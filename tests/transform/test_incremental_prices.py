"""The incremental price model gives exactly what a full rebuild gives.

One data dir receives a sequence of landings (each accepted by the audit ledger, as the
raw_prices check does), and after each one its warehouse is built incrementally; a second data
dir, whose landing/ and quality/ are links to the first's, is rebuilt with --full-refresh. Both
`int_prices__daily_returns` and `fct_daily_prices` must hold the same rows (EXCEPT ALL both
ways), and the incremental build must really have taken its incremental path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.extract.landed import landed_files
from orchestration.extract.retractions import retract_demo_prices
from orchestration.extract.sources.demo import generate_demo_prices
from orchestration.paths import data_paths
from orchestration.quality.ledger import record_audit
from tests.landing_files import write_landing_file
from tests.transform.dbt_runner import run_dbt, run_results

pytestmark = pytest.mark.slow

SELECT = [
    "--select",
    "+fct_daily_prices",
    "--indirect-selection",
    "cautious",
    "--exclude-resource-type",
    "unit_test",
]
COMPARED = ("intermediate.int_prices__daily_returns", "marts.fct_daily_prices")
FIRST_FETCH = datetime(2026, 1, 5, 22, tzinfo=UTC)


class Landings:
    """Writes landing files and accepts them (or quarantines rows) like the raw_prices audit,
    each landing an hour after the previous one."""

    def __init__(self, data_dir: Path) -> None:
        self.paths = data_paths(data_dir)
        self.count = 0

    def land(
        self,
        prices: pd.DataFrame,
        source: str,
        quarantine: list[tuple[str, date]] = (),
    ) -> None:
        self.count += 1
        fetched_at = FIRST_FETCH + timedelta(hours=self.count)
        path = write_landing_file(
            prices,
            self.paths.landing_prices,
            price_source=source,
            run_id=f"extract-{self.count}",
            fetched_at=fetched_at,
        )
        quarantined = pd.DataFrame(
            [
                {"landing_file": path.name, "ticker": t, "date": d, "close": 0.0, "rules": "test"}
                for t, d in quarantine
            ]
        )
        record_audit(
            self.paths.ledger,
            accepted=[path],
            quarantined=quarantined,
            run_id=f"audit-{self.count}",
            audited_at=fetched_at + timedelta(minutes=5),
        )


def real_prices(ticker: str, start: date, end: date, scale: float = 1.0) -> pd.DataFrame:
    """Prices standing in for market data (a source other than demo)."""
    prices = generate_demo_prices([ticker], start, end, seed=7)
    for column in ("open", "high", "low", "close", "adj_close"):
        prices[column] = prices[column] * scale
    return prices


def differences(incremental: Path, rebuilt: Path, relation: str) -> tuple[int, int, int]:
    """(rows only in the incremental build, rows only in the full rebuild, rows compared).
    ``built_at`` (when the build that wrote a row started) differs by construction."""
    with duckdb.connect() as connection:
        connection.execute(f"attach '{incremental}' as incremental (read_only)")
        connection.execute(f"attach '{rebuilt}' as rebuilt (read_only)")
        schema, table = relation.split(".")
        has_built_at = connection.execute(
            "select count(*) from duckdb_columns() where database_name = 'rebuilt' "
            "and schema_name = ? and table_name = ? and column_name = 'built_at'",
            [schema, table],
        ).fetchall()[0][0]
        columns = "* exclude (built_at)" if has_built_at else "*"
        incremental_rows = f"select {columns} from incremental.{relation}"
        rebuilt_rows = f"select {columns} from rebuilt.{relation}"
        only_incremental = connection.execute(
            f"select count(*) from ({incremental_rows} except all {rebuilt_rows})"
        ).fetchall()[0][0]
        only_rebuilt = connection.execute(
            f"select count(*) from ({rebuilt_rows} except all {incremental_rows})"
        ).fetchall()[0][0]
        rows = connection.execute(f"select count(*) from rebuilt.{relation}").fetchall()[0][0]
    return only_incremental, only_rebuilt, rows


def model_result(data_dir: Path, model: str) -> dict:
    (result,) = [r for r in run_results(data_dir) if r["unique_id"] == f"model.hashpivot.{model}"]
    return result


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_incremental_builds_equal_full_rebuilds(tmp_path: Path) -> None:
    incremental_dir, rebuilt_dir = tmp_path / "incremental", tmp_path / "rebuilt"
    landings = Landings(incremental_dir)
    rebuilt_dir.mkdir()
    for shared in ("landing", "quality"):
        (incremental_dir / shared).mkdir(parents=True, exist_ok=True)
        (rebuilt_dir / shared).symlink_to(incremental_dir / shared, target_is_directory=True)
    incremental_db = data_paths(incremental_dir).warehouse
    rebuilt_db = data_paths(rebuilt_dir).warehouse

    def build_and_compare(step: str, *, cold: bool = False) -> None:
        run_dbt(incremental_dir, "build", *SELECT)
        compiled = model_result(incremental_dir, "int_prices__daily_returns")["compiled_code"]
        # The incremental path reads only the newly accepted files; a cold build reads all.
        assert ("rebuilds as" in compiled) is not cold, f"{step}: wrong build path"
        run_dbt(rebuilt_dir, "build", "--full-refresh", *SELECT)
        for relation in COMPARED:
            only_incremental, only_rebuilt, rows = differences(incremental_db, rebuilt_db, relation)
            assert rows > 0
            assert (only_incremental, only_rebuilt) == (0, 0), (
                f"after {step}, {relation}: {only_incremental} rows only in the incremental "
                f"build, {only_rebuilt} only in the full rebuild (of {rows})"
            )

    # Cold: two real tickers (CORZ's rows before its prices_valid_from are left out) and a
    # demo one.
    landings.land(real_prices("AAA", date(2024, 1, 2), date(2024, 3, 1)), "csv")
    landings.land(real_prices("CORZ", date(2024, 1, 2), date(2024, 3, 1)), "csv")
    landings.land(generate_demo_prices(["DEMO"], date(2024, 1, 2), date(2024, 3, 1)), "demo")
    build_and_compare("the cold build", cold=True)

    # One new trading day per ticker, in one file.
    new_day = date(2024, 3, 4)
    landings.land(
        pd.concat(
            [
                real_prices("AAA", new_day, new_day).assign(price_source="csv"),
                real_prices("CORZ", new_day, new_day).assign(price_source="csv"),
                generate_demo_prices(["DEMO"], new_day, new_day).assign(price_source="demo"),
            ]
        ),
        "csv",
    )
    build_and_compare("one new day")
    assert query(
        incremental_db, f"select count(*) from marts.fct_daily_prices where date = '{new_day}'"
    ) == [(3,)]

    # A revised past close inside the re-fetch window: that row and the next day's return
    # change. The same file brings a row the audit quarantines, which must stay out.
    revised = real_prices("AAA", date(2024, 2, 27), date(2024, 2, 27), scale=1.5)
    bad_day = real_prices("CORZ", date(2024, 3, 5), date(2024, 3, 5))
    landings.land(pd.concat([revised, bad_day]), "csv", quarantine=[("CORZ", date(2024, 3, 5))])
    build_and_compare("a revised close")
    (next_return,) = query(
        incremental_db,
        "select daily_return from marts.fct_daily_prices "
        "where ticker = 'AAA' and date = '2024-02-28'",
    )
    assert next_return[0] < 0  # the 1.5x revised close the day before pulls it down
    assert query(
        incremental_db, "select count(*) from marts.fct_daily_prices where date = '2024-03-05'"
    ) == [(0,)]

    # A new ticker, with its whole history.
    landings.land(real_prices("NEWT", date(2023, 12, 1), date(2024, 3, 4)), "csv")
    build_and_compare("a new ticker")


def test_real_prices_replace_every_demo_row_at_once_through_one_retraction(
    tmp_path: Path,
) -> None:
    """A data dir mixed by an earlier version: real AAA prices, then demo rows of AAA (fetched
    later, on the same dates) and of DEMO. The demo rule's one retraction withdraws every demo
    row; the real rows beneath the later demo rows count again."""
    data_dir = tmp_path / "mixed"
    landings = Landings(data_dir)
    real = real_prices("AAA", date(2024, 1, 2), date(2024, 3, 1))
    landings.land(real, "csv")
    landings.land(generate_demo_prices(["AAA", "DEMO"], date(2024, 1, 2), date(2024, 3, 8)), "demo")
    paths = data_paths(data_dir)
    with duckdb.connect() as connection:
        retracted = retract_demo_prices(
            connection,
            landing_files=landed_files(paths.landing_prices),
            retractions_dir=paths.landing_retractions,
            run_id="recovery",
            fetched_at=FIRST_FETCH + timedelta(days=1),
        )
    assert set(retracted.rows_by_ticker) == {"AAA", "DEMO"}
    run_dbt(data_dir, "build", "--full-refresh", *SELECT)
    rows = query(
        paths.warehouse,
        "select ticker, date, price_source, adj_close from marts.fct_daily_prices order by date",
    )
    assert {row[0] for row in rows} == {"AAA"}
    assert {row[2] for row in rows} == {"csv"}
    assert [(row[1], row[3]) for row in rows] == list(
        zip(pd.to_datetime(real["date"]).dt.date, real["adj_close"], strict=True)
    )
