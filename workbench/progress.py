"""Progress of a matrix: a live view of each cell's stage, elapsed time and an estimate of what is left.

On a terminal it is a `rich` live table (commands echoed above it); in a log or
CI it prints one line per change. Estimates come from what earlier runs on this
host took (`<cache>/timings.json`: a full build, a rebuild, a boot and test).
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.table import Table

DEFAULT_TIMES = {"full_build": 400.0, "rebuild": 15.0, "boot": 30.0}


@dataclass
class Row:
    label: str
    stage: str = "queued"
    detail: str = ""
    started: float | None = None
    ended: float | None = None
    result: str = ""


@dataclass
class Progress:
    title: str
    times_file: Path
    console: Console = field(default_factory=lambda: Console(stderr=True))
    rows: dict[str, Row] = field(default_factory=dict)
    live: Live | None = None
    cold: bool = False  # the base's build directory has no kernel yet
    start: float = field(default_factory=time.monotonic)
    times: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            saved = json.loads(self.times_file.read_text())
        except (OSError, ValueError):
            saved = {}
        self.times = {**DEFAULT_TIMES, **{k: float(v) for k, v in saved.items() if k in DEFAULT_TIMES}} \
            if isinstance(saved, dict) else dict(DEFAULT_TIMES)

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        if self.console.is_terminal:
            self.live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.live:
            self.live.update(self._table())
            self.live.__exit__(typ, exc, tb)
            self.live = None

    # --- what the stages report -----------------------------------------------------------------
    def add(self, label: str) -> None:
        self.rows.setdefault(label, Row(label))
        self._refresh()

    def stage(self, label: str, stage: str, detail: str = "") -> None:
        row = self.rows.setdefault(label, Row(label))
        if row.started is None:
            row.started = time.monotonic()
        if stage != row.stage:
            row.stage = stage
            if not self.live:
                self.say(f"{label}: {stage}{(' ' + detail) if detail else ''}")
        row.detail = detail
        self._refresh()

    def done(self, label: str, result: str) -> None:
        row = self.rows.setdefault(label, Row(label))
        row.stage, row.result, row.ended, row.detail = "done", result, time.monotonic(), ""
        if row.started is None:
            row.started = row.ended
        if not self.live:
            self.say(f"{label}: {result}")
        self._refresh()

    def say(self, message: str) -> None:
        """A line above the live view (echoed commands, notes)."""
        if self.live:
            self.live.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=sys.stderr, flush=True)

    def note_time(self, kind: str, seconds: float) -> None:
        """Remember how long a full build, a rebuild or a boot took, for the next estimates."""
        old = self.times.get(kind, seconds)
        self.times[kind] = round(seconds if kind == "full_build" else 0.5 * old + 0.5 * seconds, 1)
        try:
            self.times_file.parent.mkdir(parents=True, exist_ok=True)
            self.times_file.write_text(json.dumps(self.times, indent=1))
        except OSError:
            pass

    # --- rendering ---------------------------------------------------------------------------------
    def remaining(self) -> float:
        left = 0.0
        first_build = self.cold
        for row in self.rows.values():
            if row.stage == "done":
                continue
            build = self.times["full_build"] if first_build else self.times["rebuild"]
            first_build = False
            if row.stage in ("queued", "building"):
                left += build + self.times["boot"]
            else:
                left += self.times["boot"]
            if row.started and row.stage != "queued":
                left -= min(time.monotonic() - row.started, build + self.times["boot"] - 1)
        return max(left, 0.0)

    def _table(self) -> Table:
        elapsed = time.monotonic() - self.start
        table = Table(title=f"{self.title} — {_fmt(elapsed)} elapsed, about {_fmt(self.remaining())} left",
                      title_justify="left", expand=False)
        for col in ("cell", "stage", "time", "result / detail"):
            table.add_column(col)
        for row in self.rows.values():
            t = (row.ended or time.monotonic()) - row.started if row.started else 0
            table.add_row(row.label, row.stage, _fmt(t) if row.started else "", row.result or row.detail)
        return table

    def _refresh(self) -> None:
        if self.live:
            self.live.update(self._table())


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class LineView:
    """The driver's view as plain lines (a bisect step, `series --boot`): one per stage change."""

    out: Callable[[str], None]
    stages: dict[str, str] = field(default_factory=dict)

    def stage(self, label: str, stage: str, detail: str = "") -> None:
        if self.stages.get(label) != stage:
            self.stages[label] = stage
            self.out(f"{label}: {stage}{(' ' + detail) if detail else ''}")

    def done(self, label: str, result: str) -> None:
        self.out(f"{label}: {result}")

    def say(self, message: str) -> None:
        self.out(message)

    def note_time(self, kind: str, seconds: float) -> None:
        return None
