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
ENV_DUCKDB_MEMORY_LIMIT = "HASHPIVOT_DUCKDB_MEMORY_LIMIT"
# DuckDB takes 80% of the machine's memory by default, so a market-wide run would grow to many
# GB. Every connection that moves price history (landing, audit reads, dbt, publish) is capped
# by this and spills to disk beyond it. dbt_project/profiles.yml reads the same variable.
DEFAULT_DUCKDB_MEMORY_LIMIT = "2GB"
# Rows shown by any preview in asset metadata and check results (landed, blocked, quarantined).
PREVIEW_ROWS = 10


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


def duckdb_config(spill_dir: Path | None = None) -> dict[str, str]:
    """DuckDB connection config: the memory cap (``HASHPIVOT_DUCKDB_MEMORY_LIMIT``), and where to
    spill beyond it (DuckDB's default is next to a database file, or nowhere in memory)."""
    config = {"memory_limit": pick(None, ENV_DUCKDB_MEMORY_LIMIT) or DEFAULT_DUCKDB_MEMORY_LIMIT}
    if spill_dir is not None:
        config["temp_directory"] = str(spill_dir)
    return config
