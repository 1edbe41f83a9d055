"""``hashpivot seeds check``: the seeds alone, in seconds, before a run.

Three passes, each naming the rows it refuses: the dbt tests that guard the seeds (``dbt
build`` of the seeds and their staging views into a throwaway DuckDB, no prices), the seeds'
Great Expectations suites (the critical ones, as in a run) on the loaded tables, and the
curator rules of ``seed_rules`` on the CSV files.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR, data_paths
from orchestration.quality.checks import GUARDED_TABLES
from orchestration.quality.seed_rules import Problem, check_seeds_folder, read_seed

# The seeds and the staging views over them: every dbt test on them runs, and no test whose
# other parent (a price model) is not built.
DBT_SELECTION = ["--select", "resource_type:seed", "path:models/staging/seeds"]
SEEDS_SCHEMA = "seeds"
# The column the seed suites' queries add: each row's position in its table (and so its file).
SEED_ROW = "seed_row"


@dataclass
class SeedsCheckReport:
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def fail(self, line: str) -> None:
        self.failed = True
        self.lines.append(line)


def dbt_command(project_dir: Path, work_dir: Path) -> list[str]:
    from orchestration.transform.dbt import DBT_EXECUTABLE

    return [
        DBT_EXECUTABLE,
        "build",
        *DBT_SELECTION,
        "--indirect-selection",
        "cautious",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work_dir / "dbt_target"),
        "--log-path",
        str(work_dir / "dbt_logs"),
    ]


def run_dbt_on_seeds(project_dir: Path, work_dir: Path, report: SeedsCheckReport) -> bool:
    """dbt seed + the seeds' tests into ``work_dir``'s warehouse; False when dbt could not load
    the seeds (then there is nothing for GX to read)."""
    from orchestration.transform.dbt import dbt_environment

    paths = data_paths(work_dir)
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, **dbt_environment(paths)}
    result = subprocess.run(
        dbt_command(project_dir, work_dir), env=environ, capture_output=True, text=True
    )
    results_path = work_dir / "dbt_target" / "run_results.json"
    if not results_path.exists():
        report.fail(f"dbt did not run:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return False
    results = json.loads(results_path.read_text())["results"]
    bad = [r for r in results if r["status"] not in ("success", "pass", "skipped")]
    report.lines.append(
        f"dbt: {len(results) - len(bad)} of {len(results)} seeds, views and tests passed"
    )
    for item in bad:
        node = item["unique_id"].split(".", 2)[-1]
        message = (item.get("message") or "").strip().splitlines()
        report.fail(f"  dbt {item['status']}: {node}: {message[0] if message else ''}")
    seeded = all(r["status"] == "success" for r in results if r["unique_id"].startswith("seed."))
    return seeded


def validate_seed_suites(project_dir: Path, work_dir: Path, report: SeedsCheckReport) -> None:
    """The seeds' GX suites on the loaded tables; a failed critical rule fails the check and
    names the CSV lines of its first rows (a seed table keeps the file's row order, so a row's
    DuckDB ``rowid`` is its position in the file)."""
    from orchestration.quality.gx_runner import GxValidator

    today = datetime.now(UTC).date()
    parameters = {"today": today, "fresh_since": today}
    paths = data_paths(work_dir)
    validator = GxValidator(paths.quality, paths.data_docs_index, paths.warehouse)
    for table in (t for t in GUARDED_TABLES if t.schema == SEEDS_SCHEMA):
        query = f"select rowid as {SEED_ROW}, * from {table.relation}"
        with contextlib.redirect_stderr(io.StringIO()):  # GX's progress bars, per suite
            outcome = validator.validate(table.gx_suite, query, parameters, [SEED_ROW])
        report.lines.append(
            f"GX {table.gx_suite}: {outcome.passed_count} passed, {outcome.failed_count} failed"
        )
        rows = read_seed(project_dir / "seeds" / f"{table.name}.csv")
        for expectation in outcome.failed_critical + outcome.failed_warnings:
            add = report.fail if expectation.is_critical else report.lines.append
            add(f"  {expectation.severity}: {expectation.describe()}")
            for row in expectation.unexpected_rows:
                position = row.get(SEED_ROW)
                known = isinstance(position, int) and position < len(rows)
                add(f"    {table.name}.csv:{rows[position].line if known else '?'}")


def run_seeds_check(
    project_dir: Path = DBT_PROJECT_DIR,
    *,
    dbt: Callable[[Path, Path, SeedsCheckReport], bool] = run_dbt_on_seeds,
) -> SeedsCheckReport:
    """Every seed check on ``project_dir`` (a dbt project; its seeds/ folder)."""
    report = SeedsCheckReport()
    problems: list[Problem] = check_seeds_folder(project_dir / "seeds")
    report.lines.append(f"curator rules: {len(problems)} problem(s)")
    for problem in problems:
        report.fail(f"  {project_dir.name}/seeds/{problem}")
    with tempfile.TemporaryDirectory(prefix="hashpivot-seeds-") as scratch:
        work_dir = Path(scratch)
        if dbt(project_dir, work_dir, report):
            validate_seed_suites(project_dir, work_dir, report)
    return report
