"""`invoke tree --debian 6.12`: a kernel git tree for a machine that has none.

Debian's `linux-source-X.Y` package holds a tarball of a whole kernel tree.
Each import becomes an orphan commit in one cache repository
(`<cache>/debian.git`), tagged with the short version (`v6.12`), the exact
kernel version (`v6.12.117`) and the package version
(`debian/6.12.117-1_deb12u1`, the key that makes a second import a no-op).
Every file of the tarball is committed, also those the kernel's own
`.gitignore` rules would hide. The commits use the workbench's own identity
and the tarball's date, so the same package always gives the same commit id.
Which version there is, and from which suite, apt says from a private state
(`aptstate.py`): every suite of `aptstate.SUITES` on the host's own mirror.
"""
from __future__ import annotations

import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..proc import Runner
from ..settings import Settings
from .aptstate import AptState
from .git import SCRATCH_IDENTITY, Git, commit_env
from .tree import debian_repo, kernelversion_of

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Imported:
    series: str  # "6.12"
    package_version: str  # "6.12.117-1~deb12u1"
    kernelversion: str  # "6.12.117"
    commit: str
    tags: tuple[str, ...]
    already_there: bool


def package_tag(package_version: str) -> str:
    """A tag name for a Debian version (`~` and `:` are not allowed in ref names)."""
    return "debian/" + package_version.replace("~", "_").replace(":", "%")


def apt_state(settings: Settings, runner: Runner) -> AptState:
    return AptState(settings.cache / "apt", runner)


def import_debian(series: str, settings: Settings, runner: Runner, progress: Progress) -> Imported:
    if not re.fullmatch(r"\d+\.\d+", series):
        raise UserError(f"--debian wants a kernel series such as 7.3, 6.12 or 6.1 (or `list`), not {series!r}",
                        "Try `invoke tree --debian list`, then `invoke tree --debian 6.12`.")
    package = f"linux-source-{series}"
    version, suite = _candidate_version(series, settings, runner, progress)
    repo = Git(debian_repo(settings), runner)
    if not (repo.path / "HEAD").exists():
        repo.path.mkdir(parents=True, exist_ok=True)
        runner.run(["git", "init", "--quiet", "--bare", str(repo.path)])
    key = package_tag(version)
    commit = repo.rev(f"refs/tags/{key}")
    if commit:
        kver = kernelversion_of(repo.show(commit, "Makefile") or "")
        tags = _tag(repo, commit, series, kver, key)
        progress(f"{package} {version} is already imported as {commit[:12]} ({', '.join(tags)})")
        return Imported(series, version, kver, commit, tags, already_there=True)

    progress(f"{package} {version} from {suite}")
    deb = _download(package, version, settings.cache / "debs", apt_state(settings, runner), progress)
    scratch = settings.cache / "tmp" / f"import-{series}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    try:
        src, date = _unpack(deb, package, scratch, runner, progress)
        kver = kernelversion_of((src / "Makefile").read_text(errors="replace"))
        commit = _commit(repo, src, f"{package} {version}", date, runner, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tags = _tag(repo, commit, series, kver, key)
    progress(f"imported {package} {version} (Linux {kver}) as {commit[:12]}: tags {', '.join(tags)}")
    return Imported(series, version, kver, commit, tags, already_there=False)


def _candidate_version(series: str, settings: Settings, runner: Runner, progress: Progress) -> tuple[str, str]:
    """(the version apt would pick of linux-source-<series>, its suite), from the private lists."""
    state = apt_state(settings, runner)
    for problem in state.update():
        progress(f"apt: {problem}")
    offer = state.candidate(series)
    return offer.version, offer.suite


def listing(settings: Settings, runner: Runner, progress: Progress) -> str:
    """`invoke tree --debian list`: every linux-source series the suites have, and what is imported."""
    state = apt_state(settings, runner)
    for problem in state.update():
        progress(f"apt: {problem}")
    offers = state.offers()
    repo = Git(debian_repo(settings), runner)
    tags = repo.out("tag", "--list").split() if (repo.path / "HEAD").exists() else []
    picked = state.candidates(offers)
    lines = [f"linux-source packages in {', '.join(state.suites())} (apt state {state.root});",
             "the newest of each suite, * the one `--debian SERIES` imports:",
             f"  {'series':8}{'version':26}{'suite':20}imported as"]
    seen: set[tuple[str, str]] = set()
    for o in offers:
        if (o.series, o.suite) in seen:
            continue
        seen.add((o.series, o.suite))
        key = package_tag(o.version)
        names = [t for t in repo.out("tag", "--points-at", key).split() if t != key] if key in tags else []
        mark = "*" if picked.get(o.series) == o.version else " "
        lines.append(f"  {o.series:8}{mark}{o.version:25}{o.suite:20}{', '.join(names)}".rstrip())
    if not offers:
        lines.append("  (none)")
    return "\n".join(lines)


def _download(package: str, version: str, debs: Path, state: AptState, progress: Progress) -> Path:
    debs.mkdir(parents=True, exist_ok=True)
    name = f"{package}_{version.split(':')[-1]}_all.deb"
    deb = debs / name
    if deb.exists():
        progress(f"using {deb}")
        return deb
    progress(f"downloading {package}={version} (about 150 MB)")
    state.download(package.removeprefix("linux-source-"), version, debs)
    if not deb.exists():
        found = sorted(debs.glob(f"{package}_*.deb"))
        raise UserError(f"apt-get download did not leave {name} in {debs} (found: {[f.name for f in found]})",
                        "Check `invoke tree --debian list` and try again.")
    return deb


def _unpack(deb: Path, package: str, scratch: Path, runner: Runner, progress: Progress) -> tuple[Path, str]:
    progress(f"unpacking {deb.name}")
    runner.run(["dpkg-deb", "-x", str(deb), str(scratch / "deb")])
    tarballs = sorted((scratch / "deb" / "usr" / "src").glob(f"{package}.tar.*"))
    if not tarballs:
        raise UserError(f"{deb.name} holds no usr/src/{package}.tar.*", "Is this really a linux-source package?")
    tarball = tarballs[0]
    with tarfile.open(tarball) as tf:  # only the first member: the top directory and its date
        first = tf.next()
        top, date = (first.name.split("/")[0], int(first.mtime)) if first else (package, 0)
    count = [0]

    def tick(_line: str) -> None:
        count[0] += 1
        if count[0] % 10000 == 0:
            progress(f"  extracted {count[0]} files")

    progress(f"extracting {tarball.name} (about 90,000 files)")
    runner.run(["tar", "-x", "-v", "-f", str(tarball), "-C", str(scratch)], on_line=tick, keep_output=False)
    shutil.rmtree(scratch / "deb")
    src = scratch / top
    if not (src / "Makefile").exists() or not (src / "mm").is_dir():
        raise UserError(f"{tarball.name} does not unpack to a kernel tree (no {top}/Makefile, {top}/mm)",
                        "Is this really a linux-source package?")
    return src, f"{date} +0000"


def _commit(repo: Git, src: Path, what: str, date: str, runner: Runner, progress: Progress) -> str:
    count = [0]

    def tick(_line: str) -> None:
        count[0] += 1
        if count[0] % 10000 == 0:
            progress(f"  added {count[0]} files to git")

    index = src.parent / "import.index"
    env = {"GIT_INDEX_FILE": str(index)}
    progress("adding every file to git, ignored ones included (a few minutes)")
    base = ["git", "-c", "core.autocrlf=false", "--git-dir", str(repo.path), "--work-tree", str(src)]
    runner.run([*base, "add", "--all", "--force", "--verbose", "."], env=env, on_line=tick, keep_output=False)
    tree = runner.run([*base, "write-tree"], env=env, quiet=True).output.strip()
    progress(f"  {count[0]} files in tree {tree[:12]}")
    name, email = SCRATCH_IDENTITY
    message = f"Import Debian {what}\n\nAll files of the package's source tarball, committed as they are.\n"
    return repo.out("commit-tree", tree, "-m", message, env=commit_env(name, email, date))


def _tag(repo: Git, commit: str, series: str, kver: str, key: str) -> tuple[str, ...]:
    tags = (f"v{series}", f"v{kver}", key)
    for tag in tags:
        repo.run("update-ref", f"refs/tags/{tag}", commit, quiet=True)
    # HEAD names the newest import, so the repository reads like any kernel tree.
    repo.run("update-ref", f"refs/heads/linux-{series}", commit, quiet=True)
    repo.run("symbolic-ref", "HEAD", f"refs/heads/linux-{series}", quiet=True)
    return tags
