"""Every run setting, declared once: its name, environment variable, default, parser and help.

The CLI's flags (``cli.py``), the Dagster launchpad's fields (``extract/assets.py``) and the
environment handed to dbt are all derived from ``SETTINGS``. Precedence: an explicit value (CLI
option or launchpad field) wins over the environment variable, which wins over the default. The
CLI writes its options into the environment, so Dagster assets and the dbt subprocess see the
same values however a run was started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

# Rows shown by any preview in asset metadata and check results (landed, blocked, quarantined).
PREVIEW_ROWS = 10


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Setting:
    """One run setting. ``parse`` turns text into the value or raises ValueError saying why."""

    name: str  # attribute and launchpad field; the CLI flag is --name-with-dashes
    env_var: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    choices: tuple[str, ...] = ()
    on_cli: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def described(self) -> str:
        """The help with where the value comes from, for the CLI and the launchpad."""
        default = "none" if self.default is None else self.default
        return f"{self.help} (env {self.env_var}; default {default})"

    def value(self, explicit: object = None, environ: Mapping[str, str] | None = None) -> Any:
        """The explicit value if given, else the non-empty environment value, else the default;
        parsed and checked."""
        text = pick(explicit, self.env_var, environ)
        if text is None:
            return self.default
        given_as = self.name if explicit is not None else self.env_var
        if self.choices and text not in self.choices:
            raise SettingsError(f"{given_as} {text!r} is not one of {', '.join(self.choices)}")
        try:
            return self.parse(text)
        except ValueError as error:
            raise SettingsError(f"{given_as} {text!r} {error}") from error


def pick(explicit: object, env_var: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The explicit value as text if given, else the non-empty environment value, else None."""
    if explicit is not None:
        return str(explicit)
    value = (environ if environ is not None else os.environ).get(env_var, "").strip()
    return value or None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("is not a date in YYYY-MM-DD form") from None


def _count(text: str) -> int:
    try:
        number = int(text.replace("_", ""))
    except ValueError:
        raise ValueError("is not a whole number") from None
    if number < 0:
        raise ValueError("cannot be negative")
    return number


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError("is not a share between 0 and 1")
    return share


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _text(text: str) -> str:
    return text


PRICE_SOURCE = Setting(
    "source",
    "HASHPIVOT_PRICE_SOURCE",
    "auto",
    _text,
    "price source: auto = yfinance, falling back (loudly) to the CSV dir if set, else demo",
    choices=("auto", "yfinance", "csv", "demo"),
)
CSV_DIR = Setting(
    "csv_dir", "HASHPIVOT_CSV_DIR", None, _path, "folder of per-ticker CSV files (IREN.csv, ...)"
)
START = Setting(
    "start",
    "HASHPIVOT_START",
    None,
    _date,
    "first date YYYY-MM-DD for yfinance and demo (2020-01-01 when not set); "
    "a CSV file lands whole unless given",
)
END = Setting("end", "HASHPIVOT_END", None, _date, "last date YYYY-MM-DD (today when not set)")
UNIVERSE = Setting(
    "universe",
    "HASHPIVOT_UNIVERSE",
    "seeds",
    _text,
    "seeds = the companies seed; all = every CSV file, or --demo-tickers synthetic tickers, too",
    choices=("seeds", "all"),
)
DEMO_TICKERS = Setting(
    "demo_tickers",
    "HASHPIVOT_DEMO_TICKERS",
    0,
    _count,
    "synthetic tickers added by --universe all --source demo",
)
MAX_FAILED_SHARE = Setting(
    "max_failed_share",
    "HASHPIVOT_MAX_FAILED_SHARE",
    0.25,
    _share,
    "fail the run when more than this share of tickers fail (after landing the rest)",
)
AS_OF = Setting(
    "as_of",
    "HASHPIVOT_AS_OF",
    None,
    _date,
    "as-of date YYYY-MM-DD of every mart (the latest data when not set; a later date is "
    "clamped to the last price date, one before the first benchmark price is refused)",
)
DATA_DIR = Setting(
    "data_dir", "HASHPIVOT_DATA_DIR", Path("data"), _path, "where everything is written"
)
MAX_QUARANTINE_SHARE = Setting(
    "max_quarantine_share",
    "HASHPIVOT_MAX_QUARANTINE_SHARE",
    0.01,
    _share,
    "block publishing when the audit sets aside more than this share of a batch's rows",
    on_cli=False,
)
# DuckDB takes 80% of the machine's memory by default, so a market-wide run would grow to many
# GB. Every connection that moves price history (landing, audit reads, dbt, publish) is capped
# by this and spills to disk beyond it; dbt gets it through dbt_environment().
DUCKDB_MEMORY_LIMIT = Setting(
    "duckdb_memory_limit",
    "HASHPIVOT_DUCKDB_MEMORY_LIMIT",
    "2GB",
    _text,
    "memory cap of every DuckDB connection of a run (spills to disk beyond it)",
    on_cli=False,
)
# One run writes a data dir at a time (orchestration/run_lock.py); the next waits this long.
LOCK_WAIT_SECONDS = Setting(
    "lock_wait_seconds",
    "HASHPIVOT_LOCK_WAIT_SECONDS",
    30,
    _count,
    "seconds a run waits for another run of the same data dir to finish before it fails",
    on_cli=False,
)
# Where dbt builds the warehouse and the checks read it (docs/architecture.md, "Engines"): DuckDB in
# one file, embedded; or Spark, locally (a Spark Connect server the run starts) or on a cluster.
ENGINE = Setting(
    "engine",
    "HASHPIVOT_ENGINE",
    "duckdb",
    _text,
    "the warehouse engine: duckdb = one embedded file; spark = Apache Spark (pyspark and "
    "dbt-spark installed: uv sync --group spark)",
    choices=("duckdb", "spark"),
)
# A Spark cluster's Spark Connect endpoint (sc://host:15002/;token=...). Unset: a --engine spark
# run starts a local Spark (Java 17) serving Spark Connect on a free localhost port.
SPARK_REMOTE = Setting(
    "spark_remote",
    "HASHPIVOT_SPARK_REMOTE",
    None,
    _text,
    "Spark Connect URL of the cluster --engine spark runs on (a local Spark when not set)",
    on_cli=False,
)
# The settings of the price extraction: also fields of the `landed_prices` launchpad config.
EXTRACTION_SETTINGS: tuple[Setting, ...] = (
    PRICE_SOURCE,
    CSV_DIR,
    START,
    END,
    UNIVERSE,
    DEMO_TICKERS,
    MAX_FAILED_SHARE,
)
SETTINGS: tuple[Setting, ...] = (
    *EXTRACTION_SETTINGS,
    AS_OF,
    DATA_DIR,
    ENGINE,
    SPARK_REMOTE,
    MAX_QUARANTINE_SHARE,
    DUCKDB_MEMORY_LIMIT,
    LOCK_WAIT_SECONDS,
)


def duckdb_config(spill_dir: Path | None = None) -> dict[str, str]:
    """DuckDB connection config: the memory cap (``HASHPIVOT_DUCKDB_MEMORY_LIMIT``), and where to
    spill beyond it (DuckDB's default is next to a database file, or nowhere in memory)."""
    config = {"memory_limit": DUCKDB_MEMORY_LIMIT.value()}
    if spill_dir is not None:
        config["temp_directory"] = str(spill_dir)
    return config


def out_of_memory_message(step: str, error: BaseException) -> str:
    """What a step that hit DuckDB's memory cap tells the user: the setting to raise, its
    current value, and DuckDB's own words."""
    limit = DUCKDB_MEMORY_LIMIT.value()
    return (
        f"{step} ran out of DuckDB memory under {DUCKDB_MEMORY_LIMIT.env_var}={limit} (the cap "
        f"of every DuckDB connection of a run): raise it, e.g. "
        f"{DUCKDB_MEMORY_LIMIT.env_var}=4GB, and run again. DuckDB said: "
        + str(error).strip().splitlines()[0]
    )


def dbt_settings_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings dbt's profile reads (``env_var``), resolved here so the default is not
    repeated in profiles.yml."""
    return {
        DUCKDB_MEMORY_LIMIT.env_var: str(DUCKDB_MEMORY_LIMIT.value(None, environ)),
        # dbt's --target, from its own environment variable: the profile's output per engine.
        "DBT_TARGET": "spark" if ENGINE.value(None, environ) == "spark" else "dev",
    }
