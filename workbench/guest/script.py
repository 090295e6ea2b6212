"""The guest script's contract (kbuild/guest.sh): how it is called and what it leaves behind.

    [WORKBENCH_SETUP=NEED,...] guest.sh OUT TESTDIR ZRAM_SIZE THP_MODE HUGETLB_2M TEST_TIMEOUT TEST...

WORKBENCH_SETUP names the parts of the set-up to do (workbench/testkinds/base.py's SETUP: what
the tests' kinds need); unset, the script does all of it (`invoke shell`).

It writes into OUT: `env.txt` (what the guest really got: swap, THP, hugetlb, ...), per test
`<test>.tap` (its output) and `<test>.rc` (its exit code), `times.txt` (`<phase> <seconds since
the kernel started>` as each phase ends: `start`, `setup`, `test:<test>`, `done`; `phases` turns
them into where a boot's time went) and `done` when it finished; on the
console it prints START_MARK, each test's output between `### WORKBENCH-TEST-BEGIN <test>` and
`### WORKBENCH-TEST-END <test> rc=<n>`, then DONE_MARK.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..settings import VmSettings

NAME = "guest.sh"


@dataclass(frozen=True)
class GuestOutput:
    """What the guest script left in its output folder."""

    env: dict[str, str]
    tests: dict[str, tuple[str, int | None]]  # test -> (its output, exit code or None)
    started: bool
    finished: bool


def command(script: Path, out: Path, testdir: Path, vm: VmSettings, tests: tuple[str, ...],
            setup: tuple[str, ...] | None = None) -> str:
    """The shell command that runs the guest script (with `setup`: only those parts of the set-up)."""
    prefix = "" if setup is None else f"WORKBENCH_SETUP={shlex.quote(','.join(setup))} "
    return prefix + shlex.join([str(script), str(out), str(testdir), vm.zram, vm.thp, str(vm.hugetlb_2m),
                                str(int(vm.test_timeout)), *tests])


def digest(script: Path) -> str:
    return hashlib.sha256(script.read_bytes()).hexdigest()[:16]


def read(out: Path, names: tuple[str, ...], console: str = "") -> GuestOutput:
    """What the guest left in `out`; a test whose files are missing there is read from its section
    of the console, when the console has one (a lab's job log has only the console)."""
    tests: dict[str, tuple[str, int | None]] = {}
    on_console = sections(console) if console else {}
    for name in names:
        text = _read(out / f"{name}.tap")
        rc_text = _read(out / f"{name}.rc").strip()
        rc = int(rc_text) if rc_text.lstrip("-").isdigit() else None
        if text or rc is not None:
            tests[name] = (text, rc)
        elif name in on_console:
            tests[name] = on_console[name]
    return GuestOutput(env=read_env(out / "env.txt"), tests=tests, started=(out / "env.txt").exists(),
                       finished=(out / "done").exists())


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in _read(path).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


BEGIN = re.compile(r"### WORKBENCH-TEST-BEGIN (\S+)")
END = re.compile(r"### WORKBENCH-TEST-END (\S+) rc=(-?\d+)")


def sections(text: str) -> dict[str, tuple[str, int | None]]:
    """{test: (its output, exit code or None if the END marker is missing: cut short)}

    The guest script (kbuild/guest.sh) prints each test's output between
    `### WORKBENCH-TEST-BEGIN <name>` and `### WORKBENCH-TEST-END <name> rc=<int>`; the console
    may carry kernel messages around and inside them (kept in the output, the parser skips
    them). A BEGIN before the previous test's END, or the end of the text, cuts that test short.
    A test that appears twice keeps its last section.
    """
    sections: dict[str, tuple[str, int | None]] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        line = line.rstrip("\r")
        if m := BEGIN.search(line):
            if name is not None:
                sections[name] = ("\n".join(lines), None)
            name, lines = m.group(1), []
        elif (m := END.search(line)) and name is not None and m.group(1) == name:
            sections[name] = ("\n".join(lines), int(m.group(2)))
            name = None
        elif name is not None:
            lines.append(line)
    if name is not None:
        sections[name] = ("\n".join(lines), None)
    return sections


TIMES = "times.txt"


def marks(out: Path) -> list[tuple[str, float]]:
    """(phase, seconds since the kernel started) from the guest's times.txt, in order."""
    found = []
    for line in _read(out / TIMES).splitlines():
        name, _, value = line.rpartition(" ")
        try:
            found.append((name, float(value)))
        except ValueError:
            continue
    return found


def phases(out: Path, submitted: float | None = None, ended: float | None = None) -> dict[str, float]:
    """Where a boot's seconds went: `kernel boot` (to the guest script), `set-up` (swap, THP,
    hugetlb, debugfs, the tests' copy), `test:<test>` each, `after tests` (sync); with the host's
    clock (when the boot was started and ended, seconds since the epoch; the `done` file's mtime,
    written through the shared folder, is the host's time of the guest's last mark): `vm start`
    (the host's tools and the firmware, before the kernel) and `shutdown`."""
    seen = marks(out)
    if not seen or seen[0][0] != "start":
        return {}
    split = {"kernel boot": seen[0][1]}
    for (_, before), (name, at) in itertools.pairwise(seen):
        split[{"setup": "set-up", "done": "after tests"}.get(name, name)] = at - before
    done = out / "done"
    if submitted is not None and ended is not None and seen[-1][0] == "done" and done.exists():
        last = done.stat().st_mtime
        split["vm start"] = last - submitted - seen[-1][1]
        split["shutdown"] = ended - last
    return {k: round(v, 2) for k, v in split.items()}
