"""The warehouse engine of a run (``--engine`` / ``HASHPIVOT_ENGINE``), as a Dagster resource, so
the launchpad can choose it for a run started in the UI.

Every step that reads or builds the warehouse takes this resource. Like the CLI, it writes the
chosen engine into the run process's environment, where ``settings.ENGINE`` (and so
``DataPaths.warehouse``, dbt's target and the checks) read it: one run, one engine, however it
was started. When the run ends the environment is put back, so a process that runs several jobs
in turn (an in-process executor, a test session) does not carry one run's engine into the next.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field, PrivateAttr

from orchestration import settings


class WarehouseEngine(dg.ConfigurableResource):
    """duckdb (one embedded file) or spark (Apache Spark, local or a cluster's)."""

    engine: str | None = Field(default=None, description=settings.ENGINE.described)
    _environment_before_run: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.engine:
            self._environment_before_run = os.environ.get(settings.ENGINE.env_var)
            os.environ[settings.ENGINE.env_var] = settings.ENGINE.value(self.engine)
        else:
            settings.ENGINE.value()  # a bad HASHPIVOT_ENGINE fails here, saying why

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if not self.engine:
            return
        if self._environment_before_run is None:
            os.environ.pop(settings.ENGINE.env_var, None)
        else:
            os.environ[settings.ENGINE.env_var] = self._environment_before_run

    @property
    def name(self) -> str:
        return settings.ENGINE.value()
