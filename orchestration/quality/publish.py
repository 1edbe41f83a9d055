"""Publishing: copy the validated marts into a separate read-only DuckDB file and Parquet
files, atomically, so BI tools never see unvalidated data and never touch the pipeline's
warehouse (DuckDB 2.0 refuses even read-only readers while a writer holds a file).

Layout (``paths.PublishedPaths``)::

    published/
      marts.duckdb -> current/marts.duckdb      fixed links: the paths BI tools configure
      parquet      -> current/parquet
      current      -> versions/<run id>          the one switch, replaced by one rename
      versions/<run id>/marts.duckdb             DuckDB's v1.0.0 storage format
      versions/<run id>/parquet/<mart>.parquet
      versions/<run id>/parquet/fct_daily_prices/year=<YYYY>/data_0.parquet

- A publish builds its whole version (both formats) in a hidden folder, renames it into
  ``versions/`` and then switches ``current``: the DuckDB file and the Parquet files become
  visible together, and ``_published_runs`` (in the DuckDB file) describes exactly what both
  show. A failure or a kill anywhere before the switch leaves the version in use untouched.
- The DuckDB file is in the v1.0.0 storage format (``BI_STORAGE_VERSION``): every BI tool embeds
  a DuckDB 1.x, which cannot read the 2.0 format our own DuckDB writes by default.
- Daily prices (tens of millions of rows for a market-wide universe) are published by replacing
  only the rows dbt built since the last publish (each row carries its build's start, declared
  in the mart's ``meta.hashpivot.row_stamps``), and their Parquet copy is partitioned by year: a
  year whose rows did not change is hard-linked from the previous version, so a new day reads
  and rewrites a day of rows and one partition.
- Pruning keeps the version in use and the one before it (for readers still holding it).
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

from orchestration import settings
from orchestration.atomic import fsync_directory, fsync_file, replace_symlink
from orchestration.paths import PublishedPaths
from orchestration.transform.contract import RowStamps

RUNS_TABLE = "_published_runs"
# Per mart published by its changed rows, the newest row stamp the published copy holds.
STAMPS_TABLE = "_published_row_stamps"
# Marts published by their changed rows get their Parquet copy partitioned by this.
PARTITION_COLUMN = "year"
# The storage format of the published file. DuckDB 1.0.0 (DBeaver's bundled driver) and every
# later 1.x (Evidence, duckdb-engine with duckdb<2, Metabase's JDBC 1.4) read it; DuckDB keeps a
# file in the format it was created with, so a file in another format is rebuilt, never copied.
BI_STORAGE_VERSION = "v1.0.0"
DUCKDB_FILE = "marts.duckdb"
PARQUET_DIR = "parquet"


@dataclass(frozen=True)
class PublishReport:
    duckdb_path: Path
    parquet_dir: Path
    row_counts: dict[str, int]
    version_dir: Path
    # The version in use before, when it could not be opened and was rebuilt whole.
    damaged_previous: Path | None = None


@dataclass(frozen=True)
class PublishedVersion:
    """Where a published version's DuckDB file and Parquet folder are (in a version folder, or
    the flat files of a data dir published before versions held both)."""

    folder: Path | None
    duckdb: Path
    parquet: Path


def publish_marts(
    warehouse: Path,
    published: PublishedPaths,
    *,
    run_id: str,
    published_at: datetime,
    check_summary: Mapping[str, object],
    marts: Sequence[str],
    row_stamps: Mapping[str, RowStamps] | None = None,
) -> PublishReport:
    """Copy ``marts`` (the names declared published in the dbt YAML) from the warehouse's
    ``marts`` schema into a new published version, and switch to it. The marts in
    ``row_stamps`` (keyed by ticker and date) get only their rows built since the last publish
    replaced, and a Parquet copy partitioned by year."""
    published.versions.mkdir(parents=True, exist_ok=True)
    previous = version_in_use(published)
    damaged = None
    if previous is not None and storage_version(previous.duckdb) is None:
        damaged = previous.duckdb
    building = published.building(run_id)
    final = published.version(run_id)
    if final.exists():
        raise FileExistsError(f"published version {final} exists already")
    shutil.rmtree(building, ignore_errors=True)
    switched = False
    try:
        (building / PARQUET_DIR).mkdir(parents=True)
        row_counts = _build_version(
            building,
            warehouse,
            marts,
            row_stamps or {},
            previous=previous,
            spill_dir=published.spill,
            run_row={
                "run_id": run_id,
                "published_at": published_at,
                "check_summary": check_summary,
            },
        )
        fsync_file(building / DUCKDB_FILE)
        os.rename(building, final)
        fsync_directory(published.versions)
        replace_symlink(published.current, final.relative_to(published.root))
        switched = True
        _link_fixed_paths(published)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        if not switched:
            shutil.rmtree(final, ignore_errors=True)
        raise
    keep = {final, *([previous.folder] if previous and previous.folder else [])}
    _remove_other_versions(published.versions, keep)
    return PublishReport(published.duckdb, published.parquet, row_counts, final, damaged)


def version_in_use(published: PublishedPaths) -> PublishedVersion | None:
    """The version BI tools see now: ``current``'s, or the flat files of an older layout."""
    if published.current.is_symlink() and published.current.is_dir():
        folder = published.current.resolve()
        return PublishedVersion(folder, folder / DUCKDB_FILE, folder / PARQUET_DIR)
    if published.duckdb.is_file() and not published.duckdb.is_symlink():
        parquet = published.parquet.resolve() if published.parquet.exists() else published.parquet
        return PublishedVersion(None, published.duckdb, parquet)
    return None


def published_copy_is_readable(published: PublishedPaths) -> bool:
    """True when the version in use opens as a DuckDB file in the BI format with its run log,
    and its Parquet folder is there. A damaged copy (a truncated file, a deleted folder) is
    rebuilt whole by the next run, even one without new data."""
    previous = version_in_use(published)
    if previous is None or not previous.parquet.is_dir():
        return False
    if storage_version(previous.duckdb) != BI_STORAGE_VERSION:
        return False
    try:
        with duckdb.connect(str(previous.duckdb), read_only=True) as copy:
            copy.execute(f"select count(*) from {RUNS_TABLE}").fetchall()
    except duckdb.Error:
        return False
    return True


def _link_fixed_paths(published: PublishedPaths) -> None:
    """``marts.duckdb`` and ``parquet`` as links through ``current`` (made once; a data dir
    published with flat files gets its links here, each in one rename)."""
    current = published.current.name
    for link, target in (
        (published.duckdb, f"{current}/{DUCKDB_FILE}"),
        (published.parquet, f"{current}/{PARQUET_DIR}"),
    ):
        if not (link.is_symlink() and os.readlink(link) == target):
            replace_symlink(link, Path(target))


def _build_version(
    folder: Path,
    warehouse: Path,
    marts: Sequence[str],
    row_stamps: Mapping[str, RowStamps],
    *,
    previous: PublishedVersion | None,
    spill_dir: Path,
    run_row: Mapping[str, object],
) -> dict[str, int]:
    """Build the version's DuckDB file and Parquet files in ``folder``.

    The DuckDB file starts as a copy of the previous one. Small marts are replaced whole; a
    mart with row stamps gets only the rows built since the last publish replaced (see
    ``_replace_rows_built_since``), so a day of new prices costs a day of rows.
    """
    target = folder / DUCKDB_FILE
    parquet_dir = folder / PARQUET_DIR
    previous_db = previous.duckdb if previous is not None else None
    previous_format = storage_version(previous_db) if previous_db is not None else None
    if previous_format is None:
        # No previous copy, or one that does not open (damaged): everything is written anew,
        # nothing copied or linked from it.
        previous = previous_db = None
    if previous_db is not None and previous_format == BI_STORAGE_VERSION:
        shutil.copyfile(previous_db, target)
    row_counts: dict[str, int] = {}
    config = {
        **settings.duckdb_config(spill_dir),
        "storage_compatibility_version": BI_STORAGE_VERSION,
    }
    with duckdb.connect(str(target), config=config) as out:
        if previous_db is not None and previous_format not in (None, BI_STORAGE_VERSION):
            _carry_over_run_log(out, previous_db)
        out.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        published_stamps = _published_stamps(out)
        new_stamps: dict[str, datetime | None] = {}
        for mart in marts:
            if mart in row_stamps:
                stamps = row_stamps[mart]
                changed_years = _replace_rows_built_since(
                    out, mart, stamps, published_stamps.get(mart)
                )
                if changed_years is None:
                    _copy_whole(out, mart)
                (new_stamps[mart],) = out.execute(
                    f"select max({stamps.stamp_column}) from warehouse.{stamps.relation}"
                ).fetchall()[0]
                _write_partitions(
                    out,
                    mart,
                    parquet_dir / mart,
                    previous.parquet / mart if previous is not None else None,
                    changed_years,
                )
            else:
                _copy_whole(out, mart)
                out.execute(
                    f"copy {mart} to ? (format parquet, compression zstd)",
                    [str(parquet_dir / f"{mart}.parquet")],
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
            f"create or replace table {STAMPS_TABLE} (mart varchar, stamped_through timestamptz)"
        )
        for mart, stamp in new_stamps.items():
            out.execute(f"insert into {STAMPS_TABLE} values (?, ?)", [mart, stamp])
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


def _copy_whole(out: duckdb.DuckDBPyConnection, mart: str) -> None:
    out.execute(f"create or replace table {mart} as select * from warehouse.marts.{mart}")


def _write_partitions(
    out: duckdb.DuckDBPyConnection,
    mart: str,
    target: Path,
    previous: Path | None,
    changed_years: set[int] | None,
) -> None:
    """The mart's Parquet copy as one folder per year (``year=<YYYY>/``, Hive style): the
    years in ``changed_years`` (every year when None, or when the previous version has no
    such folder) are written, the others hard-linked from the previous version's copy."""
    years = {year for (year,) in out.execute(f"select distinct year(date) from {mart}").fetchall()}
    linked = set()
    if changed_years is not None and previous is not None and previous.is_dir():
        linked = {
            year
            for year in years - changed_years
            if (previous / f"{PARTITION_COLUMN}={year}").is_dir()
        }
    written = sorted(years - linked)
    target.mkdir(parents=True)
    if written:
        out.execute(
            f"""
            copy (
                select *, year(date) as {PARTITION_COLUMN}
                from {mart}
                where list_contains(?, year(date))
                order by ticker, date
            ) to ? (format parquet, compression zstd, partition_by ({PARTITION_COLUMN}))
            """,
            [written, str(target)],
        )
    for year in sorted(linked):
        partition = f"{PARTITION_COLUMN}={year}"
        (target / partition).mkdir()
        for file in (previous / partition).iterdir():
            os.link(file, target / partition / file.name)


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


def _published_stamps(out: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """What the copied-forward file records: per mart, the newest row stamp it holds."""
    exists = out.execute(
        "select count(*) from duckdb_tables() "
        "where database_name = current_database() and table_name = ?",
        [STAMPS_TABLE],
    ).fetchall()[0][0]
    if not exists:
        return {}
    rows = out.execute(f"select mart, stamped_through from {STAMPS_TABLE}").fetchall()
    return {mart: stamp for mart, stamp in rows if stamp is not None}


def _replace_rows_built_since(
    out: duckdb.DuckDBPyConnection,
    mart: str,
    stamps: RowStamps,
    stamped_through: datetime | None,
) -> set[int] | None:
    """Replace, per ticker with rows built after ``stamped_through``, its published rows from
    the first such row's date on with the warehouse's; then check both tables hold as many
    rows. Returns the years whose rows were replaced; None (table left as it was, to be
    replaced whole) when there is no published table with the same columns, no stamp, or the
    counts differ.

    Why that suffices: dbt writes a row again (with a later stamp) whenever its values change,
    and rewrites a ticker's tail from its first changed date, so the published rows before
    that date are still the warehouse's. Only a row deleted without a rebuild of the ticker's
    tail (a demo ticker's rows before its first real price) could be left behind, and that
    leaves the published table with more rows than the warehouse's: the count catches it.
    A full refresh stamps every row, which replaces every ticker whole.
    """
    published_columns = _columns(out, "published", mart)
    if stamped_through is None or not published_columns:
        return None
    if published_columns != _columns(out, "warehouse", mart):
        return None
    source = f"warehouse.marts.{mart}"
    out.execute("begin")
    out.execute(
        f"""
        create or replace temp table rebuilt_tails as
        select ticker, min({stamps.date_column}) as from_date
        from warehouse.{stamps.relation}
        where {stamps.stamp_column} > $stamped_through
        group by ticker
        """,
        {"stamped_through": stamped_through},
    )
    # Joins, not a correlated EXISTS: DuckDB runs these as a hash join on the few changed
    # tickers (milliseconds at 34 M rows), the EXISTS with its date inequality took 5 s each.
    tail_row = "tails.ticker = candidate.ticker and candidate.date >= tails.from_date"
    in_rebuilt_tail = f"join rebuilt_tails as tails on {tail_row}"
    changed_years = {
        year
        for (year,) in out.execute(
            f"""
            select distinct year(candidate.date) from {mart} as candidate {in_rebuilt_tail}
            union
            select distinct year(candidate.date) from {source} as candidate {in_rebuilt_tail}
            """
        ).fetchall()
    }
    out.execute(f"delete from {mart} as candidate using rebuilt_tails as tails where {tail_row}")
    out.execute(
        f"insert into {mart} select candidate.* from {source} as candidate {in_rebuilt_tail}"
    )
    (published_rows,) = out.execute(f"select count(*) from {mart}").fetchall()[0]
    (warehouse_rows,) = out.execute(f"select count(*) from {source}").fetchall()[0]
    if published_rows == warehouse_rows:
        out.execute("commit")
        return changed_years
    out.execute("rollback")
    return None


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


def _remove_other_versions(versions_dir: Path, keep: set[Path]) -> None:
    """Delete every version but ``keep`` (the one in use and the one before it), and what
    killed publishes left behind (hidden ``.building`` folders)."""
    kept = {path.resolve() for path in keep}
    for folder in versions_dir.iterdir():
        if folder.resolve() not in kept:
            shutil.rmtree(folder, ignore_errors=True)
