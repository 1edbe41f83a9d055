"""Compare a mart read from the warehouse with the pandas reference, cell by cell."""

from __future__ import annotations

import math

import pandas as pd

REL_TOL = 1e-9
ABS_TOL = 1e-12  # for values near 0, where a relative tolerance means nothing
MAX_ROWS_SHOWN = 60


def _is_null(value: object) -> bool:
    return value is None or bool(pd.isna(value))


def _normalise_dates(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def _cells_differ(expected: object, actual: object) -> bool:
    """True when two cells differ: NULL vs value, dates unequal, numbers outside tolerance."""
    if _is_null(expected) or _is_null(actual):
        return _is_null(expected) != _is_null(actual)
    if isinstance(expected, bool | str) or isinstance(actual, bool | str):
        return expected != actual
    if isinstance(expected, pd.Timestamp) or isinstance(actual, pd.Timestamp):
        return pd.Timestamp(expected) != pd.Timestamp(actual)
    return not math.isclose(float(expected), float(actual), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def compare_frames(reference: pd.DataFrame, mart: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Every difference between ``reference`` and ``mart``, one row each (empty = they agree).

    Rows are matched on ``keys``; every non-key column of the reference must be in the mart
    (extra mart columns are ignored). Columns of the result: the keys, ``column``,
    ``reference``, ``mart`` and ``problem``.
    """
    result_columns = [*keys, "column", "reference", "mart", "problem"]
    missing = [column for column in reference.columns if column not in mart.columns]
    if missing:
        problems = [
            dict.fromkeys(keys, "*") | {"column": column, "problem": "column missing from mart"}
            for column in missing
        ]
        return pd.DataFrame(problems, columns=result_columns)

    date_columns = [
        column
        for column in reference.columns
        if pd.api.types.is_datetime64_any_dtype(reference[column])
    ]
    reference = _normalise_dates(reference, date_columns)
    mart = _normalise_dates(mart[list(reference.columns)], date_columns)
    for key in keys:
        if key not in date_columns:
            reference[key] = reference[key].astype(str)
            mart[key] = mart[key].astype(str)

    merged = reference.merge(
        mart, on=keys, how="outer", suffixes=("__ref", "__mart"), indicator=True
    )
    problems = []
    for _, row in merged.iterrows():
        key_values = {key: row[key] for key in keys}
        if row["_merge"] != "both":
            where = "missing from mart" if row["_merge"] == "left_only" else "not in reference"
            problems.append(key_values | {"column": "*", "problem": f"row {where}"})
            continue
        for column in reference.columns:
            if column in keys:
                continue
            expected, actual = row[f"{column}__ref"], row[f"{column}__mart"]
            if _cells_differ(expected, actual):
                problems.append(
                    key_values
                    | {
                        "column": column,
                        "reference": expected,
                        "mart": actual,
                        "problem": "values differ",
                    }
                )
    return pd.DataFrame(problems, columns=result_columns)


def describe_differences(name: str, differences: pd.DataFrame) -> str:
    """A readable failure message listing (up to MAX_ROWS_SHOWN) differences."""
    with pd.option_context(
        "display.width", 250, "display.max_colwidth", 40, "display.precision", 15
    ):
        shown = differences.head(MAX_ROWS_SHOWN).to_string(index=False)
    summary = differences.groupby("column").size().to_dict()
    return (
        f"{name}: {len(differences)} cells differ from the reference "
        f"(by column: {summary})\n{shown}"
    )
