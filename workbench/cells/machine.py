"""`=base` by machine code: a variant whose compiled kernel is the base's gets the base's cell.

Right after the base is built in a config's build directory, its objects (`*.o`), linker
scripts (`*.lds`) and archives (`built-in.a`: which objects are linked) are copied aside
(`<cache>/objects/<config>/<base commit>.with-archives/`, about 50 MB at the minimal config).
After a variant is built in the same directory, every one of them is compared, byte for byte,
with that copy: all of them, not only the ones the build recompiled, since an object compiled for
an earlier variant may still hold that variant's code. Before every build the objects whose source
the tree no longer has are removed (`kbuild.drop_stale`), so a change that deletes a file cannot
pass with the object an earlier tree left. Objects made at link time (`init/version.o`, `.tmp_*`, `vmlinux.o`, the boot image's) are
left out. In doubt — no copy of the base, a file missing on either side, any byte different —
the variant is different and gets a cell of its own. Line numbers are data (WARN_ON and BUG_ON
tables hold them), so a change that moves code down by a line is different too.
"""
from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

LINK_TIME = ("init/version.o", "init/version-timestamp.o", "vmlinux.o", "arch/x86/boot/")


def link_time(rel: str) -> bool:
    """Whether the object is made (again) at every link, whatever changed: not part of the comparison."""
    name = os.path.basename(rel)
    return rel.startswith(LINK_TIME) or name.startswith(".tmp_") or name.endswith(".mod.o")


def snapshot_dir(cache: Path, build: Path, base_commit: str) -> Path:
    return cache / "objects" / build.name / f"{base_commit}{FORMAT}"


FORMAT = ".with-archives"  # copies taken before the archives were compared lack them: not used


def compiled(build: Path) -> Iterator[str]:
    """The paths (relative to `build`) of the objects, linker scripts and archives of the kernel: the
    (thin, deterministic) archives list which objects are linked, so an object left from another
    tree that this one's Makefiles no longer link makes a difference."""
    for root, _dirs, files in os.walk(build):
        rel_root = os.path.relpath(root, build)
        for name in files:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if name.endswith((".o", ".lds", ".a")) and not link_time(rel):
                yield rel


def snapshot(build: Path, dest: Path) -> int:
    """Copy the base's objects aside (replacing an older copy); returns how many."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0
    for rel in compiled(build):
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build / rel, target)
        count += 1
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return count


def same_as_base(build: Path, base: Path) -> tuple[bool, str]:
    """(whether the build's kernel is the base's, byte for byte, and a word on why not)."""
    if not base.is_dir():
        return False, "no copy of the base's objects to compare with"
    mine = set(compiled(build))
    theirs = {os.path.relpath(os.path.join(root, f), base) for root, _d, files in os.walk(base) for f in files}
    if mine != theirs:
        return False, f"{len(mine ^ theirs)} object(s) only on one side"
    for rel in sorted(mine, key=lambda r: (r.endswith(".a"), r)):  # an object that differs is named before an archive
        if not filecmp.cmp(build / rel, base / rel, shallow=False):
            return False, f"{rel} differs"
    return True, f"all {len(mine)} objects, linker scripts and archives are the base's"
