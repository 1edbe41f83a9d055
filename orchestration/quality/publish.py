"""Publishing: copy the validated marts into a separate read-only DuckDB file and Parquet
files, atomically, so BI tools never see unvalidated data and never touch the pipeline's
warehouse (DuckDB 2.0 refuses even read-only readers while a writer holds a file).

- ``published/marts.duckdb`` is built as a new file and renamed over the old one, in DuckDB's
  v1.0.0 storage format (``BI_STORAGE_VERSION``): every BI tool embeds a DuckDB 1.x, which cannot
  read the 2.0 format our own DuckDB writes by default.
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
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from orchestration import settings
from orchestration.atomic import fsync_file, replace_symlink
from orchestration.paths import PublishedPaths

RUNS_TABLE = "_published_runs"
# Marts keyed by (ticker, date) that grow by a day at a time: published by replacing their
# recent rows (see _refresh_recent_rows). The window covers the extraction's re-fetch days.
RECENT_ROWS_MARTS: tuple[str, ...] = ("fct_daily_prices",)
RECENT_DAYS = 31
KEEP_VERSIONS = 2
# The storage format of the published file. DuckDB 1.0.0 (DBeaver's bundled driver) and every
# later 1.x (Evidence, duckdb-engine with duckdb<2, Metabase's JDBC 1.4) read it; DuckDB keeps a
# file in the format it was created with, so a file in another format is rebuilt, never copied.
BI_STORAGE_VERSION = "v1.0.0"


@dataclass(frozen=True)
class PublishReport:
    duckdb_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]


def publish_marts(
    warehouse: Path,
    published: PublishedPaths,
    *,
    run_id: str,
    published_at: datetime,
    check_summary: Mapping[str, object],
    marts: Sequence[str],
) -> PublishReport:
    """Copy ``marts`` (the names declared published in the dbt YAML) from the warehouse's
    ``marts`` schema to the published copies."""
    published.root.mkdir(parents=True, exist_ok=True)
    final_db = published.duckdb
    building_db = published.building_duckdb(run_id)
    version_dir = published.version(run_id)
    building_db.unlink(missing_ok=True)
    try:
        version_dir.mkdir(parents=True, exist_ok=False)
        row_counts = _build_published_db(
            building_db,
            published.spill,
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
        fsync_file(building_db)
        os.replace(building_db, final_db)
        replace_symlink(published.parquet, version_dir.relative_to(published.root))
    except BaseException:
        building_db.unlink(missing_ok=True)
        if published.parquet.resolve() != version_dir.resolve():
            shutil.rmtree(version_dir, ignore_errors=True)
        raise
    _remove_old_versions(published.versions, keep=KEEP_VERSIONS)
    return PublishReport(final_db, published.parquet, row_counts)


def _build_published_db(
    target: Path,
    spill_dir: Path,
    warehouse: Path,
    version_dir: Path,
    marts: Sequence[str],
    *,
    previous: Path | None,
    run_row: Mapping[str, object],
) -> dict[str, int]:
    """Build the next published file at ``target`` and the Parquet files of this version.

    The next file starts as a copy of the previous one. Small marts are replaced whole; the
    daily prices (tens of millions of rows for a market-wide universe) get only their recent
    rows and new tickers replaced, and the result is then compared with the warehouse table
    (row count and a sum of row hashes): any difference, such as a revision older than the
    recent window, and the table is replaced whole. So the published copy always equals the
    warehouse, and a day of new prices costs a day of rows.
    """
    previous_format = storage_version(previous) if previous is not None else None
    if previous is not None and previous_format == BI_STORAGE_VERSION:
        shutil.copyfile(previous, target)
    row_counts: dict[str, int] = {}
    config = {
        **settings.duckdb_config(spill_dir),
        "storage_compatibility_version": BI_STORAGE_VERSION,
    }
    with duckdb.connect(str(target), config=config) as out:
        if previous is not None and previous_format not in (None, BI_STORAGE_VERSION):
            _carry_over_run_log(out, previous)
        out.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        for mart in marts:
            if not (mart in RECENT_ROWS_MARTS and _refresh_recent_rows(out, mart)):
                out.execute(
                    f"create or replace table {mart} as select * from warehouse.marts.{mart}"
                )
            out.execute(
                f"copy {mart} to ? (format parquet, compression zstd)",
                [str(version_dir / f"{mart}.parquet")],
            )
            (row_counts[mart],) = out.execute(f"select count(*) from {mart}").fetchall()[0]
        sources = (
            [
                row[0]
                for row in out.execute(
                    "select distinct price_source from warehouse.marts.fct_daily_prices order by 1"
                ).fetchall()
            ]
            if "fct_daily_prices" in marts
            else []
        )
        out.execute("detach warehouse")
        out.execute(
            f"create table if not exists {RUNS_TABLE} (run_id varchar, published_at timestamptz, "
            "row_counts json, price_sources varchar, check_summary json)"
        )
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
        out.execute("checkpoint")
    return row_counts


def _carry_over_run_log(out: duckdb.DuckDBPyConnection, previous: Path) -> None:
    """Copy the publish history of a previous file that is rebuilt rather than copied forward
    (written in another storage format), so ``_published_runs`` keeps every run."""
    out.execute("attach ? as previous (read_only)", [str(previous)])
    has_log = out.execute(
        "select count(*) from duckdb_tables() where database_name = 'previous' and table_name = ?",
        [RUNS_TABLE],
    ).fetchall()[0][0]
    if has_log:
        out.execute(f"create table {RUNS_TABLE} as select * from previous.{RUNS_TABLE}")
    out.execute("detach previous")


def storage_version(database: Path) -> str | None:
    """The DuckDB storage format a file was created in ("v1.0.0", "v2.0.0", ...); None when the
    file cannot be opened as a DuckDB database (missing, truncated, not DuckDB)."""
    try:
        with duckdb.connect() as connection:
            connection.execute("attach ? as probe (read_only)", [str(database)])
            (tags,) = connection.execute(
                "select tags from duckdb_databases() where database_name = 'probe'"
            ).fetchall()[0]
    except duckdb.Error:
        return None
    # DuckDB reports the oldest version that reads the file, with a "+" ("v1.0.0+").
    return str(tags.get("storage_version", "")).rstrip("+") or None


def _refresh_recent_rows(out: duckdb.DuckDBPyConnection, mart: str) -> bool:
    """Replace the rows of the last ``RECENT_DAYS`` (before the latest published date), add the
    tickers the published table does not have, drop those the warehouse no longer has; then
    check the table equals the warehouse's. False (table left as it was, to be replaced whole)
    when there is no published table with the same columns, or when the check finds a
    difference."""
    published_columns = _columns(out, "published", mart)
    if not published_columns or published_columns != _columns(out, "warehouse", mart):
        return False
    source = f"warehouse.marts.{mart}"
    (latest,) = out.execute(f"select max(date) from {mart}").fetchall()[0]
    if latest is None:
        return False
    cutoff = latest - timedelta(days=RECENT_DAYS)
    out.execute("begin")
    out.execute(
        f"create or replace temp table published_tickers as select distinct ticker from {mart}"
    )
    out.execute(
        f"delete from {mart} where date >= ? or ticker not in (select ticker from {source})",
        [cutoff],
    )
    out.execute(
        f"""
        insert into {mart}
        select * from {source}
        where date >= ? or ticker not in (select ticker from published_tickers)
        """,
        [cutoff],
    )
    if _fingerprint(out, mart) == _fingerprint(out, source):
        out.execute("commit")
        return True
    out.execute("rollback")
    return False


def _columns(out: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of a table's columns: ``database`` is "published" (the file being built)
    or "warehouse" (its marts schema)."""
    where = (
        "database_name = 'warehouse' and schema_name = 'marts'"
        if database == "warehouse"
        else "database_name = current_database() and schema_name = 'main'"
    )
    rows = out.execute(
        f"select column_name, data_type from duckdb_columns() "
        f"where {where} and table_name = ? order by column_index",
        [table],
    ).fetchall()
    return [(name, data_type) for name, data_type in rows]


def _fingerprint(out: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, int]:
    """Row count and the sum of the rows' hashes: equal content, equal fingerprint (whatever
    the row order); a changed, missing or extra row changes it."""
    (count, hashes) = out.execute(
        f"select count(*), sum(hash(t)::hugeint) from {relation} as t"
    ).fetchall()[0]
    return int(count), int(hashes or 0)


def _remove_old_versions(versions_dir: Path, keep: int) -> None:
    versions = sorted(versions_dir.iterdir(), key=lambda path: path.stat().st_mtime)
    for old in versions[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
