"""The engine a run uses, however it was started: the CLI flag, HASHPIVOT_ENGINE, or the
launchpad's `engine` resource; and what each engine means for the data dir's layout."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from orchestration import settings
from orchestration.engine import WarehouseEngine
from orchestration.paths import data_paths


@pytest.fixture
def environ(monkeypatch):
    # Put back after the test by conftest's hashpivot_settings_stay_with_their_test.
    monkeypatch.delenv(settings.ENGINE.env_var, raising=False)
    return os.environ


def test_the_launchpad_choice_reaches_every_step_through_the_environment(environ):
    with dg.build_resources({"engine": WarehouseEngine(engine="spark")}) as resources:
        assert resources.engine.name == "spark"
        assert environ[settings.ENGINE.env_var] == "spark"


def test_the_launchpad_choice_ends_with_its_run(environ, monkeypatch):
    """A process that runs jobs in turn (the in-process executor, a test session) gets its own
    setting back: the next run's steps and dbt's target are not the last run's."""
    with dg.build_resources({"engine": WarehouseEngine(engine="spark")}):
        pass
    assert settings.ENGINE.env_var not in environ
    assert settings.dbt_settings_environment()["DBT_TARGET"] == "dev"

    monkeypatch.setenv(settings.ENGINE.env_var, "spark")
    with dg.build_resources({"engine": WarehouseEngine(engine="duckdb")}):
        assert settings.ENGINE.value() == "duckdb"
    assert environ[settings.ENGINE.env_var] == "spark"


def test_without_a_launchpad_choice_the_environment_decides(environ, monkeypatch):
    monkeypatch.setenv(settings.ENGINE.env_var, "spark")
    with dg.build_resources({"engine": WarehouseEngine()}) as resources:
        assert resources.engine.name == "spark"
    monkeypatch.delenv(settings.ENGINE.env_var)
    with dg.build_resources({"engine": WarehouseEngine()}) as resources:
        assert resources.engine.name == "duckdb"


def test_an_unknown_engine_fails_the_run_naming_the_choices(environ):
    with (
        pytest.raises(dg.DagsterResourceFunctionError) as raised,
        dg.build_resources({"engine": WarehouseEngine(engine="postgres")}),
    ):
        pass
    assert isinstance(raised.value.__cause__, settings.SettingsError)
    assert "engine 'postgres' is not one of duckdb, spark" in str(raised.value.__cause__)


def test_the_launchpad_shows_the_engine_setting_with_its_help():
    from orchestration.definitions import defs

    engine = defs.resources["engine"]
    field = type(engine).model_fields["engine"]
    assert "HASHPIVOT_ENGINE" in field.description
    assert "spark" in field.description


def test_each_engine_has_its_own_warehouse_in_the_data_dir(environ, monkeypatch, tmp_path):
    paths = data_paths(tmp_path)
    assert paths.warehouse == tmp_path / "warehouse" / "hashpivot.duckdb"
    monkeypatch.setenv(settings.ENGINE.env_var, "spark")
    # With Spark, the DuckDB file the checks read is the local copy beside Spark's warehouse.
    assert paths.warehouse == tmp_path / "spark-warehouse" / "local_copy.duckdb"
    assert paths.spark_warehouse == tmp_path / "spark-warehouse"


def test_spark_is_explained_when_its_packages_are_missing(environ, monkeypatch, tmp_path):
    import builtins

    from orchestration.transform import spark

    real_import = builtins.__import__

    def without_pyspark(name, *args, **kwargs):
        if name.startswith("pyspark"):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_pyspark)
    spark._engine_for.cache_clear()
    with pytest.raises(spark.SparkUnavailableError, match="uv sync --group spark"):
        spark.spark_engine(data_paths(tmp_path))


def test_the_cli_says_what_to_install_before_anything_runs(environ, monkeypatch, capsys, tmp_path):
    import importlib.util

    from orchestration import cli

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyspark" else real_find_spec(name, *a),
    )
    code = cli.main(["run", "--engine", "spark", "--data-dir", str(tmp_path / "data")])
    assert code == 2
    error = capsys.readouterr().err
    assert "HASHPIVOT_ENGINE=spark needs pyspark" in error
    assert "uv sync --group spark" in error
    assert not (tmp_path / "data").exists()  # nothing ran


def test_a_local_spark_without_java_says_what_to_install(environ, monkeypatch, tmp_path):
    pytest.importorskip("pyspark", reason="the spark dependency group is not installed")
    from orchestration.transform import spark

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on it
    monkeypatch.delenv(settings.SPARK_REMOTE.env_var, raising=False)
    spark._engine_for.cache_clear()
    with pytest.raises(spark.SparkUnavailableError, match="needs Java 17"):
        spark.spark_engine(data_paths(tmp_path))
    assert not (tmp_path / "spark-warehouse").exists()
