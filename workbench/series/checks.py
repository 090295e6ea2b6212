"""What a series must pass before it is written: every patch compiles on its own (`make mm/` in a
build directory of the series' own), checkpatch.pl --strict, and get_maintainer.pl for To/Cc."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BuildFailed
from ..kernel import kbuild
from ..kernel.git import Git
from ..kernel.kbuild import Config, Make
from ..proc import Runner

_TOTAL = re.compile(r"total: (\d+) errors?, (\d+) warnings?, (?:(\d+) checks?, )?(\d+) lines checked")


@dataclass
class Checkpatch:
    patch: str
    errors: int
    warnings: int
    checks: int
    findings: list[str] = field(default_factory=list)


def build_each(git: Git, make: Make, config: Config, commits: list[str]) -> list[tuple[str, float]]:
    """Compile `mm/` at every patch of the series, so that each one builds on its own."""
    kbuild.configure(make, config)
    builds = []
    for commit in commits:
        make.wt.checkout(commit)
        done = make.run("mm/")
        subject = git.out("show", "-s", "--format=%s", commit)
        if not done.ok:
            raise BuildFailed(f"patch {subject!r} on its own", kbuild.first_errors_in(done.output))
        builds.append((subject, done.seconds))
    return builds


def maintainers(src: Path, patches: list[Path], runner: Runner) -> tuple[list[str], list[str]]:
    script = src / "scripts" / "get_maintainer.pl"
    if not script.exists() or not patches:
        return [], []
    done = runner.run(["perl", str(script), "--no-rolestats", "--no-git", "--no-git-fallback",
                       *map(str, patches)], cwd=src, check=False, quiet=True)
    to: list[str] = []
    cc: list[str] = []
    for line in done.output.splitlines():
        line = line.strip()
        if "@" not in line or line.startswith(("WARNING", "Warning")):
            continue
        (cc if re.search(r"lists?\.|vger|kvack|linux-mm", line) else to).append(line)
    return to, cc


def checkpatch(src: Path, patch: Path, runner: Runner, history: bool = True) -> Checkpatch:
    """checkpatch.pl --strict on one patch, in the tree. In a tree with no history (a Debian import)
    checkpatch's git look-ups can only say "unknown" (and then skip the form of a cited commit), so
    UNKNOWN_COMMIT_ID is left out there, and the form, `commit <id> ("<title>")` (GIT_COMMIT_ID), is
    checked in a second pass the way checkpatch checks it outside git."""
    found = _checkpatch(src, patch, runner, [] if history else ["--ignore", "UNKNOWN_COMMIT_ID"])
    if history:
        return found
    form = _checkpatch(src, patch, runner, ["--types", "GIT_COMMIT_ID"], {"GIT_DIR": str(src / ".no-history")})
    return Checkpatch(patch.name, found.errors + form.errors, found.warnings + form.warnings,
                      found.checks + form.checks, found.findings + form.findings)


def _checkpatch(src: Path, patch: Path, runner: Runner, flags: list[str], env: dict[str, str] | None = None
                ) -> Checkpatch:
    script = src / "scripts" / "checkpatch.pl"
    done = runner.run(["perl", str(script), "--strict", "--show-types", *flags, str(patch)], cwd=src, env=env,
                      check=False, quiet=True)
    findings = [line for line in done.output.splitlines() if re.match(r"(ERROR|WARNING|CHECK):", line)]
    m = _TOTAL.search(done.output)
    errors, warnings, checks = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (
        sum(f.startswith("ERROR") for f in findings), sum(f.startswith("WARNING") for f in findings),
        sum(f.startswith("CHECK") for f in findings))
    return Checkpatch(patch.name, errors, warnings, checks, findings)
