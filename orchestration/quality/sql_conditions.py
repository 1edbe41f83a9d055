"""Which rows broke an expectation, as a DuckDB SQL predicate over the validated rows.

GX 1.24 counts a SQL batch's unexpected rows exactly, but cannot hand all of them back without
fetching them into Python (the COMPLETE result format), and its own ``unexpected_index_query``
is unusable for ``expect_compound_columns_to_be_unique`` (an unbound ``$1`` and a cross join).
So the rows are named here, in SQL, for the row-level expectation types our suites use, with
GX's semantics (nulls are not unexpected unless the rule is about nulls; ``ignore_row_if``).
``GxValidator`` checks every predicate's count against GX's ``unexpected_count`` and fails
loudly on any difference, so a rule can never quarantine fewer rows than GX found.

Predicates may use ``_key_rows``: the number of rows sharing the row's ``(ticker, date)``-like
key of a compound-uniqueness rule. ``with_key_counts`` adds that column to a query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

KEY_ROWS = "_key_rows"
# Expectations about the whole batch (an aggregate): they name no rows. A failed one blocks the
# audit as a whole-batch failure.
AGGREGATE_EXPECTATIONS = frozenset(
    {
        "expect_column_max_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_unique_value_count_to_be_between",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
    }
)


def identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """A SQL literal of a suite's value (numbers, strings, dates, timestamps)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, dt.datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"date '{value.isoformat()}'"
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return literal(value.to_pydatetime())
    return "'" + str(value).replace("'", "''") + "'"


def resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    """A kwarg with its ``{"$PARAMETER": name}`` replaced by the parameter's value."""
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def failing_condition(
    expectation_type: str, kwargs: Mapping[str, Any], parameters: Mapping[str, Any]
) -> str | None:
    """The predicate true exactly for the rows GX counts as unexpected; None for rules that do
    not name rows (aggregates such as ``expect_column_max_to_be_between``)."""
    if "mostly" in kwargs:
        raise ValueError(f"{expectation_type}: 'mostly' is not supported by the SQL audit")
    column = identifier(kwargs["column"]) if "column" in kwargs else None
    if expectation_type == "expect_column_values_to_not_be_null":
        return f"{column} is null"
    if expectation_type == "expect_column_values_to_be_between":
        parts = []
        low = resolve(kwargs.get("min_value"), parameters)
        high = resolve(kwargs.get("max_value"), parameters)
        if low is not None:
            parts.append(f"{column} {'<=' if kwargs.get('strict_min') else '<'} {literal(low)}")
        if high is not None:
            parts.append(f"{column} {'>=' if kwargs.get('strict_max') else '>'} {literal(high)}")
        if not parts:
            return "false"
        return f"({column} is not null and ({' or '.join(parts)}))"
    if expectation_type == "expect_column_values_to_match_regex":
        return (
            f"({column} is not null and not regexp_matches({column}, {literal(kwargs['regex'])}))"
        )
    if expectation_type == "expect_column_values_to_be_in_set":
        values = ", ".join(literal(v) for v in resolve(kwargs["value_set"], parameters))
        return f"({column} is not null and {column} not in ({values}))"
    if expectation_type == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = identifier(kwargs["column_A"]), identifier(kwargs["column_B"])
        operator = ">=" if kwargs.get("or_equal") else ">"
        ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
        skip = {
            "either_value_is_missing": f"{a} is null or {b} is null",
            "both_values_are_missing": f"{a} is null and {b} is null",
            "neither": "false",
        }[ignore]
        # GX's own SQL (``not (a >= b or ...)``) leaves a null comparison not unexpected.
        return f"(not ({skip}) and coalesce(not ({a} {operator} {b}), false))"
    if expectation_type == "expect_compound_columns_to_be_unique":
        columns = [identifier(c) for c in kwargs["column_list"]]
        all_missing = " and ".join(f"{c} is null" for c in columns)
        return f"({KEY_ROWS} > 1 and not ({all_missing}))"
    if expectation_type in AGGREGATE_EXPECTATIONS:
        return None
    raise ValueError(f"no SQL predicate for {expectation_type}: add one to sql_conditions.py")


def compound_key(expectations: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The column list of the suite's compound-uniqueness rule, if any (one per suite)."""
    keys = [
        e["kwargs"]["column_list"]
        for e in expectations
        if e["type"] == "expect_compound_columns_to_be_unique"
    ]
    if len(keys) > 1:
        raise ValueError("a suite may have one compound-uniqueness rule")
    return keys[0] if keys else None


def with_key_counts(query: str, key: Sequence[str] | None, conditions: Sequence[str]) -> str:
    """``query``'s rows, plus ``_key_rows``: counted over the suite's compound key when one of
    ``conditions`` reads it (a window over every row costs seconds at millions), else 1."""
    if not key or not any(KEY_ROWS in condition for condition in conditions):
        return f"select *, 1 as {KEY_ROWS} from ({query})"
    partition = ", ".join(identifier(c) for c in key)
    return f"select *, count(*) over (partition by {partition}) as {KEY_ROWS} from ({query})"
