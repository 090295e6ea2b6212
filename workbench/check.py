"""`invoke check-variants`: every variant compiles at its base, with no warning the base lacks.

In the base's worktree and build directory, the study's objects (`mm/madvise.o`, one per
file it changes) are compiled with `W=1` (and sparse, `C=1`, when it is installed) for the base
and then for each variant. Warnings are compared by file and text, not by line
number (a prototype shifts the lines below it).
"""
from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import runs
from .cells.prepare import load_configs
from .guest.select import executor_for
from .kernel import kbuild
from .kernel.kbuild import Config, Make
from .kernel.tree import KernelTree
from .proc import Runner
from .records import BASE, Run, RunKind
from .settings import Settings
from .study import commits, configs
from .study.commits import PatchSet
from .study.model import load as load_study

_DIAG = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?:\d+:)? (?P<kind>warning|error): (?P<text>.*)$")


@dataclass
class VariantCheck:
    variant: str
    ok: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)
    new_warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    same_as_base: bool = False
    refused: str = ""  # the config refuses it (its prototype's #error there): why, naming the option

    @property
    def verdict(self) -> str:
        if self.same_as_base:
            return "same as base"
        if self.refused:
            return f"refused: {self.refused}"
        if not self.ok:
            return "FAILED"
        return f"{len(self.new_warnings)} new warning(s)" if self.new_warnings else "ok, no new warnings"


@dataclass(frozen=True)
class Diagnostic:
    file: str  # relative to the source tree
    line: int
    kind: str  # warning | error
    text: str

    @property
    def key(self) -> str:
        """What two builds are compared by: not the line (a prototype above shifts every line below)."""
        return f"{self.file}: {self.kind}: {self.text}"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.text}"


def diagnostics(output: str, src: Path, build: Path | None = None) -> list[Diagnostic]:
    """Every compiler or sparse diagnostic, with its file relative to the source tree (a path
    relative to the build directory, as ccache's base_dir makes them, is resolved first)."""
    out = []
    for line in output.splitlines():
        m = _DIAG.match(line.strip())
        if m:
            file = Path(m.group("file"))
            if not file.is_absolute() and build is not None:
                file = Path(os.path.normpath(build / file))
            shown = str(file.relative_to(src)) if file.is_relative_to(src) else m.group("file")
            out.append(Diagnostic(shown, int(m.group("line")), m.group("kind"), m.group("text")))
    return out


def check_variants(make: Make, config: Config, ps: PatchSet, objs: list[str], log_dir: Path) -> list[VariantCheck]:
    extra = ["W=1"] + (["C=1"] if shutil.which("sparse") else [])
    wt = make.wt
    kbuild.configure(make, config, log_dir / "config.log")
    under = configs.by_config({v.variant: v.rendered.prototypes for v in ps.variants if v.rendered},
                              {config.name: (make.build / ".config").read_text()}).get(config.name, {})
    results = []
    base_warnings: Counter[str] = Counter()
    for name in [BASE] + [v.variant for v in ps.variants]:
        vp = None if name == BASE else ps.get(name)
        if vp is not None and vp.same_as_base:
            results.append(VariantCheck(name, True, 0.0, same_as_base=True))
            continue
        if name in under and under[name].refused:
            results.append(VariantCheck(name, True, 0.0, refused=f"config {config.name}: {under[name].label}"))
            continue
        wt.checkout(ps.commit_of(name))
        diags, ok, seconds, errors = [], True, 0.0, []
        for k, obj in enumerate(objs):
            log = log_dir / (f"check-{name}.log" if k == 0 else f"check-{name}-{Path(obj).stem}.log")
            done = kbuild.compile_object(make, obj, extra, log=log)
            found = diagnostics(done.output, wt.src, make.build)
            diags += found
            ok, seconds = ok and done.ok, seconds + done.seconds
            errors += [str(d) for d in found if d.kind == "error"] or ([] if done.ok else kbuild.first_errors(log))
        warnings = [d for d in diags if d.kind == "warning"]
        if name == BASE:
            base_warnings = Counter(d.key for d in warnings)
            new = []
        else:
            new = _new(warnings, base_warnings)
        results.append(VariantCheck(name, ok, seconds, [str(d) for d in warnings], new, errors))
    wt.checkout(ps.base.commit)
    return results


def _new(warnings: list[Diagnostic], at_base: Counter[str]) -> list[str]:
    """The warnings the base does not have, compared by key (file, kind, text), shown with their line."""
    extra = Counter(d.key for d in warnings) - at_base
    new = []
    for d in warnings:
        if extra[d.key] > 0:
            extra[d.key] -= 1
            new.append(str(d))
    return new


def table(results: list[VariantCheck], obj: str, extra: str) -> str:
    lines = [f"{obj} with {extra}:"]
    width = max(len(r.variant) for r in results)
    for r in results:
        detail = "" if r.same_as_base else f"  ({r.seconds:.1f}s, {len(r.warnings)} warning(s) in all)"
        lines.append(f"  {r.variant:<{width}}  {r.verdict}{detail}")
        for w in r.new_warnings + r.errors:
            lines.append(f"      {w}")
    return "\n".join(lines)


@dataclass
class CheckReport:
    results: list[VariantCheck]
    text: str
    log_dir: Path

    @property
    def ok(self) -> bool:
        return all(r.ok and not r.new_warnings for r in self.results)


def check_base(settings: Settings, base: str, variants: list[str] | None, tree: Path | None) -> CheckReport:
    """`invoke check-variants`: render and commit the variants, then compile each in the base's worktree."""
    runner = Runner(echo=settings.verbose)
    study = load_study(settings.templates_dir, settings.study)
    config = load_configs(settings, [settings.configs[0]], study, executor_for(settings, runner).fragments)[0]
    kt = KernelTree.open(settings, runner, tree)
    b = kt.resolve(base)
    rendered = commits.render_all(kt, study, b, variants)
    kbuild.check_tools()
    record = Run(dir=Path(), kind=RunKind.CHECK, base=b.name, commit=b.commit, kernelversion=kt.kernelversion(b.commit),
                 study=study.name, tests=[], variants=[BASE] + [v.variant for v in rendered.variants],
                 command=f"invoke check-variants --base {base}", tree=str(kt.source), configs=[config.name],
                 settings=settings.to_mapping())
    objs = [f[:-2] + ".o" for f in rendered.files]  # an optional target the base lacks has no object here
    with runs.prologue(kt, b, settings, runner, record) as (wt, run):
        ps = commits.commit_all(kt, study, rendered, settings.patches_dir)
        make = Make(wt, wt.build_dir(config.slug), settings.make_jobs, runner, settings.cache / "work")
        outcome = check_variants(make, config, ps, objs, run.dir)
        run.extra = {"checks": [{"variant": r.variant, "verdict": r.verdict, "new_warnings": r.new_warnings,
                                 "errors": r.errors} for r in outcome]}
    extra = "W=1" + (" C=1 (sparse)" if shutil.which("sparse") else "")
    said = ps.observation
    return CheckReport(outcome, table(outcome, " and ".join(objs), extra)
                       + ("\n" + "\n".join([f"targets at {b.name}:", *said]) if said else ""), run.dir)
