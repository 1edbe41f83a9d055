"""The reviewed expectation suites in ``expectations/`` (one JSON file per guarded dataset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration.paths import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


def suite_path(name: str) -> Path:
    return EXPECTATIONS_DIR / f"{name}.json"


def load_suite_document(name: str) -> dict[str, Any]:
    """The suite's JSON as written in the repository, failing with the file named."""
    path = suite_path(name)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise FileNotFoundError(f"no expectation suite {path}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if document.get("name") != name:
        raise ValueError(f"{path} names its suite {document.get('name')!r}, expected {name!r}")
    for position, expectation in enumerate(document.get("expectations", [])):
        if "rule" not in expectation.get("meta", {}):
            raise ValueError(f"{path}: expectation {position} has no meta.rule name")
    return document
