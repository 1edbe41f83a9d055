"""``hashpivot``: run the whole pipeline headlessly through Dagster and summarise it.

``hashpivot seeds check`` validates the curated seeds alone (dbt tests, GX suites, curator
rules), in seconds and without prices, and prints each failing row with its file and line.

Options are written into the HASHPIVOT_* environment before the Dagster definitions load, so the
assets, the dbt subprocess and a later ``dagster dev`` all agree on them. Runs are recorded in
the Dagster instance under the data dir, so they show up in the UI's run history.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import sys
import traceback
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from orchestration import settings
from orchestration.atomic import write_text_replacing
from orchestration.console import StepProgress, output_to_log
from orchestration.paths import DATA_DIR_ENV, DataPaths, data_paths
from orchestration.run_lock import lock_report_lines, peek_holder, release_run_lock


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashpivot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialize every asset and print a summary")
    run.add_argument(
        "--verbose",
        action="store_true",
        help="stream Dagster's and dbt's full logs and list every ticker (default: one line "
        "per step, the logs in <data dir>/logs/<run id>.log)",
    )
    for setting in settings.SETTINGS:
        if setting.on_cli:
            run.add_argument(
                setting.flag,
                dest=setting.name,
                choices=setting.choices or None,
                help=setting.described,
            )
    seeds = commands.add_parser("seeds", help="the curated seeds in dbt_project/seeds/")
    seeds_commands = seeds.add_subparsers(dest="seeds_command", required=True)
    seeds_commands.add_parser(
        "check",
        help="dbt tests, GX suites and curator rules on the seeds alone; exit 1 on any failing row",
    )
    return parser


def export_options(arguments: argparse.Namespace, environ: dict[str, str]) -> None:
    """Write the given options into ``environ`` and check every setting's value there (so a bad
    environment variable fails before the run starts); the data dir becomes absolute."""
    for setting in settings.SETTINGS:
        value = getattr(arguments, setting.name, None)
        if setting.on_cli and value is not None:
            setting.value(value)  # a bad option is named as the user gave it
            environ[setting.env_var] = str(value)
        else:
            setting.value(None, environ)
    environ[DATA_DIR_ENV] = str(data_paths(environ.get(DATA_DIR_ENV)).root)


# The Dagster instance of a data dir: no telemetry, no sign-up dialog in the UI, and runs that
# the UI or the schedule launch queue one at a time (the warehouse has a single writer).
DAGSTER_INSTANCE_CONFIG = """\
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
"""


def prepare_dagster_home(paths: DataPaths, environ: dict[str, str]) -> Path:
    """DAGSTER_HOME under the data dir (unless set), with hashpivot's instance settings (a
    dagster.yaml written by hashpivot is brought up to date; one written by hand is kept)."""
    home = Path(environ.setdefault("DAGSTER_HOME", str(paths.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    ours = not config.exists() or config.read_text().startswith("telemetry:\n  enabled: false\n")
    if ours and (not config.exists() or config.read_text() != DAGSTER_INSTANCE_CONFIG):
        write_text_replacing(config, DAGSTER_INSTANCE_CONFIG)
    return home


def run_pipeline(verbose: bool = False) -> int:
    """Materialize every asset in one Dagster run, showing a line per step; print the summary;
    0 only on success. Without ``verbose``, Dagster's and dbt's logs go to a file."""
    paths = data_paths()
    run_id = str(uuid.uuid4())
    log_path = paths.logs / f"{run_id}.log"
    output = contextlib.nullcontext(sys.stdout) if verbose else output_to_log(log_path)
    with output as terminal:
        where = "" if verbose else f" (full log: {log_path})"
        terminal.write(f"hashpivot run {run_id}{where}\n")
        holder = peek_holder(paths)
        if holder is not None:
            wait = settings.LOCK_WAIT_SECONDS.value()
            terminal.write(f"waiting up to {wait} s for the data dir, in use by {holder}\n")
        terminal.flush()
        try:
            result = _execute(run_id, terminal)
        except Exception as error:  # the code location or the run could not even start
            traceback.print_exc()  # into the log (or the terminal with --verbose)
            unwritable = cannot_write_message(error)
            if unwritable:
                terminal.write(unwritable + "\n")
            else:
                terminal.write(f"FAILED before any step ran: {type(error).__name__}: {error}\n")
            if not verbose:
                terminal.write(f"  full log: {log_path}\n")
            return 1
        terminal.write(format_summary(result, paths, verbose=verbose, log_path=log_path) + "\n")
    return 0 if result.success else 1


# The code location `make ui` loads (workspace.yaml) and the job a CLI run executes.
DEFINITIONS_MODULE = "orchestration.definitions"
JOB_NAME = "hashpivot_all"


def _execute(run_id: str, terminal):
    import dagster as dg

    instance = dg.DagsterInstance.get()
    try:
        with StepProgress(instance, run_id, terminal).following():
            result = execute_as_launched(instance, run_id, run_tags())
    finally:  # its first step took the data dir's lock (orchestration/run_lock.py)
        release_run_lock(run_id)
    extraction = extraction_report(result)
    if extraction:  # known only once the source has been chosen (auto may fall back to demo)
        is_demo = extraction["price_source"].startswith("demo")
        instance.add_run_tags(run_id, {"hashpivot/demo_prices": str(is_demo).lower()})
    return result


def execute_as_launched(instance, run_id: str, tags: dict[str, str]):
    """Run the job in this process, recorded as the UI records a run it launches.

    ``JobDefinition.execute_in_process`` stores a run without the code location it came from,
    and the UI's Overview timeline shows only runs that name one; Dagster has no public API to
    give it one, so the run is created here with the origin of the workspace's code location
    (what `dagster dev -w workspace.yaml` loads) and then executed in this process.
    """
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import (
        ManagedGrpcPythonEnvCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from orchestration.paths import PROJECT_ROOT

    working_directory = str(PROJECT_ROOT)
    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, "defs", working_directory=working_directory
    )
    job = repository.get_reconstructable_job(JOB_NAME)
    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name=DEFINITIONS_MODULE,
        working_directory=working_directory,
    )
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, location_name=DEFINITIONS_MODULE)
    run = instance.create_run_for_job(
        job_def=job.get_definition(),
        run_id=run_id,
        tags=tags,
        remote_job_origin=RemoteJobOrigin(
            RemoteRepositoryOrigin(location, "__repository__"), JOB_NAME
        ),
        job_code_origin=job.get_python_origin(),
    )
    return execute_run(job, run, instance)


def run_tags() -> dict[str, str]:
    """Tags of a CLI run in the Dagster UI: how it was started and on what."""
    as_of = settings.AS_OF.value()
    return {
        "hashpivot/started_by": "hashpivot run",
        "hashpivot/source": settings.PRICE_SOURCE.value(),
        "hashpivot/universe": settings.UNIVERSE.value(),
        "hashpivot/as_of": as_of.isoformat() if as_of else "latest",
    }


def warehouse_line(paths: DataPaths) -> str:
    """Where dbt built: the DuckDB file, or Spark's warehouse (and the local copy the checks
    and the publish read)."""
    if settings.ENGINE.value() != "spark":
        return f"  warehouse    : {paths.warehouse} (the pipeline's; BI tools read published/)"
    remote = settings.SPARK_REMOTE.value()
    where = f"the cluster at {remote}" if remote else str(paths.spark_warehouse)
    return f"  warehouse    : Spark, {where} (local copy for checks: {paths.warehouse})"


def format_summary(
    result, paths: DataPaths, *, verbose: bool = False, log_path: Path | None = None
) -> str:
    """The run summary: first what failed and why (if anything), then the source per ticker,
    rows landed, failures, checks, what was published, and where the outputs are."""
    lines = []
    if not result.success:
        lines += failure_lines(result, log_path)
    lines.append(f"hashpivot run {result.run_id}: {'SUCCEEDED' if result.success else 'FAILED'}")
    lines += lock_report_lines(paths, result.run_id)
    extraction = extraction_report(result)
    if extraction:
        lines += _extraction_lines(extraction, verbose=verbose)
    lines += as_of_lines(result)
    for step_key, message in _step_failures(result):
        lines.append(f"  FAILED step {step_key}: {message}")
    evaluations = result.get_asset_check_evaluations()
    lines += check_lines(evaluations)
    lines += quality_table(evaluations)
    lines.append(publish_line(result, paths))
    lines += [
        "outputs:",
        f"  landing zone : {paths.landing_prices}",
        warehouse_line(paths),
        f"  published    : {paths.published.duckdb} and {paths.published.parquet}/",
        f"  data docs    : {paths.data_docs_index}",
        f"  dashboard    : {paths.dashboard / 'index.html'} (make dashboard-dev serves it)",
        f"  dagster home : {os.environ.get('DAGSTER_HOME', paths.dagster_home)} (make ui)",
    ]
    if log_path is not None and not verbose:
        lines.append(f"  full log     : {log_path}")
    return "\n".join(lines)


def failure_lines(result, log_path: Path | None) -> list[str]:
    """The first thing a failed run prints after its steps: what failed and why, and where the
    log is. A failed blocking check (bad data) comes before a step that crashed."""
    blocking = [
        e for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity.value == "ERROR"
    ]  # fmt: skip
    if blocking:
        first = blocking[0]
        reason = first.description or "see the check's metadata"
        line = f"FAILED: {first.asset_key.to_user_string()}:{first.check_name} blocked: {reason}"
    else:
        failures = _step_failures(result)
        step, message = failures[0] if failures else ("run", "see the log")
        unwritable = cannot_write_in_step(message)
        if unwritable:
            line = f"{unwritable} (step {step} failed)"
        else:
            line = f"FAILED at step {step}: {message}"
    lines = [line]
    if log_path is not None:
        lines.append(f"  full log: {log_path}")
    return lines


# The dbt model of the marts' one as-of date, as dagster-dbt keys it (schema/name).
AS_OF_ASSET = "intermediate/int_as_of_date"


def as_of_lines(result) -> list[str]:
    """A warning when the requested --as-of was after the last price date and was clamped."""
    metadata = _materialization_metadata(result, AS_OF_ASSET) or {}
    warning = metadata.get("as_of_warning")
    return [f"  WARNING {warning}"] if warning else []


def publish_line(result, paths: DataPaths) -> str:
    """Whether this run published, and if not, which published copy BI tools read."""
    published = _materialization_metadata(result, "published_marts")
    if published:
        counts = published["row_counts"]
        return (
            f"published: yes, {sum(counts.values())} rows in {len(counts)} marts "
            f"(run {result.run_id})"
        )
    last = last_published_run(paths.published.duckdb)
    if result.success and last is not None:
        run_id, published_at = last
        return (
            f"published: current (nothing changed since run {run_id} published it at "
            f"{published_at:%Y-%m-%d %H:%M:%S %Z})"
        )
    if last is None:
        return "published: NO (nothing has been published yet)"
    return f"published: NO (BI tools still read the copy run {last[0]} published)"


def last_published_run(published_duckdb: Path) -> tuple[str, datetime] | None:
    """(run id, time) of the newest row of the published file's ``_published_runs``; None when
    there is no readable published file."""
    if not published_duckdb.exists():
        return None
    import duckdb

    from orchestration.quality.publish import RUNS_TABLE

    try:
        with duckdb.connect(str(published_duckdb), read_only=True) as published:
            row = published.execute(
                f"select run_id, published_at from {RUNS_TABLE} order by published_at desc limit 1"
            ).fetchone()
    except duckdb.Error:
        return None
    return (row[0], row[1].astimezone(UTC)) if row else None


def check_lines(evaluations: list) -> list[str]:
    """One line for the counts, then one per check that did not pass, blocking ones first."""
    failed = [e for e in evaluations if not e.passed]
    failed.sort(key=lambda e: (e.severity.value != "ERROR", e.asset_key.to_user_string()))
    lines = [f"checks: {len(evaluations) - len(failed)} passed, {len(failed)} did not"]
    for evaluation in failed:
        kind = "BLOCKING" if evaluation.severity.value == "ERROR" else "warning"
        description = evaluation.description or ""
        lines.append(
            f"  {kind} {evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            + (f": {description}" if description else "")
        )
    return lines


def quality_table(evaluations: list) -> list[str]:
    """The data-quality summary: expectations passed and failed per GX suite in this run."""
    rows = []
    for evaluation in evaluations:
        metadata = evaluation.metadata
        if evaluation.check_name.endswith("_critical") and "suite_expectations" in metadata:
            rows.append(
                (
                    Path(metadata["suite"].value).stem,
                    metadata["suite_expectations"].value,
                    metadata["suite_passed"].value,
                    metadata["suite_failed"].value,
                )
            )
    if not rows:
        return ["data quality: no suite ran"]
    width = max(len(row[0]) for row in rows)
    lines = ["data quality:", f"  {'suite':<{width}}  expectations  passed  failed"]
    lines += [f"  {s:<{width}}  {n:>12}  {p:>6}  {f:>6}" for s, n, p, f in sorted(rows)]
    return lines


# Names listed per group (tickers of a source, failed tickers) unless --verbose: a market-wide
# universe has thousands.
LISTED_NAMES = 10


def listed(names: list[str], verbose: bool) -> str:
    """Up to ``LISTED_NAMES`` names, then how many more (all of them when ``verbose``)."""
    if verbose or len(names) <= LISTED_NAMES:
        return " ".join(names)
    return " ".join(names[:LISTED_NAMES]) + f" ... and {len(names) - LISTED_NAMES} more"


def _extraction_lines(metadata: dict, verbose: bool = False) -> list[str]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for ticker, source in metadata["source_by_ticker"].items():
        by_source[source].append(ticker)
    lines = [
        f"prices: source {metadata['price_source']} (requested {metadata['requested_source']})"
    ]
    for source, tickers in sorted(by_source.items()):
        lines.append(f"  {source}: {len(tickers)} tickers: {listed(sorted(tickers), verbose)}")
    fetched = metadata["rows_fetched"]
    # A CSV folder is streamed into the landing file, so its fetched rows are not counted.
    of_fetched = f"of {fetched} fetched" if str(fetched).isdigit() else "(CSV files streamed)"
    lines.append(
        f"  rows landed: {metadata['rows_landed']} {of_fetched} "
        f"({metadata['first_date_landed']} to {metadata['last_date_landed']})"
    )
    failed = metadata["failed_tickers"]
    lines.append(f"  failed tickers: {len(failed)}")
    shown = list(failed.items()) if verbose else list(failed.items())[:LISTED_NAMES]
    lines += [f"    {ticker}: {reason}" for ticker, reason in shown]
    if len(shown) < len(failed):
        lines.append(f"    ... and {len(failed) - len(shown)} more (--verbose lists them all)")
    if metadata["warnings"] != "none":
        lines += ["  WARNING " + line.strip("-* ") for line in metadata["warnings"].splitlines()]
    return lines


def extraction_report(result) -> dict | None:
    """The extraction's whole report (every ticker), from the file its asset wrote."""
    metadata = _materialization_metadata(result, "landed_prices")
    if not metadata:
        return None
    return json.loads(Path(metadata["report"]).read_text())


def _materialization_metadata(result, asset_name: str) -> dict | None:
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.to_user_string() == asset_name:
            return {key: value.value for key, value in materialization.metadata.items()}
    return None


def _step_failures(result) -> list[tuple[str, str]]:
    failures = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            message = data.user_failure_data.description if data.user_failure_data else None
            failures.append((event.step_key, message or error_message(data.error)))
    return failures


def error_message(error) -> str:
    """What a crashed step's exception said. Dagster wraps an unexpected exception in a step in
    ``DagsterExecutionStepExecutionError`` ("Error occurred while executing op ..."), whose
    ``SerializableErrorInfo`` has the user's exception as its ``cause``: the innermost cause's
    message ("RuntimeError: ...") is the one to show."""
    if error is None:
        return "see the log"
    innermost = error
    while innermost.cause is not None:
        innermost = innermost.cause
    return innermost.message.strip() or error.message.strip()


# Errors that mean the data dir (or the disk under it) cannot take a write: say so, in one line.
UNWRITABLE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def cannot_write_message(error: BaseException) -> str | None:
    """'cannot write <path>: <reason>' when ``error`` (or what caused it) is an OSError of a
    read-only file system, a denied permission or a full disk; None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in UNWRITABLE_ERRNOS:
            where = current.filename or data_paths().root
            return f"cannot write {where}: {os.strerror(current.errno)}"
        current = current.__cause__ or current.__context__
    return None


# How an OSError's message reads once Dagster has serialized it: "OSError: [Errno 28] ...: 'path'".
_SERIALIZED_OS_ERROR = re.compile(r"\[Errno (\d+)\] ([^:]+)(?:: '(.*?)')?")


# In a step, a denied permission may be a read (a CSV file): only these surely mean a write.
UNWRITABLE_IN_STEP_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def cannot_write_in_step(message: str) -> str | None:
    """'cannot write <path>: <reason>' when a step's error is a read-only file system or a full
    disk (an OSError, or DuckDB's IO error naming the same reason)."""
    found = _SERIALIZED_OS_ERROR.search(message)
    if found and int(found.group(1)) in UNWRITABLE_IN_STEP_ERRNOS:
        where = found.group(3) or data_paths().root
        return f"cannot write {where}: {os.strerror(int(found.group(1)))}"
    for code in sorted(UNWRITABLE_IN_STEP_ERRNOS):
        if os.strerror(code) in message:
            return f"cannot write: {os.strerror(code)} ({message.splitlines()[0]})"
    return None


def probe_writable(paths: DataPaths) -> None:
    """Create the data dir and write, sync and delete a small file in it and in each folder
    already under it: an OSError (read-only, permission, full disk) before anything else runs."""
    paths.root.mkdir(parents=True, exist_ok=True)
    folders = [paths.root, *sorted(p for p in paths.root.iterdir() if p.is_dir())]
    for folder in folders:
        probe = folder / f".write-probe.{os.getpid()}.tmp"
        try:
            with probe.open("wb") as file:
                file.write(b"\0" * 65536)
                file.flush()
                os.fsync(file.fileno())
        except OSError as error:  # named after the folder, not the probe's file
            raise OSError(error.errno, error.strerror, str(folder)) from error
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()


def check_seeds() -> int:
    """``hashpivot seeds check``: print what each check found; 0 only when all pass."""
    from orchestration.quality.seeds_check import run_seeds_check

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # The seeds load into a scratch DuckDB file whatever the run's engine: the check needs no
    # Spark, and its findings (CSV lines) do not depend on where the warehouse is built.
    os.environ[settings.ENGINE.env_var] = "duckdb"
    report = run_seeds_check()
    print("\n".join(report.lines))
    print("seeds check: FAILED" if report.failed else "seeds check: passed")
    return 1 if report.failed else 0


def missing_engine_packages() -> str | None:
    """What to install for the chosen engine, when its packages are missing (the spark group is
    not part of `make run`'s environment); None when nothing is."""
    from orchestration.transform.spark import (
        install_spark_packages_message,
        missing_spark_packages,
    )

    if settings.ENGINE.value() != "spark":
        return None
    absent = missing_spark_packages()
    return install_spark_packages_message(absent) if absent else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "seeds":
        return check_seeds()
    try:
        export_options(arguments, os.environ)  # type: ignore[arg-type]
    except settings.SettingsError as error:
        print(f"hashpivot: {error}", file=sys.stderr)
        return 2
    missing = missing_engine_packages()
    if missing:
        print(f"hashpivot: {missing}", file=sys.stderr)
        return 2
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    try:
        probe_writable(data_paths())
        prepare_dagster_home(data_paths(), os.environ)  # type: ignore[arg-type]
        return run_pipeline(verbose=arguments.verbose)
    except OSError as error:
        message = cannot_write_message(error)
        if message is None:
            raise
        if arguments.verbose:
            traceback.print_exc()
        print(message, flush=True)  # the first line: nothing was run
        return 1


if __name__ == "__main__":
    sys.exit(main())
