"""What the terminal shows during a run: a line per finished step, the logs in a file."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import dagster as dg

from orchestration.console import StepProgress, paint, use_colour


def test_output_to_log_sends_the_process_and_its_children_to_the_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "run.log"
    script = textwrap.dedent(
        f"""
        import subprocess, sys
        from pathlib import Path
        from orchestration.console import output_to_log
        with output_to_log(Path({str(log)!r})) as terminal:
            print("dagster debug line")
            print("a warning", file=sys.stderr)
            subprocess.run([sys.executable, "-c", "print('dbt node 1 of 2')"], check=True)
            terminal.write("landed_prices 1.0 s\\n")
        print("summary")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout == "landed_prices 1.0 s\nsummary\n"
    assert result.stderr == ""
    assert log.read_text().splitlines() == ["dagster debug line", "a warning", "dbt node 1 of 2"]


def test_a_line_per_finished_step_with_its_rows_and_checks() -> None:
    @dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="prices")])
    def prices():
        yield dg.MaterializeResult(metadata={"rows_landed": 1234})
        yield dg.AssetCheckResult(check_name="positive", passed=True)

    @dg.asset(deps=[prices])
    def broken():
        raise RuntimeError("disk full")

    @dg.asset(deps=[broken])
    def downstream():
        return None

    instance = dg.DagsterInstance.ephemeral()
    out = io.StringIO()
    run_id = str(uuid.uuid4())
    progress = StepProgress(instance, run_id, out)
    with progress.following():
        job = dg.define_asset_job("all").resolve(
            asset_graph=dg.Definitions(assets=[prices, broken, downstream]).resolve_asset_graph()
        )
        job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[0] == "prices"
    assert lines[0].endswith("s  1,234 rows, 1 check")
    assert lines[1].split()[:2] == ["broken", "FAILED"]
    assert len(lines) == 2  # downstream never started: the summary names the failure
    assert "\033[" not in out.getvalue()  # not a terminal: no colour, no live line


def test_colour_only_on_a_terminal(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Terminal())
    assert not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Terminal())
    assert paint("x", "red", enabled=False) == "x"
    assert paint("x", "red", enabled=True) == "\033[31mx\033[0m"


def test_on_a_terminal_the_running_step_shows_a_clock_then_its_line() -> None:
    import time

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    @dg.asset
    def slow_prices():
        time.sleep(1.6)  # long enough for the follower to redraw the clock a few times
        return dg.MaterializeResult(metadata={"rows_landed": 7})

    instance = dg.DagsterInstance.ephemeral()
    out = Terminal()
    run_id = str(uuid.uuid4())
    with StepProgress(instance, run_id, out).following():
        job = dg.define_asset_job("all").resolve(
            asset_graph=dg.Definitions(assets=[slow_prices]).resolve_asset_graph()
        )
        job.execute_in_process(instance=instance, run_id=run_id)
    text = out.getvalue()
    assert "\r  slow_prices" in text  # redrawn in place while it ran
    assert text.rstrip().endswith("7 rows\x1b[0m")  # then the finished line, in colour


def _skipped_lines(*assets, checks=()) -> list[str]:
    instance = dg.DagsterInstance.ephemeral()
    out = io.StringIO()
    run_id = str(uuid.uuid4())
    with StepProgress(instance, run_id, out).following():
        definitions = dg.Definitions(assets=list(assets), asset_checks=list(checks))
        job = dg.define_asset_job("all").resolve(asset_graph=definitions.resolve_asset_graph())
        job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    return [line for line in out.getvalue().splitlines() if "skipped" in line]


def test_a_skipped_step_says_whether_something_failed_or_nothing_was_new() -> None:
    @dg.asset(output_required=False)
    def warehouse():
        yield from ()  # nothing changed since the last publish: no output

    @dg.asset(deps=[warehouse])
    def publish():
        return None

    (line,) = _skipped_lines(warehouse, publish)
    assert line.split()[:2] == ["publish", "skipped"]
    assert line.endswith("(nothing new upstream)")

    # After a failed blocking check (the audit's, the warehouse suites'), a skip says so.
    from types import SimpleNamespace

    def event(kind: str, step: str, **data) -> SimpleNamespace:
        return SimpleNamespace(
            event_type_value=kind, step_key=step, event_specific_data=SimpleNamespace(**data)
        )

    error = dg.AssetCheckSeverity.ERROR
    for failed_first, expected in (
        (event("ASSET_CHECK_EVALUATION", "checks", passed=False, severity=error), "blocked"),
        (
            event(
                "ASSET_CHECK_EVALUATION",
                "checks",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
            ),
            "new",
        ),
        (event("STEP_FAILURE", "checks"), "blocked"),
    ):
        out = io.StringIO()
        progress = StepProgress(dg.DagsterInstance.ephemeral(), "run", out)
        progress._handle(failed_first, 0.0)
        progress._handle(event("STEP_SKIPPED", "publish"), 1.0)
        skipped = out.getvalue().splitlines()[-1]
        assert skipped.split()[:2] == ["publish", "skipped"]
        assert expected in skipped, skipped
