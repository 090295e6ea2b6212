"""KUnit suites as tests of a cell: `--tests kunit:damon` (or `kunit:mm/damon/tests`).

A suite is a `.kunitconfig` of the base's tree (mm/damon/tests/.kunitconfig, mm/kfence/.kunitconfig
at 6.12), named by its folder or by a component of its path. Its options are merged into the
cell's config as a fragment of their own (`minimal+kunit:damon`: another build directory, so the
plain config's build is untouched); an option the base cannot honour is an error that names it.
The suites are built in and run at boot, before the guest script: their KTAP is read from the
console (guest/ktap.py).
"""
from __future__ import annotations

from .git import Git

PREFIX = "kunit:"
NAME = ".kunitconfig"


def is_kunit(name: str) -> bool:
    return name.startswith(PREFIX)


def suites(git: Git, commit: str) -> list[str]:
    """The folders of the tree that hold a .kunitconfig at `commit`."""
    listing = git.out("ls-tree", "-r", "--name-only", commit)
    return sorted(path[: -len(NAME)].rstrip("/") for path in listing.splitlines()
                  if path == NAME or path.endswith("/" + NAME))


def find(git: Git, commit: str, name: str) -> str | None:
    """The .kunitconfig that `kunit:SUITE` names at `commit`: SUITE is a folder of the tree, or a
    component of exactly one such folder's path (an mm/ one first, when several have it)."""
    suite = name[len(PREFIX):].strip("/")
    folders = suites(git, commit)
    if suite in folders:
        return f"{suite}/{NAME}"
    hits = [f for f in folders if suite in f.split("/")]
    mm = [f for f in hits if f.startswith("mm/")]
    pick = mm if len(mm) == 1 else hits
    return f"{pick[0]}/{NAME}" if len(pick) == 1 else None


def describe(git: Git, commit: str) -> str:
    """The suites there are at `commit`, for an error message."""
    return ", ".join(f"kunit:{f}" for f in suites(git, commit)) or "none"
