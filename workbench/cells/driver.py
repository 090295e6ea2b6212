"""The one driver loop (matrix, run, bisect steps and `series --boot` all use it).

For each planned cell: its finished result from the cache if there is one; else build it, hand
it to the executor (`submit`), and judge what comes back (`collect`). The executor says how many
submitted cells may wait while the next one builds: virtme-ng under TCG on two cores collects
at once (a guest starved by make reads as false stalls), with KVM it boots one cell while the
next builds, a lab may run many; an executor that waits for builds (a lab whose guests share
this host's cores) gets every cell only once the last one is built. A boot that ends in an
infrastructure error is submitted again as often as the executor's `retries` say (a lab: once),
the reason kept in the record's `earlier`. A handle an earlier, interrupted process left is
followed (collected) rather than submitted again; one whose boot is gone is run again.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ..coverage.read import read as read_coverage
from ..guest.executor import Executor, GuestJob, Handle
from ..kernel import kbuild
from ..proc import Runner
from ..records import BASE, CellResult, TestOutput
from ..settings import Settings
from ..status import Status
from . import machine
from .build import Built, base_objects, build_cell
from .cache import RESULT, CellCache
from .identity import cell_identity
from .judge import evidence, for_judging, judge, parse_tests
from .plan import CellSpec
from .prepare import Prepared

POLL = 0.5  # seconds between asking the executor which boot has ended


class View(Protocol):
    """What the driver tells the user (workbench/progress.py is the live one)."""

    def stage(self, label: str, stage: str, detail: str = "") -> None: ...
    def done(self, label: str, result: str) -> None: ...
    def say(self, message: str) -> None: ...
    def note_time(self, kind: str, seconds: float) -> None: ...


@dataclass
class _Flight:
    spec: CellSpec
    result: CellResult  # filled in when collected
    job: GuestJob
    handle: Handle | None = None  # None until submitted
    attempt: int = 0
    guests: int = 1  # the most guests booting at once while it booted, itself included


@dataclass
class Driver:
    prepared: Prepared
    executor: Executor
    cache: CellCache
    settings: Settings
    runner: Runner
    view: View
    record: Callable[[CellResult], None]
    fold: bool = True  # a variant whose kernel is the base's, byte for byte, gets the base's cell
    boot_anyway: frozenset[str] = frozenset()  # columns never folded (an A/A mutant: --no-reuse for it alone)
    results: list[tuple[CellSpec, CellResult]] = field(default_factory=list)
    # this invocation, on every cell it boots: the host's load differs between invocations, so cost
    # rows compare a column with the base only over boots of one (report/extra.py)
    session: str = field(default_factory=lambda: f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")

    def run(self, specs: list[CellSpec]) -> list[CellResult]:
        """Every spec's result, in the specs' order (they finish in another when cells are in flight)."""
        flying: list[_Flight] = []
        built: list[_Flight] = []  # waiting for the last build (an executor that waits for builds)
        staging = self.cache.root / f".staging-{os.getpid()}"
        self.executor.attach(self.view.stage)
        try:
            for spec in specs:
                known = self._known(spec)
                if known:
                    self._finish(spec, known)
                    continue
                self._make_room(flying)
                outcome = self._build(spec, staging)
                if not isinstance(outcome, _Flight):
                    self._finish(spec, outcome)
                elif self.executor.waits_for_builds():
                    built.append(outcome)
                else:
                    flying.append(self._submit(outcome, flying))
                    if self.executor.in_flight() == 0:
                        self._land(flying)
            if built:
                self.view.say(f"every cell is built: submitting {len(built)} to {self.executor.describe()}")
            for flight in built:
                self._make_room(flying)
                flying.append(self._submit(flight, flying))
            while flying:
                self._land(flying)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        order = {id(spec): i for i, spec in enumerate(specs)}
        return [r for _, r in sorted(self.results, key=lambda pair: order[id(pair[0])])]

    def _make_room(self, flying: list[_Flight]) -> None:
        while flying and len(flying) >= max(self.executor.in_flight(), 1):
            self._land(flying)

    # --- one cell ---------------------------------------------------------------------------------
    def identity(self, spec: CellSpec) -> str:
        executor = self.executor.identity() if self.executor.ready else {"executor": self.executor.name,
                                                                        "accel": "unknown"}
        return cell_identity(self.prepared.inputs(spec, self.settings.vm.identity(), executor))

    def _known(self, spec: CellSpec) -> CellResult | None:
        """The finished result, or what a handle left by an interrupted process gives when followed."""
        if not self.executor.ready:
            return None
        identity = self.identity(spec)
        hit = self.cache.get(identity)
        if hit and not (hit.same_code and not self._folds(spec)):  # --no-reuse: a folded cell is booted after all
            return as_column(hit, spec)
        handle = Handle.load(self.cache.dir(identity))
        if handle is None or handle.executor != self.executor.name or (self.cache.dir(identity) / RESULT).exists():
            return None
        self.view.stage(spec.name, "following", "a boot an earlier run started")
        result = self._collect(spec, identity, handle, self._result(spec, identity))
        if not result.status.is_verdict:  # a killed boot: said as such, then built and booted again
            self.view.say(f"{spec.name}: the boot an earlier run started gave no verdict ({result.status.value}: "
                          f"{result.reason}); building and booting it again")
        return result if result.status.is_verdict else None

    def _build(self, spec: CellSpec, staging: Path) -> _Flight | CellResult:
        """Build the cell; a flight ready to submit, or its result when it needs no boot."""
        if not self.prepared.available:  # nothing to boot for: no build either
            result = self._result(spec, self.identity(spec))
            failed = self.prepared.failed
            why = ("no test built: " + "; ".join(f"{n}: {kbuild.first_error(e) or 'failed'}" for n, e in failed.items())
                   if failed else f"no test exists at {spec.base.name}: {', '.join(self.prepared.missing)}")
            return self.cache.put(replace(result, status=Status.BUILD_FAILED if failed else result.status, reason=why))
        self.view.stage(spec.name, "building")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        base_cell = self._base_result(spec) if self._folds(spec) and spec.change != BASE else None
        snap = base_objects(self.prepared, spec, self.runner, staging) if base_cell is not None else None
        built = build_cell(self.prepared, spec, self.runner, staging,
                           progress=lambda m: self.view.stage(spec.name, "building", m))
        if built.result.ok:
            self.view.note_time("full_build" if built.cold else "rebuild", built.result.seconds)
            if not self.executor.ready and built.image:
                self.executor.prepare(built.image, self.view.say)
        identity = self.identity(spec)
        hit = self.cache.get(identity)
        if hit and not (hit.same_code and not self._folds(spec)):
            return as_column(hit, spec)
        cell_dir = self.cache.fresh(identity)
        for item in staging.iterdir():
            item.rename(cell_dir / item.name)
        result = self._result(spec, identity, built)
        if built.image is None:
            first = kbuild.first_error(built.result.first_errors)
            return self.cache.put(replace(result, status=Status.BUILD_FAILED, build_errors=built.result.first_errors,
                                          reason="the kernel did not build" + (f": {first}" if first else "")))
        if base_cell is not None and snap is not None:
            same, why = machine.same_as_base(self.prepared.configs[spec.config].build, snap)
            self.view.say(f"{spec.name}: " + ("the base's kernel, byte for byte (" if same else
                                              "its kernel is not the base's (") + why + ")")
            if same:
                folded = replace(base_cell, identity=identity, variant=spec.variant, commit=spec.commit, same_code=True,
                                 cached=False, dir=str(cell_dir), recompiled=result.recompiled,
                                 timings={"build": result.timings.get("build", 0.0)})
                (cell_dir / "bzImage").unlink(missing_ok=True)
                return self.cache.put(folded)
        job = GuestJob(cell=identity, workdir=cell_dir, image=cell_dir / "bzImage",
                       testdir=self.prepared.binaries.dir, tests=self.prepared.binaries_run,
                       script=self.prepared.guest_script, vm=self.settings.vm, label=spec.name,
                       files=self.prepared.guest_files, setup=self.prepared.guest_setup,
                       meta={"base": spec.base.name, "variant": spec.variant, "commit": spec.commit,
                             "config": spec.config, "config_hash": self.prepared.configs[spec.config].config_hash})
        return _Flight(spec, result, job)

    def _folds(self, spec: CellSpec) -> bool:
        return self.fold and spec.variant not in self.boot_anyway

    def _submit(self, flight: _Flight, flying: list[_Flight]) -> _Flight:
        """Start its boot; it and every boot still running count the guests beside each other."""
        self.view.stage(flight.spec.name, "booting",
                        f"{self.executor.describe()}, {', '.join(self.prepared.available)}")
        running = [f for f in flying if f.handle is not None and self.executor.finished(f.handle) is not True]
        for other in [*running, flight]:
            other.guests = max(other.guests, len(running) + 1)
        flight.handle = self.executor.submit(flight.job)
        return flight

    def _base_result(self, spec: CellSpec) -> CellResult | None:
        """The base's finished cell of this run for the spec's config and repeat, if it reached a verdict."""
        for s, r in self.results:
            if s.change == BASE and s.config == spec.config and s.repeat == spec.repeat and r.status.is_verdict:
                return r
        return None

    def _land(self, flying: list[_Flight]) -> None:
        """Collect a flight (`_next`); one that ends in an infrastructure error is submitted again
        (at the end of the line) as often as the executor says, the reason kept in the record."""
        flight = flying.pop(self._next(flying))
        assert flight.handle is not None
        result = self._collect(flight.spec, flight.result.identity, flight.handle,
                               replace(flight.result, guests=flight.guests))
        if result.status is Status.INFRA_ERROR and flight.attempt < self.executor.retries:
            self.view.say(f"{flight.spec.name}: {result.status.value} — {result.reason}; submitting it once more")
            flight.result = replace(result, earlier=[*result.earlier, result.reason], status=Status.NOT_RUN,
                                    reason="", splat=[], tests={})
            flight.attempt += 1
            (self.cache.dir(result.identity) / RESULT).unlink(missing_ok=True)  # a kill now follows the new boot
            flying.append(self._submit(flight, flying))
            return
        self._finish(flight.spec, result)

    def _next(self, flying: list[_Flight]) -> int:
        """Which flight to collect: the first whose boot has ended (its slot is free at once), one
        past its deadline (collect stops it), else the oldest once the executor cannot tell."""
        while True:
            ended = [self.executor.finished(f.handle) if f.handle else None for f in flying]
            late = [i for i, f in enumerate(flying) if f.handle and time.time() >= f.handle.deadline]
            if True in ended or late:
                return ended.index(True) if True in ended else late[0]
            if None in ended or len(flying) == 1:
                return 0
            time.sleep(POLL)

    def _collect(self, spec: CellSpec, identity: str, handle: Handle, result: CellResult) -> CellResult:
        collected = for_judging(self.executor.collect(handle), self.prepared.ran)
        tests = parse_tests(collected, self.prepared.ran)
        status, reason = judge(collected, tests, self.prepared.available)
        result = replace(result, timings={**result.timings, "boot+test": round(collected.seconds, 1)},
                         session=self.session, phases=collected.phases, env=collected.env, splat=evidence(collected), status=status, reason=reason,
                         tests=tests | unbuilt(self.prepared.failed),  # their own rows; judged by what ran
                         detail=collected.detail, coverage=read_coverage(self.cache.dir(identity), tests, self.runner))
        if result.status.is_verdict:
            (self.cache.dir(identity) / "bzImage").unlink(missing_ok=True)  # a verdict never boots again
            self.view.note_time("boot", collected.seconds)
        return self.cache.put(result)

    def _result(self, spec: CellSpec, identity: str, built: Built | None = None) -> CellResult:
        executor = self.executor.identity() if self.executor.ready else {}
        return CellResult(identity=identity, base=spec.base.name, variant=spec.variant, commit=spec.commit,
                          status=Status.NOT_RUN, config=spec.config, executor=self.executor.describe(),
                          tests=unbuilt(self.prepared.failed),
                          not_run=self.prepared.missing, kernelversion=self.prepared.kernelversion,
                          accel=executor.get("accel", ""), repeat=spec.repeat,
                          timings={"build": round(built.result.seconds, 1)} if built else {},
                          recompiled=built.result.recompiled if built else [],
                          dir=str(self.cache.dir(identity)))

    def _finish(self, spec: CellSpec, result: CellResult) -> None:
        self.results.append((spec, result))
        self.record(result)
        self.view.done(spec.name, cell_line(result))


def unbuilt(failed: dict[str, list[str]]) -> dict[str, TestOutput]:
    """A test that did not build at this base, as its own BUILD_FAILED output with its first error."""
    return {name: TestOutput(test=name, status=Status.BUILD_FAILED, cases=[], plan=None, complete=True, exit_code=None,
                             reason=f"did not build: {kbuild.first_error(errors) or (errors[0] if errors else '?')}")
            for name, errors in failed.items()}


def as_column(hit: CellResult, spec: CellSpec) -> CellResult:
    """A cached cell for this spec's column: the same change may have come from another source (a
    study variant, a patch file, a branch) under another name; the result is the same cell's."""
    if (hit.variant, hit.commit) == (spec.variant, spec.commit):
        return hit
    return replace(hit, variant=spec.variant, commit=spec.commit)


def cell_line(cell: CellResult) -> str:
    """One line per finished cell: its status and why, the counts per status per test, timings."""
    parts = []
    for name, out in cell.tests.items():
        counts: dict[str, int] = {}
        for c in out.cases:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
        shown = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        parts.append(f"{name}: {shown or out.status.value}")
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in cell.timings.items())
    objects = [r for r in cell.recompiled if " " not in r and r.endswith(".o") and not machine.link_time(r)]
    plural = "s" if len(objects) != 1 else ""
    timing += f" ({len(objects)} object{plural} recompiled)" if objects and not cell.cached else ""
    timing += f" ({cell.guests} guests at once)" if cell.guests > 1 and not cell.cached else ""
    origin = " (cached)" if cell.cached else ""
    reason = f" — {cell.reason}" if cell.reason else ""
    return f"{cell.status.value}{reason}; {'; '.join(parts) or 'no cases'}; {timing}{origin}"
