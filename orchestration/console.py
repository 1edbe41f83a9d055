"""What `hashpivot run` shows on the terminal while a run executes: one line per step as it
finishes (step, seconds, rows), a live counter for long steps on a terminal, and nothing else.
Dagster's and dbt's own logs go to a file (``output_to_log``), unless ``--verbose``.

The step lines come from the run's event log (the Dagster instance under the data dir), read
by a background thread while the run executes in this process: Dagster's in-process execution
has no progress callback, and its event log is the record the UI shows too.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# Rows a step reports: the first of these metadata keys a step's materializations carry.
ROW_COUNT_KEYS = ("rows_landed", "dagster/row_count", "rows_audited")
POLL_SECONDS = 0.5


def use_colour(stream: IO[str]) -> bool:
    """ANSI colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str, enabled: bool) -> str:
    codes = {"red": "31", "green": "32", "yellow": "33", "dim": "2", "bold": "1"}
    return f"\033[{codes[colour]}m{text}\033[0m" if enabled else text


@contextmanager
def output_to_log(log_path: Path) -> Iterator[IO[str]]:
    """Send this process's stdout and stderr (and its subprocesses', such as dbt) to
    ``log_path``; yield a stream to the terminal's stdout for what the user should see.

    At the file-descriptor level, not by swapping ``sys.stdout``: Dagster's loggers, dbt's
    subprocess and GX all write to the descriptors they inherited.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


class StepProgress:
    """Follows a run's event log and prints a line per finished step to ``out``."""

    def __init__(self, instance: Any, run_id: str, out: IO[str]) -> None:
        self.instance, self.run_id, self.out = instance, run_id, out
        self.colour = use_colour(out)
        self.live = out.isatty()
        self._cursor: str | None = None
        self._rows: dict[str, int] = {}
        self._materialized: dict[str, int] = {}
        self._checks: dict[str, int] = {}
        self._started: dict[str, float] = {}  # running step -> its start time
        # A step failed or a check did not pass: what makes later steps skip, unless the run
        # had nothing new to build (then the warehouse step yields nothing, and they skip too).
        self._trouble = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self.lines: list[str] = []

    @contextmanager
    def following(self) -> Iterator[StepProgress]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.poll()  # what arrived after the last poll

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.poll()
            except Exception:  # the run is not created yet, or SQLite was busy: next poll
                continue
            for step in list(self._started):  # the running step's clock, on a terminal
                self._show_live(step)

    def poll(self) -> None:
        from dagster import DagsterEventType

        wanted = {
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_SUCCESS,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.STEP_SKIPPED,
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_CHECK_EVALUATION,
        }
        connection = self.instance.get_records_for_run(
            self.run_id, cursor=self._cursor, of_type=wanted
        )
        for record in connection.records:
            entry = record.event_log_entry
            self._handle(entry.dagster_event, entry.timestamp)
        self._cursor = connection.cursor

    def _handle(self, event: Any, timestamp: float) -> None:
        step = event.step_key or "run"
        kind = event.event_type_value
        if kind == "STEP_START":
            self._started[step] = timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            self._started.pop(step, None)
        if kind == "ASSET_MATERIALIZATION":
            self._materialized[step] = self._materialized.get(step, 0) + 1
            metadata = event.event_specific_data.materialization.metadata
            for key in ROW_COUNT_KEYS:
                if key in metadata:
                    self._rows[step] = self._rows.get(step, 0) + int(metadata[key].value)
                    break
            self._show_live(step)
        elif kind == "ASSET_CHECK_EVALUATION":
            self._checks[step] = self._checks.get(step, 0) + 1
            evaluation = event.event_specific_data
            self._trouble |= not evaluation.passed and evaluation.severity.value == "ERROR"
            self._show_live(step)
        elif kind == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000
            self._print(step, f"{seconds:6.1f} s", self._counts(step), "green")
        elif kind == "STEP_FAILURE":
            self._trouble = True
            self._print(step, "FAILED", self._counts(step), "red")
        elif kind == "STEP_SKIPPED":
            why = "an upstream step failed or blocked" if self._trouble else "nothing new upstream"
            self._print(step, "skipped", f"({why})", "yellow")

    def _counts(self, step: str) -> str:
        parts = []
        if step in self._rows:
            parts.append(f"{self._rows[step]:,} rows")
        if self._materialized.get(step, 0) > 1:
            parts.append(f"{self._materialized[step]} assets")
        if step in self._checks:
            count = self._checks[step]
            parts.append(f"{count} check{'s' if count != 1 else ''}")
        return ", ".join(parts)

    def _show_live(self, step: str) -> None:
        """One line rewritten in place while a step runs: its clock and what it has done."""
        if self.live:
            started = self._started.get(step)
            clock = f"{time.time() - started:5.0f} s" if started else "   ..."
            self.out.write(f"\r  {step:<28} {clock:>8}  {self._counts(step)}\033[K")
            self.out.flush()

    def _print(self, step: str, status: str, detail: str, colour: str) -> None:
        line = f"  {step:<28} {status:>8}  {detail}".rstrip()
        self.lines.append(line)
        prefix = "\r\033[K" if self.live else ""
        self.out.write(prefix + paint(line, colour, self.colour) + "\n")
        self.out.flush()
