"""A fake executor and a fake base for the driver's unit tests (never used outside tests).

`FakeLab` plays a lab: `submit` queues a "job" (a file in the cell's folder) and returns at once,
many cells may be in flight, and `collect` (in this process or a later one) reads the job's
result. `prepared()` is a base set up without a kernel: the driver's build step is replaced by
`fake_build`, which writes an image and a build log like the real one.

    python fake_lab.py CACHE  -- run the driver again on the same cells (a second process)
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project (tests/fakes/ is two below)

from workbench.cells import build as build_mod
from workbench.cells import driver as driver_mod
from workbench.cells import machine
from workbench.cells.cache import CellCache
from workbench.cells.plan import CellSpec
from workbench.cells.prepare import Prepared
from workbench.guest.executor import Collected, ExitState, GuestJob, Handle
from workbench.kernel.kbuild import BuildResult, Config, Configured
from workbench.kernel.selftests import TestBinaries
from workbench.kernel.tree import Base, Worktree
from workbench.proc import Runner
from workbench.records import CellResult
from workbench.settings import Settings
from workbench.testkinds import TestSource
from workbench.testkinds.selftest import Selftest

BASE = Base("v6.12", "a" * 40)
COW = "TAP version 13\n1..2\nok 1 a\nok 2 # SKIP MADV_PAGEOUT did not work, is swap enabled?\n"


@dataclass
class FakeLab:
    name: str = "fakelab"
    lanes: int = 4  # cells in flight at once
    interrupt_collect: bool = False  # Ctrl-C while collecting, after everything was submitted
    waits: bool = False  # submit only once every cell is built
    retries: int = 0
    fail_first: tuple[str, ...] = ()  # labels whose first boot ends in an infrastructure error
    done_first: tuple[str, ...] = ()  # labels whose boot says it finished before the older ones
    events: list[str] = field(default_factory=list)
    tells: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return True

    def check(self) -> None:
        return None

    def prepare(self, image: Path, say: Any) -> None:
        return None

    def identity(self) -> dict[str, str]:
        return {"executor": self.name, "device": "qemu"}

    def describe(self) -> str:
        return f"{self.name} (qemu)"

    def notes(self) -> list[str]:
        return []

    def in_flight(self) -> int:
        return self.lanes

    def waits_for_builds(self) -> bool:
        return self.waits

    def finished(self, handle: Handle) -> bool | None:
        return True if json.loads((handle.workdir / "job.json").read_text())["label"] in self.done_first else None

    def attach(self, tell: Any) -> None:
        self.tells.append(("attached", "", ""))

    def submit(self, job: GuestJob) -> Handle:
        self.events.append(f"submit {job.label}")
        (job.workdir / "job.json").write_text(json.dumps({"label": job.label, "image": job.image.exists()}))
        handle = Handle.new(self.name, job, {"job": f"job-{job.cell[:6]}"})
        handle.save()
        return handle

    def collect(self, handle: Handle) -> Collected:
        if self.interrupt_collect:
            raise KeyboardInterrupt
        job = json.loads((handle.workdir / "job.json").read_text())
        self.events.append(f"collect {job['label']}")
        if job["label"] in self.fail_first and self.events.count(f"collect {job['label']}") == 1:
            return Collected(console="Linux version 6.12.117\n", tests={}, env={}, state=ExitState.LOST,
                             reached_guest=False, seconds=1.0, detail=f"job {handle.data['job']} Canceled")
        return Collected(console="Linux version 6.12.117\n### WORKBENCH-GUEST-START\n", tests={"cow": (COW, 0)},
                         env={"swap_kb": "1"}, state=ExitState.FINISHED, reached_guest=True, seconds=1.0,
                         detail=f"job {handle.data['job']}")


def fake_build(calls: list[str], same_code: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """A build that leaves mm/madvise.o in the config's build directory: the base's bytes for the
    variants named in `same_code`, other bytes for the rest; after the base, its objects are copied
    aside as the real build does."""
    def build(prepared: Prepared, spec: CellSpec, runner: Runner, into: Path, progress: Any = None
              ) -> build_mod.Built:
        calls.append(spec.name)
        (into / "build.log").write_text("  CC      mm/madvise.o\n")
        (into / "bzImage").write_bytes(b"image of " + spec.commit.encode())
        objects = prepared.configs[spec.config].build
        (objects / "mm").mkdir(parents=True, exist_ok=True)
        code = b"base code" if spec.change == "base" or spec.variant in same_code else spec.commit.encode()
        (objects / "mm" / "madvise.o").write_bytes(code)
        if spec.change == "base":
            machine.snapshot(objects, machine.snapshot_dir(prepared.work_root.parent, objects, spec.commit))
        return build_mod.Built(BuildResult(True, 0.5, into / "build.log", image=into / "bzImage",
                                           recompiled=["mm/madvise.o"]), into / "bzImage", cold=False)
    return build


def prepared(root: Path) -> Prepared:
    config = Config("minimal", (), "CONFIG_SWAP=y\n")
    wt = Worktree(root=root / "work", git=None, base=BASE)  # type: ignore[arg-type]
    return Prepared(wt=wt, kernelversion="6.12.117", sources=(TestSource("cow", Selftest(), "mm"),),
                    binaries=TestBinaries(root, ("cow",), "bin0"),
                    configs={"minimal": Configured(config, root / "build", "cfg0")}, toolchain="gcc 12",
                    guest_script=Path(__file__), guest_digest="g0", jobs=2, work_root=root / "cache" / "work")


def specs() -> list[CellSpec]:
    return [CellSpec(BASE, v, c, "base" if v == "base" else f"tree-{v}", label=v)
            for v, c in (("base", BASE.commit), ("a", "b" * 40), ("b", "c" * 40))]


@dataclass
class View:
    lines: list[str] = field(default_factory=list)

    def stage(self, label: str, stage: str, detail: str = "") -> None:
        self.lines.append(f"{label}: {stage}")

    def done(self, label: str, result: str) -> None:
        self.lines.append(f"{label}: done {result}")

    def say(self, message: str) -> None:
        self.lines.append(message)

    def note_time(self, kind: str, seconds: float) -> None:
        return None


def drive(root: Path, lab: FakeLab, builds: list[str], same_code: tuple[str, ...] | None = None) -> list[CellResult]:
    """Drive the three cells through `lab`; with `same_code`, fold the variants whose kernel is the base's."""
    driver_mod.build_cell = fake_build(builds, same_code or ())  # type: ignore[assignment]
    settings = Settings(cache=root / "cache")
    return driver_mod.Driver(prepared(root), lab, CellCache(root / "cache" / "cells"), settings, Runner(), View(),
                             record=lambda c: None, fold=same_code is not None).run(specs())


if __name__ == "__main__":
    root = Path(sys.argv[1])
    lab, builds = FakeLab(), []
    start = time.monotonic()
    results = drive(root, lab, builds)
    print(json.dumps({"builds": builds, "events": lab.events,
                      "results": [[r.variant, r.status.value, r.cached] for r in results]}))
