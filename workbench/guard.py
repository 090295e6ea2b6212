"""`python workbench/guard.py CMD [ARG...]`: run CMD so that nothing it starts outlives the workbench.

The Runner starts the long commands (kernel builds, virtme-ng) through this guard, by path so
that it needs no import of the package, in a session of its
own and with PR_SET_PDEATHSIG=SIGTERM. A parent-death signal reaches only the direct child, and
virtme-ng, when it gets SIGTERM, exits without taking QEMU down with it; so the guard is that
direct child. When the workbench dies (even by SIGKILL), or when the Runner stops the group, the
guard signals its whole process group (the command, QEMU, compilers) with SIGTERM, gives them a
few seconds, and then kills what is left, itself included. Otherwise it only waits and passes
the command's exit code on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE = 5.0


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: guard.py CMD [ARG...]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv)  # same stdio, same process group

    def stop(signum, _frame) -> None:
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        _signal_group(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(signal.SIGKILL)  # QEMU may outlive virtme-ng; this ends the guard too

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, stop)
    rc = child.wait()
    return rc if rc >= 0 else 128 - rc


def _signal_group(sig: int) -> None:
    try:
        os.killpg(os.getpgrp(), sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
