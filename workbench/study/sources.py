"""Changes the user brings, as columns beside the study's variants: `--variants NAME=SPEC`.

SPEC is a patch file or an mbox of a series (`git format-patch` output, what `b4 am` writes, or
a plain diff), or a branch, tag or commit of the tree (its change since its merge-base with the
base, replayed on the base). Everything is made with plumbing in the workbench's clone: each
mail is split (`git mailsplit`, `git mailinfo`), applied to a scratch index (`git apply
--cached`, `--3way` only where the tree holds the patch's preimage blobs), written as a tree and
committed (`git commit-tree`), so nothing is left half-applied; only a finished change gets its
branch `workbench/<study>/<base>/<NAME>`. The cell's identity is the resulting tree, so the same change
from two sources is one cell, and a change that leaves the tree as it is, is the base's.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..kernel.git import Git, commit_env, identity
from ..kernel.tree import Base, KernelTree

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_INDEX = re.compile(r"^index ([0-9a-f]{7,40})\.\.([0-9a-f]{7,40})", re.MULTILINE)
_FILE = re.compile(r"^diff --git a/(\S+) b/(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class Brought:
    """A change the user brought, committed on the base."""

    name: str
    commit: str
    tree: str
    source: str  # where it came from, for the report: "file 0001-x.patch (sha256 1a2b…)", "ref review at 1a2b…"
    same_as_base: bool
    notes: tuple[str, ...] = ()


def split_spec(value: str) -> tuple[str, str] | None:
    """'mine=~/p/0001-x.patch' -> ('mine', '~/p/0001-x.patch'); a plain variant name -> None."""
    if "=" not in value:
        return None
    name, spec = (part.strip() for part in value.split("=", 1))
    if not NAME.match(name) or not spec:
        raise UserError(f"--variants {value!r}: want NAME=SPEC with a NAME of letters, digits, '_', '.', '+' or '-'",
                        "e.g. --variants mine=~/patches/0001-fix.patch,theirs=review-branch")
    return name, spec


def bring(kt: KernelTree, base: Base, name: str, spec: str) -> Brought:
    """Commit the change SPEC names on `base` (a file, else a ref of the tree)."""
    path = Path(spec).expanduser().resolve()  # git runs in the clone: a relative path is the user's cwd's
    if path.is_file():
        return _from_file(kt, base, name, path)
    commit = kt.clone.rev(spec) or kt.clone.rev(f"origin/{spec}") or kt.clone.rev(f"refs/tags/{spec}")
    if commit:
        return _from_ref(kt, base, name, spec, commit)
    raise UserError(f"--variants {name}={spec}: no such file, and no branch, tag or commit {spec!r} in {kt.source}",
                    "Name a patch or mbox file, or a ref of your tree.")


def described(kind: str, path: Path) -> str:
    """Where a brought column came from, for the run: `file 0001-x.patch (sha256 1a2b…)`."""
    return f"{kind} {path.name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"


def _from_file(kt: KernelTree, base: Base, name: str, path: Path) -> Brought:
    source = described("file", path)
    git = kt.clone
    with tempfile.TemporaryDirectory(prefix="wb-mail-") as tmp:
        mails = _split(git, path, Path(tmp))
        if not mails:
            raise UserError(f"{path}: no patch in it", "Give a file `git format-patch` or `b4 am` wrote, or a diff.")
        tip, notes = base.commit, []
        for i, mail in enumerate(mails, 1):
            where = f"{path}" + (f", patch {i} of {len(mails)}" if len(mails) > 1 else "")
            message, patch, author = _mailinfo(git, mail, Path(tmp), path.stem)
            tree, note = _apply(kt, base, tip, patch, where)
            notes += [note] if note else []
            tip = _commit(kt, tree, tip, message, author)
    return _finish(kt, base, name, tip, source, notes)


def _from_ref(kt: KernelTree, base: Base, name: str, spec: str, commit: str) -> Brought:
    git = kt.clone
    merge_base = git.out("merge-base", base.commit, commit) if git.ok("merge-base", base.commit, commit) else ""
    if not merge_base:
        raise UserError(f"--variants {name}={spec}: {spec} has no history in common with {base.name}",
                        "Name a ref that grew from (an ancestor of) the base.")
    source = f"ref {spec} at {commit[:12]}"
    if merge_base == base.commit:
        return _finish(kt, base, name, commit, source, [])
    count = git.out("rev-list", "--count", f"{merge_base}..{commit}")
    note = (f"{name}: {spec}'s {count} commit(s) since {merge_base[:12]} (its merge-base with {base.name}, not "
            f"{base.name} itself) replayed on {base.name} as one change")
    patch = git.out("diff", "--binary", merge_base, commit) + "\n"
    tree, apply_note = _apply(kt, base, base.commit, patch, f"{spec} ({merge_base[:12]}..{commit[:12]})")
    message = f"{spec}: {count} commit(s) since {merge_base[:12]}, replayed on {base.name}\n"
    tip = _commit(kt, tree, base.commit, message, None)
    return _finish(kt, base, name, tip, source + f", merge-base {merge_base[:12]}",
                   [note] + ([apply_note] if apply_note else []))


def _finish(kt: KernelTree, base: Base, name: str, commit: str, source: str, notes: list[str]) -> Brought:
    tree = kt.clone.out("rev-parse", f"{commit}^{{tree}}")
    same = tree == kt.clone.out("rev-parse", f"{base.commit}^{{tree}}")
    if same:
        notes.append(f"{name}: the change leaves {base.name}'s tree as it is: same as base")
    return Brought(name, commit, tree, source, same, tuple(notes))


_UNIFIED = re.compile(r"^--- \S.*\n\+\+\+ \S.*\n@@ ", re.MULTILINE)  # `diff -u` output, without git's header


def _split(git: Git, path: Path, tmp: Path) -> list[Path]:
    """The mails of an mbox (or the whole file, when it is a plain diff)."""
    text = path.read_text(errors="replace")
    if not text.lstrip().startswith("From "):
        return [path] if "diff --git " in text or _UNIFIED.search(text) else []
    out = tmp / "mails"
    out.mkdir()
    done = git.run("mailsplit", f"-o{out}", str(path), check=False, quiet=True)
    if not done.ok:
        raise UserError(f"{path}: not an mbox git can split ({done.output.strip()})",
                        "Give a file `git format-patch` or `b4 am` wrote, or a plain diff.")
    return sorted(out.iterdir())


def _mailinfo(git: Git, mail: Path, tmp: Path, fallback: str) -> tuple[str, str, tuple[str, str, str] | None]:
    """(commit message, patch, (author name, email, date) or None) of one mail or diff."""
    text = mail.read_text(errors="replace")
    if not text.lstrip().startswith("From"):
        return f"{fallback}\n", text, None
    done = git.run("mailinfo", str(tmp / "msg"), str(tmp / "patch"), input=text, quiet=True)
    info = dict(line.split(": ", 1) for line in done.output.splitlines() if ": " in line)
    message = info.get("Subject", fallback) + "\n\n" + (tmp / "msg").read_text(errors="replace")
    author = (info["Author"], info["Email"], info.get("Date", "")) if "Author" in info and "Email" in info else None
    return message, (tmp / "patch").read_text(errors="replace"), author


def _apply(kt: KernelTree, base: Base, parent: str, patch: str, where: str) -> tuple[str, str]:
    """Apply `patch` on `parent` in a scratch index: (the new tree, a note); a patch that does not
    apply is refused with its hunk, the base, and a tag whose files are its preimage, if any."""
    git = kt.clone
    if not _FILE.search(patch) and not _UNIFIED.search(patch):
        raise UserError(f"{where}: holds no change (no `diff --git` or `---`/`+++`/`@@` lines)", "Give a patch git can apply.")
    with tempfile.TemporaryDirectory(prefix="wb-apply-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git.run("read-tree", parent, env=env, quiet=True)
        done = git.run("apply", "--cached", "-", input=patch, env=env, check=False, quiet=True)
        note = ""
        if not done.ok:
            blobs = [blob for _, blob in preimages(patch)]
            if blobs and all(git.ok("cat-file", "-e", blob) for blob in blobs):
                git.run("read-tree", parent, env=env, quiet=True)
                three = git.run("apply", "--cached", "--3way", "-", input=patch, env=env, check=False, quiet=True)
                if three.ok:
                    note = f"{where}: did not apply as it is at {base.name}; applied with --3way (its preimage is in the tree)"
                    done = three
                else:
                    note = "--3way was tried too (the tree holds the patch's preimage blobs) and failed"
            else:
                note = f"--3way not tried: the tree does not hold the patch's preimage blobs ({', '.join(blobs)})"
        if not done.ok:
            raise UserError(f"{where} does not apply at {base.name}:\n" + _hunks(done.output),
                            _suggest(kt, patch, base) + (f" ({note})" if note else ""))
        return git.out("write-tree", env=env), note


def _hunks(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("error:")]
    return "\n".join(f"  {line}" for line in lines[:6]) or output.strip()[:400]


def preimages(patch: str) -> list[tuple[str, str]]:
    """(path, abbreviated blob id) of every file the patch changes and does not create."""
    out = []
    for section in re.split(r"^(?=diff --git )", patch, flags=re.MULTILINE):
        file, index = _FILE.search(section), _INDEX.search(section)
        if file and index and set(index.group(1)) != {"0"}:
            out.append((file.group(1), index.group(1)))
    return out


def _suggest(kt: KernelTree, patch: str, base: Base) -> str:
    """A tag of the tree at which every file the patch changes is its preimage (found with one
    batch lookup over the tags, so in a few seconds even on a big tree); never the base it was given
    (there, the patch itself is damaged)."""
    files = preimages(patch)
    tags = kt.clone.out("tag", "--list", "--sort=-creatordate").split()[:400]
    if not files or not tags:
        return "Rebase the patch onto this base, or pick the base it was made for."
    query = "\n".join(f"{tag}:{path}" for tag in tags for path, _ in files) + "\n"
    done = kt.clone.run("cat-file", "--batch-check=%(objectname)", input=query, check=False, quiet=True)
    found = done.output.split("\n")
    hits = [tag for i, tag in enumerate(tags)
            if all(oid.startswith(blob) for oid, (_, blob) in zip(found[i * len(files):(i + 1) * len(files)], files))]
    if base.commit in {kt.clone.rev(t) for t in hits}:
        return (f"The files at {base.name} are the patch's preimage, yet it does not apply: the patch itself is "
                "damaged (a hunk edited by hand, lines wrapped by a mailer); make it again with git diff or "
                "git format-patch.")
    if not hits:
        return "No tag of the tree holds the patch's preimage; rebase the patch onto this base."
    best = min(hits, key=lambda t: (len(t), t))  # of tags on the same files, the plainest name
    return f"The patch was made against {best} (its files there are the patch's preimage): try --base {best}."


def _commit(kt: KernelTree, tree: str, parent: str, message: str, author: tuple[str, str, str] | None) -> str:
    git = kt.clone
    name, email, _ = identity(kt.runner)
    date = git.out("log", "-1", "--format=%cI", parent)
    env = commit_env(name, email, date)
    if author:
        env.update(GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1], GIT_AUTHOR_DATE=author[2] or date)
    return git.out("commit-tree", tree, "-p", parent, "-F", "-", input=message, env=env)
