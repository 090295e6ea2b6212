"""Every command README.md shows, run as written on this machine's real trees (the kernel marker:
minutes, and most cells come from the cache). Commands that name a tree this machine does not
have (`~/src/linux`, tags v6.2/v6.4/v6.5 of a tree with history) must fail with the workbench's
own one-paragraph error that says what to do; the changes a user brings (`fix.patch`, a branch
`review-branch`) are made for the command that names them, from the study's own patches, and
removed after it; `clean` runs without its destructive flags (their
parsing is checked by test_readme.py); `./wb test --kernel` is this very suite and is not run.
After `invoke lab up` the lab's token goes into the variable the `--lab local` commands need;
`invoke lab down` is run last, and only when the lab was not up before the test. `invoke reply`
gets the saved thread the README names (`thread.mbx`: tests/data/mail's RFC and its review) and
the review's Message-ID for `ID`; `invoke shell` gets its commands on a pipe (what a script would
do) and must end with their exit code."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from test_readme import commands

from workbench.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.kernel
NO_TREE = ("~/src/linux", "--good v6.2", "--base v6.5")  # what this machine has no tree for
THREAD = Path(__file__).parent / "data" / "mail" / "rfc-folio-mapcount.mbox"
REVIEW = "<Z2rT4x8yQm1b@example.net>"
IN_THE_SHELL = "uname -r\ncow > /dev/null; echo cow said $?\ntest -e /sys/kernel/mm/transparent_hugepage/enabled\n"


def run(command: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    if argv[0] == "invoke":
        argv = [str(PROJECT_ROOT / ".venv" / "bin" / "invoke"), *argv[1:]]
    return subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False, timeout=3600,
                          input=stdin)


def cache_of(env: dict[str, str]) -> Path:
    return Path(env.get("INVOKE_WORKBENCH_CACHE") or Settings.from_mapping({}).cache).expanduser()


@contextmanager
def brought(env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """The changes the README's own-changes command names: fix.patch (the study's folio_mapcount
    patch, as a user would have it) in the project, and review-branch (page_mapcount's patch
    applied on v6.12) in the tree; both gone afterwards."""
    git, patches = ["git", "-C", str(cache_of(env) / "debian.git")], tmp_path / "patches" / "mapcount" / "v6.12"
    fix, scratch = PROJECT_ROOT / "fix.patch", tmp_path / "review"
    fix.write_text((patches / "folio_mapcount.patch").read_text())
    try:
        for argv in ([*git, "worktree", "add", "--detach", str(scratch), "v6.12"],
                     ["git", "-C", str(scratch), "-c", "user.name=R", "-c", "user.email=r@example.org", "am",
                      str(patches / "page_mapcount.patch")],
                     ["git", "-C", str(scratch), "branch", "review-branch"],
                     [*git, "worktree", "remove", "--force", str(scratch)]):
            subprocess.run(argv, check=True, capture_output=True)
        yield
    finally:
        fix.unlink()
        subprocess.run([*git, "branch", "-D", "review-branch"], capture_output=True, check=False)


@contextmanager
def thread() -> Iterator[None]:
    """The saved list thread `invoke reply --to thread.mbx` names, in the project; gone afterwards."""
    saved = PROJECT_ROOT / "thread.mbx"
    saved.write_bytes(THREAD.read_bytes())
    try:
        yield
    finally:
        saved.unlink()


def test_every_readme_command_runs_as_written(tmp_path):
    if not (PROJECT_ROOT / ".venv" / "bin" / "invoke").exists():
        pytest.skip("no project venv: run ./wb once")
    env = {**os.environ, "INVOKE_WORKBENCH_OUTPUTS": str(tmp_path), "NO_COLOR": "1"}
    lab_state = cache_of(env) / "lab"
    lab_was_up = "answers" in run("invoke lab status", env).stdout.splitlines()[0]
    ran: list[str] = []
    for command in commands():
        if command.startswith("./wb test --kernel") or command.startswith("invoke clean") and "--" in command:
            continue
        if command.startswith("invoke lab down"):
            continue  # last, below
        if "RUN_A" in command or "RUN " in command + " ":
            ids = sorted(p.parent.name for p in (tmp_path / "results").glob("*/run.json")
                         if json.loads((p.parent / "run.json").read_text())["kind"] == "matrix")
            command = command.replace("RUN_A", ids[0]).replace("RUN_B", ids[-1]).replace("--run RUN", f"--run {ids[-1]}")
        command = command.replace("--msgid ID", f"--msgid {REVIEW}")
        with brought(env, tmp_path) if "fix.patch" in command else thread() if "thread.mbx" in command else nullcontext():
            done = run(command.replace("--help TASK", "--help matrix"), env, IN_THE_SHELL)
        ran.append(command)
        said = done.stdout + done.stderr
        assert "Traceback" not in said, f"{command}:\n{said[-3000:]}"
        if any(part in command for part in NO_TREE):
            assert done.returncode == 2 and re.search(r"^error: ", done.stderr, re.MULTILINE), f"{command}:\n{said[-2000:]}"
            continue
        assert done.returncode == 0, f"{command} exited {done.returncode}:\n{said[-3000:]}"
        if command.startswith("invoke shell"):
            assert "cow said 0" in done.stdout and re.search(r"^\d+\.\d+\.\d+", done.stdout, re.MULTILINE), said[-2000:]
            failed = run(command, env, "true\nexit 5\n")
            assert failed.returncode == 5, f"{command} with `exit 5` piped exited {failed.returncode}"
        if command == "invoke lab up":
            env["WORKBENCH_LAVA_TOKEN"] = (lab_state / "token").read_text().strip()
    if not lab_was_up:
        assert run("invoke lab down", env).returncode == 0
    assert len(ran) >= 15
    assert (PROJECT_ROOT / "r.html").exists()
    (PROJECT_ROOT / "r.html").unlink()
