"""`python workbench/guard.py [--rc-file PATH] CMD [ARG...]`: run CMD so that nothing it starts
outlives the workbench.

The Runner starts the long commands (kernel builds, compilers, virtme-ng) through this guard, by
path so that it needs no import of the package, in a session of its own. The guard asks the
kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG, set here rather than in a
`preexec_fn`, which is unsafe when the workbench has threads) and then checks that its parent
is still the one that started it, so a parent that died in between is noticed too. A
parent-death signal reaches only the direct child, and virtme-ng, when it gets SIGTERM, exits
without taking QEMU down with it; so the guard is that direct child. When the workbench dies
(even by SIGKILL), or when the Runner stops the group, the guard signals its whole process group
(the command, QEMU, compilers) with SIGTERM, gives them a few seconds, and then kills what is
left, itself included. Otherwise it waits and passes the command's exit code on; with
`--rc-file` it also writes "<exit code> <seconds>" there, so that a process that did not start
the command (a later `collect`) can tell how it ended.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from types import FrameType

GRACE = 5.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    rc_file = None
    if argv[:1] == ["--rc-file"] and len(argv) > 1:
        rc_file, argv = argv[1], argv[2:]
    if not argv:
        print("usage: guard.py [--rc-file PATH] CMD [ARG...]", file=sys.stderr)
        return 2
    start = time.monotonic()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        _signal_group(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while child is not None and _running(child.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(signal.SIGKILL)  # QEMU may outlive virtme-ng; this ends the guard too

    child: subprocess.Popen[bytes] | None = None
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)
    _die_with_parent(int(os.environ.get("WORKBENCH_GUARD_PARENT", os.getppid())))
    child = subprocess.Popen(argv)  # same stdio, same process group
    rc = child.wait()
    rc = rc if rc >= 0 else 128 - rc
    if rc_file:
        tmp = f"{rc_file}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{rc} {time.monotonic() - start:.1f}\n")
        os.replace(tmp, rc_file)
    return rc


def _running(pid: int) -> bool:
    """Whether the command still runs. Not `Popen.poll()`: the handler may interrupt `wait()`,
    which holds the lock poll() needs, and poll() would then always answer "running"."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False  # already reaped
    return done == 0


def _signal_group(sig: int) -> None:
    try:
        os.killpg(os.getpgrp(), sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
