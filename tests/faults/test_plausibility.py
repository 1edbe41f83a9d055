"""Issue 14, item 2: prices no market ever quoted, and dates outside 1900..today, block (curated
tickers) or are quarantined (others) in the raw prices audit, named with ticker, date, rule,
value and file, and never crash it; the real and generated exports still pass; and every
published mart's numeric columns are checked finite and plausible before publishing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.paths import LedgerPaths, data_paths
from orchestration.quality.gx_runner import GxValidator
from orchestration.quality.ledger import (
    PRICE_CEILING,
    pending_landing_files,
    record_audit,
    stage_pending_batch,
)
from orchestration.quality.price_audit import BATCH_TABLE, audit_price_batch, write_quarantine
from orchestration.quality.published_values import (
    CHECK_NAME,
    PLAUSIBLE_BOUND,
    numeric_columns,
    plausibility_suite,
)
from orchestration.quality.suites import load_suite_document
from tests.landing_files import write_landing_file

TODAY = date(2026, 11, 27)
PLAUSIBILITY_RULES = {
    "open_not_above_1e7",
    "high_not_above_1e7",
    "low_not_above_1e7",
    "close_not_above_1e7",
    "adj_close_not_above_1e7",
    "volume_not_above_1e12",
    "daily_move_within_100x",
    "date_not_before_1900",
}


def prices(ticker: str, days: list[date], close: list[float], **columns) -> pd.DataFrame:
    frame = pd.DataFrame({"ticker": ticker, "date": days, "close": close})
    frame["adj_close"] = columns.pop("adj_close", frame["close"])
    for column in ("open", "high", "low"):
        frame[column] = columns.pop(column, frame["close"])
    frame["volume"] = columns.pop("volume", 1000.0)
    frame["date"] = frame["date"].astype(object)  # datetime.date: 1600 is no pandas Timestamp
    return frame


def audit(tmp_path: Path, frame: pd.DataFrame, curated: set[str], share: float = 0.9):
    """Land ``frame`` as one file and audit it as the price_audit asset does:
    (landing file, database, outcome, verdict)."""
    landing = tmp_path / "landing"
    write_landing_file(
        frame, landing, price_source="csv", run_id="r1",
        fetched_at=datetime(2026, 11, 27, 1, tzinfo=UTC),
    )  # fmt: skip
    files = pending_landing_files(landing, LedgerPaths(tmp_path / "no_ledger"))
    database = tmp_path / "batch.duckdb"
    with duckdb.connect(str(database)) as connection:
        stage_pending_batch(connection, files, BATCH_TABLE)
    paths = data_paths(tmp_path / "data")
    validator = GxValidator(paths.quality, paths.data_docs_index, database)
    outcome = validator.validate(
        "raw_prices", f"select * from {BATCH_TABLE}", {"today": TODAY}, ["ticker", "date"]
    )
    with duckdb.connect(str(database)) as connection:
        verdict = audit_price_batch(connection, outcome, curated, max_quarantine_share=share)
    return files[0], database, outcome, verdict


DAYS = [date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 6), date(2025, 1, 7)]


def test_a_close_of_1e308_on_a_curated_ticker_blocks_naming_rule_value_and_file(
    tmp_path: Path,
) -> None:
    frame = prices("IREN", DAYS, [10.0, 1e308, 10.5, 10.2], high=[10.0, 1e308, 10.5, 10.2])
    file, _db, _outcome, verdict = audit(tmp_path, frame, {"IREN"})
    assert not verdict.passes
    assert verdict.blocking_count == 1
    message = verdict.failure_message()
    assert "IREN 2025-01-03" in message
    assert "close_not_above_1e7: close=1e+308" in message
    assert "high_not_above_1e7: high=1e+308" in message
    assert file.name in message


def test_absurd_rows_of_other_tickers_are_quarantined_and_reach_the_ledger(tmp_path: Path) -> None:
    good = prices("IREN", DAYS, [10.0, 10.1, 10.5, 10.2])
    infinite = prices("ZZZA", DAYS, [5.0, float("inf"), 5.1, 5.2])
    absurd = prices("ZZZB", DAYS, [5.0, 5.0, 1e308, 5.2])
    jump = prices("ZZZC", DAYS, [5.0, 5.1, 5.2, 5.3], adj_close=[5.0, 5.1, 900.0, 5.3])
    volume = prices("ZZZD", DAYS, [5.0, 5.1, 5.2, 5.3], volume=[1.0, 1e13, 1.0, 1.0])
    frame = pd.concat([good, infinite, absurd, jump, volume], ignore_index=True)
    file, database, outcome, verdict = audit(tmp_path, frame, {"IREN"})
    assert verdict.passes, verdict.failure_message()
    ledger = LedgerPaths(tmp_path / "ledger")
    at = datetime(2026, 11, 27, 3, tzinfo=UTC)
    with duckdb.connect(str(database)) as connection:
        audit_price_batch(connection, outcome, {"IREN"}, 0.9)
        broken = dict(
            connection.execute(
                "select ticker || ' ' || date, broken from bad_rows order by all"
            ).fetchall()
        )
        record_audit(
            ledger,
            accepted=[file],
            write_quarantine=lambda path: write_quarantine(connection, path, "a1", at),
            run_id="a1",
            audited_at=at,
        )
    # The row after the 1e308 one is measured against the last sane price, so it is not
    # quarantined with it; a 100x spike (ZZZC) breaks the rule on its way up and back down.
    every_price = "close_not_above_1e7: close={v}; adj_close_not_above_1e7: adj_close={v}; "
    every_price += "open_not_above_1e7: open={v}; high_not_above_1e7: high={v}; "
    every_price += "low_not_above_1e7: low={v}"
    assert broken == {
        "ZZZA 2025-01-03": every_price.format(v="inf"),
        "ZZZB 2025-01-06": every_price.format(v="1e+308"),
        "ZZZC 2025-01-06": "daily_move_within_100x: adj_close_ratio_in_batch=176.47058823529412",
        "ZZZC 2025-01-07": "daily_move_within_100x: adj_close_ratio_in_batch=0.005888888888888889",
        "ZZZD 2025-01-03": "volume_not_above_1e12: volume=10000000000000.0",
    }
    stored = pd.read_parquet(ledger.quarantine / "a1.parquet")
    assert sorted(stored["ticker"]) == ["ZZZA", "ZZZB", "ZZZC", "ZZZC", "ZZZD"]
    assert set(stored["landing_file"]) == {file.name}


@pytest.mark.parametrize("old", [date(1800, 1, 2), date(1600, 1, 3), date(1, 1, 1)])
def test_a_date_before_1900_is_quarantined_or_blocks_and_never_crashes(
    tmp_path: Path, old: date
) -> None:
    frame = pd.concat(
        [
            prices("ZZZZ", [old, *DAYS[1:]], [1.5, 2.0, 2.1, 2.2]),
            prices("IREN", [old, *DAYS[1:]], [1.5, 2.0, 2.1, 2.2]),
        ],
        ignore_index=True,
    )
    _file, _database, outcome, verdict = audit(tmp_path / "other", frame, {"IREN"})
    assert verdict.quarantined_tickers == ("ZZZZ",)
    assert verdict.quarantined_count == 1
    assert verdict.quarantined_preview[0]["date"] == old
    assert verdict.quarantined_preview[0]["broken"] == f"date_not_before_1900: date={old}"
    # The same row of a curated ticker blocks, named in the message.
    assert verdict.blocking_count == 1
    assert f"IREN {old} close=1.5 [date_not_before_1900: date={old}]" in (verdict.failure_message())
    # The check metadata (a Markdown preview through pandas) is built without a crash.
    from orchestration.quality.audit import LEDGER_ACCEPTED
    from orchestration.quality.checks import markdown_table, suite_check_results

    critical, _ = suite_check_results(outcome, LEDGER_ACCEPTED, "index.html")
    assert str(old) in critical.metadata["bad_rows"].value
    assert str(old) in markdown_table(verdict.quarantined_preview)


def test_the_suite_uses_the_staging_ceiling() -> None:
    rules = {e["meta"]["rule"]: e for e in load_suite_document("raw_prices")["expectations"]}
    assert set(rules) >= PLAUSIBILITY_RULES
    for column in ("open", "high", "low", "close", "adj_close"):
        rule = rules[f"{column}_not_above_1e7"]
        assert rule["kwargs"]["max_value"] == PRICE_CEILING
        assert rule["severity"] == "critical"
    assert rules["date_not_before_1900"]["kwargs"]["min_value"] == "1900-01-01"


def _exports_as_landing_frame(csv_dir: Path) -> pd.DataFrame:
    from orchestration.extract.sources.csv_file import read_price_csv

    frames = []
    for path in sorted(csv_dir.glob("*.csv")):
        frame = read_price_csv(path)
        frames.append(frame.assign(ticker=path.stem))
    return pd.concat(frames, ignore_index=True)


def test_real_and_generated_exports_break_no_plausibility_rule(
    exports_dir: Path, tmp_path: Path
) -> None:
    """The real sample (a reverse split shows in close, not in adj_close; a long BTC-USD
    history; another security's rows before CORZ's prices_valid_from: 46x in a day) and the
    generated twin (a 1-for-5 reverse split, a penny stock) pass every new rule."""
    frame = _exports_as_landing_frame(exports_dir)
    _file, _db, outcome, _verdict = audit(tmp_path, frame, set())
    failed = {e.rule for e in outcome.expectations if not e.success}
    assert not failed & PLAUSIBILITY_RULES, [
        e.describe() for e in outcome.expectations if e.rule in failed
    ]


# --- published marts -------------------------------------------------------------------------


def test_published_values_suite_blocks_nan_and_infinities_but_not_null(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema marts")
        connection.execute(
            """
            create table marts.m as
            select * from (values
                (1, 'a', 0.5::double, 10::bigint, 1.5::decimal(18, 3)),
                (2, 'b', null, null, null),
                (3, 'c', 'nan'::double, 20, 2.0),
                (4, 'd', 'inf'::double, 30, 3.0),
                (5, 'e', '-inf'::double, 40, 4.0),
                (6, 'f', 2e12, 50, 5.0),
                (7, 'g', -999999999999.0, 10000000000000, 6.0)
            ) as t(pos, label, ratio, shares, amount)
            """
        )
        columns = numeric_columns(connection, "marts", "m")
    assert columns == ["pos", "ratio", "shares", "amount"]
    paths = data_paths(tmp_path / "data")
    validator = GxValidator(paths.quality, paths.data_docs_index, database)
    document = plausibility_suite("m", columns)
    outcome = validator.validate(
        document["name"], "select * from marts.m", {"today": TODAY}, ["pos"], document
    )
    failed = {
        e.rule: sorted(row["pos"] for row in e.unexpected_rows)
        for e in outcome.expectations
        if not e.success
    }
    # NaN, +inf, -inf and 2e12 in the double; 1e13 in the bigint; the NULL row passes.
    assert failed == {
        "ratio_finite_and_within_1e12": [3, 4, 5, 6],
        "shares_finite_and_within_1e12": [7],
    }
    assert all(e.is_critical for e in outcome.expectations)
    assert PLAUSIBLE_BOUND == 1e12


def test_every_published_mart_has_a_blocking_plausibility_check() -> None:
    from orchestration.quality.checks import PUBLISHED_TABLES, asset_key, warehouse_suites
    from orchestration.transform.contract import published_marts, warehouse_tables
    from orchestration.transform.dbt import dbt_project

    published = published_marts(warehouse_tables(dbt_project().manifest_path))
    # Every published mart but the list of rejected rows.
    assert {t.name for t in PUBLISHED_TABLES} == set(published) - {"quarantined_prices"}
    assert len(PUBLISHED_TABLES) == 8
    specs = {(spec.asset_key, spec.name): spec for spec in warehouse_suites.check_specs}
    for table in PUBLISHED_TABLES:
        spec = specs[asset_key(table), CHECK_NAME]
        assert spec.blocking


def test_the_plausibility_check_runs_on_a_warehouse_and_blocks(tmp_path: Path, monkeypatch):
    """The wiring: warehouse_suites validates the generated suite of a published mart on the
    warehouse file and fails the blocking check on an infinite value."""
    from orchestration.quality import checks

    table = next(t for t in checks.PUBLISHED_TABLES if t.name == "miner_pivot_index_daily")
    data_dir = tmp_path / "data"
    paths = data_paths(data_dir)
    paths.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(paths.warehouse)) as connection:
        connection.execute("create schema intermediate")
        connection.execute(
            "create table intermediate.int_as_of_date as select date '2025-03-31' as as_of_date"
        )
        connection.execute(f"create schema {table.schema}")
        connection.execute(
            f"create table {table.relation} as select * from (values "
            "(date '2025-03-28', 'btc', 100.0), (date '2025-03-31', 'btc', 'inf'::double)"
            ") as t(date, basket, index_value)"
        )
    monkeypatch.setenv("HASHPIVOT_DATA_DIR", str(data_dir))
    key = dg.AssetCheckKey(checks.asset_key(table), CHECK_NAME)
    (result,) = checks.validate_warehouse({key}, print)
    assert result.check_name == CHECK_NAME
    assert not result.passed
    assert "index_value_finite_and_within_1e12" in result.description
    assert json.loads(json.dumps(result.metadata["numeric_columns"].value)) == ["index_value"]


@pytest.mark.parametrize(
    "stamp", ["1600-01-03", "1600-01-03 00:00:00-05:00", "1600-01-03 05:00:00+00:00"]
)
def test_a_date_pandas_cannot_hold_is_a_bad_row_of_the_file_never_another_date(
    tmp_path: Path, stamp: str
) -> None:
    """A full yfinance-shaped file with a date of 1600: the parser names the row (it parsed it
    with a coarser unit and cast it to nanoseconds: 1600-01-03 became 2184-07-22)."""
    from orchestration.extract.sources.csv_file import PriceFileError, read_price_csv

    path = tmp_path / "ZZZZ.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        f"{stamp},1,1,1,1,1,100\n2025-01-02,2,2,2,2,2,100\n"
    )
    with pytest.raises(PriceFileError, match=r"line 2: date '1600-01-03.*' is not a date"):
        read_price_csv(path)
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n1800-01-02,1,1,1,1,1,100\n")
    assert read_price_csv(path)["date"].tolist() == [pd.Timestamp("1800-01-02")]


def test_the_plausibility_check_of_a_stamped_mart_validates_the_rows_built_since_it_passed(
    tmp_path: Path, monkeypatch
) -> None:
    """fct_daily_prices (row stamps: its price model's built_at): once its rows pass, the next
    check validates only the rows built since, what the publish will copy; a failed check
    does not move that point, so the bad rows are validated again until they are fixed."""
    from orchestration.quality import checks

    table = next(t for t in checks.PUBLISHED_TABLES if t.name == "fct_daily_prices")
    assert table.row_stamps is not None
    data_dir = tmp_path / "data"
    paths = data_paths(data_dir)
    paths.warehouse.parent.mkdir(parents=True)
    monkeypatch.setenv("HASHPIVOT_DATA_DIR", str(data_dir))
    key = dg.AssetCheckKey(checks.asset_key(table), CHECK_NAME)
    stamps = table.row_stamps

    def build(rows: list[tuple[str, str, float, str]]) -> None:
        """(ticker, date, close, built_at) rows as the price model and its mart."""
        values = ", ".join(
            f"('{t}', date '{d}', '{c}'::double, timestamptz '{b}')" for t, d, c, b in rows
        )
        with duckdb.connect(str(paths.warehouse)) as connection:
            connection.execute("create schema if not exists intermediate")
            connection.execute(f"create schema if not exists {table.schema}")
            connection.execute(
                "create or replace table intermediate.int_as_of_date as "
                "select date '2025-03-31' as as_of_date"
            )
            connection.execute(
                f"create or replace table {stamps.relation} as select * from (values {values}) "
                f"as t(ticker, {stamps.date_column}, close, {stamps.stamp_column})"
            )
            connection.execute(
                f"create or replace view {table.relation} as select ticker, "
                f"{stamps.date_column} as date, close, close as adj_close from {stamps.relation}"
            )

    def validate():
        (result,) = checks.validate_warehouse({key}, print)
        return result.passed, result.metadata["rows_validated"].value

    first_build = "2025-03-28 10:00:00+00"
    history = [("AAA", f"2025-03-{day:02d}", 10.0 + day, first_build) for day in range(3, 29)]
    build(history)
    assert validate() == (True, len(history))

    second_build = "2025-03-31 10:00:00+00"
    build([*history, ("AAA", "2025-03-31", float("inf"), second_build)])
    assert validate() == (False, 1)
    assert validate() == (False, 1)  # not passed: validated again

    build([*history, ("AAA", "2025-03-31", 40.0, second_build)])
    assert validate() == (True, 1)
    assert validate() == (True, 0)

    # A rebuild of the whole history (a full refresh) stamps every row again.
    build([(t, d, c, "2025-04-01 10:00:00+00") for t, d, c, _ in history])
    assert validate() == (True, len(history))

    # Without the record (a new quality folder), every row is validated.
    paths.plausible_rows_through.unlink()
    assert validate() == (True, len(history))
