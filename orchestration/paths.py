"""Where things live: the project root, the dbt project, and the data dir's layout.

Everything the pipeline writes goes under one data dir (``HASHPIVOT_DATA_DIR``, default
``./data``), so a checkout stays clean and a run can be pointed anywhere. ``DataPaths`` is the
one place that names the data dir's files and folders: Python modules take their paths from it,
and dbt reads them from the environment ``DataPaths.dbt_environment`` hands it (the
``data_path`` macro), so no other file spells the layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orchestration import settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"
COMPANIES_SEED = SEEDS_DIR / "companies.csv"

DATA_DIR_ENV = settings.DATA_DIR.env_var
# dbt reads the path named ``x`` of the layout from HASHPIVOT_PATH_X (the data_path macro).
DBT_PATH_ENV_PREFIX = "HASHPIVOT_PATH_"


@dataclass(frozen=True)
class LedgerPaths:
    """The audit ledger: which landing files passed the quality gate, which rows were set aside."""

    root: Path

    @property
    def accepted(self) -> Path:
        return self.root / "accepted"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"


@dataclass(frozen=True)
class PublishedPaths:
    """What BI tools read. Each publish is one version folder (the DuckDB file and the Parquet
    files together); ``current`` points at the version in use and is switched in one rename.
    ``marts.duckdb`` and ``parquet`` are fixed links through ``current``: the paths users
    configure never change, and both formats always show the same version."""

    root: Path

    @property
    def duckdb(self) -> Path:
        """The path BI tools open: a link to ``current/marts.duckdb``."""
        return self.root / "marts.duckdb"

    @property
    def parquet(self) -> Path:
        """The folder BI tools read: a link to ``current/parquet``."""
        return self.root / "parquet"

    @property
    def current(self) -> Path:
        """A symlink to the version in use (``versions/<run id>``)."""
        return self.root / "current"

    @property
    def versions(self) -> Path:
        return self.root / "versions"

    def version(self, run_id: str) -> Path:
        return self.versions / run_id

    def building(self, run_id: str) -> Path:
        """The next version while it is built (hidden; renamed to ``version(run_id)`` when
        complete, before ``current`` is switched to it)."""
        return self.versions / f".{run_id}.building"

    @property
    def spill(self) -> Path:
        """Where DuckDB spills beyond its memory cap while publishing."""
        return self.root / ".spill"

    @property
    def inputs_fingerprint(self) -> Path:
        """The inputs (dbt project, audited landing files, vars) of the published marts."""
        return self.root / "inputs_fingerprint.txt"


@dataclass(frozen=True)
class DataPaths:
    """The data dir's layout. Only ``landing/`` holds source data; the rest can be rebuilt."""

    root: Path

    @property
    def run_lock(self) -> Path:
        """Held (flock) by the one run writing this data dir; holds its holder record (JSON)."""
        return self.root / "run.lock"

    @property
    def landing_prices(self) -> Path:
        return self.root / "landing" / "prices"

    @property
    def landing_damaged(self) -> Path:
        """Landing files that could not be read, set aside (never deleted): their rows are
        fetched again."""
        return self.root / "landing" / "damaged"

    @property
    def landing_retractions(self) -> Path:
        """Immutable records of landed rows the source no longer holds (see
        ``extract/retractions.py``): the landing files' rows they name stop counting."""
        return self.root / "landing" / "retractions"

    @property
    def landing_scratch(self) -> Path:
        """The scratch database of a run's landing work (same disk, removed after the run)."""
        return self.root / "landing" / ".scratch"

    @property
    def csv_files_landed(self) -> Path:
        """Size and modification time of each CSV file whose rows landed."""
        return self.root / "landing" / "csv_files_landed.json"

    @property
    def warehouse(self) -> Path:
        """The DuckDB file the checks, the chart and the publish read. With ``--engine spark``,
        dbt builds in Spark (``spark_warehouse``) and this file is the local copy of the tables
        they read, pulled from Spark after each build (``transform/spark_copy.py``)."""
        if settings.ENGINE.value() == "spark":
            return self.spark_warehouse / "local_copy.duckdb"
        return self.root / "warehouse" / "hashpivot.duckdb"

    @property
    def spark_warehouse(self) -> Path:
        """A local Spark's warehouse: its tables' files and its Derby metastore (catalog)."""
        return self.root / "spark-warehouse"

    @property
    def published(self) -> PublishedPaths:
        return PublishedPaths(self.root / "published")

    @property
    def quality(self) -> Path:
        """The Great Expectations file context (suites' results) lives here."""
        return self.root / "quality"

    @property
    def plausible_rows_through(self) -> Path:
        """Per published table with row stamps, the newest stamp of the rows that passed its
        plausibility check: the next check validates only rows built since."""
        return self.quality / "plausible_rows_through.json"

    @property
    def ledger(self) -> LedgerPaths:
        return LedgerPaths(self.quality / "ledger")

    @property
    def audit_scratch(self) -> Path:
        """The audit's scratch DuckDB database: the staged batch, validated by GX and queried
        for the bad rows; removed after the step (a killed run's is replaced by the next)."""
        return self.quality / ".audit" / "batch.duckdb"

    def blocked_rows(self, run_id: str) -> Path:
        """The bad rows of an audit that blocked (curated and quarantine candidates), for the
        user to inspect: a blocked run records nothing in the ledger."""
        return self.quality / "blocked" / f"{run_id}.parquet"

    @property
    def data_docs_index(self) -> Path:
        return self.quality / "data_docs" / "index.html"

    @property
    def logs(self) -> Path:
        """Dagster's and dbt's full output of each `hashpivot run`, one file per run id."""
        return self.root / "logs"

    def run_report(self, run_id: str) -> Path:
        """What a run's extraction did, whole (every ticker), for `hashpivot run`'s summary."""
        return self.logs / f"{run_id}.extraction.json"

    def run_lock_report(self, run_id: str) -> Path:
        """What a run found when it took the lock: a dead holder, leftovers it removed."""
        return self.logs / f"{run_id}.lock.json"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def yfinance_cache(self) -> Path:
        return self.root / "cache" / "yfinance"

    @property
    def charts(self) -> Path:
        return self.root / "charts"

    @property
    def dashboard(self) -> Path:
        """The static dashboard (index.html and its pages): a symlink to the current build,
        swapped whole by each build (see orchestration/report/dashboard.py)."""
        return self.root / "dashboard"

    def dbt_environment(self) -> dict[str, str]:
        """The environment that tells dbt where the warehouse and its external inputs are."""
        paths = {
            "warehouse": self.warehouse,
            "landing_prices": self.landing_prices,
            "landing_retractions": self.landing_retractions,
            "ledger_accepted": self.ledger.accepted,
            "ledger_quarantine": self.ledger.quarantine,
        }
        return {
            DATA_DIR_ENV: str(self.root),
            **{f"{DBT_PATH_ENV_PREFIX}{name.upper()}": str(path) for name, path in paths.items()},
        }


def data_paths(data_dir: str | os.PathLike[str] | None = None) -> DataPaths:
    """The data dir from the argument, else ``HASHPIVOT_DATA_DIR``, else ``./data``; absolute."""
    return DataPaths(Path(settings.DATA_DIR.value(data_dir)).expanduser().resolve())
