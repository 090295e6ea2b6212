"""The commits of a series: a helper the base lacks at its home, then the call sites.

The final tree is the tested variant's except for where the helper lives. Commit messages come
from the study's templates; `Fixes:` only where the base contains the broken commit and not its
fix, checked in the tree's history (a tree without history is said so).
"""
from __future__ import annotations

import os
import re
import tempfile

from ..errors import UserError
from ..kernel.git import Git
from ..kernel.tree import Base
from ..study import csrc
from ..study.model import Study
from ..study.render import Ctx, UsedPrototype, environment, load_template, render_block


def message(subject: str, body: str, fixes: list[str], signoff: str) -> str:
    subject = " ".join(subject.split())
    body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    trailers = "\n".join([*fixes, signoff])
    return f"{subject}\n\n{body}\n\n{trailers}\n"


def commit(git: Git, parent: str, files: dict[str, str], text: str, env: dict[str, str]) -> str:
    """A commit on `parent` that sets `files` (path -> content), made with a scratch index."""
    with tempfile.TemporaryDirectory(prefix="wb-series-") as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git.run("read-tree", parent, env=index, quiet=True)
        for path, content in files.items():
            mode = (git.out("ls-tree", parent, "--", path).split() or ["100644"])[0]
            blob = git.out("hash-object", "-w", "--stdin", f"--path={path}", input=content)
            git.run("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index, quiet=True)
        tree = git.out("write-tree", env=index)
    return git.out("commit-tree", tree, "-p", parent, "-F", "-", input=text, env=env)


def helper_commits(git: Git, study: Study, base: Base, prototypes: list[UsedPrototype], ctx: Ctx, signoff: str,
                   env: dict[str, str]) -> list[str]:
    """One commit per helper, each moving it into its home header."""
    tmpl = load_template(environment(study), study.series["helper"])
    tip, commits = base.commit, []
    for proto in prototypes:
        header = git.show(tip, proto.home)
        if header is None:
            raise UserError(f"{proto.home} does not exist at {base.name}", "Fix the helper's `home` in study.toml.")
        hctx = {**ctx, "helper": proto}
        text = message(render_block(tmpl, "subject", hctx), render_block(tmpl, "body", hctx), [], signoff)
        tip = commit(git, tip, {proto.home: place_in_header(header, proto)}, text, env)
        commits.append(tip)
    return commits


def without_prototypes(text: str, prototypes: list[UsedPrototype]) -> str:
    """The variant's file without the prototypes the matrix put into it."""
    for proto in prototypes:
        text = text.replace(proto.text + "\n", "", 1).replace(proto.text, "", 1)
    return text


def fixes_for(git: Git, study: Study, variant: str, base: Base) -> tuple[list[str], str]:
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
        if any((x_full := git.rev(x)) and git.ok("merge-base", "--is-ancestor", x_full, base.commit)
               for x in f.fixed_by):
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
