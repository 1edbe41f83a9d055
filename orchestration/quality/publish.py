"""Publishing: copy the validated marts into a separate read-only DuckDB file and Parquet
files, atomically, so BI tools never see unvalidated data and never touch the pipeline's
warehouse (DuckDB 2.0 refuses even read-only readers while a writer holds a file).

- ``published/marts.duckdb`` is built as a new file and renamed over the old one.
- ``published/parquet`` is a symlink to ``published/versions/<run id>/``, swapped atomically;
  the previous version is kept until the next publish, for readers still holding it.
- ``_published_runs`` (in the DuckDB file) records every publish: run id, time, row counts,
  price sources and the check summary.
A failure anywhere before the renames leaves the previous published files byte-for-byte intact.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

PUBLISHED_MARTS: tuple[str, ...] = (
    "fct_daily_prices",
    "miner_ai_pivot_performance",
    "fct_contract_announcement_returns",
    "miner_pivot_index_daily",
    "hyperscaler_capex_quarterly",
    "hyperscaler_capex_guidance",
    "capex_vs_miner_returns",
    "quarantined_prices",
)
RUNS_TABLE = "_published_runs"
KEEP_VERSIONS = 2


@dataclass(frozen=True)
class PublishReport:
    duckdb_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]


def publish_marts(
    warehouse: Path,
    published_dir: Path,
    *,
    run_id: str,
    published_at: datetime,
    check_summary: Mapping[str, object],
    marts: Sequence[str] = PUBLISHED_MARTS,
) -> PublishReport:
    """Copy ``marts`` from the warehouse's ``marts`` schema to the published copies."""
    published_dir.mkdir(parents=True, exist_ok=True)
    final_db = published_dir / "marts.duckdb"
    building_db = published_dir / f".marts.{run_id}.duckdb.tmp"
    version_dir = published_dir / "versions" / run_id
    building_db.unlink(missing_ok=True)
    try:
        version_dir.mkdir(parents=True, exist_ok=False)
        row_counts = _build_published_db(
            building_db,
            warehouse,
            version_dir,
            marts,
            previous=final_db if final_db.exists() else None,
            run_row={
                "run_id": run_id,
                "published_at": published_at,
                "check_summary": check_summary,
            },
        )
        _fsync(building_db)
        os.replace(building_db, final_db)
        _swap_symlink(published_dir / "parquet", Path("versions") / run_id)
    except BaseException:
        building_db.unlink(missing_ok=True)
        if (published_dir / "parquet").resolve() != version_dir.resolve():
            shutil.rmtree(version_dir, ignore_errors=True)
        raise
    _remove_old_versions(published_dir / "versions", keep=KEEP_VERSIONS)
    return PublishReport(final_db, published_dir / "parquet", row_counts)


def _build_published_db(
    target: Path,
    warehouse: Path,
    version_dir: Path,
    marts: Sequence[str],
    *,
    previous: Path | None,
    run_row: Mapping[str, object],
) -> dict[str, int]:
    row_counts: dict[str, int] = {}
    with duckdb.connect(str(target)) as out:
        out.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        for mart in marts:
            out.execute(f"create table {mart} as select * from warehouse.marts.{mart}")
            out.execute(
                f"copy {mart} to ? (format parquet, compression zstd)",
                [str(version_dir / f"{mart}.parquet")],
            )
            (row_counts[mart],) = out.execute(f"select count(*) from {mart}").fetchall()[0]
        sources = (
            [
                row[0]
                for row in out.execute(
                    "select distinct price_source from fct_daily_prices order by 1"
                ).fetchall()
            ]
            if "fct_daily_prices" in marts
            else []
        )
        out.execute("detach warehouse")
        out.execute(
            f"create table {RUNS_TABLE} (run_id varchar, published_at timestamptz, "
            "row_counts json, price_sources varchar, check_summary json)"
        )
        if previous is not None:
            out.execute("attach ? as previous (read_only)", [str(previous)])
            out.execute(f"insert into {RUNS_TABLE} select * from previous.{RUNS_TABLE}")
            out.execute("detach previous")
        out.execute(
            f"insert into {RUNS_TABLE} values (?, ?, ?, ?, ?)",
            [
                run_row["run_id"],
                run_row["published_at"],
                json.dumps(row_counts),
                ",".join(sources),
                json.dumps(run_row["check_summary"], default=str),
            ],
        )
    return row_counts


def _swap_symlink(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one rename: readers see the old or the new, never none."""
    temporary = link.with_name(f".{link.name}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, link)


def _remove_old_versions(versions_dir: Path, keep: int) -> None:
    versions = sorted(versions_dir.iterdir(), key=lambda path: path.stat().st_mtime)
    for old in versions[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
