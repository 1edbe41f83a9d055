"""Running a suite from ``expectations/`` on rows of a DuckDB database, in SQL, with Great
Expectations' SQL datasource (through ``gx_duckdb.duckdb_sql_adapter``); or, with
``--engine spark``, on a Spark DataFrame of the same query, with GX's Spark execution engine.

The rows are a query over one DuckDB file (a seed or mart of the warehouse, the audit's staged
batch); nothing is copied into Python but the counts and a few rows for previews. GX counts each
rule's unexpected rows; the rows themselves are named by SQL predicates
(``sql_conditions.failing_condition``), whose counts are checked against GX's here, so the audit
can select every bad row in SQL. GX is imported lazily: its import costs seconds, and only the
check steps need it. Results go to a file-backed GX context under ``<data dir>/quality/gx``;
``build_data_docs`` renders a step's validations into the Data Docs site under
``<data dir>/quality/data_docs`` once, after the step's last validation (an UpdateDataDocsAction
per validation cost ~0.5 s each).

On Spark, the bad-row previews and the predicates' counts run on the local DuckDB copy of the
Spark warehouse (``transform/spark_copy.py``, the same rows): a predicate whose count differs
from what GX counted on Spark stops the check (``SuiteRuleMismatchError``).

Validations use the SUMMARY result format: counts, and no list of every unexpected value (the
COMPLETE format would fetch all of them into Python).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb

from orchestration import settings
from orchestration.quality.data_docs_offline import make_offline
from orchestration.quality.gx_duckdb import duckdb_sql_adapter
from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome
from orchestration.quality.sql_conditions import (
    KEY_ROWS,
    compound_key,
    failing_condition,
    identifier,
    with_key_counts,
)
from orchestration.quality.suites import load_suite_document

DATASOURCE = "hashpivot_duckdb"
SPARK_DATASOURCE = "hashpivot_spark"
DOCS_SITE = "hashpivot"
_MAX_OBSERVED_CHARS = 200


class SuiteRuleMismatchError(RuntimeError):
    """A rule's SQL predicate and GX disagree on how many rows break it."""


class GxValidator:
    """One GX context for a check step: validates queries over one DuckDB file, then builds
    their Data Docs."""

    def __init__(
        self,
        context_dir: Path,
        data_docs_index: Path,
        database: Path,
        config: Mapping[str, str] | None = None,
        spark_session: Any = None,
    ) -> None:
        self.context_dir = context_dir
        # Set: GX validates Spark DataFrames of this session (``--engine spark``).
        self.spark_session = spark_session
        self.data_docs_index = data_docs_index
        self.database = database
        # One config for GX's connection and ours (``settings.duckdb_config()`` by default):
        # DuckDB refuses a connection to a file open in the same process with another config.
        self._config = dict(config or settings.duckdb_config())
        self._checkpoints: dict[tuple[str, str], Any] = {}
        # Validation results and suites not rendered into the Data Docs yet.
        self._undocumented: list[Any] = []

    @cached_property
    def _gx(self) -> Any:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        warnings.filterwarnings("ignore", module="great_expectations")
        import great_expectations

        return great_expectations

    @cached_property
    def _context(self) -> Any:
        context = self._gx.get_context(mode="file", project_root_dir=str(self.context_dir))
        site = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(self.data_docs_index.parent),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        # GX stores the site's folder as an absolute path in the context's file: a data dir that
        # was copied or moved would keep writing its Data Docs into the old place.
        existing = (context.get_config().data_docs_sites or {}).get(DOCS_SITE)
        if existing is None:
            context.add_data_docs_site(site_name=DOCS_SITE, site_config=site)
        elif dict(existing).get("store_backend", {}).get("base_directory") != str(
            self.data_docs_index.parent
        ):
            context.update_data_docs_site(site_name=DOCS_SITE, site_config=site)
        return context

    def validate(
        self,
        suite_name: str,
        query: str,
        parameters: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
        document: Mapping[str, Any] | None = None,
    ) -> SuiteOutcome:
        """Validate ``query``'s rows against the suite; ``parameters`` fill its
        ``$PARAMETER``s (dates as ``datetime.date``). Each failed row-level rule gets its SQL
        predicate and its first rows (ordered by ``order_by``). ``document`` is a suite built
        in code (``published_values.plausibility_suite``) instead of ``expectations/``'s file.

        The result is stored in the GX context; call ``build_data_docs`` after the step's last
        validation to show it in the Data Docs.
        """
        parameters = dict(parameters or {})
        if self.spark_session is not None:
            result = self._checkpoint(suite_name, query, document).run(
                batch_parameters={"dataframe": self.spark_session.sql(query)},
                expectation_parameters=parameters,
            )
        else:
            with duckdb_sql_adapter():
                result = self._checkpoint(suite_name, query, document).run(
                    expectation_parameters=parameters
                )
        ((result_id, validation),) = result.run_results.items()
        self._undocumented.append(result_id)
        document = document or load_suite_document(suite_name)
        failed = [
            failing_condition(
                item.expectation_config.type, item.expectation_config.kwargs, parameters
            )
            for item in validation.results
            if not item.success
        ]
        rows = with_key_counts(
            query, compound_key(document["expectations"]), [c for c in failed if c is not None]
        )
        with duckdb.connect(str(self.database), read_only=True, config=self._config) as db:
            (row_count,) = db.execute(f"select count(*) from ({query})").fetchall()[0]
            expectations = tuple(
                _outcome(item, parameters, db, rows, order_by) for item in validation.results
            )
        return SuiteOutcome(suite=suite_name, row_count=row_count, expectations=expectations)

    def build_data_docs(self) -> None:
        """Render the validations since the last call (and their suites) into the Data Docs
        site and refresh its index, which lists every stored validation."""
        if not self._undocumented:
            return
        suites = {
            result_id.expectation_suite_identifier.name: result_id.expectation_suite_identifier
            for result_id in self._undocumented
        }
        self._context.build_data_docs(
            site_names=[DOCS_SITE], resource_identifiers=[*self._undocumented, *suites.values()]
        )
        self._undocumented.clear()
        left = make_offline(self.data_docs_index.parent)
        if left:  # a GX upgrade linked a CDN file we do not vendor yet
            warnings.warn(f"Data Docs still load from the network: {left[:3]}", stacklevel=2)

    def _checkpoint(
        self, suite_name: str, query: str, document: Mapping[str, Any] | None = None
    ) -> Any:
        """The suite's checkpoint on ``query``, stored once per validator (storing a suite and
        checkpoint costs each time)."""
        if (suite_name, query) in self._checkpoints:
            return self._checkpoints[suite_name, query]
        gx, context = self._gx, self._context
        document = document or load_suite_document(suite_name)
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(
                name=document["name"],
                expectations=document["expectations"],
                meta=document.get("meta", {}),
                notes=document.get("notes"),
            )
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[
                    context.validation_definitions.add_or_update(
                        gx.ValidationDefinition(
                            name=suite_name,
                            data=self._batch_definition(suite_name, query),
                            suite=suite,
                        )
                    )
                ],
                actions=[],
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": settings.PREVIEW_ROWS,
                    "return_unexpected_index_query": False,
                },
            )
        )
        self._checkpoints[suite_name, query] = checkpoint
        return checkpoint

    def _batch_definition(self, suite_name: str, query: str) -> Any:
        if self.spark_session is not None:
            spark = self._context.data_sources.add_or_update_spark(SPARK_DATASOURCE)
            with contextlib.suppress(LookupError):
                spark.delete_asset(suite_name)
            frame = spark.add_dataframe_asset(suite_name)
            return frame.add_batch_definition_whole_dataframe("whole_dataframe")
        datasource = self._context.data_sources.add_or_update_sql(
            DATASOURCE,
            connection_string=f"duckdb:///{self.database}",
            kwargs={"connect_args": {"read_only": True, "config": self._config}},
        )
        with contextlib.suppress(LookupError):  # a query changes with the batch
            datasource.delete_asset(suite_name)
        asset = datasource.add_query_asset(suite_name, query=query)
        return asset.add_batch_definition_whole_table("whole_query")


def _outcome(
    item: Any,
    parameters: Mapping[str, Any],
    db: duckdb.DuckDBPyConnection,
    rows: str,
    order_by: Sequence[str],
) -> ExpectationOutcome:
    config = item.expectation_config
    kwargs = config.kwargs
    result = item.result or {}
    observed = result.get("observed_value")
    error = _error(item)
    if error is None and "unexpected_count" not in result and "observed_value" not in result:
        error = "no result (metrics failed)"
    condition = failing_condition(config.type, kwargs, parameters)
    preview: tuple[dict[str, Any], ...] = ()
    if condition is not None and not item.success and error is None:
        (count,) = db.execute(f"select count(*) from ({rows}) where {condition}").fetchall()[0]
        if count != int(result.get("unexpected_count") or 0):
            raise SuiteRuleMismatchError(
                f"{config.meta.get('rule', config.type)}: GX counts "
                f"{result.get('unexpected_count')} unexpected rows, its SQL predicate {count} "
                f"({condition})"
            )
        order = ", ".join(identifier(c) for c in order_by) or "all"
        cursor = db.execute(
            f"select * exclude ({KEY_ROWS}) from ({rows}) where {condition} "
            f"order by {order} limit {settings.PREVIEW_ROWS}"
        )
        columns = [column[0] for column in cursor.description]
        preview = tuple(dict(zip(columns, row, strict=True)) for row in cursor.fetchall())
    return ExpectationOutcome(
        rule=config.meta.get("rule", config.type),
        expectation_type=config.type,
        column=kwargs.get("column") or _pair_or_list(kwargs),
        severity=str(getattr(config.severity, "value", config.severity)),
        success=bool(item.success),
        unexpected_count=int(result.get("unexpected_count") or 0),
        condition=condition,
        unexpected_rows=preview,
        observed_value=None if observed is None else str(observed)[:_MAX_OBSERVED_CHARS],
        error=error,
    )


def _error(item: Any) -> str | None:
    """The first exception GX recorded for the expectation (per expectation or per metric)."""
    info = item.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def _pair_or_list(kwargs: Mapping[str, Any]) -> str | None:
    if "column_A" in kwargs:
        return f"{kwargs['column_A']} vs {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return None
