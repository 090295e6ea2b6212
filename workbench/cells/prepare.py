"""What a base's cells share, set up once per run: its configs, its test binaries, the compiler.

`prepare()` configures one build directory per config (reusing each as it is when its fragments
did not change), builds the test binaries once (they do not change between variants or configs)
and reads the compiler's version. The result is frozen: the driver only reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import numa
from ..coverage import profile as coverage
from ..errors import UserError
from ..guest import script
from ..kernel import fragments, kbuild, selftests
from ..kernel.git import Git
from ..kernel.kbuild import Config, Configured, Make
from ..kernel.selftests import TestBinaries
from ..kernel.tree import KernelTree, Worktree
from ..proc import Runner, Say
from ..settings import Settings
from ..study.model import Study
from ..testkinds import TestSource
from .identity import CellInputs
from .plan import CellSpec


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
    profile: coverage.Profile | None = None  # the run's profiled objects, for a config with gcov

    @property
    def available(self) -> tuple[str, ...]:
        """The tests a cell runs: those the base has and that built."""
        return tuple(s.name for s in self.sources if s.available and s.name not in self.binaries.failed)

    @property
    def binaries_run(self) -> tuple[str, ...]:
        """The tests the guest script runs (a test of an at-boot kind runs before it)."""
        at_boot = {s.name for s in self.sources if s.kind.at_boot}
        return tuple(n for n in self.available if n not in at_boot)

    @property
    def ran(self) -> tuple[TestSource, ...]:
        """The tests a cell runs (at boot or from the guest script), as sources: their kinds read them."""
        names = set(self.available)
        return tuple(s for s in self.sources if s.name in names)

    @property
    def guest_files(self) -> tuple[str, ...]:
        """The files of the tests folder the guest needs: all of it when a test's kind runs whatever
        the folder holds (a run_vmtests.sh category), else the tests the guest script runs."""
        if any(s.kind.whole_folder for s in self.ran):
            return tuple(sorted(p.name for p in self.binaries.dir.iterdir() if p.is_file() and not p.name.startswith(".")))
        return self.binaries_run

    @property
    def guest_setup(self) -> tuple[str, ...]:
        """What of the guest's set-up the tests the guest script runs need (their kinds say)."""
        return tuple(sorted({need for s in self.ran if not s.kind.at_boot for need in s.kind.needs}))

    @property
    def failed(self) -> dict[str, list[str]]:
        """The tests the base has that did not build, with their first errors."""
        return self.binaries.failed

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.sources if not s.available]

    def profiled(self, config: str) -> coverage.Profile | None:
        """The run's profile when `config` is a coverage config (its .config has gcov), else None."""
        if self.profile is None or not coverage.enabled((self.configs[config].build / ".config").read_text()):
            return None
        return self.profile

    def make(self, config: str, runner: Runner) -> Make:
        profile = self.profiled(config)
        return Make(self.wt, self.configs[config].build, self.jobs, runner, self.work_root,
                    coverage.variables(profile.objects) if profile else ())

    def inputs(self, spec: CellSpec, vm: dict[str, object], executor: dict[str, str]) -> CellInputs:
        profile = self.profiled(spec.config)
        return CellInputs(base=spec.base.commit, change=spec.change, config=self.configs[spec.config].config_hash,
                          toolchain=self.toolchain,
                          tests=self.available + tuple(f"{name} (did not build)" for name in self.failed),
                          binaries=self.binaries.hash,
                          guest=self.guest_digest, vm=dict(vm), executor=dict(executor), repeat=spec.repeat,
                          profiled=profile.identity if profile else ())


def toolchain(runner: Runner) -> str:
    """The compiler's version: part of every cell's identity."""
    out = runner.run(["gcc", "--version"], check=False, quiet=True).output
    return out.splitlines()[0] if out else "gcc: ?"


@dataclass(frozen=True)
class TestConfig:
    """What the tests bring into the config: (test, text) of each test that brings its own (a KUnit
    suite's .kunitconfig), and the project's fragments their kinds need beside (kbuild/kunit.config)."""

    __test__ = False

    texts: tuple[tuple[str, str], ...] = ()
    fragments: tuple[str, ...] = ()


NO_TEST_CONFIG = TestConfig()


def test_config(git: Git, commit: str, sources: list[TestSource]) -> TestConfig:
    brought = [(s, s.kind.fragment(git, commit, s)) for s in sources if s.available]
    mine = [(s, text) for s, text in brought if text is not None]
    return TestConfig(tuple((s.name, text) for s, text in mine),
                      tuple(dict.fromkeys(f for s, _ in mine for f in s.kind.config_fragments)))


def load_configs(settings: Settings, names: list[str], study: Study, executor: tuple[str, ...] = (),
                 tests: TestConfig = NO_TEST_CONFIG) -> list[Config]:
    """The named configs, each followed by the fragments the study and then the executor bring, and
    what the tests bring (a KUnit suite's .kunitconfig); fragments are looked up in the study's
    kbuild/ first (then those of the studies it reuses), then the project's."""
    search = [root / "kbuild" for root in study.search or (study.root,)] + [settings.kbuild_dir]
    return [kbuild.load_config(name, search, study.fragments + executor + tests.fragments, tests.texts)
            for name in names]


def configure(wt: Worktree, configs: list[Config], settings: Settings, runner: Runner, log_dir: Path | None,
              say: Say) -> dict[str, Configured]:
    """Every config's build directory, configured; an option the base cannot honour that a test brings
    (a KUnit suite's) or that a fragment the config's name adds (`+no_page_mapcount`) asks for is an
    error that names it (run inside the lock and before the run folder exists, so it refuses)."""
    configured: dict[str, Configured] = {}
    for config in configs:
        make = Make(wt, wt.build_dir(config.slug), settings.make_jobs, runner, settings.cache / "work")
        log = (log_dir or make.build) / f"config-{config.slug}.log"
        configured[config.name] = done = kbuild.configure(make, config, log)
        for line in done.unmet if log_dir else ():
            say(f"config {config.name}: the base could not honour {line}")
        if log_dir and (lacks := numa.kernel_lacks(settings.vm, (make.build / ".config").read_text())):
            say(f"config {config.name}: {lacks}")
        for label, text in config.own + kbuild.axis(config):
            maybe = {n.removeprefix("CONFIG_") for n in fragments.optional(text)}
            absent = {f"CONFIG_{n}" for n in maybe - fragments.declared(wt.git, wt.base.commit, maybe)}
            unmet = fragments.unmet_options(text, (make.build / ".config").read_text(), absent)
            if unmet:
                brought = (label, text) in config.own  # by a test (a KUnit suite), else by the config's name
                raise UserError(f"{label}: {'the config it brings' if brought else 'this config fragment'} asks for "
                                f"what {wt.base.name} cannot give with config {config.name}: {'; '.join(unmet)}",
                                "Add the options it depends on to a config fragment (kbuild/), or pick another base."
                                if brought else "Pick a base whose Kconfig has the option, or leave that config out.")
    return configured


def prepare(kt: KernelTree, wt: Worktree, configs: list[Config], sources: list[TestSource], settings: Settings,
            runner: Runner, log_dir: Path, say: Say, profile: coverage.Profile | None = None) -> Prepared:
    """Configure every config's build directory, build the tests, read the compiler; `profile`: the
    objects a coverage config profiles in this run."""
    work_root = settings.cache / "work"
    configured = configure(wt, configs, settings, runner, log_dir, say)
    first = Make(wt, configured[configs[0].name].build, settings.make_jobs, runner, work_root)
    binaries = selftests.build(first, wt.tests, sources, runner, log_dir / "selftests.log")
    guest = settings.kbuild_dir / script.NAME
    return Prepared(wt=wt, kernelversion=kt.kernelversion(wt.base.commit), sources=tuple(sources), binaries=binaries,
                    configs=configured, toolchain=toolchain(runner), guest_script=guest, guest_digest=script.digest(guest),
                    jobs=settings.make_jobs, work_root=work_root, profile=profile)
