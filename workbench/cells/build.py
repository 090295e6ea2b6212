"""Building one cell: check out its commit in the base's worktree and make it in its config's
build directory; the image is copied out at once, so the next build can start while it boots."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..kernel import kbuild
from ..kernel.kbuild import BuildResult
from ..proc import Runner
from ..records import BASE
from . import machine
from .plan import CellSpec
from .prepare import Prepared

IMAGE = "bzImage"
LOG = "build.log"


@dataclass(frozen=True)
class Built:
    result: BuildResult
    image: Path | None  # the copied image, None when the build failed
    cold: bool  # the build directory had no kernel before: a full build


def build_cell(prepared: Prepared, spec: CellSpec, runner: Runner, into: Path,
               progress: Callable[[str], None] | None = None) -> Built:
    make = prepared.make(spec.config, runner)
    cold = not (make.build / "vmlinux").exists()
    prepared.wt.checkout(spec.commit)
    result = kbuild.build(make, into / LOG, progress=progress)
    if not result.ok or result.image is None:
        return Built(result, None, cold)
    shutil.copy2(result.image, into / IMAGE)
    if spec.change == BASE:  # the objects a variant's are compared with (`=base` by machine code)
        machine.snapshot(make.build, machine.snapshot_dir(prepared.work_root.parent, make.build, spec.commit))
    return Built(result, into / IMAGE, cold)


def base_objects(prepared: Prepared, spec: CellSpec, runner: Runner, into: Path) -> Path:
    """The copy of the base's objects for this spec's config, built first when there is none."""
    build = prepared.configs[spec.config].build
    snap = machine.snapshot_dir(prepared.work_root.parent, build, spec.base.commit)
    if not snap.is_dir():
        base = CellSpec(base=spec.base, variant=BASE, commit=spec.base.commit, change=BASE, config=spec.config)
        build_cell(prepared, base, runner, into)
    return snap
