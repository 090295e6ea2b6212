"""`invoke series`: the winning variant as an RFC patch series kernel reviewers will accept.

- A helper the base lacks moves from the matrix patch's `.c` file to its real
  home (`include/linux/mm.h`, or what the study says) in a patch of its own;
  the call-site change follows. The final tree is the tested variant except for
  where the helper lives (shown by a diff).
- Commit messages come from templates; `Fixes:` only where the base contains the
  broken commit and not its fix, checked in the tree's history (a tree without
  history is said so).
- Every patch is compiled on its own (`make mm/`) in the base's build directory.
- `git format-patch --cover-letter --base=...` writes
  `patches/series/<base>-<variant>-vN/`; the cover letter, from a template, holds
  the plain-text matrix of the latest run at this base.
- `checkpatch.pl --strict` runs on every patch (errors refuse the series unless
  --force); `get_maintainer.pl` fills To and Cc.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import csrc, kbuild, report, results
from . import patches as wp
from . import study as ws
from .errors import BuildFailed, UserError
from .git import Git, commit_env, identity
from .proc import Runner
from .render import UsedPrototype, _block, _load, environment
from .settings import Settings
from .tree import Base, KernelTree

Say = Callable[[str], None]
_TOTAL = re.compile(r"total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?(\d+) lines checked")


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


@dataclass
class Checkpatch:
    patch: str
    errors: int
    warnings: int
    checks: int
    findings: list[str] = field(default_factory=list)


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


def series(req: SeriesRequest, settings: Settings, say: Say) -> SeriesOutcome:
    study = ws.load(settings.templates_dir, settings.study)
    study.variant(req.variant)  # a clear error for an unknown variant
    runner = Runner(out=say)
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    base = kt.resolve(req.base)
    ps = wp.commit_all(kt, study, wp.render_all(kt, study, base, [req.variant]), settings.patches_dir)
    vp = ps.get(req.variant)
    if vp.same_as_base:
        raise UserError(f"{req.variant} is the same as base at {req.base}: there is nothing to send",
                        "Pick a variant that changes the code at this base.")
    rendered = vp.rendered
    assert rendered is not None
    notes: list[str] = []
    if rendered.approximate:
        names = ", ".join(p.name for p in rendered.prototypes if p.accuracy == "approximate")
        if not req.force:
            raise UserError(f"{req.variant} at {req.base} relies on an approximate prototype ({names}); "
                            "a series would propose code that does not compute what its name says",
                            "Pass --force to make it anyway; the cover letter then says so plainly.")
        notes.append(f"approximate prototype ({names}): the cover letter and the helper patch say so")
    try:
        run = results.find_run(settings, None, base=req.base, kind="matrix")
    except UserError:
        run = None
        notes.append(f"no matrix run at {req.base} yet: the cover letter says so")
    name, email, from_config = identity(runner)
    if not from_config:
        notes.append("git has no user.name/user.email: signed off by the workbench identity")
    fixes, fix_note = fixes_for(kt.clone, study, req.variant, base)
    if fix_note:
        notes.append(fix_note)
    ctx = {"variant": req.variant, "base": base.name, "kernelversion": ps.kernelversion, "function": study.function,
           "file": study.file, "study": study.name, "where": f"series of {req.variant} at {base.name}"}
    env = environment(study)
    date = kt.clone.out("log", "-1", "--format=%cI", base.commit)
    cenv = commit_env(name, email, date)
    signoff = f"Signed-off-by: {name} <{email}>"
    git = kt.clone

    # the commits: helpers at home, then the call sites
    tip = base.commit
    commits: list[str] = []
    callsite_text = rendered.text
    for proto in rendered.prototypes:
        callsite_text = callsite_text.replace(proto.text + "\n", "", 1).replace(proto.text, "", 1)
        header = git.show(tip, proto.home)
        if header is None:
            raise UserError(f"{proto.home} does not exist at {base.name}", "Fix the helper's `home` in study.toml.")
        tmpl = _load(env, study.series["helper"])
        hctx = {**ctx, "helper": proto}
        message = _message(_block(tmpl, "subject", hctx), _block(tmpl, "body", hctx), [], signoff)
        tip = _commit(git, tip, {proto.home: place_in_header(header, proto)}, message, cenv)
        commits.append(tip)
    # the message as in a series: it says where the helper went, not that it sits in the .c file
    body = wp.render_all(kt, study, base, [req.variant], context={"series": True}).get(req.variant).rendered.body
    tip = _commit(git, tip, {study.file: callsite_text}, _message(rendered.subject, body, fixes, signoff), cenv)
    commits.append(tip)
    branch = f"workbench/series/{base.slug}-{req.variant}-v{req.version}"
    git.run("update-ref", f"refs/heads/{branch}", tip, quiet=True)
    final_diff = git.out("diff", "--stat=72", vp.commit, tip)

    # every patch builds on its own; optionally the final tree boots
    boot_note = ""
    # a worktree and build directory of its own: the helper in a header rebuilds most of the kernel,
    # which must not cost the base's build directory a full rebuild afterwards
    with kt.worktree(Base(name="series", commit=base.commit), "series") as wt:
        builds = build_each(git, wt, commits, settings, runner)
        if req.boot:
            boot_note = boot_and_compare(kt, wt, study, settings, runner, base, tip, req.variant, run, say)
        wt.checkout(base.commit)
        outdir, files, checks = write_series(kt, wt, study, base, tip, req, ctx, run, rendered.prototypes,
                                             settings, runner)
    errors = sum(c.errors for c in checks)
    if errors and not req.force:
        shutil.rmtree(outdir)
        found = "\n".join(f"  {c.patch}: {f}" for c in checks for f in c.findings if f.startswith("ERROR"))
        raise UserError(f"checkpatch.pl --strict found {errors} error(s); the series is not written:\n{found}",
                        "Fix the templates or the variant, or pass --force to write it anyway.")
    final = settings.patches_dir / "series" / f"{base.slug}-{req.variant}-v{req.version}"
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(outdir), final)
    files = [final / f.name for f in files]
    if req.b4:
        notes.append(b4_prep(kt, base, branch, runner))
    return SeriesOutcome(outdir=final, files=files, commits=commits, branch=branch, checkpatch=checks, builds=builds,
                         final_diff=final_diff, fixes=fixes, notes=notes, run_id=run.id if run else None,
                         boot=boot_note)


def build_each(git: Git, wt, commits: list[str], settings: Settings, runner: Runner) -> list[tuple[str, float]]:
    """Compile `mm/` at every patch of the series, so that each one builds on its own."""
    kbuild.configure(wt, settings, runner)
    builds = []
    for commit in commits:
        wt.checkout(commit)
        done = runner.run(kbuild.make_argv(wt, settings, "mm/"), check=False)
        subject = git.out("show", "-s", "--format=%s", commit)
        if not done.ok:
            raise BuildFailed(f"patch {subject!r} on its own", kbuild.first_errors_in(done.output))
        builds.append((subject, done.seconds))
    return builds


def fixes_for(git: Git, study: ws.Study, variant: str, base: Base) -> tuple[list[str], str]:
    """`Fixes:` lines the variant's patch may carry at this base, and a note when it cannot tell."""
    wanted = [f for f in study.fixes if variant in f.variants]
    if not wanted:
        return [], ""
    if not git.out("rev-list", "--max-count=2", base.commit).count("\n"):
        return [], (f"{base.name} has no history (one commit, e.g. a Debian import): whether it contains "
                    + ", ".join(f.commit for f in wanted) + " cannot be checked, so no Fixes: tag")
    lines = []
    for f in wanted:
        full = git.rev(f.commit)
        if not full or not git.ok("merge-base", "--is-ancestor", full, base.commit):
            continue
        if any(git.rev(x) and git.ok("merge-base", "--is-ancestor", git.rev(x), base.commit) for x in f.fixed_by):
            continue
        subject = git.out("show", "-s", "--format=%s", full)
        lines.append(f'Fixes: {full[:12]} ("{subject}")')
    return lines, ""


def place_in_header(header: str, proto: UsedPrototype) -> str:
    """Insert the helper after the last definition of what it needs in the header, else before the
    final #endif."""
    masked = csrc.mask(header)
    at = -1
    for name in proto.requires:
        func = csrc.find_function(masked, name)
        if func:
            at = max(at, func.body[1] + 1)
    if at < 0:
        at = header.rstrip().rfind("#endif")
        at = at if at >= 0 else len(header)
        return _between(header[:at], proto.text, header[at:])
    end = header.find("\n", at)
    end = len(header) if end < 0 else end + 1
    return _between(header[:end], proto.text, header[end:])


def _between(before: str, text: str, after: str) -> str:
    """`text` between two parts of a file, with exactly one blank line on each side (checkpatch)."""
    return before.rstrip("\n") + "\n\n" + text.strip("\n") + "\n\n" + after.lstrip("\n")


def _message(subject: str, body: str, fixes: list[str], signoff: str) -> str:
    subject = " ".join(subject.split())
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    trailers = "\n".join([*fixes, signoff])
    return f"{subject}\n\n{body}\n\n{trailers}\n"


def _commit(git: Git, parent: str, files: dict[str, str], message: str, env: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory(prefix="wb-series-") as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git.run("read-tree", parent, env=index, quiet=True)
        for path, text in files.items():
            mode = (git.out("ls-tree", parent, "--", path).split() or ["100644"])[0]
            blob = git.out("hash-object", "-w", "--stdin", f"--path={path}", input=text)
            git.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index, quiet=True)
        tree = git.out("write-tree", env=index)
    return git.out("commit-tree", tree, "-p", parent, "-F", "-", input=message, env=env)


def write_series(kt: KernelTree, wt, study: ws.Study, base: Base, tip: str, req: SeriesRequest, ctx: dict,
                 run, prototypes: list[UsedPrototype], settings: Settings, runner: Runner):
    """format-patch with a cover letter into a scratch folder, To/Cc from get_maintainer.pl, the cover
    letter from the study's template, then checkpatch.pl --strict on every patch."""
    outdir = Path(tempfile.mkdtemp(prefix=".series-", dir=settings.patches_dir))
    fmt = ["format-patch", "--cover-letter", f"--base={base.commit}", "-o", str(outdir), "--no-signature"] \
        + ([f"-v{req.version}"] if req.version > 1 else []) + (["--rfc"] if req.rfc else []) + [f"{base.commit}..{tip}"]
    kt.clone.run(*fmt, quiet=True)
    files = sorted(outdir.glob("*.patch"))
    to, cc = maintainers(wt.src, [f for f in files if "0000-cover-letter" not in f.name], runner)
    if to or cc:
        for f in files:
            f.unlink()
        kt.clone.run(*fmt[:-1], *[f"--to={t}" for t in to], *[f"--cc={c}" for c in cc], fmt[-1], quiet=True)
        files = sorted(outdir.glob("*.patch"))
    cover = next(f for f in files if "0000-cover-letter" in f.name)
    cover.write_text(fill_cover(cover.read_text(), study, ctx, run, prototypes, kt, base, tip))
    checks = [checkpatch(wt.src, f, runner) for f in files if f != cover]
    return outdir, files, checks


def fill_cover(text: str, study: ws.Study, ctx: dict, run, prototypes, kt: KernelTree, base: Base, tip: str) -> str:
    env = environment(study)
    tmpl = _load(env, study.series["cover"])
    subjects = kt.clone.out("log", "--reverse", "--format=%s", f"{base.commit}..{tip}").splitlines()
    variants = [{"name": "base", "state": "unchanged"}]
    for v in study.variants:
        state = []
        if run and v.name in run.same_as_base:
            state.append("same as base here")
        if run and v.name in run.approximate:
            state.append("approximate prototype")
        if v.name == ctx["variant"]:
            state.append("this series")
        variants.append({"name": v.name, "state": ", ".join(state)})
    cctx = {**ctx, "subject": subjects[-1], "variants": variants, "run_id": run.id if run else "",
            "table": report.render(run, "text") if run else "",
            "probe_table": report.render_extra(run, "text") if run else "",
            "approximate": [p for p in prototypes if p.accuracy == "approximate"], "patches": subjects}
    subject = " ".join(_block(tmpl, "subject", cctx).split())
    body = re.sub(r"\n{3,}", "\n\n", _block(tmpl, "body", cctx)).strip("\n")
    return text.replace("*** SUBJECT HERE ***", subject).replace("*** BLURB HERE ***", body)


def maintainers(src: Path, patches: list[Path], runner: Runner) -> tuple[list[str], list[str]]:
    script = src / "scripts" / "get_maintainer.pl"
    if not script.exists() or not patches:
        return [], []
    done = runner.run(["perl", str(script), "--no-rolestats", "--no-git", "--no-git-fallback",
                       *map(str, patches)], cwd=src, check=False, quiet=True)
    to, cc = [], []
    for line in done.output.splitlines():
        line = line.strip()
        if "@" not in line or line.startswith(("WARNING", "Warning")):
            continue
        (cc if re.search(r"lists?\.|vger|kvack|linux-mm", line) else to).append(line)
    return to, cc


def checkpatch(src: Path, patch: Path, runner: Runner) -> Checkpatch:
    script = src / "scripts" / "checkpatch.pl"
    done = runner.run(["perl", str(script), "--strict", "--show-types", str(patch)], cwd=src,
                      check=False, quiet=True)
    findings = [line for line in done.output.splitlines() if re.match(r"(ERROR|WARNING|CHECK):", line)]
    m = _TOTAL.search(done.output)
    errors, warnings, checks = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (
        sum(f.startswith("ERROR") for f in findings), sum(f.startswith("WARNING") for f in findings),
        sum(f.startswith("CHECK") for f in findings))
    return Checkpatch(patch.name, errors, warnings, checks, findings)


def boot_and_compare(kt, wt, study, settings, runner, base: Base, tip: str, variant: str, run, say: Say) -> str:
    """Build and boot the series' final tree; compare its cases with the variant's matrix cell."""
    from .cell import Bench, CellSpec
    bench = Bench(kt, wt, study, settings, runner, tuple(run.tests) if run else settings.tests, say)
    bench.prepare(settings.results_dir)
    change = kt.clone.out("rev-parse", f"{tip}^{{tree}}")
    cell = bench.run(CellSpec(base=base, variant=f"series-{variant}", commit=tip, change=change), settings.results_dir)
    if not run or not run.cell(variant):
        return f"final tree booted: {cell.status.value} ({len(cell.cases)} cases); no matrix cell to compare with"
    ref = {c.key: c.status for c in run.cell(variant).cases}
    got = {c.key: c.status for c in cell.cases}
    diff = [k for k in ref.keys() | got.keys() if ref.get(k) != got.get(k)]
    if not diff:
        return (f"final tree booted: {cell.status.value}; its {len(got)} cases give the same results as "
                f"{variant}'s cell in run {run.id}")
    return f"final tree booted: {len(diff)} case(s) differ from run {run.id}: " + "; ".join(sorted(diff)[:5])


def b4_prep(kt: KernelTree, base: Base, branch: str, runner: Runner) -> str:
    b4 = shutil.which("b4") or str(Path(sys.executable).parent / "b4")
    if not Path(b4).exists():
        return "--b4: b4 is not installed (pip install b4), no prep branch made"
    with kt.worktree(base, "b4") as wt:
        wt.git.run("checkout", "--quiet", "-B", f"b4/{branch.split('/')[-1]}", branch)
        done = runner.run([b4, "prep", "-e", base.commit], cwd=wt.src, check=False)
        wt.git.run("checkout", "--quiet", "--detach", base.commit)
    if done.ok:
        return f"--b4: prep branch b4/{branch.split('/')[-1]} in {kt.clone.path}"
    return f"--b4: b4 prep failed: {done.output.strip().splitlines()[-1] if done.output.strip() else done.returncode}"


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
