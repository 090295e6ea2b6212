"""The executor seam: what boots and tests a built cell.

An executor is given a `GuestJob` (the image, the test binaries, the guest script, the guest
settings, the cell's folder) and works in two steps:

- `submit(job)` starts it and returns a `Handle`, written to the cell's folder (`handle.json`)
  before submit returns;
- `collect(handle)` turns a handle into a `Collected`: the console, the output and exit code of
  each test, how the guest ended and how long it took. It may run in a later process (after a
  Ctrl-C, or when a lab runs many cells at once): everything it needs is in the handle and the
  cell's folder.

virtme-ng on this host (guest/vng.py) is one executor; a lab is another. The cell records, the
cache and the reports never know which one ran, except that `identity()` (the executor's name,
its accelerator or device type, its emulator) is part of every cell's identity and `describe()`
is shown in the report header.
"""
from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..proc import Say
from ..records import write_atomic
from ..settings import VmSettings

HANDLE = "handle.json"
Tell = Callable[[str, str, str], None]  # (a cell's label, its stage, a detail): the progress view's stage()


class ExitState(str, enum.Enum):
    """How a guest ended, as the host saw it."""

    FINISHED = "finished"  # the guest script wrote its done file
    STOPPED = "stopped"  # the guest stopped before the script finished (a panic, a reboot)
    TIMED_OUT = "timed_out"  # the host stopped it after the cell's timeout
    NOT_STARTED = "not_started"  # the VM (or the lab job) never got a kernel running
    LOST = "lost"  # the executor lost it (the workbench was interrupted, a job was cancelled)


@dataclass(frozen=True)
class GuestJob:
    cell: str  # the cell's identity
    workdir: Path  # the cell's folder
    image: Path
    testdir: Path
    tests: tuple[str, ...]
    script: Path
    vm: VmSettings
    label: str = ""  # for progress lines
    files: tuple[str, ...] | None = None  # the tests folder's files the tests need (None: the tests' own)
    meta: dict[str, str] = field(default_factory=dict)  # what the cell is (base, variant, commit, config), for a lab
    setup: tuple[str, ...] | None = None  # the guest's set-up its tests' kinds need (None: all of it)


@dataclass(frozen=True)
class Handle:
    executor: str
    cell: str
    workdir: Path
    tests: tuple[str, ...]
    submitted: float  # seconds since the epoch
    deadline: float  # seconds since the epoch
    data: dict[str, Any] = field(default_factory=dict)  # the executor's own (a pid, a job id)

    def save(self) -> None:
        write_atomic(self.workdir / HANDLE, json.dumps({
            "executor": self.executor, "cell": self.cell, "tests": list(self.tests), "submitted": self.submitted,
            "deadline": self.deadline, "data": self.data}, indent=1))

    @classmethod
    def load(cls, workdir: Path) -> Handle | None:
        try:
            d = json.loads((workdir / HANDLE).read_text())
            return cls(executor=d["executor"], cell=d["cell"], workdir=workdir, tests=tuple(d["tests"]),
                       submitted=float(d["submitted"]), deadline=float(d["deadline"]), data=dict(d.get("data", {})))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    @classmethod
    def new(cls, executor: str, job: GuestJob, data: dict[str, Any]) -> Handle:
        now = time.time()
        return cls(executor, job.cell, job.workdir, job.tests, now, now + job.vm.timeout, data)


@dataclass(frozen=True)
class Collected:
    """What came back from a guest."""

    console: str
    tests: dict[str, tuple[str, int | None]]  # test -> (its TAP output, exit code or None when cut short)
    env: dict[str, str]  # what the guest got (swap, THP, ...), from the guest script
    state: ExitState
    reached_guest: bool  # the guest script started
    seconds: float
    detail: str = ""  # the executor's own words on how it ended ("vng exited 1", a lab's error)
    phases: dict[str, float] = field(default_factory=dict)  # where its seconds went (guest/script.py's phases)


class Executor(Protocol):
    name: str
    fragments: tuple[str, ...]  # config fragments its guests need (kbuild/<name>.config), after the study's
    retries: int  # how often a cell whose boot ends in an infrastructure error is submitted again, in the run

    @property
    def ready(self) -> bool:
        """Whether `identity()` is known (virtme-ng: once the accelerator is)."""
        ...

    def check(self) -> None:
        """Raise (an InfraError saying what to install or fix) unless this executor can run cells."""

    def prepare(self, image: Path, say: Say) -> None:
        """Learn what `identity()` needs, with the first image built (e.g. whether KVM works)."""

    def identity(self) -> dict[str, str]:
        """What of the executor can change a result: part of the cell identity."""
        ...

    def describe(self) -> str:
        """One line for the report header: "vng (tcg)", "lab local (qemu)"."""
        ...

    def notes(self) -> list[str]:
        """What to tell the user once it is prepared (e.g. an overlap asked for and refused)."""
        ...

    def in_flight(self) -> int:
        """How many submitted cells may wait uncollected while the next one builds (0: collect at once)."""
        ...

    def waits_for_builds(self) -> bool:
        """Whether cells are submitted only once every cell is built (a lab whose guests share this
        host's few cores with make: a starved guest shows stalls that read as false TIMEOUTs)."""
        ...

    def finished(self, handle: Handle) -> bool | None:
        """Whether `collect(handle)` would return at once; None when it cannot tell cheaply (a lab:
        the driver then collects the oldest first)."""
        ...

    def attach(self, tell: Tell) -> None:
        """Where to report a submitted cell's stage while it waits (a lab: the job's id, state, URL)."""

    def submit(self, job: GuestJob) -> Handle:
        ...

    def collect(self, handle: Handle) -> Collected:
        ...
