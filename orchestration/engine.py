"""The warehouse engine of a run (``--engine`` / ``HASHPIVOT_ENGINE``), as a Dagster resource, so
the launchpad can choose it for a run started in the UI.

Every step that reads or builds the warehouse takes this resource. Like the CLI, it writes the
chosen engine into the run process's environment, where ``settings.ENGINE`` (and so
``DataPaths.warehouse``, dbt's target and the checks) read it: one run, one engine, however it
was started.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from orchestration import settings


class WarehouseEngine(dg.ConfigurableResource):
    """duckdb (one embedded file) or spark (Apache Spark, local or a cluster's)."""

    engine: str | None = Field(default=None, description=settings.ENGINE.described)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.engine:
            os.environ[settings.ENGINE.env_var] = settings.ENGINE.value(self.engine)
        else:
            settings.ENGINE.value()  # a bad HASHPIVOT_ENGINE fails here, saying why

    @property
    def name(self) -> str:
        return settings.ENGINE.value()
