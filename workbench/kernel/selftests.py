"""Test binaries for the guest: the kernel's mm selftests and the study's own probes.

Which tests a base has is read from the base commit before anything is built
(`tools/testing/selftests/mm/cow.c`, or `vm/` before v6.3; v6.1 has no cow):
a test the base lacks is NOT_RUN. The binaries are built once per base, on the
host, against that base's own headers (`make headers` into its build
directory), into `<base dir>/tests/`; they do not change between variants.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildFailed, UserError
from .git import Git
from .kbuild import make_argv
from .proc import Runner
from .settings import Settings
from .study import Study
from .tree import Worktree

SELFTEST_DIRS = ("tools/testing/selftests/mm", "tools/testing/selftests/vm")


@dataclass(frozen=True)
class TestSource:
    name: str
    kind: str  # "selftest" | "probe" | "missing"
    path: str  # the selftest's directory in the tree, or the probe's file in the study

    @property
    def available(self) -> bool:
        return self.kind != "missing"


def plan(git: Git, commit: str, names: tuple[str, ...], study: Study) -> list[TestSource]:
    """Where each named test comes from at `commit`, read from git (no checkout needed)."""
    out = []
    for name in names:
        if name in study.probes:
            out.append(TestSource(name, "probe", study.probes[name]))
            continue
        if not name.replace("-", "_").replace("_", "").isalnum():
            raise UserError(f"{name!r} is not a test name", "Tests are mm selftest binaries, e.g. cow,khugepaged.")
        for d in SELFTEST_DIRS:
            if git.exists(commit, f"{d}/{name}.c"):
                out.append(TestSource(name, "selftest", d))
                break
        else:
            out.append(TestSource(name, "missing", ""))
    return out


def build(wt: Worktree, sources: list[TestSource], study: Study, settings: Settings, runner: Runner,
          log: Path) -> tuple[Path, str]:
    """Build the available tests into `<base dir>/tests/`; returns (that dir, a hash of the binaries)."""
    outdir = wt.root / "tests"
    outdir.mkdir(parents=True, exist_ok=True)
    headers = wt.build / "usr" / "include"
    if not (headers / "linux" / "mman.h").exists():
        done = runner.run(make_argv(wt, settings, "headers"), tee=log, check=False)
        if not done.ok:
            raise BuildFailed(f"the headers of {wt.base.name}", done.output.splitlines()[-10:], str(log))
    for src in sources:
        binary = outdir / src.name
        if src.kind == "selftest":
            argv = ["make", "-C", str(wt.src / src.path), f"OUTPUT={outdir}",
                    f"KHDR_INCLUDES=-isystem {headers}", str(binary)]
        elif src.kind == "probe":
            argv = ["gcc", "-O2", "-Wall", "-o", str(binary), "-isystem", str(headers),
                    str(study.root / src.path)]
        else:
            continue
        done = runner.run(argv, tee=log, check=False)
        if not done.ok or not binary.exists():
            errors = [line for line in done.output.splitlines() if "error" in line][:10]
            raise BuildFailed(f"test {src.name} at {wt.base.name}", errors or done.output.splitlines()[-10:],
                              str(log))
    return outdir, binaries_hash(outdir, [s.name for s in sources if s.available])


def binaries_hash(outdir: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        h.update(name.encode())
        h.update((outdir / name).read_bytes())
    return h.hexdigest()[:16]
