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
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildFailed, UserError
from ..guest import vmtests
from ..proc import Runner
from . import kunit
from .git import Git
from .kbuild import Make

SELFTEST_DIRS = ("tools/testing/selftests/mm", "tools/testing/selftests/vm")
RUN_VMTESTS = "tools/testing/selftests/mm/run_vmtests.sh"


class Kind(str, enum.Enum):
    SELFTEST = "selftest"
    PROBE = "probe"
    KUNIT = "kunit"  # a KUnit suite: no binary, built into the kernel, read from the console
    VMTESTS = "vmtests"  # a category of run_vmtests.sh: every mm selftest built, the script runs them
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
        if kunit.is_kunit(name):
            path = kunit.find(git, commit, name)
            out.append(TestSource(name, Kind.KUNIT, path) if path else TestSource(name, Kind.MISSING, ""))
            continue
        if name.startswith(vmtests.PREFIX):
            has = name[len(vmtests.PREFIX):] in vmtests.categories(git.show(commit, RUN_VMTESTS) or "")
            out.append(TestSource(name, Kind.VMTESTS, SELFTEST_DIRS[0]) if has else TestSource(name, Kind.MISSING, ""))
            continue
        if not name.replace("-", "_").replace("_", "").isalnum():
            raise UserError(f"{name!r} is not a test name", "Tests are mm selftest binaries, e.g. cow,khugepaged.")
        for d in SELFTEST_DIRS:
            if git.exists(commit, f"{d}/{name}.c"):
                _a_program(git, commit, d, name)
                out.append(TestSource(name, Kind.SELFTEST, d))
                break
        else:
            out.append(TestSource(name, Kind.MISSING, ""))
    return out


def build(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path) -> TestBinaries:
    """Build the available tests into `outdir` (skipped when its stamp says they are built). A test
    that does not build is that test's failure alone: the others are built and run."""
    outdir.mkdir(parents=True, exist_ok=True)
    names = tuple(s.name for s in sources if s.available and s.kind not in (Kind.KUNIT, Kind.VMTESTS))
    stamp = outdir / ".workbench-tests"
    key = _stamp(make, sources)
    head, _, tail = stamp.read_text().partition("\n") if stamp.exists() else ("", "", "")
    fresh = head.strip() == key
    failed: dict[str, list[str]] = json.loads(tail or "{}") if fresh else {}
    groups = any(s.kind is Kind.VMTESTS for s in sources)
    ready = (fresh and all((outdir / n).exists() for n in names if n not in failed)
             and (not groups or (outdir / "run_vmtests.sh").exists()))
    if (names or groups) and not ready:
        failed = _make_tests(make, outdir, sources, runner, log)
        stamp.write_text(key + "\n" + json.dumps(failed))
    built = tuple(n for n in names if n not in failed)
    hashed = sorted(set(built) | ({p.name for p in outdir.iterdir() if p.is_file() and not p.name.startswith(".")}
                                  if groups else set()))  # a category runs whatever the folder holds
    return TestBinaries(outdir, built, binaries_hash(outdir, hashed), failed)


def _stamp(make: Make, sources: list[TestSource]) -> str:
    h = hashlib.sha256(make.wt.base.commit.encode())
    for s in sources:
        h.update(f"{s.name}:{s.kind.value}:{s.path}".encode())
        if s.kind is Kind.PROBE:
            for part in probe_files(Path(s.path)):
                h.update(part.read_bytes())
    return h.hexdigest()[:16]


_QUOTED = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def probe_files(source: Path) -> list[Path]:
    """A probe's source and every file it includes with `#include "..."` (found beside the file
    that includes it, as gcc looks first), so that a change to a shared header rebuilds it."""
    seen: list[Path] = []
    todo = [source.resolve()]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        todo += [(path.parent / name).resolve() for name in _QUOTED.findall(path.read_text(errors="replace"))]
    return seen


def _make_tests(make: Make, outdir: Path, sources: list[TestSource], runner: Runner, log: Path
                ) -> dict[str, list[str]]:
    """Build each test; {test: its first error lines} for those that did not build."""
    headers = make.build / "usr" / "include"
    if not (headers / "linux" / "mman.h").exists():
        done = make.run("headers", log=log)
        if not done.ok:
            raise BuildFailed(f"the headers of {make.wt.base.name}", done.output.splitlines()[-10:], str(log))
    failed: dict[str, list[str]] = {}
    if any(s.kind is Kind.VMTESTS for s in sources):
        _make_vmtests(make, outdir, headers, runner, log)
    for src in sources:
        if src.kind in (Kind.KUNIT, Kind.VMTESTS):
            continue
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


def _make_vmtests(make: Make, outdir: Path, headers: Path, runner: Runner, log: Path) -> None:
    """Every mm selftest (make -k: one that does not build is only missing from its category's runs),
    and run_vmtests.sh with the scripts and settings it calls, into `outdir`."""
    src = make.wt.src / SELFTEST_DIRS[0]
    runner.run(["make", "-k", f"-j{make.jobs}", "-C", str(src), f"OUTPUT={outdir}", f"KHDR_INCLUDES=-isystem {headers}"],
               tee=log, check=False, guard=True)
    for helper in [*src.glob("*.sh"), src / "settings"]:
        if helper.exists():
            shutil.copy2(helper, outdir / helper.name)


def binaries_hash(outdir: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode())
        h.update((outdir / name).read_bytes())
    return h.hexdigest()[:16]


def unknown(git: Git, commit: str, sources: list[TestSource]) -> list[str]:
    """The names that are a test at no base: not a probe, not a selftest (or KUnit suite) at
    `commit`, nor at the tip of any tag or branch of the tree (a test some other base has is
    only NOT_RUN here)."""
    lost = [s.name for s in sources if s.kind is Kind.MISSING]
    if not lost:
        return []
    suites = [n for n in lost if kunit.is_kunit(n)]
    groups = [n for n in lost if n.startswith(vmtests.PREFIX)]
    missing = [n for n in lost if n not in suites and n not in groups]
    tips = git.out("for-each-ref", "--sort=-creatordate", "--count=20", "--format=%(objectname)", "refs/tags",
                   "refs/heads").split()
    unknown_suites = [s for s in suites if not any(kunit.find(git, tip, s) for tip in tips)]
    known_groups = {c for tip in tips for c in vmtests.categories(git.show(tip, RUN_VMTESTS) or "")} if groups else set()
    unknown_groups = [g for g in groups if g[len(vmtests.PREFIX):] not in known_groups]
    return unknown_suites + unknown_groups + _unknown_selftests(git, missing)


def _unknown_selftests(git: Git, missing: list[str]) -> list[str]:
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
    """The mm selftests the tree has at `commit`, and its run_vmtests.sh categories as mm:CATEGORY
    (for an error message)."""
    groups = [f"{vmtests.PREFIX}{c}" for c in vmtests.categories(git.show(commit, RUN_VMTESTS) or "")]
    return _binaries_at(git, commit) + groups


def _binaries_at(git: Git, commit: str) -> list[str]:
    for d in SELFTEST_DIRS:
        listing = git.run("grep", "-l", "-E", MAIN, commit, "--", f"{d}/*.c", check=False, quiet=True)
        if listing.ok:
            return sorted(Path(n.split(":", 1)[-1]).stem for n in listing.output.split())
    return []


MAIN = r"^\s*int\s+main\s*\(|^TEST_HARNESS_MAIN"  # a selftest is a program; vm_util.c, uffd-common.c are pieces of several


def _a_program(git: Git, commit: str, folder: str, name: str) -> None:
    """A name whose `.c` has no main() is a helper the mm selftests link in, not a test."""
    if not git.ok("grep", "-q", "-E", MAIN, commit, "--", f"{folder}/{name}.c"):
        raise UserError(f"{name!r} is not a test: {folder}/{name}.c has no main() (the mm selftests link it in)",
                        f"Tests there: {', '.join(_binaries_at(git, commit)) or 'none'}.")
