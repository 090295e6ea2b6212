"""A KUnit suite with its own `.kunitconfig` (`kunit:damon`): its options are merged into the
cell's config as a fragment of its own (another build directory), the suite is built in and runs
at boot, before the guest script, and its KTAP is read from the console the way kunit_tool reads
it (guest/ktap.py). A suite's own failure reports are not crashes of the kernel under test."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..guest import console, ktap, script
from ..kernel import kunit
from ..kernel.git import Git
from ..records import TestOutput
from .base import TestKind, TestSource, tips


class Kunit(TestKind):
    name = "kunit"
    at_boot = True
    config_fragments = ("kunit",)  # kbuild/kunit.config: what every suite needs of the kernel
    leaves = ()  # nothing in the guest's output folder: all of it is on the console

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        return kunit.is_kunit(name)

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        return kunit.find(git, commit, name)

    def unknown(self, git: Git, names: list[str]) -> list[str]:
        heads = tips(git)
        return [n for n in names if not any(kunit.find(git, tip, n) for tip in heads)]

    def known_at(self, git: Git, commit: str) -> list[str]:
        return [f"{kunit.PREFIX}{f}" for f in kunit.suites(git, commit)]

    def fragment(self, git: Git, commit: str, source: TestSource) -> str | None:
        return git.show(commit, source.path) or ""

    def from_console(self, text: str, names: tuple[str, ...]) -> dict[str, TestOutput]:
        part = ktap.kunit_part(text, script.BEGIN, script.END)  # every built-in suite prints there at boot
        return {name: ktap.output(part, name) for name in names}

    def console_for_judging(self, text: str) -> str:
        return ktap.without_own_reports(text, console.SPLAT, console.HANG)

    def describe(self, git: Git, commit: str) -> str:
        return f"KUnit suites: {kunit.describe(git, commit)}"
