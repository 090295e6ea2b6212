"""The kernel's cgroup selftests (`cgroup:test_memcontrol`): the memory controller's own tests
(memory.min/low/high/max, reclaim, swap.max, OOM events) from tools/testing/selftests/cgroup,
built per base with that folder's Makefile against the base's headers (each binary links the
folder's cgroup_util.c), run by the guest script under the test's name, read as kselftest TAP.
They need cgroup v2 mounted with the memory controller (virtme-ng's guest has it; the test
enables +memory itself, else it skips as a whole). The folder's `config` is not merged into the
kernel's config, as the mm folder's is not: what the minimal config lacks shows as a skip."""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from ..kernel.git import Git
from .base import BuildContext, TestKind, TestSource, tips

DIR = "tools/testing/selftests/cgroup"
PREFIX = "cgroup:"


class Cgroup(TestKind):
    name = "cgroup"
    needs = frozenset({"swap", "cgroup2"})

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        return name.startswith(PREFIX)

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        return DIR if git.exists(commit, f"{DIR}/{name.removeprefix(PREFIX)}.c") else None

    def unknown(self, git: Git, names: list[str]) -> list[str]:
        known = {n for tip in tips(git) for n in self.known_at(git, tip)}
        return [n for n in names if n not in known]

    def known_at(self, git: Git, commit: str) -> list[str]:
        listing = git.run("ls-tree", "--name-only", f"{commit}:{DIR}", check=False, quiet=True)
        return sorted(f"{PREFIX}{n[:-2]}" for n in listing.output.split() if n.startswith("test_") and n.endswith(".c")
                      ) if listing.ok else []

    def build(self, ctx: BuildContext, sources: list[TestSource]) -> dict[str, list[str]]:
        failed: dict[str, list[str]] = {}
        objdir = ctx.outdir / ".cgroup"  # the folder's own objects; the guest runs the copy named as the test
        objdir.mkdir(exist_ok=True)
        for src in sources:
            program = src.name.removeprefix(PREFIX)
            (ctx.outdir / src.name).unlink(missing_ok=True)
            done = ctx.runner.run(["make", "-C", str(ctx.make.wt.src / DIR), f"OUTPUT={objdir}",
                                   f"KHDR_INCLUDES=-isystem {ctx.headers}", str(objdir / program)],
                                  tee=ctx.log, check=False, guard=True)
            if done.ok and (objdir / program).exists():
                shutil.copy2(objdir / program, ctx.outdir / src.name)
            else:
                failed[src.name] = ctx.compile_error(done.output)
        return failed
