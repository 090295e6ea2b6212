"""The local lab's daemons: each started in a session of its own (its pid is its process group),
its output in `<state>/<name>.out`, its pid in `<state>/<name>.pid`; stopping one ends exactly
that process group, never anything found by name."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..proc import Runner, Say, group_alive, stop_group

# Debian's own tools and Python first: a python3 shim on PATH (pyenv) has no Django, and
# lava-worker's lava-run and QEMU come from here.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
ORDER = ("gunicorn", "publisher", "scheduler", "worker")  # started in this order, stopped in reverse


@dataclass(frozen=True)
class Daemons:
    state: Path  # the lab's state folder
    runner: Runner
    say: Say

    def pid(self, name: str) -> int | None:
        try:
            return int((self.state / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self, name: str) -> bool:
        pid = self.pid(name)
        return pid is not None and group_alive(pid)

    def start(self, name: str, argv: Sequence[str], restart: bool = False) -> bool:
        """Start `name` unless it runs (or restart it); True if it was (re)started."""
        if self.alive(name) and not restart:
            return False
        if restart:
            self.stop(name)
        pid = self.runner.daemon(argv, output=self.state / f"{name}.out", env={"PATH": SYSTEM_PATH}, cwd="/tmp")
        (self.state / f"{name}.pid").write_text(f"{pid}\n")
        self.say(f"started {name} (pid {pid})")
        return True

    def stop(self, name: str) -> None:
        pid = self.pid(name)
        if pid is None:
            return
        if group_alive(pid):
            t0 = time.monotonic()
            killed = stop_group(pid)
            self.say(f"{name} (pid {pid}) " + ("killed after 20 s" if killed else
                                                f"stopped in {time.monotonic() - t0:.1f} s"))
        (self.state / f"{name}.pid").unlink(missing_ok=True)

    def stop_all(self) -> None:
        for name in reversed(ORDER):
            self.stop(name)

    def running(self) -> dict[str, int]:
        return {name: pid for name in ORDER if (pid := self.pid(name)) is not None and group_alive(pid)}


def secret_file(path: Path, text: str) -> None:
    """Write a credential readable by root only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    os.chmod(path, 0o600)
