"""Test binaries for the guest: the kernel's mm selftests and the study's own probes.

Which tests a base has is read from the base commit before anything is built
(`tools/testing/selftests/mm/cow.c`, or `vm/` before v6.3; v6.1 has no cow):
a test the base lacks is NOT_RUN. The binaries are built once per base, on the
host, against that base's own headers (`make headers` into a build directory),
into the base's `tests/`; they do not change between variants or configs. A
stamp (the base commit, the tests and the probes' sources) lets a later run skip
even asking make.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildFailed, UserError
from ..proc import Runner
from .git import Git
from .kbuild import Make

SELFTEST_DIRS = ("tools/testing/selftests/mm", "tools/testing/selftests/vm")


class Kind(str, enum.Enum):
    SELFTEST = "selftest"
    PROBE = "probe"
    MISSING = "missing"


@dataclass(frozen=True)
class TestSource:
    __test__ = False  # not a pytest test class

    name: str
    kind: Kind
    path: str  # the selftest's directory in the tree, or the probe's source file

    @property
    def available(self) -> bool:
        return self.kind is not Kind.MISSING


@dataclass(frozen=True)
class TestBinaries:
    """The built tests of a base: where they are and a hash of their bytes (part of a cell's identity)."""

    __test__ = False

    dir: Path
    names: tuple[str, ...]  # the tests that built
    hash: str
    failed: dict[str, list[str]] = field(default_factory=dict)  # a test that did not build -> its first errors


def plan(git: Git, commit: str, names: tuple[str, ...], probes: dict[str, Path]) -> list[TestSource]:
    """Where each named test comes from at `commit`, read from git (no checkout needed)."""
    out = []
    for name in names:
        if name in probes:
            out.append(TestSource(name, Kind.PROBE, str(probes[name])))
            continue
        if not name.replace("-", "_").replace("_", "").isalnum():
            raise UserError(f"{name!r} is not a test name", "Tests are mm selftest binaries, e.g. cow,khugepaged.")
        for d in SELFTEST_DIRS:
            if git.exists(commit, f"{d}/{name}.c"):
                out.append(TestSource(name, Kind.SELFTEST, d))
                break
        else:
            out.append(TestSource(name, Kind.MISSING, ""))
    return out


def build(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path) -> TestBinaries:
    """Build the available tests into `outdir` (skipped when its stamp says they are built). A test
    that does not build is that test's failure alone: the others are built and run."""
    outdir.mkdir(parents=True, exist_ok=True)
    names = tuple(s.name for s in sources if s.available)
    stamp = outdir / ".workbench-tests"
    key = _stamp(make, sources)
    failed: dict[str, list[str]] = {}
    if stamp.exists() and stamp.read_text().split("\n", 1)[0].strip() == key:
        failed = json.loads(stamp.read_text().split("\n", 1)[1] or "{}")
    if names and not (stamp.exists() and stamp.read_text().split("\n", 1)[0].strip() == key
                      and all((outdir / n).exists() for n in names if n not in failed)):
        failed = _make_tests(make, outdir, sources, runner, log)
        stamp.write_text(key + "\n" + json.dumps(failed))
    built = tuple(n for n in names if n not in failed)
    return TestBinaries(outdir, built, binaries_hash(outdir, list(built)), failed)


def _stamp(make: Make, sources: list[TestSource]) -> str:
    h = hashlib.sha256(make.wt.base.commit.encode())
    for s in sources:
        h.update(f"{s.name}:{s.kind.value}:{s.path}".encode())
        if s.kind is Kind.PROBE:
            h.update(Path(s.path).read_bytes())
    return h.hexdigest()[:16]


def _make_tests(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path
                ) -> dict[str, list[str]]:
    """Build each test; {test: its first error lines} for those that did not build."""
    headers = make.build / "usr" / "include"
    if not (headers / "linux" / "mman.h").exists():
        done = make.run("headers", log=log)
        if not done.ok:
            raise BuildFailed(f"the headers of {make.wt.base.name}", done.output.splitlines()[-10:], str(log))
    failed: dict[str, list[str]] = {}
    for src in sources:
        binary = outdir / src.name
        binary.unlink(missing_ok=True)
        if src.kind is Kind.SELFTEST:
            argv = ["make", "-C", str(make.wt.src / src.path), f"OUTPUT={outdir}",
                    f"KHDR_INCLUDES=-isystem {headers}", str(binary)]
        elif src.kind is Kind.PROBE:
            argv = ["gcc", "-O2", "-Wall", "-o", str(binary), "-isystem", str(headers), src.path]
        else:
            continue
        done = runner.run(argv, tee=log, check=False, guard=True)
        if not done.ok or not binary.exists():
            errors = [line.strip() for line in done.output.splitlines() if "error" in line][:10]
            failed[src.name] = errors or done.output.splitlines()[-10:]
    return failed


def binaries_hash(outdir: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode())
        h.update((outdir / name).read_bytes())
    return h.hexdigest()[:16]


def unknown(git: Git, commit: str, sources: list[TestSource]) -> list[str]:
    """The names that are a test at no base: not a probe, not a selftest at `commit`, nor at the tip
    of any tag or branch of the tree (a test some other base has is only NOT_RUN here)."""
    missing = [s.name for s in sources if s.kind is Kind.MISSING]
    if not missing:
        return []
    tips = list(dict.fromkeys(git.out("for-each-ref", "--format=%(objectname)", "refs/tags", "refs/heads",
                                      "refs/remotes").split()))
    query = [f"{tip}:{d}/{name}.c" for tip in tips for d in SELFTEST_DIRS for name in missing]
    if not query:
        return missing
    done = git.run("cat-file", "--batch-check=%(objectname) %(rest)", input="\n".join(query) + "\n",
                   check=False, quiet=True)
    found = {q.rsplit("/", 1)[1].removesuffix(".c") for q, line in zip(query, done.output.splitlines())
             if not line.endswith(" missing")}
    return [n for n in missing if n not in found]


def known_at(git: Git, commit: str) -> list[str]:
    """The mm selftests the tree has at `commit` (for an error message)."""
    for d in SELFTEST_DIRS:
        listing = git.run("ls-tree", "--name-only", f"{commit}:{d}", check=False, quiet=True)
        if listing.ok:
            return sorted(n[:-2] for n in listing.output.split() if n.endswith(".c"))
    return []
