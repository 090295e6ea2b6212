"""One cell: (base, variant, config, tests) built, booted, tested and judged.

`Bench` holds what a base shares between its cells: the worktree and build
directory, the config, the test binaries and the accelerator. A cell's
identity is the hash of everything that can change its result; a cell that
ended with a real verdict is kept in the cache under that identity and never
run again, one that ended in an infrastructure error is.

The stages are split (`build` then `test`) so that a caller can boot one cell
while the next one builds.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import kbuild, selftests, tap, vm
from .settings import Settings
from .status import Case, Status, combine
from .study import Study
from .tree import Base, KernelTree, Worktree
from .proc import Runner

Say = Callable[[str], None]
Stage = Callable[[str, str, str], None]  # (cell label, stage, detail)


@dataclass(frozen=True)
class CellSpec:
    base: Base
    variant: str
    commit: str  # what to build: the base commit, or the variant's commit
    change: str  # identity of the change: "base", or the variant commit's tree id
    repeat: int = 0

    @property
    def label(self) -> str:
        return self.variant + (f" #{self.repeat + 1}" if self.repeat else "")


@dataclass
class CellResult:
    identity: str
    base: str
    variant: str
    commit: str
    status: Status
    tests: dict[str, tap.TestOutput] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    splat: list[str] = field(default_factory=list)
    reason: str = ""
    kernelversion: str = ""
    accel: str = ""
    repeat: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    recompiled: list[str] = field(default_factory=list)
    build_errors: list[str] = field(default_factory=list)
    dir: str = ""
    cached: bool = False

    @property
    def cases(self) -> list[Case]:
        return [c for out in self.tests.values() for c in out.cases]

    def to_json(self) -> dict:
        d = asdict(self)
        d["status"] = self.status.value
        d["tests"] = {k: v.to_json() for k, v in self.tests.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> "CellResult":
        d = dict(d)
        d["status"] = Status(d["status"])
        d["tests"] = {k: tap.TestOutput.from_json(v) for k, v in d.get("tests", {}).items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def toolchain() -> str:
    """Compiler and emulator versions: part of every cell's identity."""
    parts = []
    for argv in (["gcc", "--version"], ["qemu-system-x86_64", "--version"]):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
            parts.append(out.splitlines()[0] if out else f"{argv[0]}: ?")
        except OSError:
            parts.append(f"{argv[0]}: missing")
    return " | ".join(parts)


class Bench:
    """A base's worktree and build directory, ready to build and test cells."""

    def __init__(self, kt: KernelTree, wt: Worktree, study: Study, settings: Settings, runner: Runner,
                 tests: tuple[str, ...], say: Say, stage: Stage | None = None) -> None:
        self.kt, self.wt, self.study, self.settings, self.runner = kt, wt, study, settings, runner
        self.say = say
        self.stage = stage or (lambda _label, _stage, _detail: None)
        self.sources = selftests.plan(kt.clone, wt.base.commit, tests, study)
        self.cells_dir = settings.cache / "cells"
        self.kernelversion = kt.kernelversion(wt.base.commit)
        self.guest_script = settings.kbuild_dir / vm.GUEST_SCRIPT
        self._ready = False

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.sources if not s.available]

    @property
    def available(self) -> list[str]:
        return [s.name for s in self.sources if s.available]

    def prepare(self, log_dir: Path) -> None:
        """Config, test binaries and accelerator: once per base and run."""
        if self._ready:
            return
        self.config = kbuild.configure(self.wt, self.settings, self.runner, log_dir / "config.log")
        for line in self.config.unmet:
            self.say(f"config: the base could not honour {line}")
        self.testdir, self.tests_hash = selftests.build(self.wt, self.sources, self.study, self.settings,
                                                        self.runner, log_dir / "selftests.log")
        self.toolchain = toolchain()
        known = vm.known_accel(self.settings)
        if known:
            self.accel = known.name
        self._ready = True

    def ensure_accel(self, image: Path) -> str:
        if not hasattr(self, "accel"):
            self.accel = vm.choose_accel(self.settings, image, self.runner, self.say).name
        return self.accel

    def identity(self, spec: CellSpec, accel: str) -> str:
        parts = {
            "base": spec.base.commit, "change": spec.change, "config": self.config.config_hash,
            "toolchain": self.toolchain, "tests": self.available, "binaries": self.tests_hash,
            "guest": hashlib.sha256(self.guest_script.read_bytes()).hexdigest()[:16],
            "vm": self.settings.vm.identity(), "accel": accel, "repeat": spec.repeat,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]

    def cached(self, identity: str) -> CellResult | None:
        path = self.cells_dir / identity / "cell.json"
        try:
            result = CellResult.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not result.status.is_verdict:
            return None
        result.cached = True  # this run reuses it
        return result

    # --- stage 1: build ---------------------------------------------------------------------------

    def build(self, spec: CellSpec, log_dir: Path) -> tuple[Path | None, kbuild.BuildResult]:
        """Check out the cell's commit and build; the image is copied out of the build directory."""
        self.wt.checkout(spec.commit)
        log = log_dir / f"build-{spec.variant}.log"
        log.unlink(missing_ok=True)
        result = kbuild.build(self.wt, self.settings, self.runner, log,
                              progress=lambda m: self.stage(spec.label, "building", m))
        if not result.ok:
            return None, result
        image = log_dir / "images" / f"{spec.variant}.bzImage"
        image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(result.image, image)
        return image, result

    # --- stage 2: boot and test -------------------------------------------------------------------

    def test(self, spec: CellSpec, image: Path | None, build: kbuild.BuildResult, accel: str) -> CellResult:
        identity = self.identity(spec, accel)
        cell_dir = self.cells_dir / identity
        if cell_dir.exists():
            shutil.rmtree(cell_dir)
        (cell_dir / "out").mkdir(parents=True)
        result = CellResult(identity=identity, base=spec.base.name, variant=spec.variant, commit=spec.commit,
                            status=Status.NOT_RUN, not_run=self.missing, kernelversion=self.kernelversion,
                            accel=accel, repeat=spec.repeat, dir=str(cell_dir),
                            timings={"build": round(build.seconds, 1)}, recompiled=build.recompiled)
        if build.log.exists():
            shutil.copy2(build.log, cell_dir / "build.log")
        if image is None:
            result.status = Status.BUILD_FAILED
            result.build_errors = build.first_errors
            result.reason = "the kernel did not build"
            return self._save(result, cell_dir)
        if not self.available:
            result.status = Status.NOT_RUN
            result.reason = f"no test exists at {spec.base.name}: {', '.join(self.missing)}"
            return self._save(result, cell_dir)
        out = cell_dir / "out"
        command = vm.guest_command(self.guest_script, out, self.testdir, self.settings.vm, self.available)
        self.stage(spec.label, "booting", f"{accel}, {', '.join(self.available)}")
        boot = vm.boot(image, command, out, cell_dir / "console.log", self.settings.vm, accel, self.runner,
                       timeout=self.settings.vm.timeout)
        result.timings["boot+test"] = round(boot.seconds, 1)
        result.env = read_env(out / "env.txt")
        result.splat = boot.splat or boot.hang
        for name in self.available:
            text = _read(out / f"{name}.tap")
            rc_text = _read(out / f"{name}.rc").strip()
            rc = int(rc_text) if rc_text.lstrip("-").isdigit() else None
            if text or rc is not None:
                result.tests[name] = tap.parse(text, name, exit_code=rc)
        result.status, result.reason = judge(boot, result.tests, self.available)
        return self._save(result, cell_dir)

    def lookup(self, spec: CellSpec) -> CellResult | None:
        """The cell's finished result, if the cache has it (needs the accelerator to be known)."""
        if getattr(self, "accel", None):
            return self.cached(self.identity(spec, self.accel))
        return None

    def run(self, spec: CellSpec, log_dir: Path) -> CellResult:
        """Build, boot and test one cell, or take its finished result from the cache."""
        self.prepare(log_dir)
        hit = self.lookup(spec)
        if hit:
            return hit
        self.stage(spec.label, "building", "")
        image, build = self.build(spec, log_dir)
        accel = self.ensure_accel(image) if image else getattr(self, "accel", "none")
        return self.lookup(spec) or self.test(spec, image, build, accel)

    def _save(self, result: CellResult, cell_dir: Path) -> CellResult:
        tmp = cell_dir / "cell.json.tmp"
        tmp.write_text(json.dumps(result.to_json(), indent=1))
        tmp.replace(cell_dir / "cell.json")
        return result


def judge(boot: vm.Boot, tests: dict[str, tap.TestOutput], names: list[str]) -> tuple[Status, str]:
    """The cell's status from how the guest ended and what the tests said (one precedence rule)."""
    if boot.crashed:
        return Status.CRASH, boot.splat[0].strip()
    if boot.timed_out:
        where = "during boot (the guest script never started)" if not boot.reached_guest else "while testing"
        evidence = f"; the kernel reported: {boot.hang[0].strip()}" if boot.hang else ""
        return Status.TIMEOUT, f"no answer from the guest {where}{evidence}"
    if not boot.booted and not boot.reached_guest:
        return Status.INFRA_ERROR, f"the VM did not start (vng exited {boot.returncode})"
    if not boot.finished:
        missing = [n for n in names if n not in tests]
        return Status.INFRA_ERROR, ("the guest stopped before it finished"
                                    + (f" (no result for {', '.join(missing)})" if missing else ""))
    return combine(t.status for t in tests.values()), ""


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in _read(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
