"""What a base's cells share, set up once per run: its configs, its test binaries, the compiler.

`prepare()` configures one build directory per config (reusing each as it is when its fragments
did not change), builds the test binaries once (they do not change between variants or configs)
and reads the compiler's version. The result is frozen: the driver only reads it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..guest import script
from ..kernel import kbuild, selftests
from ..kernel.git import Git
from ..kernel.kbuild import Config, Configured, Make
from ..kernel.selftests import Kind, TestBinaries, TestSource
from ..kernel.tree import KernelTree, Worktree
from ..proc import Runner
from ..settings import Settings
from ..study.model import Study
from .identity import CellInputs
from .plan import CellSpec

Say = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    wt: Worktree
    kernelversion: str
    sources: tuple[TestSource, ...]
    binaries: TestBinaries
    configs: dict[str, Configured]  # by config name
    toolchain: str
    guest_script: Path
    guest_digest: str
    jobs: int
    work_root: Path  # the workbench's work directory (ccache's base_dir)

    @property
    def available(self) -> tuple[str, ...]:
        """The tests a cell runs: those the base has and that built."""
        return tuple(s.name for s in self.sources if s.available and s.name not in self.binaries.failed)

    @property
    def binaries_run(self) -> tuple[str, ...]:
        """The tests the guest script runs (a KUnit suite runs at boot, before it)."""
        kunit = {s.name for s in self.sources if s.kind is Kind.KUNIT}
        return tuple(n for n in self.available if n not in kunit)

    @property
    def kunit(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources if s.kind is Kind.KUNIT)

    @property
    def failed(self) -> dict[str, list[str]]:
        """The tests the base has that did not build, with their first errors."""
        return self.binaries.failed

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.sources if not s.available]

    def make(self, config: str, runner: Runner) -> Make:
        return Make(self.wt, self.configs[config].build, self.jobs, runner, self.work_root)

    def inputs(self, spec: CellSpec, vm: dict[str, object], executor: dict[str, str]) -> CellInputs:
        return CellInputs(base=spec.base.commit, change=spec.change, config=self.configs[spec.config].config_hash,
                          toolchain=self.toolchain,
                          tests=self.available + tuple(f"{name} (did not build)" for name in self.failed),
                          binaries=self.binaries.hash,
                          guest=self.guest_digest, vm=dict(vm), executor=dict(executor), repeat=spec.repeat)


def toolchain(runner: Runner) -> str:
    """The compiler's version: part of every cell's identity."""
    out = runner.run(["gcc", "--version"], check=False, quiet=True).output
    return out.splitlines()[0] if out else "gcc: ?"


def load_configs(settings: Settings, names: list[str], study: Study, executor: tuple[str, ...] = (),
                 tests: tuple[tuple[str, str], ...] = ()) -> list[Config]:
    """The named configs, each followed by the fragments the study and then the executor bring, and
    those of the tests (a KUnit suite's .kunitconfig); fragments are looked up in the study's
    kbuild/ first (then those of the studies it reuses), then the project's."""
    search = [root / "kbuild" for root in study.search or (study.root,)] + [settings.kbuild_dir]
    kunit = ("kunit",) if tests else ()  # what every KUnit suite needs of the config (kbuild/kunit.config)
    return [kbuild.load_config(name, search, study.fragments + executor + kunit, tests) for name in names]


def kunit_fragments(git: Git, commit: str, sources: list[TestSource]) -> tuple[tuple[str, str], ...]:
    """(suite, its .kunitconfig at `commit`) for every KUnit suite among the tests."""
    return tuple((s.name, git.show(commit, s.path) or "") for s in sources if s.kind is Kind.KUNIT)


def configure(wt: Worktree, configs: list[Config], settings: Settings, runner: Runner, log_dir: Path | None,
              say: Say) -> dict[str, Configured]:
    """Every config's build directory, configured; an option the base cannot honour of a KUnit suite or
    of a fragment the config's name adds (`+no_page_mapcount`) is an error that names it (run inside
    the lock and before the run folder exists, so it refuses)."""
    configured: dict[str, Configured] = {}
    for config in configs:
        make = Make(wt, wt.build_dir(config.slug), settings.make_jobs, runner, settings.cache / "work")
        log = (log_dir or make.build) / f"config-{config.slug}.log"
        configured[config.name] = done = kbuild.configure(make, config, log)
        for line in done.unmet if log_dir else ():
            say(f"config {config.name}: the base could not honour {line}")
        for label, text in config.own + kbuild.axis(config):
            unmet = kbuild.unmet_options(text, (make.build / ".config").read_text())
            if unmet:
                kunit = (label, text) in config.own
                raise UserError(f"{label}: {'its .kunitconfig' if kunit else 'this config fragment'} asks for what "
                                f"{wt.base.name} cannot give with config {config.name}: {'; '.join(unmet)}",
                                "Add the options it depends on to a config fragment (kbuild/), or pick another base."
                                if kunit else "Pick a base whose Kconfig has the option, or leave that config out.")
    return configured


def prepare(kt: KernelTree, wt: Worktree, configs: list[Config], sources: list[TestSource], settings: Settings,
            runner: Runner, log_dir: Path, say: Say) -> Prepared:
    """Configure every config's build directory, build the tests, read the compiler."""
    work_root = settings.cache / "work"
    configured = configure(wt, configs, settings, runner, log_dir, say)
    first = Make(wt, configured[configs[0].name].build, settings.make_jobs, runner, work_root)
    binaries = selftests.build(first, wt.tests, sources, runner, log_dir / "selftests.log")
    guest = settings.kbuild_dir / script.NAME
    return Prepared(wt=wt, kernelversion=kt.kernelversion(wt.base.commit), sources=tuple(sources), binaries=binaries,
                    configs=configured, toolchain=toolchain(runner), guest_script=guest, guest_digest=script.digest(guest),
                    jobs=settings.make_jobs, work_root=work_root)
