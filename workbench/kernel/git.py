"""Git, run through the logged runner.

Reads (rev-parse, show, ls-tree, grep) run quietly but are still logged;
writes (clone, fetch, commit-tree, update-ref, worktree) are echoed.
Scratch commands never sign, never run hooks, and never need the user's
identity: `SCRATCH_IDENTITY` is used when the git config has none.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..proc import Completed, Runner

SCRATCH_IDENTITY = ("Kernel Patch Workbench", "workbench@localhost")
_SAFE = {"commit.gpgsign": "false", "tag.gpgsign": "false", "core.hooksPath": "/dev/null",
         "submodule.recurse": "false", "advice.detachedHead": "false", "gc.auto": "0",
         "maintenance.auto": "false"}
# Passed as GIT_CONFIG_* variables (git >= 2.31) so the echoed commands stay readable.
SAFE_ENV = {"GIT_CONFIG_COUNT": str(len(_SAFE)),
            **{f"GIT_CONFIG_KEY_{i}": k for i, k in enumerate(_SAFE)},
            **{f"GIT_CONFIG_VALUE_{i}": v for i, v in enumerate(_SAFE.values())}}


@dataclass
class Git:
    """One repository (`git -C path`)."""

    path: Path
    runner: Runner

    def run(self, *args: str, env: dict[str, str] | None = None, input: str | None = None,
            check: bool = True, quiet: bool = False) -> Completed:
        return self.runner.run(["git", "-C", str(self.path), *args], env={**SAFE_ENV, **(env or {})},
                               input=input, check=check, quiet=quiet)

    def out(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        """A read: quiet, logged, stdout stripped of its final newline."""
        return self.run(*args, input=input, env=env, quiet=True).output.rstrip("\n")

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False, quiet=True).returncode == 0

    def rev(self, rev: str) -> str | None:
        """The commit id `rev` names, or None."""
        done = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False, quiet=True)
        return done.output.strip() if done.returncode == 0 else None

    def has_history(self, commit: str) -> bool:
        """Whether `commit` has a parent (a Debian import is one orphan commit per version: none)."""
        return self.ok("rev-parse", "--verify", "--quiet", f"{commit}^")

    def show(self, commit: str, path: str) -> str | None:
        done = self.run("show", f"{commit}:{path}", check=False, quiet=True)
        return done.output if done.returncode == 0 else None

    def exists(self, commit: str, path: str) -> bool:
        return self.ok("cat-file", "-e", f"{commit}:{path}")


def identity(runner: Runner) -> tuple[str, str, bool]:
    """(name, email, from_config): the user's git identity, or the scratch one."""
    values = []
    for key in ("user.name", "user.email"):
        done = runner.run(["git", "config", "--get", key], check=False, quiet=True)
        values.append(done.output.strip() if done.returncode == 0 else "")
    if all(values):
        return values[0], values[1], True
    return SCRATCH_IDENTITY[0], SCRATCH_IDENTITY[1], False


def commit_env(name: str, email: str, date: str) -> dict[str, str]:
    """Environment for a deterministic commit: same inputs, same commit id."""
    return {
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date,
    }
