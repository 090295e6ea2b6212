"""`invoke matrix` (base and every variant) and `invoke run` (one cell): plan, prologue, drive.

Everything that can refuse the run is checked first (the request, the study and its templates,
the configs, the tree, the base, the test names, the programs the build and the executor need);
then the run prologue locks the base's worktree and opens the run folder; the variants are
committed, the base prepared once (configs, test binaries) and the cells driven one after
another. Finished cells come from the cache; a variant that is the same as base at this base
costs nothing and shows `=base`.
"""
from __future__ import annotations

import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import runs
from .cells import setup
from .cells.plan import CellSpec, Plan, plan
from .cells.prepare import Prepared, configure
from .coverage import profile as coverage
from .errors import DuplicateName, UserError
from .guest.executor import Executor
from .guest.select import executor_for
from .kernel import kbuild
from .kernel.kbuild import Config
from .kernel.tree import Base, KernelTree, Worktree
from .mutants.generate import MutantColumns, as_columns, without_same_source
from .proc import Runner, Say, reap_orphans
from .progress import Progress
from .records import BASE, CellResult, Run, RunKind
from .settings import Settings
from .status import Status
from .study import commits
from .study import configs as configs_mod
from .study import sources as sources_mod
from .study.model import Study
from .study.model import load as load_study


@dataclass(frozen=True)
class MatrixRequest:
    """What `matrix` and `run` were asked beyond the settings. The flags that override a setting
    (--configs, --study, --timeout, ...) are already in the Settings the run gets; `flags` keeps
    them as given, only for the command that reproduces the run."""

    base: str
    variants: tuple[str, ...] | None = None  # None: all of the study's
    tests: tuple[str, ...] | None = ("cow",)  # None: the settings' (a probe the study lacks is left out)
    repeat: int = 1
    kind: RunKind = RunKind.MATRIX  # RUN: one cell, no base column unless asked for
    tree: str | None = None
    reuse: bool = True  # False (--no-reuse): a variant with the base's machine code still gets its own boots
    flags: tuple[tuple[str, str], ...] = ()  # (--flag, value) of each setting given on the command line
    mutants: tuple[str, ...] | None = None  # --mutants: () every (site, operator), else the sites/operators named

    @property
    def include_base(self) -> bool:
        return self.kind is RunKind.MATRIX

    def check(self) -> None:
        if self.repeat < 1:
            raise UserError(f"--repeat must be 1 or more, not {self.repeat}", "e.g. --repeat 3.")
        if self.tests is not None and not self.tests:
            raise UserError("no tests named", "e.g. --tests cow,probe (the default comes from invoke.yaml).")
        if self.variants is not None and not self.variants:
            raise UserError("no variants named", "Leave --variants out for all of the study's, or name some.")
        once("--tests", self.tests or ())
        if self.mutants is not None and self.repeat < 2:
            raise UserError("--mutants needs --repeat 2 or more: a mutant is killed by a case that differs from the "
                            "base in every one of N >= 2 boots, the base stable over its own N", "Add --repeat 2.")
        once("--variants", tuple(v.split("=", 1)[0].strip() for v in self.variants or ()),
             "Name each column once; a change you bring needs a NAME of its own (NAME=SPEC).")

    def command(self) -> str:
        """The command that reproduces the run, quoted for a shell."""
        argv = ["invoke", self.kind.value, "--base", self.base]
        if self.variants is not None:
            argv += ["--variant" if self.kind is RunKind.RUN else "--variants", ",".join(self.variants)]
        if self.tests is not None:
            argv += ["--tests", ",".join(self.tests)]
        argv += ["--repeat", str(self.repeat)] if self.repeat > 1 else []
        argv += ["--tree", self.tree] if self.tree is not None else []
        argv += [part for flag in self.flags for part in flag]
        argv += [] if self.reuse else ["--no-reuse"]
        argv += [] if self.mutants is None else ["--mutants", ",".join(self.mutants) or "all"]
        return shlex.join(argv)


def once(flag: str, values: tuple[str, ...], hint: str = "") -> None:
    """A comma list names each thing once (cow,cow ran cow twice in one guest and kept one result)."""
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise DuplicateName(flag, twice, hint or f"Name each once, e.g. {flag} {','.join(dict.fromkeys(values))}.")


def given(**settings: object) -> tuple[tuple[str, str], ...]:
    """The settings a command line gave, as (--flag, value) for the reproducer (None: not given)."""
    return tuple((f"--{name.replace('_', '-')}", ",".join(v) if isinstance(v, tuple) else str(v))
                 for name, v in settings.items() if v is not None)


@dataclass(frozen=True)
class _Checked:
    study: Study
    configs: list[Config]
    kt: KernelTree
    base: Base
    tests: setup.Tests
    executor: Executor
    patchset: commits.PatchSet
    names: list[str]  # the columns asked for ("base" among them when named)
    brought: list[sources_mod.Brought]  # the changes the user brought (NAME=SPEC)
    mutants: MutantColumns | None = None


def _names(req: MatrixRequest, study: Study) -> tuple[Study, list[str], dict[str, str]]:
    """The study (with any variant template the user brings: NAME=FILE.j2), the columns asked for,
    in order, and {name: spec} of the changes the user brings (NAME=SPEC: a patch, an mbox, a ref)."""
    names: list[str] = []
    specs: dict[str, str] = {}
    for value in req.variants or (() if req.mutants is not None else tuple(study.variant_names)):
        split = sources_mod.split_spec(value)
        if split is None:
            if value != BASE:
                study.variant(value)  # an unknown variant is refused here
            names.append(value)
            continue
        name, spec = split
        if name == BASE or name in study.variant_names or name in specs:
            raise UserError(f"--variants {value!r}: {name!r} is already a column ("
                            + ("the unchanged tree" if name == BASE else "a variant of the study" if name in
                               study.variant_names else "named twice") + ")",
                            "Give the change another name.")
        names.append(name)
        template = Path(spec).expanduser()
        if template.suffix == ".j2" and template.is_file():  # a variant template, rendered by the study at the base
            study = study.with_variant(name, template, sources_mod.described("template", template))
        else:
            specs[name] = spec
    return study, names, specs


def check(req: MatrixRequest, settings: Settings, runner: Runner, say: Say) -> _Checked:
    """Everything that can refuse the run, before anything is written or built."""
    req.check()
    once("--configs", settings.configs)
    study = load_study(settings.templates_dir, settings.study)
    executor = executor_for(settings, runner)
    study, names, specs = _names(req, study)
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    base = kt.resolve(req.base)
    muts = None
    if req.mutants is not None:
        study, names, muts = as_columns(kt, study, base, settings.cache / "mutants", req.mutants, names)
    if changed := kt.uncommitted(base.commit):
        say(f"note: {req.base} is your checkout's HEAD, and your uncommitted changes ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}) are not part of what is built: commit them, or bring them as "
            "a column (git diff > mine.patch; --variants mine=mine.patch)")
    if not study.variant_names and req.variants is None and req.mutants is None:
        say(f"note: study {study.name!r} has no variants ([variants] in its study.toml is empty and it reuses none),"
            " so only the base runs; add variants there, or bring one with --variants NAME=SPEC")
    tests = setup.tests(kt, base, req.tests, study, settings, say)
    kbuild.check_tools()
    executor.check()
    configs = setup.configs(settings, None, study, executor, tests.config)
    patchset = commits.render_all(kt, study, base, [n for n in names if n not in specs])  # template errors refuse here
    brought = [sources_mod.bring(kt, base, name, spec) for name, spec in specs.items()]  # so does a patch that fails
    if muts is not None:
        names = without_same_source(muts, {v.variant for v in patchset.variants if v.same_as_base}, names)
        if muts.same_source:
            say(f"not mutants at {base.name} (the operator writes what the base has): "
                + ", ".join(m.shown for m in muts.same_source))
        for u in muts.unobservable:
            say(f"no mutants at {u.site}: unobservable ({u.why})")
    return _Checked(study, configs, kt, base, tests, executor, patchset, names, brought, muts)


def execute(req: MatrixRequest, settings: Settings, say: Say) -> Run:
    """Plan the cells, run the missing ones, record everything in a run folder."""
    prog = Progress(title=f"{req.kind.value} {req.base}", times_file=settings.cache / "timings.json")
    runner = Runner(echo=settings.verbose, out=prog.say, registry=settings.cache / "running")
    c = check(req, settings, runner, say)
    run = setup.new_run(req.kind, c.kt, c.base, c.study.name, c.tests.names, req.command(),
                        [x.name for x in c.configs], settings)
    run.words = {n: p.words.to_json() for n, p in c.study.probes.items() if p.words and n in c.tests.names}
    if c.mutants is not None:
        run.extra["mutants"] = c.mutants.to_json()
    start = time.monotonic()
    def refuse_early(wt: Worktree) -> None:
        configure(wt, c.configs, settings, runner, None, say)

    with runs.prologue(c.kt, c.base, settings, runner, run, before=refuse_early) as (wt, run):
        ps = commits.commit_all(c.kt, c.study, c.patchset, settings.patches_dir)
        ps.variants += [commits.adopt(c.kt, ps, b, settings.patches_dir) for b in c.brought]
        run.sources = {b.name: b.source for b in c.brought} | {v.name: v.source for v in c.study.variants
                                                                if v.source and v.name in c.names}
        for note in (n for b in c.brought for n in b.notes):
            say(note)
        p = plan(c.kt.clone, ps, c.names, req.include_base, run.configs, req.repeat)
        _describe(run, p)
        say(f"run {run.id}: {c.study.name} at {c.base.name} (Linux {run.kernelversion}); columns "
            f"{', '.join(p.columns)}" + (f"; same as base: {', '.join(p.same_as_base)}" if p.same_as_base else "")
            + (f"; configs {', '.join(run.configs)}" if len(run.configs) > 1 else ""))
        if not settings.verbose:
            say(f"commands: {run.dir / 'commands.log'} (--verbose shows them here too)")
        with prog:
            for pgid in reap_orphans(settings.cache / "running"):
                prog.say(f"killed process group {pgid} left running by an earlier run that was killed")
            profile = coverage.Profile(coverage.objects(c.kt.clone, c.base.commit, [s.commit for s in p.specs],
                                                        c.study.files), c.study)
            ready = setup.prepared(c.kt, wt, c.configs, c.tests, c.executor, settings, runner, run.dir, prog.say,
                                   profile)
            _start(run, ready, p, prog)
            p.specs = _under_configs(run, ready, p, prog)
            setup.drive(ready, c.executor, p.specs, settings, runner,
                        setup.Reporting(prog, record=lambda cell: runs.record(run, cell), fold=req.reuse,
                                        boot_anyway=frozenset(c.mutants.aa if c.mutants else ())))
            run.executor, run.accel = c.executor.describe(), next((x.accel for x in run.cells if x.accel), "")
        wt.checkout(c.base.commit)
        run.timings["total"] = round(time.monotonic() - start, 1)
    return run


def _describe(run: Run, p: Plan) -> None:
    """What the plan says about the columns, into the run record, and the patches into its folder."""
    ps = p.patchset
    assert ps is not None
    run.variants, run.same_as_base, run.approximate = p.columns, p.same_as_base, p.approximate
    run.patches = {v.variant: v.commit for v in ps.variants if v.commit}
    run.computes = {v.variant: v.rendered.label for v in ps.variants
                    if v.rendered and v.rendered.label and v.variant in p.columns}
    for v in ps.variants:
        if v.patch:
            (run.dir / "patches").mkdir(exist_ok=True)
            shutil.copy(v.patch, run.dir / "patches" / f"{v.variant}.patch")
    run.save()


def _under_configs(run: Run, prepared: Prepared, p: Plan, prog: Progress) -> list[CellSpec]:
    """What each column computes under each built config (a prototype's C may depend on an option);
    a column a config refuses (its prototype's #error) gets a NOT_RUN cell saying why, never a build."""
    assert p.patchset is not None
    protos = {v.variant: v.rendered.prototypes for v in p.patchset.variants if v.rendered and v.variant in p.columns}
    per = configs_mod.by_config(protos, {n: (conf.build / ".config").read_text() for n, conf in prepared.configs.items()})
    run.per_config = {config: {v: c.to_json() for v, c in cols.items()} for config, cols in per.items()}
    refused = {(config, v): c.label for config, cols in per.items() for v, c in cols.items() if c.refused}
    for spec in (s for s in p.specs if (s.config, s.variant) in refused):
        run.add(CellResult(identity="", base=run.base, variant=spec.variant, commit=spec.commit, status=Status.NOT_RUN,
                           config=spec.config, repeat=spec.repeat,
                           reason=f"refused with config {spec.config}: {refused[spec.config, spec.variant]}"))
        prog.done(spec.name, f"NOT_RUN: refused with config {spec.config} ({refused[spec.config, spec.variant]})")
    return [s for s in p.specs if (s.config, s.variant) not in refused]


def _start(run: Run, prepared: Prepared, p: Plan, prog: Progress) -> None:
    run.toolchain = prepared.toolchain
    run.config_hashes = {name: conf.config_hash for name, conf in prepared.configs.items()}
    if prepared.missing:
        run.not_run = prepared.missing
        prog.say(f"NOT_RUN at {run.base}: {', '.join(prepared.missing)} (the base has no such test)")
    prog.cold = not (prepared.configs[p.configs[0]].build / "vmlinux").exists()
    for spec in p.specs:
        prog.add(spec.name)
    for v in p.same_as_base:
        prog.done(v, "=base (same code as base: no build, reuses the base's cell)")
    run.save()
