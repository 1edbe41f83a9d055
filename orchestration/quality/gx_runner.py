"""Running a suite from ``expectations/`` on a pandas frame with Great Expectations.

GX cannot validate DuckDB through SQL, so every dataset is read into pandas (only the rows
that need validating) and validated here. GX is imported lazily: its import costs seconds, and
only the check steps need it. Results go to a file-backed GX context under
``<data dir>/quality/gx``; ``build_data_docs`` renders a step's validations into the Data Docs
site under ``<data dir>/quality/data_docs`` once, after the step's last validation (an
UpdateDataDocsAction per validation cost ~0.5 s each).

Validations use the COMPLETE result format: on passing data it costs the same as BASIC or
SUMMARY (~0.7 s per million raw_prices rows each, measured), and the audit needs the row
positions it adds whenever a rule fails.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from orchestration.quality.data_docs_offline import make_offline
from orchestration.quality.outcomes import ExpectationOutcome, SuiteOutcome
from orchestration.quality.suites import load_suite_document

DATASOURCE = "hashpivot"
DOCS_SITE = "hashpivot"
_MAX_OBSERVED_CHARS = 200


class GxValidator:
    """One GX context for a check step: validates frames, then builds their Data Docs."""

    def __init__(self, context_dir: Path, data_docs_index: Path) -> None:
        self.context_dir = context_dir
        self.data_docs_index = data_docs_index
        self._checkpoints: dict[str, Any] = {}
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
        if DOCS_SITE not in (context.get_config().data_docs_sites or {}):
            context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(self.data_docs_index.parent),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        return context

    def validate(
        self, suite_name: str, frame: pd.DataFrame, parameters: Mapping[str, Any] | None = None
    ) -> SuiteOutcome:
        """Validate ``frame`` against the suite; ``parameters`` fill its ``$PARAMETER``s.

        The result is stored in the GX context; call ``build_data_docs`` after the step's last
        validation to show it in the Data Docs.
        """
        rows = frame.reset_index(drop=True)
        result = self._checkpoint(suite_name).run(
            batch_parameters={"dataframe": rows}, expectation_parameters=dict(parameters or {})
        )
        ((result_id, validation),) = result.run_results.items()
        self._undocumented.append(result_id)
        return SuiteOutcome(
            suite=suite_name,
            row_count=len(rows),
            expectations=tuple(_outcome(item) for item in validation.results),
        )

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

    def _checkpoint(self, suite_name: str) -> Any:
        """The suite's checkpoint, stored once per validator: a chunked audit validates one
        suite many times, and storing the suite and checkpoint again costs each time."""
        if suite_name in self._checkpoints:
            return self._checkpoints[suite_name]
        gx, context = self._gx, self._context
        document = load_suite_document(suite_name)
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
                            name=suite_name, data=self._batch_definition(suite_name), suite=suite
                        )
                    )
                ],
                actions=[],
                result_format={"result_format": "COMPLETE"},
            )
        )
        self._checkpoints[suite_name] = checkpoint
        return checkpoint

    def _batch_definition(self, suite_name: str) -> Any:
        datasource = self._context.data_sources.add_or_update_pandas(DATASOURCE)
        try:
            asset = datasource.get_asset(suite_name)
        except LookupError:
            asset = datasource.add_dataframe_asset(suite_name)
        try:
            return asset.get_batch_definition("whole_frame")
        except KeyError:
            return asset.add_batch_definition_whole_dataframe("whole_frame")


def _outcome(item: Any) -> ExpectationOutcome:
    config = item.expectation_config
    kwargs = config.kwargs
    result = item.result or {}
    observed = result.get("observed_value")
    error = None
    if item.exception_info and item.exception_info.get("raised_exception"):
        error = str(item.exception_info.get("exception_message"))
    return ExpectationOutcome(
        rule=config.meta.get("rule", config.type),
        expectation_type=config.type,
        column=kwargs.get("column") or _pair_or_list(kwargs),
        severity=str(getattr(config.severity, "value", config.severity)),
        success=bool(item.success),
        unexpected_count=int(result.get("unexpected_count") or 0),
        unexpected_rows=tuple(sorted(int(i) for i in result.get("unexpected_index_list") or ())),
        observed_value=None if observed is None else str(observed)[:_MAX_OBSERVED_CHARS],
        error=error,
    )


def _pair_or_list(kwargs: Mapping[str, Any]) -> str | None:
    if "column_A" in kwargs:
        return f"{kwargs['column_A']} vs {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    return None
