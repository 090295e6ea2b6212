"""An mm selftest binary (`cow`, `madv_populate`, ...): built on the host against the base's own
headers with the selftests' Makefile, run by the guest script, read as kselftest TAP. The claim
of last resort: a name no other kind claims is a selftest, present at a base or not."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import UserError
from ..kernel.git import Git
from .base import BuildContext, TestKind, TestSource

DIRS = ("tools/testing/selftests/mm", "tools/testing/selftests/vm")  # vm/ became mm/ in v6.3
MAIN = r"^\s*int\s+main\s*\(|^TEST_HARNESS_MAIN"  # a selftest is a program; vm_util.c, uffd-common.c are pieces of several


class Selftest(TestKind):
    name = "selftest"
    needs = frozenset({"swap", "thp", "hugetlb", "debugfs", "ksm", "tmpfs-mnt"})

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        return True

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        if not name.replace("-", "_").replace("_", "").isalnum():
            raise UserError(f"{name!r} is not a test name", "Tests are mm selftest binaries, e.g. cow,khugepaged.")
        folder = next((d for d in DIRS if git.exists(commit, f"{d}/{name}.c")), None)
        if folder is not None and not git.ok("grep", "-q", "-E", MAIN, commit, "--", f"{folder}/{name}.c"):
            raise UserError(f"{name!r} is not a test: {folder}/{name}.c has no main() (the mm selftests link it in)",
                            f"Tests there: {', '.join(self.known_at(git, commit)) or 'none'}.")
        return folder

    def unknown(self, git: Git, names: list[str]) -> list[str]:
        if not names:
            return []
        tips = list(dict.fromkeys(git.out("for-each-ref", "--format=%(objectname)", "refs/tags", "refs/heads",
                                          "refs/remotes").split()))
        query = [f"{tip}:{d}/{name}.c" for tip in tips for d in DIRS for name in names]
        if not query:
            return names
        done = git.run("cat-file", "--batch-check=%(objectname) %(rest)", input="\n".join(query) + "\n",
                       check=False, quiet=True)
        found = {q.rsplit("/", 1)[1].removesuffix(".c") for q, line in zip(query, done.output.splitlines())
                 if not line.endswith(" missing")}
        return [n for n in names if n not in found]

    def known_at(self, git: Git, commit: str) -> list[str]:
        for d in DIRS:
            listing = git.run("grep", "-l", "-E", MAIN, commit, "--", f"{d}/*.c", check=False, quiet=True)
            if listing.ok:
                return sorted(Path(n.split(":", 1)[-1]).stem for n in listing.output.split())
        return []

    def build(self, ctx: BuildContext, sources: list[TestSource]) -> dict[str, list[str]]:
        failed: dict[str, list[str]] = {}
        for src in sources:
            binary = ctx.outdir / src.name
            binary.unlink(missing_ok=True)
            done = ctx.runner.run(["make", "-C", str(ctx.make.wt.src / src.path), f"OUTPUT={ctx.outdir}",
                                   f"KHDR_INCLUDES=-isystem {ctx.headers}", str(binary)],
                                  tee=ctx.log, check=False, guard=True)
            if not done.ok or not binary.exists():
                failed[src.name] = ctx.compile_error(done.output)
        return failed
