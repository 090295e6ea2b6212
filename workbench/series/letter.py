"""Writing the series: `git format-patch --cover-letter --base=...` into a scratch folder, To and
Cc from get_maintainer.pl, the cover letter from the study's template (with the plain-text matrix
of the run it names), checkpatch on every patch; and `b4 prep` when asked."""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..kernel.tree import Base, KernelTree, Worktree
from ..proc import Runner
from ..records import BASE, Run
from ..report import render, render_extra
from ..study.model import Accuracy, Study
from ..study.render import Ctx, UsedPrototype, environment, load_template, render_block
from .checks import Checkpatch, checkpatch, maintainers


@dataclass(frozen=True)
class Letter:
    """What the cover letter says besides the patches."""

    study: Study
    ctx: Ctx
    run: Run | None
    prototypes: list[UsedPrototype]
    templates: Path


def write_series(kt: KernelTree, wt: Worktree, base: Base, tip: str, fmt_flags: list[str], letter: Letter,
                 scratch_root: Path, runner: Runner) -> tuple[Path, list[Path], list[Checkpatch]]:
    """format-patch with a cover letter into a scratch folder, To/Cc from get_maintainer.pl, the cover
    letter filled in, then checkpatch.pl --strict on every patch."""
    outdir = Path(tempfile.mkdtemp(prefix=".series-", dir=scratch_root))
    fmt = ["format-patch", "--cover-letter", f"--base={base.commit}", "-o", str(outdir), "--no-signature",
           *fmt_flags, f"{base.commit}..{tip}"]
    kt.clone.run(*fmt, quiet=True)
    files = sorted(outdir.glob("*.patch"))
    to, cc = maintainers(wt.src, [f for f in files if "0000-cover-letter" not in f.name], runner)
    if to or cc:
        for f in files:
            f.unlink()
        kt.clone.run(*fmt[:-1], *[f"--to={t}" for t in to], *[f"--cc={c}" for c in cc], fmt[-1], quiet=True)
        files = sorted(outdir.glob("*.patch"))
    cover = next(f for f in files if "0000-cover-letter" in f.name)
    cover.write_text(fill_cover(cover.read_text(), letter, kt, base, tip))
    history = kt.clone.has_history(base.commit)
    checks = [checkpatch(wt.src, f, runner, history) for f in files if f != cover]
    return outdir, files, checks


def fill_cover(text: str, letter: Letter, kt: KernelTree, base: Base, tip: str) -> str:
    tmpl = load_template(environment(letter.study), letter.study.series["cover"])
    subjects = kt.clone.out("log", "--reverse", "--format=%s", f"{base.commit}..{tip}").splitlines()
    run = letter.run
    variants = [{"name": BASE, "state": "unchanged"}]
    for v in letter.study.variants:
        state = []
        if run and v.name in run.same_as_base:
            state.append("same as base here")
        if run and v.name in run.approximate:
            state.append("approximate prototype")
        if v.name == letter.ctx["variant"]:
            state.append("this series")
        variants.append({"name": v.name, "state": ", ".join(state)})
    cctx = {**letter.ctx, "subject": subjects[-1], "variants": variants, "run_id": run.id if run else "",
            "table": render(run, "text", letter.templates) if run else "",
            "probe_table": render_extra(run, "text", letter.templates) if run else "",
            "approximate": [p for p in letter.prototypes if p.accuracy is Accuracy.APPROXIMATE], "patches": subjects}
    subject = " ".join(render_block(tmpl, "subject", cctx).split())
    body = re.sub(r"\n{3,}", "\n\n", render_block(tmpl, "body", cctx)).strip("\n")
    return text.replace("*** SUBJECT HERE ***", subject).replace("*** BLURB HERE ***", body)


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
    last = done.output.strip().splitlines()[-1] if done.output.strip() else str(done.returncode)
    return f"--b4: b4 prep failed: {last}"
