"""The dbt resource skips two fixed costs dagster-dbt adds to every dbt step (a `dbt --version`
subprocess and an in-process dbt adapter), by overriding private names of dagster-dbt's
``DbtCliResource``: these tests fail when an upgrade renames them, so the override cannot
silently stop applying."""

from __future__ import annotations

import importlib.metadata
import inspect

from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.transform.dbt import LeanDbtCliResource, dbt_resource

OVERRIDDEN = ("_cli_version", "_initialize_dbt_core_adapter")


def test_dagster_dbt_still_calls_what_the_resource_overrides() -> None:
    cli_source = inspect.getsource(DbtCliResource.cli)
    for name in OVERRIDDEN:
        assert name in vars(DbtCliResource), name
        assert f"self.{name}" in cli_source, name


def test_the_version_comes_from_the_installed_dbt_core_without_a_subprocess(monkeypatch) -> None:
    import dagster_dbt.core.resource as resource_module

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"ran {args}")

    monkeypatch.setattr(resource_module, "check_output", no_subprocess)
    resource = dbt_resource()
    assert isinstance(resource, LeanDbtCliResource)
    assert resource._cli_version == version.parse(importlib.metadata.version("dbt-core"))
    assert resource._cli_version.major == 1  # dbt Core: dagster-dbt's Fusion branch is not taken


def test_no_dbt_adapter_is_built_in_the_dagster_process() -> None:
    assert dbt_resource()._initialize_dbt_core_adapter(["build"]) is None
