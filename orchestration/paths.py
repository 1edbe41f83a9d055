"""Where things live: the project root, the dbt project, and the data dir's layout.

Everything the pipeline writes goes under one data dir (``HASHPIVOT_DATA_DIR``, default
``./data``), so a checkout stays clean and a run can be pointed anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
COMPANIES_SEED = SEEDS_DIR / "companies.csv"

DATA_DIR_ENV = "HASHPIVOT_DATA_DIR"


@dataclass(frozen=True)
class DataPaths:
    """The data dir's layout. Only ``landing/`` holds source data; the rest can be rebuilt."""

    root: Path

    @property
    def landing_prices(self) -> Path:
        return self.root / "landing" / "prices"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "hashpivot.duckdb"

    @property
    def published(self) -> Path:
        return self.root / "published"

    @property
    def quality(self) -> Path:
        return self.root / "quality"

    @property
    def published_duckdb(self) -> Path:
        return self.published / "marts.duckdb"

    @property
    def published_parquet(self) -> Path:
        return self.published / "parquet"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def yfinance_cache(self) -> Path:
        return self.root / "cache" / "yfinance"

    @property
    def charts(self) -> Path:
        return self.root / "charts"


def data_paths(data_dir: str | os.PathLike[str] | None = None) -> DataPaths:
    """The data dir from the argument, else ``HASHPIVOT_DATA_DIR``, else ``./data``; absolute."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV, "data")
    return DataPaths(Path(chosen).expanduser().resolve())
