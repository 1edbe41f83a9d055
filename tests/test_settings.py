"""Run settings: one declaration per setting, explicit value over environment over default."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from orchestration import settings


def test_an_explicit_value_wins_over_the_environment_which_wins_over_the_default() -> None:
    environ = {"HASHPIVOT_MAX_FAILED_SHARE": "0.5"}
    assert settings.MAX_FAILED_SHARE.value("0.1", environ) == 0.1
    assert settings.MAX_FAILED_SHARE.value(None, environ) == 0.5
    assert settings.MAX_FAILED_SHARE.value(None, {}) == 0.25
    assert settings.MAX_FAILED_SHARE.value(None, {"HASHPIVOT_MAX_FAILED_SHARE": "  "}) == 0.25


@pytest.mark.parametrize(
    ("setting", "text", "expected"),
    [
        (settings.DEMO_TICKERS, "250_000", 250_000),
        (settings.START, "2024-02-29", date(2024, 2, 29)),
        (settings.PRICE_SOURCE, "csv", "csv"),
        (settings.DEMO_TICKERS, "0", 0),
        (settings.CSV_DIR, "~/prices", Path("~/prices").expanduser().resolve()),
    ],
)
def test_values_are_parsed(setting: settings.Setting, text: str, expected: object) -> None:
    assert setting.value(text) == expected


@pytest.mark.parametrize(
    ("setting", "text", "reason"),
    [
        (settings.DEMO_TICKERS, "lots", "is not a whole number"),
        (settings.DEMO_TICKERS, "-5", "cannot be negative"),
        (settings.MAX_FAILED_SHARE, "1.5", "is not a share between 0 and 1"),
        (settings.MAX_QUARANTINE_SHARE, "abc", "is not a number"),
        (settings.AS_OF, "2024-13-01", "is not a date in YYYY-MM-DD form"),
        (settings.UNIVERSE, "everything", "is not one of seeds, all"),
    ],
)
def test_a_bad_value_names_the_variable_that_held_it(
    setting: settings.Setting, text: str, reason: str
) -> None:
    with pytest.raises(settings.SettingsError, match=f"^{setting.env_var} '{text}' {reason}"):
        setting.value(None, {setting.env_var: text})
    with pytest.raises(settings.SettingsError, match=f"^{setting.name} '{text}' {reason}"):
        setting.value(text)


def test_every_setting_is_declared_once_with_a_hashpivot_variable_and_help() -> None:
    names = [setting.name for setting in settings.SETTINGS]
    variables = [setting.env_var for setting in settings.SETTINGS]
    assert len(set(names)) == len(names)
    assert len(set(variables)) == len(variables)
    assert all(variable.startswith("HASHPIVOT_") for variable in variables)
    assert all(setting.help for setting in settings.SETTINGS)
    assert set(settings.EXTRACTION_SETTINGS) <= set(settings.SETTINGS)


def test_dbt_gets_the_memory_cap_and_the_engines_target_resolved_here() -> None:
    assert settings.dbt_settings_environment({}) == {
        "HASHPIVOT_DUCKDB_MEMORY_LIMIT": "2GB",
        "DBT_TARGET": "dev",
    }
    assert settings.dbt_settings_environment(
        {"HASHPIVOT_DUCKDB_MEMORY_LIMIT": "6GB", "HASHPIVOT_ENGINE": "spark"}
    ) == {"HASHPIVOT_DUCKDB_MEMORY_LIMIT": "6GB", "DBT_TARGET": "spark"}


def test_an_unknown_engine_is_refused_naming_the_choices() -> None:
    with pytest.raises(settings.SettingsError, match="HASHPIVOT_ENGINE 'sqlite' is not one of"):
        settings.ENGINE.value(None, {"HASHPIVOT_ENGINE": "sqlite"})
