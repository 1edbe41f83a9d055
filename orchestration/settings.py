"""Run settings shared by the CLI, the Dagster launchpad and the environment.

Precedence: an explicit value (CLI option or launchpad config) wins over the environment variable,
which wins over the default. The CLI writes its options into the environment, so Dagster assets
and the dbt subprocess see the same values however a run was started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path

ENV_PRICE_SOURCE = "HASHPIVOT_PRICE_SOURCE"
ENV_CSV_DIR = "HASHPIVOT_CSV_DIR"
ENV_START = "HASHPIVOT_START"
ENV_END = "HASHPIVOT_END"
ENV_UNIVERSE = "HASHPIVOT_UNIVERSE"
ENV_DEMO_TICKERS = "HASHPIVOT_DEMO_TICKERS"
ENV_MAX_FAILED_SHARE = "HASHPIVOT_MAX_FAILED_SHARE"
ENV_AS_OF = "HASHPIVOT_AS_OF"
ENV_MAX_QUARANTINE_SHARE = "HASHPIVOT_MAX_QUARANTINE_SHARE"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


def pick(explicit: object, env_var: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The explicit value as text if given, else the non-empty environment value, else None."""
    if explicit is not None:
        return str(explicit)
    value = (environ if environ is not None else os.environ).get(env_var, "").strip()
    return value or None


def parse_date(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise SettingsError(f"{name} {text!r} is not a date in YYYY-MM-DD form") from error


def parse_int(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError as error:
        raise SettingsError(f"{name} {text!r} is not a whole number") from error


def parse_float(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        return float(text)
    except ValueError as error:
        raise SettingsError(f"{name} {text!r} is not a number") from error


def parse_path(text: str | None) -> Path | None:
    return Path(text).expanduser().resolve() if text is not None else None
