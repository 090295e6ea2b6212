"""One set-up of a base's cells for every command that drives them: `matrix` and `run`, a bisect
step, `series --boot`.

Before anything is written (`tests`, `configs`): the tests named, each with its kind and where it
is at the base (a name that is a test at no base is refused, listing what there is), the configs
with what the study, the executor and the tests bring. Inside the base's lock (`drive`): the base
prepared once (configs, test binaries, the compiler), the executor settled (its accelerator known)
before the first cell's identity is computed, then the one driver loop. `new_run` is the one
factory of a run's record.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..coverage.profile import Profile
from ..errors import UnknownName, UserError
from ..guest.executor import Executor
from ..kernel import kbuild, selftests
from ..kernel.kbuild import Config
from ..kernel.tree import Base, KernelTree, Worktree
from ..proc import Runner, Say
from ..records import CellResult, Run, RunKind
from ..settings import Settings
from ..study.model import Study
from ..testkinds import TestSource
from .cache import CellCache
from .driver import Driver, View
from .plan import CellSpec
from .prepare import NO_TEST_CONFIG, Prepared, TestConfig, load_configs, prepare, test_config


@dataclass(frozen=True)
class Tests:
    """The tests a run asked for, at its base."""

    __test__ = False

    names: tuple[str, ...]
    sources: list[TestSource]
    config: TestConfig  # what they bring into the kernel's config


def tests(kt: KernelTree, base: Base, asked: tuple[str, ...] | None, study: Study, settings: Settings,
          say: Say) -> Tests:
    """The tests named (None: the settings' default, of which a probe another study has is left out,
    said so), each with its kind and source at the base; a name that is a test at no base is refused."""
    names = asked if asked is not None else settings.tests
    sources = selftests.plan(kt.clone, base.commit, names, study.probe_sources)
    unknown = selftests.unknown(kt.clone, sources)
    if asked is None and unknown:
        say(f"the default tests {', '.join(unknown)} are no test of study {study.name!r} at any base: left out")
        sources = [s for s in sources if s.name not in unknown]
        names, unknown = tuple(s.name for s in sources), []
        if not names:
            raise UserError(f"none of the default tests ({', '.join(settings.tests)}) is a test here",
                            "Name the tests with --tests.")
    if unknown:
        kinds = [s.kind for s in sources if s.name in unknown]
        more = selftests.described(kt.clone, base.commit, kinds)
        raise UnknownName(f"no test {', '.join(unknown)}: not a probe of study {study.name!r}, and no test of any "
                          f"kind at {base.name} or any other base of {kt.source}",
                          f"tests at {base.name}: {', '.join(selftests.known_at(kt.clone, base.commit)) or 'none'}; "
                          f"probes: {', '.join(study.probes) or 'none'}" + (f"; {more}" if more else ""))
    return Tests(names, sources, test_config(kt.clone, base.commit, sources))


def configs(settings: Settings, names: tuple[str, ...] | None, study: Study, executor: Executor,
            brought: TestConfig = NO_TEST_CONFIG) -> list[Config]:
    """The configs asked for (None: the settings'), with the fragments the study, the executor and
    the tests bring; a fragment that does not exist is refused here."""
    return load_configs(settings, list(names or settings.configs), study, executor.fragments, brought)


def new_run(kind: RunKind, kt: KernelTree, base: Base, study: str, tests: tuple[str, ...], command: str,
            configs: list[str], settings: Settings, variants: list[str] | None = None) -> Run:
    """A run's record before its folder is opened: what it was asked, at which base, with which settings."""
    return Run(dir=Path(), kind=kind, base=base.name, commit=base.commit, kernelversion=kt.kernelversion(base.commit),
               study=study, tests=list(tests), variants=list(variants or []), command=command, tree=str(kt.source),
               configs=configs, vm=settings.vm.to_mapping(), settings=settings.to_mapping())


@dataclass(frozen=True)
class Reporting:
    """What the one driver loop needs beyond the cells: where to record them, how to show them."""

    view: View
    record: Callable[[CellResult], None]
    fold: bool = True  # a variant whose kernel is the base's, byte for byte, gets the base's cell
    boot_anyway: frozenset[str] = frozenset()  # columns booted even so (an A/A mutant)


def prepared(kt: KernelTree, wt: Worktree, configs: list[Config], chosen: Tests, executor: Executor,
             settings: Settings, runner: Runner, log_dir: Path, say: Say, profile: Profile | None = None) -> Prepared:
    """The base prepared once (configs, test binaries, compiler) and the executor settled."""
    ready = prepare(kt, wt, configs, chosen.sources, settings, runner, log_dir, say, profile)
    settle(ready, executor, runner, log_dir, say)
    return ready


def drive(ready: Prepared, executor: Executor, specs: list[CellSpec], settings: Settings, runner: Runner,
          how: Reporting) -> list[CellResult]:
    """Every spec's result, through the one driver loop."""
    return Driver(ready, executor, CellCache(settings.cache / "cells"), settings, runner, how.view,
                  record=how.record, fold=how.fold, boot_anyway=how.boot_anyway).run(specs)


def settle(ready: Prepared, executor: Executor, runner: Runner, log_dir: Path, say: Say) -> None:
    """Make the executor's identity known before any cell's is computed (virtme-ng: whether KVM
    works, probed once per host with a kernel image): with an image a build directory of the base
    already holds, else with the base built first (it is the first cell to build anyway)."""
    if executor.ready:
        return
    images = [c.build / "arch" / "x86" / "boot" / "bzImage" for c in ready.configs.values()]
    image = next((i for i in images if i.exists()), None)
    if image is None:
        first = next(iter(ready.configs))
        ready.wt.checkout(ready.wt.base.commit)
        built = kbuild.build(ready.make(first, runner), log_dir / "settle-build.log")
        image = built.image
    if image is not None:
        executor.prepare(image, say)
    if executor.ready:
        for note in executor.notes():
            say(note)
