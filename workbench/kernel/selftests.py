"""The tests of a cell at one base, whatever their kinds: where each is, building them, names.

Which tests a base has is read from the base commit before anything is built; a test the base
lacks is NOT_RUN there. What a test is, where its source lives, how it is built and read is its
kind's business (workbench/testkinds/): this module only asks the kinds. The tests are built once
per base, on the host, against that base's own headers (`make headers` into a build directory),
into the base's `tests/`; they do not change between variants or configs. A stamp (the base
commit, the tests and the files outside the tree they are built from) lets a later run skip even
asking make.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildFailed
from ..proc import Runner
from ..testkinds import KINDS, BuildContext, TestKind, TestSource, kind_of
from ..testkinds.probe import probe_files
from .git import Git
from .kbuild import Make

__all__ = ["TestBinaries", "binaries_hash", "build", "known_at", "plan", "probe_files", "unknown"]


@dataclass(frozen=True)
class TestBinaries:
    """The built tests of a base: where they are and a hash of their bytes (part of a cell's identity)."""

    __test__ = False

    dir: Path
    names: tuple[str, ...]  # the tests that built (those the guest runs from its tests folder)
    hash: str
    failed: dict[str, list[str]] = field(default_factory=dict)  # a test that did not build -> its first errors


def plan(git: Git, commit: str, names: tuple[str, ...], probes: Mapping[str, Path]) -> list[TestSource]:
    """Where each named test comes from at `commit`, read from git (no checkout needed)."""
    out = []
    for name in names:
        kind = kind_of(name, probes)
        path = kind.locate(git, commit, name, probes)
        out.append(TestSource(name, kind, path or "", available=path is not None))
    return out


def _built_here(sources: list[TestSource]) -> list[TestSource]:
    """The available tests that become files of the guest's tests folder (not those that run at boot)."""
    return [s for s in sources if s.available and not s.kind.at_boot]


def build(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path) -> TestBinaries:
    """Build the available tests into `outdir` (skipped when its stamp says they are built). A test
    that does not build is that test's failure alone: the others are built and run."""
    outdir.mkdir(parents=True, exist_ok=True)
    here = _built_here(sources)
    names = tuple(s.name for s in here if not s.kind.whole_folder)
    whole = any(s.kind.whole_folder for s in here)
    stamp = outdir / ".workbench-tests"
    key = _stamp(make, sources)
    head, _, tail = stamp.read_text().partition("\n") if stamp.exists() else ("", "", "")
    fresh = head.strip() == key
    failed: dict[str, list[str]] = json.loads(tail or "{}") if fresh else {}
    ready = fresh and all(s.kind.built(outdir, s) for s in here if s.name not in failed)
    if here and not ready:
        failed = _make_tests(make, outdir, here, runner, log)
        stamp.write_text(key + "\n" + json.dumps(failed))
    built = tuple(s.name for s in here if s.name not in failed)
    files = {n for n in names if n not in failed}
    if whole:  # a whole-folder kind runs whatever the folder holds
        files |= {p.name for p in outdir.iterdir() if p.is_file() and not p.name.startswith(".")}
    return TestBinaries(outdir, built, binaries_hash(outdir, sorted(files)), failed)


def _stamp(make: Make, sources: list[TestSource]) -> str:
    h = hashlib.sha256(make.wt.base.commit.encode())
    for s in sources:
        h.update(f"{s.name}:{s.kind.name if s.available else 'missing'}:{s.path}".encode())
        for part in s.kind.stamp_files(s) if s.available else ():
            h.update(part.read_bytes())
    return h.hexdigest()[:16]


def _make_tests(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path
                ) -> dict[str, list[str]]:
    """Each kind builds its tests; {test: its first error lines} for those that did not build."""
    headers = make.build / "usr" / "include"
    if not (headers / "linux" / "mman.h").exists():
        done = make.run("headers", log=log)
        if not done.ok:
            raise BuildFailed(f"the headers of {make.wt.base.name}", done.output.splitlines()[-10:], str(log))
    ctx = BuildContext(make=make, outdir=outdir, headers=headers, runner=runner, log=log)
    failed: dict[str, list[str]] = {}
    for kind in KINDS:  # in KINDS order: a whole-folder kind's `make` comes before the binaries it may replace
        mine = [s for s in sources if s.kind == kind]
        if mine:
            failed.update(kind.build(ctx, mine))
    return failed


def binaries_hash(outdir: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode())
        h.update((outdir / name).read_bytes())
    return h.hexdigest()[:16]


def unknown(git: Git, sources: list[TestSource]) -> list[str]:
    """The names that are a test at no base: their kind finds them neither at the run's base nor
    at another base of the tree (a test some other base has is only NOT_RUN here)."""
    lost = [s for s in sources if not s.available]
    out: list[str] = []
    for kind in KINDS:
        mine = [s.name for s in lost if s.kind == kind]
        out += kind.unknown(git, mine) if mine else []
    return out


def known_at(git: Git, commit: str, kinds: tuple[TestKind, ...] = KINDS) -> list[str]:
    """The tests the tree has at `commit`, of the given kinds (for an error message)."""
    return [name for kind in kinds for name in kind.known_at(git, commit) if not kind.at_boot]


def described(git: Git, commit: str, kinds: list[TestKind]) -> str:
    """What the kinds of names that were not found have to say (e.g. the KUnit suites there are)."""
    return "; ".join(filter(None, (k.describe(git, commit) for k in dict.fromkeys(kinds))))
