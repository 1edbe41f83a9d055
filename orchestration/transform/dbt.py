"""The dbt project (dbt_project/) as Dagster assets, through dagster-dbt.

dbt models, seeds and snapshots become assets; dbt data tests become asset checks; the landing
source maps to the ``landed_prices`` asset, so lineage runs from extraction to the marts.
"""

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version

from orchestration import settings
from orchestration.atomic import write_replacing, write_text_replacing
from orchestration.engine import WarehouseEngine
from orchestration.extract.retractions import ensure_retractions, retraction_files
from orchestration.paths import DBT_PROJECT_DIR, DataPaths, LedgerPaths, data_paths
from orchestration.run_lock import hold_run_lock

# dbt runs as a subprocess: use the dbt of the interpreter running Dagster, not whatever is on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


@cache
def dbt_project() -> DbtProject:
    """The dbt project, its manifest (re)built when missing or older than the dbt files
    (``prepare_if_dev`` rebuilds it under ``dagster dev`` anyway)."""
    prepare_dbt_environment()
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.preparer.prepare_if_dev(project)
    if manifest_is_stale(project):
        project.preparer.prepare(project)
    return project


DBT_SOURCE_PATTERNS = (
    "dbt_project.yml",
    "profiles.yml",
    "models/**/*",
    "seeds/**/*",
    "macros/**/*",
    "tests/**/*",
)


def manifest_is_stale(project: DbtProject) -> bool:
    """True when the manifest is missing or older than any file dbt parses."""
    if not project.manifest_path.exists():
        return True
    built_at = project.manifest_path.stat().st_mtime
    return any(
        path.is_file() and path.stat().st_mtime > built_at
        for pattern in DBT_SOURCE_PATTERNS
        for path in project.project_dir.glob(pattern)
    )


def group_for_layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """Asset group by dbt folder: seeds, staging, intermediate, marts."""
    if dbt_resource_props["resource_type"] == "seed":
        return "seeds"
    folders = dbt_resource_props.get("fqn", [])[1:-1]
    return folders[0] if folders else "transform"


class HashpivotDbtTranslator(DagsterDbtTranslator):
    """Keys assets by warehouse relation (``marts/miner_ai_pivot_performance``), groups them by
    dbt layer, and gives seeds a code version from their file contents, so editing a seed CSV
    marks everything downstream of it stale in the UI."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["alias"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return group_for_layer(dbt_resource_props)

    def get_asset_check_spec(
        self,
        asset_spec: dg.AssetSpec,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: DbtProject | None,
    ) -> dg.AssetCheckSpec | None:
        """dagster-dbt's check spec, with a description saying what the dbt test asserts
        (dbt data tests have none unless written by hand)."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_dbt_test(manifest["nodes"][unique_id]))

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            seed_file = DBT_PROJECT_DIR / dbt_resource_props["original_file_path"]
            return hashlib.sha256(seed_file.read_bytes()).hexdigest()[:16]
        return super().get_code_version(dbt_resource_props)


def describe_dbt_test(node: Mapping[str, Any]) -> str:
    """What a dbt data test asserts, in words, from its test metadata."""
    test = node.get("test_metadata") or {}
    name = test.get("name") or node.get("name", "test")
    arguments = test.get("kwargs") or {}
    column = arguments.get("column_name")
    columns = arguments.get("columns") or ([column] if column else [])
    on = ", ".join(str(c) for c in columns)
    among = " among the rows of the latest build" if arguments.get("built_at") else ""
    phrases = {
        "unique": f"{on} is unique",
        "not_null": f"{on} is never null",
        "not_null_columns": f"no null in {on}",
        "unique_combination_of_columns": f"one row per ({on})",
        "accepted_values": f"{on} is one of {arguments.get('values')}",
        "relationships": f"every {on} exists in {arguments.get('to')}.{arguments.get('field')}",
        "calendar_quarter_end": f"{on} is the last day of a calendar quarter",
    }
    return f"dbt test: {phrases.get(name, name.replace('_', ' '))}{among}"


def dbt_vars() -> dict[str, str]:
    """dbt vars from the settings (the CLI's --as-of)."""
    as_of = settings.AS_OF.value()
    return {"as_of_date": as_of.isoformat()} if as_of else {}


def dbt_build_args(vars_: Mapping[str, str]) -> list[str]:
    """``dbt build``, with ``--vars`` as JSON (which dbt reads as YAML) when there are any."""
    return ["build", "--vars", json.dumps(dict(vars_))] if vars_ else ["build"]


# The unit tests are known-answer tests of the formulas on fixed inputs: they cannot fail
# because of new data, so the pipeline does not pay their fixed cost on every run; pytest runs
# them (tests/transform/test_dbt_unit_tests.py). dagster-dbt maps only data tests to asset
# checks, so excluding unit tests changes no check.
PIPELINE_EXCLUDED_RESOURCE_TYPES = ("unit_test",)


def pipeline_build_args(vars_: Mapping[str, str], *, full_refresh: bool) -> list[str]:
    """The pipeline's ``dbt build``: without unit tests, and with ``--full-refresh`` when the
    incremental models cannot be trusted to catch up (see ``needs_full_refresh``)."""
    args = dbt_build_args(vars_)
    for resource_type in PIPELINE_EXCLUDED_RESOURCE_TYPES:
        args += ["--exclude-resource-type", resource_type]
    return [*args, "--full-refresh"] if full_refresh else args


def _hash_project(digest: Any, project_dir: Path) -> None:
    for pattern in DBT_SOURCE_PATTERNS:
        for path in sorted(project_dir.glob(pattern)):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())


def build_inputs_fingerprint(
    project_dir: Path,
    ledger: LedgerPaths,
    vars_: Mapping[str, str],
    retractions: Sequence[Path] = (),
) -> str:
    """What the warehouse is built from: the dbt project's files, the audit ledger (which
    landing files and rows dbt reads), the retraction files (which landed rows no longer count)
    and the dbt vars. Equal fingerprints, equal marts."""
    digest = hashlib.sha256(json.dumps(dict(vars_), sort_keys=True).encode())
    _hash_project(digest, project_dir)
    for path in sorted(ledger.root.glob("*/*.parquet")):
        digest.update(str(path.relative_to(ledger.root)).encode())
    _hash_names(digest, retractions)
    return digest.hexdigest()


def project_fingerprint(
    project_dir: Path,
    vars_: Mapping[str, str],
    retractions: Sequence[Path] = (),
    damaged_landing: Path | None = None,
) -> str:
    """The dbt project's files (models, macros, seeds, tests, config), the dbt vars, the
    retraction files and the landing files set aside as unreadable: what an incremental build
    assumes unchanged since the build it continues. New landed data (the ledger) is left out:
    it is what incremental builds are for. A new retraction (rare: a row or file removed from
    its source) takes rows away, and a damaged landing file may have held rows now only in the
    warehouse; the incremental price model handles neither, so each makes the next build a full
    refresh."""
    digest = hashlib.sha256(json.dumps(dict(vars_), sort_keys=True).encode())
    _hash_project(digest, project_dir)
    _hash_names(digest, retractions)
    if damaged_landing is not None and damaged_landing.is_dir():
        _hash_names(digest, [Path(f"damaged/{path.name}") for path in damaged_landing.iterdir()])
    return digest.hexdigest()


def _hash_names(digest: Any, paths: Sequence[Path]) -> None:
    for path in sorted(paths):
        digest.update(path.name.encode())


def project_fingerprint_path(warehouse: Path) -> Path:
    """Next to the warehouse: the project fingerprint of the last successful build into it."""
    return warehouse.with_name(warehouse.stem + ".dbt_project_fingerprint")


def needs_full_refresh(warehouse: Path, fingerprint: str) -> bool:
    """True unless the last successful build into ``warehouse`` ran the same project files and
    vars. An incremental model only recomputes rows whose prices changed: a changed seed
    (``companies.prices_valid_from``, a segment), model, macro or var would leave every other
    row stale, and a warehouse whose last build failed or was never recorded is of unknown
    state. A missing warehouse builds from scratch either way."""
    recorded = project_fingerprint_path(warehouse)
    return not (
        warehouse.exists() and recorded.exists() and recorded.read_text().strip() == fingerprint
    )


def record_successful_build(warehouse: Path, fingerprint: str) -> None:
    """Record ``fingerprint`` as the project of the warehouse's last successful build."""
    write_text_replacing(project_fingerprint_path(warehouse), fingerprint + "\n")


def current_inputs_fingerprint() -> str:
    paths = data_paths()
    return build_inputs_fingerprint(
        DBT_PROJECT_DIR, paths.ledger, dbt_vars(), retraction_files(paths.landing_retractions)
    )


def published_fingerprint_path() -> Path:
    """Where the publish step records the inputs of the marts it published."""
    return data_paths().published.inputs_fingerprint


def nothing_changed_since_last_publish() -> bool:
    """True when the last publish was built from exactly the current inputs (and its files are
    still there): rebuilding, re-checking and re-publishing would produce the same marts."""
    from orchestration.quality.publish import published_copy_is_readable

    recorded = published_fingerprint_path()
    paths = data_paths()
    return (
        recorded.exists()
        and paths.warehouse.exists()
        and recorded.read_text().strip() == current_inputs_fingerprint()
        and published_copy_is_readable(paths.published)
    )


def set_aside_unreadable_warehouse(warehouse: Path) -> Path | None:
    """Move a warehouse file DuckDB cannot open (truncated, overwritten) to ``damaged/`` beside
    it, with its build record, so the build starts from scratch; returns where it went. The
    warehouse holds nothing that is not rebuilt from landing and the seeds."""
    import duckdb

    if not warehouse.exists():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            connection.execute("select count(*) from duckdb_tables()").fetchall()
        return None
    except duckdb.Error:
        damaged = warehouse.parent / "damaged"
        damaged.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = damaged / f"{warehouse.name}.{stamp}"
        os.replace(warehouse, moved)
        for companion in (
            warehouse.with_name(warehouse.name + ".wal"),
            project_fingerprint_path(warehouse),
        ):
            if companion.exists():
                os.replace(companion, damaged / f"{companion.name}.{stamp}")
        return moved


def build_dbt_assets() -> dg.AssetsDefinition:
    project = dbt_project()
    translator = HashpivotDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
    )

    @dbt_assets(manifest=project.manifest_path, dagster_dbt_translator=translator, project=project)
    def hashpivot_dbt_assets(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, engine: WarehouseEngine
    ):
        """Seeds, staging views and mart tables of dbt_project/, built with `dbt build`
        (incremental price models; --full-refresh when the project or vars changed).

        Skipped when nothing dbt reads changed since the last publish: the outputs are then
        not materialized, and the checks and the publish downstream of them are skipped too,
        so a rerun with no new data costs only the extraction and the audit.
        """
        hold_run_lock(context)
        if nothing_changed_since_last_publish():
            context.log.info(
                "dbt build skipped: no new audited prices, seed, model or var since the last "
                "publish; the published marts are current."
            )
            return
        vars_ = dbt_vars()
        warehouse = data_paths().warehouse
        spark = start_spark_engine(context)
        damaged = set_aside_unreadable_warehouse(warehouse)
        if damaged is not None:
            context.log.warning(
                f"the warehouse {warehouse} could not be opened; it was moved to {damaged} and "
                "is rebuilt from the landed prices and the seeds (dbt build --full-refresh)."
            )
        # Taken before the build: a file edited while dbt runs forces the next build to be full.
        paths = data_paths()
        fingerprint = project_fingerprint(
            DBT_PROJECT_DIR,
            vars_,
            retraction_files(paths.landing_retractions),
            paths.landing_damaged,
        )
        full_refresh = needs_full_refresh(warehouse, fingerprint)
        if spark is not None:
            # A Spark statement is not a transaction: a build killed while it rewrites the price
            # table could leave it torn. Forgetting the last build until this one succeeds makes
            # the next build after a failure a full refresh.
            project_fingerprint_path(warehouse).unlink(missing_ok=True)
        if full_refresh:
            context.log.info(
                "dbt build --full-refresh: the dbt project files, vars or retractions differ "
                "from the last successful build's (or none is recorded), so incremental models "
                "are rebuilt."
            )
        # The events are held until dbt has finished: only then can the warehouse be opened to
        # read each table's row count and column types (table_metadata.py says why).
        events, failure = [], None
        invocation = dbt.cli(pipeline_build_args(vars_, full_refresh=full_refresh), context=context)
        try:
            events.extend(invocation.stream())
        except Exception as error:  # dbt failed: what it built and checked is still reported
            failure = error
        keep_partial_parse(invocation.target_path, project)
        if spark is not None:
            copy_from_spark(spark, warehouse, context, build_failed=failure is not None)
        yield from with_table_metadata(events, warehouse, context)
        if failure is not None:
            # A model that raised (int_as_of_date refusing an --as-of) says why in its own
            # words: that is the step's failure message, the first line after the steps.
            message = first_model_error(
                project.project_dir / invocation.target_path / "run_results.json"
            )
            if message is None:
                raise failure
            raise dg.Failure(description=message) from failure
        # Only a build that succeeded is recorded, and only a build of every dbt asset (a
        # subset leaves the rest of the warehouse as it was).
        if not context.is_subset:
            record_successful_build(warehouse, fingerprint)

    return hashpivot_dbt_assets


def start_spark_engine(context: dg.AssetExecutionContext) -> Any:
    """With ``--engine spark``: the run's Spark (started here when local), its Spark Connect
    URL handed to dbt's ``spark`` target; None with DuckDB."""
    from orchestration.transform.spark import (
        CONNECT_URL_ENV,
        SparkUnavailableError,
        engine_is_spark,
        spark_engine,
    )

    if not engine_is_spark():
        return None
    try:
        engine = spark_engine()
    except SparkUnavailableError as error:
        raise dg.Failure(description=str(error)) from error
    where = "a local Spark" if engine.local else "the cluster"
    context.log.info(f"dbt builds on {where}, through Spark Connect at {engine.connect_url}")
    os.environ[CONNECT_URL_ENV] = engine.connect_url
    return engine


def copy_from_spark(
    engine: Any, warehouse: Path, context: dg.AssetExecutionContext, *, build_failed: bool = False
) -> None:
    """Pull what the checks, the chart and the publish read from Spark into ``warehouse``, the
    local DuckDB copy (``spark_copy.py``), also after a failed build (its metadata shows what
    was built). After a failed build a failed copy is only a warning: the step fails with
    dbt's error, the one that says what to fix, not with the copy's (often the same cause, such
    as a Spark that died)."""
    from orchestration.transform.spark_copy import copy_spark_warehouse

    export_dir = engine.warehouse_dir / ".copy" if engine.local else None
    try:
        counts = copy_spark_warehouse(engine.session, warehouse, export_dir=export_dir)
    except Exception as error:
        if not build_failed:
            raise
        context.log.warning(
            f"after the failed dbt build, copying Spark's tables failed too: {error}"
        )
        return
    context.log.info(f"copied {len(counts)} Spark tables into {warehouse}")


# dagster-dbt gives each dbt invocation a folder of its own under target/; these many are kept
# (the newest), for their dbt.log and run_results.json.
KEPT_INVOCATION_FOLDERS = 5
PARTIAL_PARSE_FILE = "partial_parse.msgpack"


def keep_partial_parse(invocation_target: Path, project: DbtProject) -> None:
    """Carry dbt's parse of this invocation over to the next, and prune old invocation folders.

    dagster-dbt seeds each invocation's new target folder with the project target's
    ``partial_parse.msgpack``, but dbt writes its updated parse (made with this run's vars and
    profile) into the invocation's folder only. The project's copy is the one ``dbt parse`` made
    without the run's vars, so every run logged "Unable to do partial parsing" and parsed the
    whole project again. Copying the new parse back makes the next run with the same vars and
    profile parse only what changed (dbt itself checks that, and falls back to a full parse).
    """
    target = project.project_dir / project.target_path
    # dagster-dbt's target paths are relative to the dbt project, as dbt reads them.
    parsed = project.project_dir / invocation_target / PARTIAL_PARSE_FILE
    if parsed.exists():
        write_replacing(target / PARTIAL_PARSE_FILE, lambda path: shutil.copyfile(parsed, path))
    folders = sorted(
        (folder for folder in target.glob("*-*-*") if folder.is_dir()),
        key=lambda folder: folder.stat().st_mtime,
    )
    for folder in folders[:-KEPT_INVOCATION_FOLDERS]:
        shutil.rmtree(folder, ignore_errors=True)


def first_model_error(run_results: Path) -> str | None:
    """The message of the first dbt node that errored (not a test that failed), without dbt's
    and DuckDB's prefixes: ``as-of 1990-01-01 refused: ...``; None when none errored."""
    if not run_results.exists():
        return None
    results = json.loads(run_results.read_text()).get("results", [])
    for result in results:
        if result.get("status") == "error" and result.get("unique_id", "").startswith("model."):
            message = str(result.get("message") or "").strip()
            for prefix in ("Invalid Input Error:",):
                if prefix in message:
                    message = message.split(prefix, 1)[1]
            name = result["unique_id"].rsplit(".", 1)[-1]
            return f"dbt model {name}: {' '.join(message.split())}"
    return None


AS_OF_MODEL = "int_as_of_date"


def as_of_metadata(connection: Any, schema: str) -> dict[str, Any]:
    """The effective and requested as-of dates of the build, and a warning when the requested
    date was after the last price and was clamped to it."""
    row = connection.execute(
        f"select as_of_date, requested_as_of_date, latest_price_date, is_clamped "
        f"from {schema}.{AS_OF_MODEL}"
    ).fetchone()
    if row is None:
        return {}
    as_of, requested, latest, clamped = row
    metadata: dict[str, Any] = {
        "as_of_date": dg.MetadataValue.text(str(as_of)),
        "requested_as_of_date": dg.MetadataValue.text(str(requested) if requested else "latest"),
    }
    if clamped:
        metadata["as_of_warning"] = dg.MetadataValue.text(as_of_warning(requested, latest))
    return metadata


def as_of_warning(requested: Any, latest: Any) -> str:
    return (
        f"as-of {requested} is after the last price date {latest}: every mart is as of "
        f"{latest} (prices and contracts alike)"
    )


def with_table_metadata(
    events: list[Any], warehouse: Path, context: dg.AssetExecutionContext
) -> Iterator[Any]:
    """The dbt events, each materialization with its table's row count and typed columns (and
    int_as_of_date's with the as-of dates, see ``as_of_metadata``)."""
    import duckdb

    from orchestration.transform.table_metadata import column_descriptions, table_metadata

    if not warehouse.exists():
        yield from events
        return
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for event in events:
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                spec = context.assets_def.specs_by_key[key]
                schema, name = key.path[0], key.path[-1]
                extra = table_metadata(connection, schema, name, column_descriptions(spec.metadata))
                if name == AS_OF_MODEL:
                    extra = {**extra, **as_of_metadata(connection, schema)}
                    if "as_of_warning" in extra:
                        context.log.warning(extra["as_of_warning"].value)
                event = event.with_metadata({**event.metadata, **extra})
            yield event


# dagster-dbt's resource without two fixed costs it adds to every dbt step, both of which
# hashpivot never uses (measured in docs/benchmarks.md, about 5 s a run):
#
# - ``_cli_version`` ran ``dbt --version`` in a subprocess (a whole dbt start-up) to learn the
#   version of the dbt it then runs; it is the installed dbt-core's, read from its metadata.
# - ``_initialize_dbt_core_adapter`` built a dbt Core adapter in this process (dbt's imports,
#   the profile and the project), used only by ``fetch_row_counts`` and
#   ``fetch_column_metadata``; hashpivot reads row counts and column types itself, once dbt
#   has finished (``with_table_metadata``), so no adapter is built.
#
# Both are private names of dagster-dbt 0.29's ``DbtCliResource.cli``:
# tests/transform/test_dbt_resource.py fails when an upgrade renames them. The docstring is
# what the launchpad shows as the resource's description, so it speaks to the person
# launching a run.
class LeanDbtCliResource(DbtCliResource):
    """How the run calls dbt: the dbt executable and the project (dbt_project/). The defaults
    are this checkout's; the warehouse and the target follow the run's data dir and engine."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource() -> DbtCliResource:
    return LeanDbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE)


def prepare_dbt_environment() -> None:
    """Make the dbt subprocess find dbt and the warehouse whatever its cwd.

    dagster-dbt's manifest preparer looks for ``dbt`` on PATH, so the running interpreter's bin
    dir goes first; dbt reads the data dir's paths from the environment ``DataPaths`` gives it
    (absolute), and DuckDB needs the warehouse's folder to exist.
    """
    bin_dir = str(Path(DBT_EXECUTABLE).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    paths = data_paths()
    os.environ.update(dbt_environment(paths))
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)
    # dbt reads the retractions folder with read_parquet, which needs a file to match; an
    # unwritable data dir is reported by the run's own probe, not here.
    with contextlib.suppress(OSError):
        ensure_retractions(paths.landing_retractions)


def dbt_environment(paths: DataPaths) -> dict[str, str]:
    """What dbt reads from the environment: the data dir's paths and the settings its profile
    uses (profiles.yml and the data_path macro name no default of their own)."""
    return {**paths.dbt_environment(), **settings.dbt_settings_environment()}


if __name__ == "__main__":
    # `python -m orchestration.transform.dbt`: dbt's environment as KEY=VALUE lines, for tools
    # that run dbt's templater outside the pipeline (make lint).
    prepare_dbt_environment()
    print("\n".join(f"{k}={v}" for k, v in dbt_environment(data_paths()).items()))
