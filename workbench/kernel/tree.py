"""The kernel tree: the user's repository, the workbench's clone of it, bases and worktrees.

The user's repository is only ever read. Everything that writes (branches,
worktrees, bisect state) happens in a clone in the cache made with
`git clone --shared --no-checkout`: objects are shared through alternates, so
nothing is copied, and the user's refs, worktree list and checkout never change.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import Busy, UserError
from ..proc import Runner
from ..settings import Settings
from .git import Git

# Paths every Linux tree has had for decades; a repository lacking them is not a kernel.
KERNEL_MARKERS = ("Makefile", "Kconfig", "init/main.c", "include/linux/kernel.h", "mm/Makefile")


def debian_repo(settings: Settings) -> Path:
    """The cache repository holding Debian source imports, one orphan commit each."""
    return settings.cache / "debian.git"


@dataclass(frozen=True)
class Base:
    """A resolved base: what the user typed, and the commit it names."""

    name: str
    commit: str

    @property
    def slug(self) -> str:
        return slug(self.name)


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "base"


@dataclass
class KernelTree:
    """The user's tree (`source`) and the workbench's clone of it (`clone`)."""

    source: Path
    clone: Git
    settings: Settings
    runner: Runner

    @classmethod
    def open(cls, settings: Settings, runner: Runner, tree: Path | None = None) -> KernelTree:
        """Check `tree` (or the configured default) and make or refresh the cache clone."""
        source = tree or settings.tree
        if source is None:
            source = debian_repo(settings)
            if not source.exists():
                raise UserError(
                    "no kernel tree given, and no Debian import in the cache yet",
                    "Pass --tree PATH (a Linux git repository), set `workbench.tree` in invoke.yaml, "
                    "or run `invoke tree --debian 6.12` to import Debian's kernel source.")
        source = Path(source).expanduser().resolve()
        check_kernel_repo(source, runner)
        clone_dir = settings.cache / "clones" / f"{slug(source.name)}-{_path_id(source)}"
        kt = cls(source=source, clone=Git(clone_dir, runner), settings=settings, runner=runner)
        kt._sync()
        return kt

    def _sync(self) -> None:
        path = self.clone.path
        if not (path / "HEAD").exists() and not (path / ".git").exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.runner.run(["git", "clone", "--quiet", "--shared", "--no-checkout",
                             str(self.source), str(path)])
        # Refresh what the user's repository has now (tags and branches); objects stay shared.
        # A fetch costs a second on a big tree: skip it while the user's refs are what they were.
        refs = Git(self.source, self.runner).out("for-each-ref", "--format=%(objectname) %(refname)",
                                                 "refs/heads", "refs/tags")
        stamp = path / "workbench-source-refs"
        fingerprint = hashlib.sha256(refs.encode()).hexdigest()
        if stamp.exists() and stamp.read_text().strip() == fingerprint:
            return
        self.clone.run("fetch", "--quiet", "--force", "--tags", "--prune", "origin",
                       "+refs/heads/*:refs/remotes/origin/*", quiet=True)
        stamp.write_text(fingerprint + "\n")

    def resolve(self, name: str) -> Base:
        """The commit `name` (tag, branch, or commit id) names in the user's tree."""
        for candidate in (name, f"origin/{name}", f"refs/tags/{name}"):
            commit = self.clone.rev(candidate)
            if commit:
                return Base(name=name, commit=commit)
        near = self._tags_like(name)
        listing = ", ".join(near) if near else "none"
        raise UserError(
            f"unknown tag or ref {name!r} in {self.source}",
            f"Tags there that look close: {listing}. Use a tag, branch or commit id of that tree"
            + ("; for a Debian tree, `invoke tree --debian X.Y` imports another version."
               if self.source == debian_repo(self.settings) else "."))

    def uncommitted(self, commit: str) -> list[str]:
        """The files your checkout changed and did not commit, when `commit` is its HEAD (they are not
        in what the workbench builds); read without writing anything there (`git diff`, not status)."""
        user = Git(self.source, self.runner)
        if user.out("rev-parse", "--is-bare-repository") != "false" or user.rev("HEAD") != commit:
            return []
        return user.out("diff", "--no-ext-diff", "--name-only", "HEAD", "--").split()

    def _tags_like(self, name: str) -> list[str]:
        """Tags of the tree that look close to `name` (for an error message)."""
        tags = self.clone.out("tag", "--list").split()
        stem = re.sub(r"[.\d]+$", "", name) or name[:2]
        close = [t for t in tags if t.startswith(stem)] or tags
        return sorted(close, key=_version_key)[-8:]

    def kernelversion(self, commit: str) -> str:
        """`make kernelversion`, read from the Makefile at `commit` (no checkout needed)."""
        return kernelversion_of(self.clone.show(commit, "Makefile") or "")

    @property
    def id(self) -> str:
        return self.clone.path.name

    def base_dir(self, base: Base) -> Path:
        return self.settings.cache / "work" / self.id / base.slug

    @contextmanager
    def worktree(self, base: Base, purpose: str = "build") -> Iterator[Worktree]:
        """The per-base worktree and build directory, locked against other runs."""
        root = self.base_dir(base)
        root.mkdir(parents=True, exist_ok=True)
        with hold_lock(root / "lock", purpose):
            wt = Worktree(root=root, git=Git(root / "src", self.runner), base=base)
            self._ensure_worktree(wt)
            yield wt

    def _ensure_worktree(self, wt: Worktree) -> None:
        src = wt.root / "src"
        if (src / ".git").exists() and wt.git.ok("rev-parse", "--git-dir"):
            return
        # A worktree wiped by hand leaves a stale entry in the clone: prune it, then add again.
        self.clone.run("worktree", "prune", quiet=True)
        if src.exists():
            self.runner.run(["rm", "-rf", str(src)])
        self.clone.run("worktree", "add", "--detach", "--force", str(src), wt.base.commit)


@dataclass
class Worktree:
    """A base's folder: the checked-out sources (`src/`), the test binaries built against them
    (`tests/`) and one `O=` build directory per config (`builds/<config>-<hash>/`)."""

    root: Path
    git: Git
    base: Base

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def tests(self) -> Path:
        return self.root / "tests"

    def build_dir(self, slug: str) -> Path:
        return self.root / "builds" / slug

    def checkout(self, commit: str) -> None:
        """Switch the sources to `commit`; git rewrites only the files that differ, so make
        rebuilds only what changed."""
        if self.git.out("rev-parse", "HEAD") == commit and not self.git.out("status", "--porcelain",
                                                                               "--untracked-files=no"):
            return
        self.git.run("checkout", "--quiet", "--force", "--detach", commit)


@contextmanager
def hold_lock(path: Path, purpose: str) -> Iterator[None]:
    """An exclusive flock; the kernel drops it when the holder dies, so a crash never wedges it."""
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise Busy(f"{path.parent} is in use by {holder}",
                       "Wait for that run to finish (or stop it), then try again.") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"workbench pid {os.getpid()} ({purpose})\n")
        fh.flush()
        yield


def check_kernel_repo(path: Path, runner: Runner) -> None:
    """A clear error unless `path` is a git repository holding a Linux tree."""
    if not path.exists():
        raise UserError(f"{path} does not exist", "Pass --tree with the path of your kernel git tree.")
    git = Git(path, runner)
    if not git.ok("rev-parse", "--git-dir"):
        raise UserError(f"{path} is not a git repository",
                        "The workbench needs a kernel git tree (`git clone` of Linux); "
                        "without one, `invoke tree --debian 6.12` imports Debian's source.")
    head = git.rev("HEAD")
    if head is None:
        raise UserError(f"{path} is a git repository without any commit",
                        "Point --tree at a Linux git tree with history or tags.")
    listing = git.run("ls-tree", "--name-only", "-r", head, "--", *KERNEL_MARKERS, check=False, quiet=True)
    present = set(listing.output.split())
    missing = [m for m in KERNEL_MARKERS if m not in present]
    if missing:
        raise UserError(f"{path} does not hold a Linux kernel tree (its HEAD lacks {', '.join(missing)})",
                        "Pass --tree with the path of a Linux git tree.")


def kernelversion_of(makefile: str) -> str:
    fields = {}
    for key in ("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"):
        m = re.search(rf"^{key}\s*=[ \t]*(\S*)", makefile, re.MULTILINE)
        fields[key] = m.group(1) if m else ""
    if not fields["VERSION"]:
        return "unknown"
    version = fields["VERSION"]
    if fields["PATCHLEVEL"]:
        version += f".{fields['PATCHLEVEL']}"
        if fields["SUBLEVEL"]:
            version += f".{fields['SUBLEVEL']}"
    return version + fields["EXTRAVERSION"]


def _path_id(path: Path) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:10]


def _version_key(tag: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(n), "") if n.isdigit() else (-1, n) for n in re.split(r"(\d+)", tag))
