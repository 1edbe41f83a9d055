"""``hashpivot``: run the whole pipeline headlessly through Dagster and summarise it.

``hashpivot seeds check`` validates the curated seeds alone (dbt tests, GX suites, curator
rules), in seconds and without prices, and prints each failing row with its file and line.

Options are written into the HASHPIVOT_* environment before the Dagster definitions load, so the
assets, the dbt subprocess and a later ``dagster dev`` all agree on them. Runs are recorded in
the Dagster instance under the data dir, so they show up in the UI's run history.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from orchestration import settings
from orchestration.paths import DATA_DIR_ENV, DataPaths, data_paths

OPTION_ENV_VARS = {
    "source": settings.ENV_PRICE_SOURCE,
    "csv_dir": settings.ENV_CSV_DIR,
    "start": settings.ENV_START,
    "end": settings.ENV_END,
    "universe": settings.ENV_UNIVERSE,
    "demo_tickers": settings.ENV_DEMO_TICKERS,
    "max_failed_share": settings.ENV_MAX_FAILED_SHARE,
    "as_of": settings.ENV_AS_OF,
    "data_dir": DATA_DIR_ENV,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashpivot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialize every asset and print a summary")
    run.add_argument(
        "--source",
        choices=["auto", "yfinance", "csv", "demo"],
        help="price source (env HASHPIVOT_PRICE_SOURCE; default auto)",
    )
    run.add_argument("--csv-dir", help="folder of per-ticker CSV files (env HASHPIVOT_CSV_DIR)")
    run.add_argument(
        "--start",
        help="first date YYYY-MM-DD for yfinance/demo (default 2020-01-01);"
        " a CSV file lands whole unless given (env HASHPIVOT_START)",
    )
    run.add_argument("--end", help="last date YYYY-MM-DD (default today; env HASHPIVOT_END)")
    run.add_argument(
        "--data-dir", help="where everything is written (env HASHPIVOT_DATA_DIR; default ./data)"
    )
    run.add_argument(
        "--universe",
        choices=["seeds", "all"],
        help="seeds = the companies seed; all = every CSV file or --demo-tickers"
        " synthetic tickers too (env HASHPIVOT_UNIVERSE)",
    )
    run.add_argument(
        "--demo-tickers", type=int, help="synthetic tickers added by --universe all --source demo"
    )
    run.add_argument(
        "--max-failed-share",
        type=float,
        help="fail the run when more than this share of tickers fail (default 0.25)",
    )
    run.add_argument("--as-of", help="as-of date YYYY-MM-DD of the marts (default latest data)")
    seeds = commands.add_parser("seeds", help="the curated seeds in dbt_project/seeds/")
    seeds_commands = seeds.add_subparsers(dest="seeds_command", required=True)
    seeds_commands.add_parser(
        "check",
        help="dbt tests, GX suites and curator rules on the seeds alone; exit 1 on any failing row",
    )
    return parser


def export_options(arguments: argparse.Namespace, environ: dict[str, str]) -> None:
    """Write the given options into ``environ`` (validated), leaving the others untouched."""
    for option, env_var in OPTION_ENV_VARS.items():
        value = getattr(arguments, option, None)
        if value is not None:
            environ[env_var] = str(value)
    for option in ("start", "end", "as_of"):
        settings.parse_date(environ.get(OPTION_ENV_VARS[option]), option.replace("_", "-"))
    environ[DATA_DIR_ENV] = str(data_paths(environ.get(DATA_DIR_ENV)).root)


def prepare_dagster_home(paths: DataPaths, environ: dict[str, str]) -> Path:
    """DAGSTER_HOME under the data dir (unless set), with telemetry off."""
    home = Path(environ.setdefault("DAGSTER_HOME", str(paths.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return home


def run_pipeline() -> int:
    """Materialize every asset in one Dagster run; print the summary; 0 only on success."""
    import dagster as dg

    from orchestration.definitions import defs

    job = defs.resolve_job_def("hashpivot_all")
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
    print(format_summary(result, data_paths()))
    return 0 if result.success else 1


def format_summary(result, paths: DataPaths) -> str:
    """The run summary: source per ticker, rows landed, failures, warnings, outputs."""
    lines = [f"hashpivot run {result.run_id}: {'SUCCEEDED' if result.success else 'FAILED'}"]
    extraction = _materialization_metadata(result, "landed_prices")
    if extraction:
        lines += _extraction_lines(extraction)
    for step_key, message in _step_failures(result):
        lines.append(f"  FAILED step {step_key}: {message}")
    evaluations = result.get_asset_check_evaluations()
    lines += check_lines(evaluations)
    lines += quality_table(evaluations)
    published = _materialization_metadata(result, "published_marts")
    lines.append(
        "published: yes, "
        + f"{sum(published['row_counts'].values())} rows in {len(published['row_counts'])} marts"
        if published
        else "published: NO (the published copy is unchanged from the last good run)"
    )
    lines += [
        "outputs:",
        f"  landing zone : {paths.landing_prices}",
        f"  warehouse    : {paths.warehouse} (the pipeline's; BI tools read published/)",
        f"  published    : {paths.published_duckdb} and {paths.published_parquet}/",
        f"  data docs    : {paths.quality / 'data_docs' / 'index.html'}",
        f"  dagster home : {os.environ.get('DAGSTER_HOME', paths.dagster_home)} (make ui)",
    ]
    return "\n".join(lines)


def publish_line(result) -> str:
    published = _materialization_metadata(result, "published_marts")
    if published:
        counts = published["row_counts"]
        return f"published: yes, {sum(counts.values())} rows in {len(counts)} marts"
    if result.success:
        return "published: unchanged (nothing new since the last publish; dbt build skipped)"
    return "published: NO (the published copy is unchanged from the last good run)"


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


def _extraction_lines(metadata: dict) -> list[str]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for ticker, source in metadata["source_by_ticker"].items():
        by_source[source].append(ticker)
    lines = [
        f"prices: source {metadata['price_source']} (requested {metadata['requested_source']})"
    ]
    for source, tickers in sorted(by_source.items()):
        lines.append(f"  {source}: {len(tickers)} tickers: {' '.join(sorted(tickers))}")
    fetched = metadata["rows_fetched"]
    # A CSV folder is streamed into the landing file, so its fetched rows are not counted.
    of_fetched = f"of {fetched} fetched" if str(fetched).isdigit() else "(CSV files streamed)"
    lines.append(
        f"  rows landed: {metadata['rows_landed']} {of_fetched} "
        f"({metadata['first_date_landed']} to {metadata['last_date_landed']})"
    )
    failed = metadata["failed_tickers"]
    lines.append(f"  failed tickers: {len(failed)}")
    lines += [f"    {ticker}: {reason}" for ticker, reason in failed.items()]
    if metadata["warnings"] != "none":
        lines += ["  WARNING " + line.strip("-* ") for line in metadata["warnings"].splitlines()]
    return lines


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
            failures.append((event.step_key, message or data.error.message.strip()))
    return failures


def check_seeds() -> int:
    """``hashpivot seeds check``: print what each check found; 0 only when all pass."""
    from orchestration.quality.seeds_check import run_seeds_check

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    report = run_seeds_check()
    print("\n".join(report.lines))
    print("seeds check: FAILED" if report.failed else "seeds check: passed")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "seeds":
        return check_seeds()
    try:
        export_options(arguments, os.environ)  # type: ignore[arg-type]
    except settings.SettingsError as error:
        print(f"hashpivot: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    prepare_dagster_home(data_paths(), os.environ)  # type: ignore[arg-type]
    return run_pipeline()


if __name__ == "__main__":
    sys.exit(main())
