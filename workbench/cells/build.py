"""Building one cell: check out its commit in the base's worktree and make it in its config's
build directory; the image is copied out at once, so the next build can start while it boots."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError
from ..kernel import kbuild
from ..kernel.kbuild import BuildResult
from ..kernel.tree import Worktree
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
    kbuild.drop_stale(make.build)  # what an earlier tree built and this one does not have
    result = kbuild.build(make, into / LOG, progress=progress)
    if not result.ok or result.image is None:
        check_intact(prepared.wt, make.build, spec.commit)  # a failure of the machinery is never a verdict
        return Built(result, None, cold)
    shutil.copy2(result.image, into / IMAGE)
    profile = prepared.profiled(spec.config)
    if profile:  # its notes, sources and spots: the build directory is the next variant's soon
        profile.keep(prepared.wt.git, prepared.wt.src, make.build, spec.base.commit, spec.commit, into)
    if spec.change == BASE:  # the objects a variant's are compared with (`=base` by machine code)
        machine.snapshot(make.build, machine.snapshot_dir(prepared.work_root.parent, make.build, spec.commit))
    return Built(result, into / IMAGE, cold)


def check_intact(wt: Worktree, build: Path, commit: str) -> None:
    """After a failed build: the worktree still holds `commit`, unchanged, and the build directory is
    still there; else the failure is the machinery's (files removed under the build, by `invoke
    clean` or by hand), not the change's, and must not be cached as BUILD_FAILED."""
    gone = [str(p) for p in (wt.src, build / ".config") if not p.exists()]
    if not gone and wt.git.ok("rev-parse", "--git-dir"):
        head = wt.git.rev("HEAD")
        changed = wt.git.run("status", "--porcelain", "--untracked-files=no", check=False, quiet=True).output
        if head == commit and not changed.strip():
            return
        gone = [f"{wt.src} is no longer at {commit[:12]}" if head != commit else
                f"{wt.src} changed: {' '.join(changed.split()[:6])}"]
    raise InfraError(f"the build of {commit[:12]} failed after its files changed under it ({'; '.join(gone or [str(wt.src)])})",
                     "Something else removed or changed the worktree (`invoke clean`, or by hand): nothing was cached; "
                     "run the same command again.")


def base_objects(prepared: Prepared, spec: CellSpec, runner: Runner, into: Path) -> Path:
    """The copy of the base's objects for this spec's config, built first when there is none."""
    build = prepared.configs[spec.config].build
    snap = machine.snapshot_dir(prepared.work_root.parent, build, spec.base.commit)
    if not snap.is_dir():
        base = CellSpec(base=spec.base, variant=BASE, commit=spec.base.commit, change=BASE, config=spec.config)
        build_cell(prepared, base, runner, into)
    return snap
