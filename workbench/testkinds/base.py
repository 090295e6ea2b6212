"""The test-kind seam: one protocol for what runs in the guest, one implementation per kind.

A kind (an mm selftest binary, a study's probe, a run_vmtests.sh category, a KUnit suite, a
cgroup selftest) says which test names it claims, where a test's source is at a base, the config
it brings, how its tests are built, whether it runs at boot or from the guest script, what set-up
of the guest it needs, which files it leaves per test, and how its output becomes cases. Nothing
outside the kinds looks at a test's name to decide what it is: `TestSource.kind` is asked.

The kinds are tried in `KINDS` order (workbench/testkinds/__init__.py); the first that claims a
name owns it. A kind that claims a name its base lacks gives a source that is not available (the
test is NOT_RUN there); whether the name is a test at any base at all is asked again of the kind
(`unknown`), so a typo is refused before anything runs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..guest import tap
from ..kernel.git import Git
from ..kernel.kbuild import Make
from ..proc import Runner
from ..records import TestOutput

# What a kind may ask of the guest's set-up (kbuild/guest.sh does each it is told: WORKBENCH_SETUP);
# "tests-folder": the whole tests folder copied for the tests (else only the tests named).
SETUP = frozenset({"swap", "thp", "hugetlb", "debugfs", "ksm", "tmpfs-mnt", "sudo", "cgroup2", "tests-folder"})


@dataclass(frozen=True)
class TestSource:
    """One named test at one base: its kind, and where its source is there ("" when the base lacks it)."""

    __test__ = False  # not a pytest test class

    name: str
    kind: TestKind
    path: str  # the selftest's directory in the tree, the probe's source file, the suite's .kunitconfig
    available: bool = True


@dataclass(frozen=True)
class BuildContext:
    """What a kind's build gets: the base's make (its worktree and a configured build directory),
    the folder the guest's tests go to, the base's exported headers, the runner and the log."""

    make: Make
    outdir: Path
    headers: Path
    runner: Runner
    log: Path

    def compile_error(self, done_output: str) -> list[str]:
        errors = [line.strip() for line in done_output.splitlines() if "error" in line][:10]
        return errors or done_output.splitlines()[-10:]


class TestKind:
    """The protocol, with the defaults most kinds share (a binary of the guest's tests folder that
    prints kselftest TAP). A kind overrides what differs."""

    __test__ = False

    name = ""  # the kind's word: "selftest", "probe", "kunit", "vmtests", "cgroup"
    at_boot = False  # True: built into the kernel, runs at boot and is read from the console
    needs: frozenset[str] = frozenset()  # what of SETUP the guest must have for it
    leaves: tuple[str, ...] = ("{test}.tap", "{test}.rc")  # the files the guest script leaves per test
    config_fragments: tuple[str, ...] = ()  # project fragments (kbuild/) a test that brings config needs beside
    whole_folder = False  # True: its tests run whatever the tests folder holds (all of it is hashed and packed)

    def __eq__(self, other: object) -> bool:  # a kind is its class: every instance is the same kind
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        raise NotImplementedError

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        """Where the test's source is at `commit`; None when the base has no such test."""
        raise NotImplementedError

    def unknown(self, git: Git, names: list[str]) -> list[str]:
        """Of these names (claimed by this kind, missing at the run's base), those that are a test
        at no base of the tree."""
        return names

    def known_at(self, git: Git, commit: str) -> list[str]:
        """The names of this kind's tests at `commit` (for an error message)."""
        return []

    def fragment(self, git: Git, commit: str, source: TestSource) -> str | None:
        """The config the test brings into the kernel's .config (a KUnit suite's .kunitconfig)."""
        return None

    def build(self, ctx: BuildContext, sources: list[TestSource]) -> dict[str, list[str]]:
        """Build the tests into ctx.outdir; {test: its first error lines} for those that did not build."""
        return {}

    def built(self, outdir: Path, source: TestSource) -> bool:
        """Whether the test's files are in the guest's tests folder (after a build the stamp vouches for)."""
        return (outdir / source.name).exists()

    def stamp_files(self, source: TestSource) -> list[Path]:
        """Files outside the kernel tree whose bytes decide the build (a probe's source and headers)."""
        return []

    def parse(self, text: str, name: str, exit_code: int | None) -> TestOutput:
        """A test's output (the guest script's file, or its section of the console) as cases."""
        return tap.parse(text, name, exit_code)

    def from_console(self, console: str, names: tuple[str, ...]) -> dict[str, TestOutput]:
        """At-boot kinds: each test's output read from the console."""
        return {}

    def console_for_judging(self, console: str) -> str:
        """The console a crash is judged on while this kind's tests ran (its own reports removed)."""
        return console

    def describe(self, git: Git, commit: str) -> str:
        """What there is of this kind at `commit`, for an error message ("" for nothing to add)."""
        return ""


def tips(git: Git, count: int = 20) -> list[str]:
    """The newest tags' and branches' commits: where a test missing at the run's base may be."""
    return git.out("for-each-ref", "--sort=-creatordate", f"--count={count}", "--format=%(objectname)",
                   "refs/tags", "refs/heads").split()
