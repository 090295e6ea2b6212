"""`invoke series`: the winning variant as an RFC patch series kernel reviewers will accept.

- A helper the base lacks moves from the matrix patch's `.c` file to its real home
  (`include/linux/mm.h`, or what the study says) in a patch of its own; the call-site change
  follows (patches.py).
- Every patch is compiled on its own, in a worktree and build directory of the series' own, so
  a helper in a header does not cost the base's build directory a full rebuild (checks.py).
- `git format-patch --cover-letter --base=...` writes `patches/<study>/series/<base>-<variant>-vN/`;
  the cover letter holds the plain-text matrix of the run `--run` names, or of the newest
  finished matrix at this base (letter.py); checkpatch errors refuse the series unless --force.
- `--boot` builds and boots the final tree and compares it with the variant's cell of that run.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import runs
from ..cells import setup
from ..cells.plan import CellSpec
from ..cells.prepare import load_configs
from ..errors import UserError
from ..guest.select import executor_for
from ..kernel.git import commit_env, identity
from ..kernel.kbuild import Make
from ..kernel.tree import Base, KernelTree, Worktree
from ..proc import Runner, Say
from ..progress import LineView
from ..records import BASE, Run, RunKind
from ..settings import Settings
from ..study import commits as variant_commits
from ..study.model import Accuracy, Study
from ..study.model import load as load_study
from ..study.render import Rendered, render_message
from .checks import Checkpatch, build_each
from .letter import Letter, b4_prep, write_series
from .patches import commit, fixes_for, helper_commits, message, place_in_header, without_prototypes

__all__ = ["SeriesOutcome", "SeriesRequest", "build_each", "fixes_for", "place_in_header", "series", "summary"]



@dataclass(frozen=True)
class SeriesRequest:
    base: str
    variant: str
    rfc: bool = False
    version: int = 1
    force: bool = False
    b4: bool = False
    boot: bool = False
    tree: str | None = None
    run: str | None = None  # the run whose table goes into the cover letter (default: the newest finished matrix)


@dataclass
class SeriesOutcome:
    outdir: Path
    files: list[Path]
    commits: list[str]
    branch: str
    checkpatch: list[Checkpatch]
    builds: list[tuple[str, float]]
    final_diff: str
    fixes: list[str]
    notes: list[str]
    run_id: str | None
    boot: str = ""


def _variant(req: SeriesRequest, settings: Settings, runner: Runner) -> tuple[Study, KernelTree, Base, Rendered, str]:
    """The study, the tree, the base and the rendered variant: every refusal before anything is written."""
    study = load_study(settings.templates_dir, settings.study)
    if req.variant == BASE:
        raise UserError("`base` is the unchanged tree: there is nothing to send",
                        f"Pick one of the study's variants: {', '.join(study.variant_names)}.")
    study.variant(req.variant)  # a clear error for an unknown variant
    if not {"helper", "cover"} <= set(study.series):
        raise UserError(f"study {study.name!r} has no series templates ({study.root / 'study.toml'} has no [series] "
                        "with `helper` and `cover`)", "Add them (see templates/mapcount/series/) to make RFC series.")
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    base = kt.resolve(req.base)
    ps = variant_commits.commit_all(kt, study, variant_commits.render_all(kt, study, base, [req.variant]),
                                    settings.patches_dir)
    vp = ps.get(req.variant)
    if vp.same_as_base or vp.rendered is None or vp.commit is None:
        raise UserError(f"{req.variant} is the same as base at {req.base}: there is nothing to send",
                        "Pick a variant that changes the code at this base.")
    rendered = vp.rendered
    if rendered.approximate and not req.force:
        names = ", ".join(p.name for p in rendered.prototypes if p.accuracy is Accuracy.APPROXIMATE)
        raise UserError(f"{req.variant} at {req.base} relies on an approximate prototype ({names}); "
                        "a series would propose code that does not compute what its name says",
                        "Pass --force to make it anyway; the cover letter then says so plainly.")
    return study, kt, base, rendered, vp.commit


def _table_run(req: SeriesRequest, settings: Settings, study: Study, notes: list[str]) -> Run | None:
    """The run whose table the cover letter shows: named, or the newest finished matrix of the
    study at the base (another study's table would speak of other code)."""
    if req.run:
        run = runs.find_run(settings, req.run)
        if run.state.value != "finished" or not run.cells:
            raise UserError(f"run {run.id} is {run.state.value} with {len(run.cells)} cell(s): its table cannot "
                            "stand in a cover letter", "Name a finished run with --run (`invoke results`).")
        if run.study != study.name:
            raise UserError(f"run {run.id} is of study {run.study!r}, not {study.name!r}: its table speaks of other code",
                            f"Name a run of study {study.name!r} with --run (`invoke results`).")
        return run
    try:
        return runs.find_run(settings, None, base=req.base, kinds=(RunKind.MATRIX,), study=study.name)
    except UserError:
        notes.append(f"no finished matrix run of study {study.name} at {req.base} yet: the cover letter says so")
        return None


def series(req: SeriesRequest, settings: Settings, say: Say) -> SeriesOutcome:
    runner = Runner(log=settings.task_log("series"), echo=settings.verbose, out=say)
    study, kt, base, rendered, variant_commit = _variant(req, settings, runner)
    notes = [(f"approximate prototype ({', '.join(p.name for p in rendered.prototypes)}): the cover letter and "
              "the helper patch say so")] if rendered.approximate else []
    run = _table_run(req, settings, study, notes)
    name, email, from_config = identity(runner)
    if not from_config:
        notes.append("git has no user.name/user.email: signed off by the workbench identity")
    fixes, fix_note = fixes_for(kt.clone, study, req.variant, base)
    notes += [fix_note] if fix_note else []
    if not kt.clone.has_history(base.commit):
        notes.append(f"{base.name} has no history: checkpatch cannot look up the commits the messages cite "
                     "(UNKNOWN_COMMIT_ID left out); their form, commit <id> (\"<title>\"), is checked as outside git")
    ctx = {"variant": req.variant, "base": base.name, "kernelversion": kt.kernelversion(base.commit),
           "function": rendered.functions[0], "file": study.file, "functions": list(rendered.functions),
           "study": study.name, "where": f"series of {req.variant} at {base.name}"}
    cenv = commit_env(name, email, kt.clone.out("log", "-1", "--format=%cI", base.commit))
    signoff = f"Signed-off-by: {name} <{email}>"
    made = helper_commits(kt.clone, study, base, rendered.prototypes, ctx, signoff, cenv)
    # the message as in a series: it says where the helper went, not that it sits in the .c file
    _, body = render_message(study, rendered, {**ctx, "series": True})
    tip = commit(kt.clone, made[-1] if made else base.commit,
                 {f: without_prototypes(text, rendered.prototypes) for f, text in rendered.files.items()},
                 message(rendered.subject, body, fixes, signoff), cenv)
    made.append(tip)
    branch = f"workbench/{study.name}/series/{base.slug}-{req.variant}-v{req.version}"
    kt.clone.run("update-ref", f"refs/heads/{branch}", tip, quiet=True)
    letter = Letter(study, ctx, run, rendered.prototypes, settings.templates_dir)
    outcome = _build_and_write(req, settings, runner, kt, base, study, made, letter, say)
    outcome.final_diff = kt.clone.out("diff", "--stat=72", variant_commit, tip)
    outcome.branch, outcome.fixes, outcome.notes = branch, fixes, notes + outcome.notes
    if req.b4:
        outcome.notes.append(b4_prep(kt, base, branch, runner))
    return outcome


def _build_and_write(req: SeriesRequest, settings: Settings, runner: Runner, kt: KernelTree, base: Base,
                     study: Study, made: list[str], letter: Letter, say: Say) -> SeriesOutcome:
    """Build every patch (and boot the final tree) in the series slot, write the files, check them."""
    config = load_configs(settings, [settings.configs[0]], study, executor_for(settings, runner).fragments)[0]
    flags = ([f"-v{req.version}"] if req.version > 1 else []) + (["--rfc"] if req.rfc else [])
    settings.patches_dir.mkdir(parents=True, exist_ok=True)
    with kt.worktree(Base(name="series", commit=base.commit), "series") as wt:
        make = Make(wt, wt.build_dir(config.slug), settings.make_jobs, runner, settings.cache / "work")
        builds = build_each(kt.clone, make, config, made)
        boot = boot_and_compare(kt, wt, study, settings, runner, base, made[-1], req.variant, letter.run, say) \
            if req.boot else ""
        wt.checkout(base.commit)
        outdir, files, checks = write_series(kt, wt, base, made[-1], flags, letter, settings.patches_dir, runner)
    errors = sum(c.errors for c in checks)
    if errors and not req.force:
        shutil.rmtree(outdir)
        found = "\n".join(f"  {c.patch}: {f}" for c in checks for f in c.findings if f.startswith("ERROR"))
        raise UserError(f"checkpatch.pl --strict found {errors} error(s); the series is not written:\n{found}",
                        "Fix the templates or the variant, or pass --force to write it anyway.")
    final = settings.patches_dir / study.name / "series" / f"{base.slug}-{req.variant}-v{req.version}"
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(outdir), final)
    return SeriesOutcome(outdir=final, files=[final / f.name for f in files], commits=made, branch="",
                         checkpatch=checks, builds=builds, final_diff="", fixes=[], notes=[],
                         run_id=letter.run.id if letter.run else None, boot=boot)


def boot_and_compare(kt: KernelTree, wt: Worktree, study: Study, settings: Settings, runner: Runner, base: Base,
                     tip: str, variant: str, run: Run | None, say: Say) -> str:
    """Build and boot the series' final tree (a run of its own); compare its cases with the variant's cell."""
    executor = executor_for(settings, runner)
    chosen = setup.tests(kt, base, tuple(run.tests) if run else None, study, settings, say)
    configs = setup.configs(settings, (settings.configs[0],), study, executor, chosen.config)
    record = setup.new_run(RunKind.SERIES, kt, base, study.name, chosen.names,
                           f"invoke series --base {base.name} --variant {variant} --boot", [configs[0].name], settings,
                           variants=[f"series-{variant}"])
    with runs.opened(settings, runner, record, base) as boot_run:
        ready = setup.prepared(kt, wt, configs, chosen, executor, settings, runner, boot_run.dir, say)
        change = kt.clone.out("rev-parse", f"{tip}^{{tree}}")
        spec = CellSpec(base=base, variant=f"series-{variant}", commit=tip, change=change, config=configs[0].name)
        cell = setup.drive(ready, executor, [spec], settings, runner,
                           setup.Reporting(LineView(say), record=lambda c: runs.record(boot_run, c)))[0]
    ref_cell = run.cell(variant) if run else None
    if ref_cell is None or run is None:
        return f"final tree booted: {cell.status.value} ({len(cell.cases)} cases); no matrix cell to compare with"
    ref = {c.key: c.status for c in ref_cell.cases}
    got = {c.key: c.status for c in cell.cases}
    diff = [k for k in ref.keys() | got.keys() if ref.get(k) != got.get(k)]
    if not diff:
        return (f"final tree booted: {cell.status.value}; its {len(got)} cases give the same results as "
                f"{variant}'s cell in run {run.id}")
    return f"final tree booted: {len(diff)} case(s) differ from run {run.id}: " + "; ".join(sorted(diff)[:5])


def summary(out: SeriesOutcome) -> str:
    """What `invoke series` prints: the files, the per-patch builds, checkpatch, the final diff, notes."""
    lines = [f"series in {out.outdir} (branch {out.branch} of the workbench's clone):"]
    lines += [f"  {f.name}" for f in out.files]
    lines += [f"  builds on its own (make mm/, {seconds:.0f}s): {subject}" for subject, seconds in out.builds]
    for ch in out.checkpatch:
        lines.append(f"  checkpatch --strict {ch.patch}: {ch.errors} errors, {ch.warnings} warnings, {ch.checks} checks")
        lines += [f"      {finding}" for finding in ch.findings]
    lines.append("  final tree vs the tested variant (only the helper's place differs):")
    lines += [f"      {line}" for line in out.final_diff.splitlines()]
    lines += [f"  {line}" for line in out.fixes]
    lines += [f"  note: {note}" for note in out.notes + ([out.boot] if out.boot else [])]
    lines.append(f"  cover letter table: {'run ' + out.run_id if out.run_id else 'no matrix run yet'}")
    return "\n".join(lines)
