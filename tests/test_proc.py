"""The Runner's process handling: exit codes through the guard, and nothing left behind when the
workbench is killed outright (what QEMU under virtme-ng needs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.errors import InfraError
from workbench.proc import Runner

ROOT = Path(__file__).resolve().parent.parent


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie is dead, only not yet reaped


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return _gone(pid)


def test_guard_passes_output_and_exit_code_on(tmp_path):
    done = Runner(echo=False).run(["sh", "-c", "echo hello; exit 3"], check=False, guard=True)
    assert done.returncode == 3 and done.output.strip() == "hello"


def test_guard_reports_a_missing_command_like_the_plain_runner():
    with pytest.raises(InfraError, match="no-such-tool-here is not installed"):
        Runner(echo=False).run(["no-such-tool-here", "--x"], guard=True)


@pytest.mark.parametrize("guard,survives", [(True, False), (False, True)])
def test_killing_the_workbench_takes_down_grandchildren_only_with_the_guard(tmp_path, guard, survives):
    """Like virtme-ng and QEMU: the direct child exits on SIGTERM and leaves its own child behind."""
    pidfile = tmp_path / "grandchild"
    script = f"sleep 1000 & echo $! > {pidfile}; wait"
    workbench = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.path.insert(0, sys.argv[1]); from workbench.proc import Runner; "
        f"Runner(echo=False).run(['sh', '-c', sys.argv[2]], guard={guard})"), str(ROOT), script])
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    try:
        workbench.send_signal(signal.SIGKILL)
        workbench.wait()
        assert _wait_gone(grandchild, 8 if guard else 2) is not survives
    finally:
        if not _gone(grandchild):
            os.kill(grandchild, signal.SIGKILL)
