"""`invoke tree`: check a kernel tree and prepare the workbench's clone of it, or import one from
Debian when the machine has none."""
from __future__ import annotations

from pathlib import Path

from ..proc import Runner, Say
from ..settings import Settings
from . import debian
from .tree import KernelTree


def describe(settings: Settings, tree: Path | None, series: str | None, say: Say) -> str:
    runner = Runner(log=settings.task_log("tree"), echo=settings.verbose)
    if series == "list":
        return debian.listing(settings, runner, say)
    if series:
        imported = debian.import_debian(series, settings, runner, say)
        return (f"tree: {settings.cache / 'debian.git'}  base: --base v{imported.series} "
                f"(Linux {imported.kernelversion})")
    kt = KernelTree.open(settings, runner, tree)
    head = kt.clone.rev("origin/HEAD") or kt.clone.rev("HEAD") or "?"
    return f"tree: {kt.source} (Linux {kt.kernelversion(head)} at HEAD); workbench clone: {kt.clone.path}"
