"""A category of the base's run_vmtests.sh (`mm:gup_test`): every mm selftest is built (`make -k`:
one that does not build is only missing from its category's runs) with the scripts and settings
the script calls, the guest script runs `run_vmtests.sh -t CATEGORY`, and each run of the script
is a case (guest/vmtests.py reads its nested TAP)."""
from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from ..guest import vmtests
from ..kernel.git import Git
from ..records import TestOutput
from .base import SETUP, BuildContext, TestKind, TestSource, tips
from .selftest import DIRS

SCRIPT = f"{DIRS[0]}/run_vmtests.sh"


class Vmtests(TestKind):
    name = "vmtests"
    needs = SETUP - {"cgroup2"}  # the categories ask for all of it (sudo: on-fault-limit runs as nobody)
    whole_folder = True

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        return name.startswith(vmtests.PREFIX)

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        return DIRS[0] if name.removeprefix(vmtests.PREFIX) in self._categories(git, commit) else None

    def unknown(self, git: Git, names: list[str]) -> list[str]:
        known = {c for tip in tips(git) for c in self._categories(git, tip)}
        return [n for n in names if n.removeprefix(vmtests.PREFIX) not in known]

    def known_at(self, git: Git, commit: str) -> list[str]:
        return [f"{vmtests.PREFIX}{c}" for c in self._categories(git, commit)]

    def build(self, ctx: BuildContext, sources: list[TestSource]) -> dict[str, list[str]]:
        src = ctx.make.wt.src / DIRS[0]
        ctx.runner.run(["make", "-k", f"-j{ctx.make.jobs}", "-C", str(src), f"OUTPUT={ctx.outdir}",
                        f"KHDR_INCLUDES=-isystem {ctx.headers}"], tee=ctx.log, check=False, guard=True)
        for helper in [*src.glob("*.sh"), src / "settings"]:
            if helper.exists():
                shutil.copy2(helper, ctx.outdir / helper.name)
        missing = [] if (ctx.outdir / "run_vmtests.sh").exists() else ["run_vmtests.sh was not copied"]
        return {s.name: missing for s in sources} if missing else {}

    def built(self, outdir: Path, source: TestSource) -> bool:
        return (outdir / "run_vmtests.sh").exists()

    def parse(self, text: str, name: str, exit_code: int | None) -> TestOutput:
        return vmtests.parse(text, name, exit_code)

    @staticmethod
    def _categories(git: Git, commit: str) -> list[str]:
        return vmtests.categories(git.show(commit, SCRIPT) or "")
