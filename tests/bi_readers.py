"""Open a DuckDB file with the DuckDB 1.x releases that BI tools embed (DBeaver bundles 1.0.0;
Evidence, duckdb-engine with duckdb<2 and Metabase's driver use 1.4), each in a throwaway
environment that uv builds once and caches, apart from the project's own DuckDB 2.0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# The oldest 1.x a BI tool ships, and the newest 1.x line.
BI_DUCKDB_VERSIONS = ("1.0.0", "1.4.4")

# Run by the 1.x interpreter: every table of the file and its row count, as JSON.
_READER = """
import json, sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as connection:
    tables = [row[0] for row in connection.execute(
        "select table_name from information_schema.tables order by table_name").fetchall()]
    counts = {t: connection.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
print(json.dumps({"duckdb": duckdb.__version__, "row_counts": counts}))
"""


class ReaderError(AssertionError):
    """A 1.x reader could not open or read the file; the message is the reader's own error."""


def uv_executable() -> str:
    """uv from the project's environment (a dev dependency), beside this interpreter."""
    return str(Path(sys.executable).with_name("uv"))


def row_counts_read_by(version: str, database: Path) -> dict[str, int]:
    """Open ``database`` read-only with DuckDB ``version``; ``{table: row count}``."""
    environ = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    environ.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [
            uv_executable(),
            "run",
            "--quiet",
            "--no-project",
            "--python",
            f"{sys.version_info.major}.{sys.version_info.minor}",
            "--with",
            f"duckdb=={version}",
            "python",
            "-c",
            _READER,
            str(database),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )
    if result.returncode != 0:
        raise ReaderError(f"DuckDB {version} could not read {database}:\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["duckdb"] == version, report
    return report["row_counts"]
