"""The reviewed suites in expectations/, run through Great Expectations' SQL datasource on
small tables written to DuckDB (a ``row`` column numbers each frame's rows, so a test names the
bad rows by their position); and, for ``--engine spark``, through GX's Spark execution engine on
the same rows as Spark DataFrames (the ``validator`` fixture runs each test on both)."""

from __future__ import annotations

import itertools
import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration import settings
from orchestration.paths import data_paths
from orchestration.quality.checks import GUARDED_TABLES
from orchestration.quality.gx_runner import GxValidator
from orchestration.quality.suites import EXPECTATIONS_DIR, load_suite_document

TODAY = date(2026, 11, 27)
_tables = itertools.count()


class FrameValidator:
    """Validates frames with a ``GxValidator``: each frame becomes a table of one DuckDB file
    (and, given a Spark session, a Spark table of the same name and rows, which GX validates)."""

    def __init__(self, data_dir: Path, spark_session=None) -> None:
        paths = data_paths(data_dir)
        self.database = data_dir / "frames.duckdb"
        self.spark = spark_session
        self.gx = GxValidator(
            paths.quality, paths.data_docs_index, self.database, spark_session=spark_session
        )
        self.data_docs_index = self.gx.data_docs_index

    def validate(self, suite: str, frame: pd.DataFrame, parameters: dict):
        table = f"checked.frame_{next(_tables)}"
        rows = frame.reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
        with duckdb.connect(str(self.database), config=settings.duckdb_config()) as connection:
            connection.register("rows_frame", rows)
            connection.execute("create schema if not exists checked")
            connection.execute(f"create table {table} as select * from rows_frame")
        if self.spark is not None:
            # The rows as DuckDB reads them (NaN as NULL, as the pipeline lands them), to Spark.
            with duckdb.connect() as memory:
                memory.register("rows_frame", rows)
                arrow_rows = memory.sql("select * from rows_frame").to_arrow_table()
            self.spark.sql("create database if not exists checked")
            self.spark.createDataFrame(arrow_rows).write.saveAsTable(table)
        return self.gx.validate(suite, f"select * from {table}", parameters, order_by=["row"])

    def build_data_docs(self) -> None:
        self.gx.build_data_docs()


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def validator(request, tmp_path_factory: pytest.TempPathFactory) -> FrameValidator:
    spark = request.getfixturevalue("local_spark").session if request.param == "spark" else None
    return FrameValidator(tmp_path_factory.mktemp("data"), spark)


def failed_rules(outcome, severity: str = "critical") -> dict[str, tuple[int, ...]]:
    """{rule: positions of the rows that broke it} of the failed rules."""
    return {
        e.rule: tuple(row["row"] for row in e.unexpected_rows)
        for e in outcome.expectations
        if not e.success and e.severity == severity
    }


def clean_prices(rows: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["IREN"] * rows,
            "date": pd.date_range("2025-01-02", periods=rows, freq="B"),
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.0,
            "adj_close": 10.0,
            "volume": 1000.0,
            "price_source": "csv",
            "abs_return_in_batch": 0.01,
            "adj_close_ratio_in_batch": 1.01,
        }
    )


def test_every_suite_file_is_guarded_and_named_after_its_file() -> None:
    names = {path.stem for path in EXPECTATIONS_DIR.glob("*.json")}
    assert names == {"raw_prices"} | {table.gx_suite for table in GUARDED_TABLES}
    for name in names:
        rules = [e["meta"]["rule"] for e in load_suite_document(name)["expectations"]]
        assert len(rules) == len(set(rules)), f"{name} repeats a rule name"


def test_a_suite_without_rule_names_is_refused(tmp_path: Path, monkeypatch) -> None:
    from orchestration.quality import suites

    (tmp_path / "x.json").write_text('{"name": "x", "expectations": [{"type": "t", "kwargs": {}}]}')
    monkeypatch.setattr(suites, "EXPECTATIONS_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"expectation 0 has no meta\.rule"):
        suites.load_suite_document("x")


def test_clean_prices_pass_the_raw_suite(validator: FrameValidator) -> None:
    outcome = validator.validate("raw_prices", clean_prices(), {"today": TODAY})
    assert failed_rules(outcome) == {}
    assert outcome.passed_count == len(outcome.expectations)


def docs_links(index: Path, suite: str) -> set[str]:
    return set(re.findall(rf'validations/{suite}/[^"]+\.html', index.read_text()))


def test_data_docs_are_built_once_and_show_every_validation(tmp_path: Path) -> None:
    validator = FrameValidator(tmp_path)
    for _ in range(2):  # two batches of one step
        validator.validate("raw_prices", clean_prices(), {"today": TODAY})
    prices = clean_prices()[["date", "close", "adj_close"]].assign(daily_return=0.0)
    parameters = {"today": TODAY, "fresh_since": date(2025, 1, 1)}
    validator.validate("mart_fct_daily_prices", prices, parameters)
    assert not validator.data_docs_index.exists()  # nothing rendered per validation
    validator.build_data_docs()
    index = validator.data_docs_index
    assert len(docs_links(index, "raw_prices")) == 2
    assert len(docs_links(index, "mart_fct_daily_prices")) == 1
    for link in docs_links(index, "raw_prices") | docs_links(index, "mart_fct_daily_prices"):
        assert (index.parent / link).is_file()
    # The next step's validator adds its validations; the index keeps the earlier ones.
    later = FrameValidator(tmp_path)
    later.validate("raw_prices", clean_prices(), {"today": TODAY})
    later.build_data_docs()
    assert len(docs_links(index, "raw_prices")) == 3


def test_raw_suite_names_every_bad_row(validator: FrameValidator) -> None:
    prices = clean_prices(8)
    prices.loc[1, "close"] = -3.0  # a negative price
    prices.loc[2, ["high", "low"]] = [8.0, 9.0]  # high below low
    prices.loc[3, "date"] = pd.Timestamp("2031-01-01")  # a date in the future
    prices.loc[4, "date"] = prices.loc[5, "date"]  # a duplicate date
    prices.loc[6, "ticker"] = "X'; DROP TABLE t; --"  # not a symbol
    prices.loc[7, ["close", "adj_close"]] = np.nan  # a NaN price
    outcome = validator.validate("raw_prices", prices, {"today": TODAY})
    assert failed_rules(outcome) == {
        "close_positive": (1,),
        "high_not_below_low": (2,),
        "date_not_in_future": (3,),
        "one_row_per_ticker_and_date": (4, 5),
        "ticker_is_a_symbol": (6,),
        "close_not_null": (7,),
        "adj_close_not_null": (7,),
    }


def test_jumps_only_warn(validator: FrameValidator) -> None:
    prices = clean_prices()
    prices.loc[2, "abs_return_in_batch"] = 0.9
    outcome = validator.validate("raw_prices", prices, {"today": TODAY})
    assert failed_rules(outcome) == {}
    assert failed_rules(outcome, "warning") == {"daily_move_below_50pct": (2,)}


def test_contract_seed_suite_catches_bad_contracts(validator: FrameValidator) -> None:
    contracts = pd.DataFrame(
        {
            "contract_id": ["ok", "negative_mw", "future", "no_term"],
            "it_mw": [100.0, -5.0, 50.0, 50.0],
            "gross_mw": [120.0, np.nan, np.nan, np.nan],
            "term_years": [10.0, 10.0, 10.0, 0.0],
            "contract_value_usd": [1e9, 1e9, 1e9, 1e9],
            "max_value_usd": [2e9, np.nan, np.nan, np.nan],
            "announced_on": pd.to_datetime(
                ["2025-01-02", "2025-01-02", "2027-06-01", "2025-01-02"]
            ),
            "source_url": ["https://a.example"] * 4,
        }
    )
    outcome = validator.validate("seed_ai_hosting_contracts", contracts, {"today": TODAY})
    assert failed_rules(outcome) == {
        "it_mw_positive": (1,),
        "not_announced_in_the_future": (2,),
        "term_years_positive": (3,),
    }


def test_freshness_of_daily_prices_warns_against_the_as_of_date(validator: FrameValidator) -> None:
    prices = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-03-28", "2025-03-31"]),
            "close": [1.0, 1.0],
            "adj_close": [1.0, 1.0],
            "daily_return": [0.0, 0.0],
        }
    )
    stale = validator.validate(
        "mart_fct_daily_prices", prices, {"today": TODAY, "fresh_since": date(2025, 4, 10)}
    )
    assert "fresh_against_as_of_date" in failed_rules(stale, "warning")
    assert failed_rules(stale) == {}
    fresh = validator.validate(
        "mart_fct_daily_prices", prices, {"today": TODAY, "fresh_since": date(2025, 3, 27)}
    )
    assert failed_rules(fresh, "warning") == {}


def test_an_unknown_price_source_is_named(validator: FrameValidator) -> None:
    prices = clean_prices()
    prices.loc[1, "price_source"] = "scraped"
    assert failed_rules(validator.validate("raw_prices", prices, {"today": TODAY})) == {
        "known_price_source": (1,)
    }


def test_a_predicate_that_disagrees_with_gx_fails_the_validation(
    validator: FrameValidator, monkeypatch
) -> None:
    """The audit quarantines what the predicates select: a predicate naming fewer rows than GX
    counted must stop the step, never quarantine less."""
    from orchestration.quality import gx_runner

    original = gx_runner.failing_condition

    def too_narrow(expectation_type, kwargs, parameters):
        condition = original(expectation_type, kwargs, parameters)
        return None if condition is None else f"({condition}) and row < 0"

    monkeypatch.setattr(gx_runner, "failing_condition", too_narrow)
    prices = clean_prices()
    prices.loc[1, "close"] = -3.0
    with pytest.raises(gx_runner.SuiteRuleMismatchError, match="close_positive"):
        validator.validate("raw_prices", prices, {"today": TODAY})


def test_every_suite_rule_has_a_predicate_or_is_an_aggregate() -> None:
    from orchestration.quality.sql_conditions import AGGREGATE_EXPECTATIONS, failing_condition

    parameters = {"today": TODAY, "fresh_since": TODAY}
    for path in EXPECTATIONS_DIR.glob("*.json"):
        for expectation in load_suite_document(path.stem)["expectations"]:
            condition = failing_condition(expectation["type"], expectation["kwargs"], parameters)
            assert (condition is None) == (expectation["type"] in AGGREGATE_EXPECTATIONS)


def test_a_copied_data_dir_writes_its_data_docs_into_the_copy(tmp_path: Path) -> None:
    """GX keeps the docs folder as an absolute path in its context file: a copied or moved
    data dir must not keep writing into the old one."""
    import shutil

    (tmp_path / "a").mkdir()
    first = FrameValidator(tmp_path / "a")
    first.validate("raw_prices", clean_prices(), {"today": TODAY})
    first.build_data_docs()
    original = first.data_docs_index.read_text()
    shutil.copytree(tmp_path / "a", tmp_path / "b")

    copy = FrameValidator(tmp_path / "b")
    copy.validate("raw_prices", clean_prices(), {"today": TODAY})
    copy.build_data_docs()

    assert first.data_docs_index.read_text() == original  # the original is left alone
    assert len(docs_links(copy.data_docs_index, "raw_prices")) == 2
    assert "static/vendor/" in copy.data_docs_index.read_text()  # and made offline
