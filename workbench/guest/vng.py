"""The virtme-ng executor: boots a cell's kernel on this host's root filesystem.

- `submit` starts `vng` in the background under the guard (its console into the cell's
  `console.log`, the guest script's files into `out/`, given as `--rwdir`: vng's own output
  channel needs udev and loses the exit code without it) and writes the handle; the guard
  writes vng's exit code to `vng.rc` when it ends, so `collect` works in any process.
- `collect` waits for that, or for the cell's deadline (then the guest is stopped: a timeout),
  and reads what the guest left. A handle whose boot is gone without an exit code was
  interrupted: LOST, run again.
- The kernel boots with `oops=panic panic=-1`, so a crash ends the VM at once.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import numa
from ..errors import MissingTool
from ..proc import Runner, Say, Spawned, alive
from ..settings import Overlap, Settings, VmSettings
from . import accel as accel_mod
from . import console, script
from .executor import Collected, ExitState, GuestJob, Handle, Tell
from .room import Room, room

RC_FILE = "vng.rc"
CONSOLE = "console.log"


def vng_path() -> str:
    """vng from the project's venv (next to this Python) or the PATH."""
    here = Path(sys.executable).parent / "vng"
    found = str(here) if here.exists() else shutil.which("vng")
    if not found:
        raise MissingTool("virtme-ng (vng)", "no kernel can boot here")
    return found


def vng_env(vng: str) -> dict[str, str]:
    """vng runs its helpers (virtme-run, ...) from PATH: put its own directory first, so that it
    works from a venv that was never activated (`./wb`, `.venv/bin/invoke`)."""
    return {"PATH": f"{Path(vng).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def guest_args(vm: VmSettings) -> list[str]:
    """The guest's machine as virtme-ng takes it (a cell's boot and `invoke shell` alike): memory,
    vCPUs, NUMA nodes, the kernel command line."""
    return ["--memory", vm.memory, "--cpus", str(vm.cpus), *numa.vng_args(vm), "--append", numa.append(vm)]


def machine(accel: str) -> str:
    """QEMU's machine type under virtme-ng 1.42 as the workbench runs it: `-machine q35` under TCG
    (virtme's x86_64 arguments), QEMU's default `pc` with KVM; never microvm, which virtme-ng picks
    only with virtio-fs (the workbench forces 9p) and never with `--numa`."""
    return "q35" if accel == "tcg" else "pc"


def vng_argv(vng: str, image: Path, vm: VmSettings, accel: str, rwdir: Path, command: str) -> list[str]:
    argv = [vng, "--run", str(image), "--force-9p", "--verbose", *guest_args(vm), "--rwdir", str(rwdir)]
    if accel == "tcg":
        argv.append("--disable-kvm")
    return argv + ["--exec", command]


@dataclass
class VngExecutor:
    """virtme-ng + QEMU on this host; KVM when it really works here, else TCG."""

    settings: Settings
    runner: Runner
    name: str = "vng"
    accel: str | None = None
    vng: str | None = None  # the vng program (default: the venv's, else the PATH's)
    fragments: tuple[str, ...] = ()  # minimal.config has what virtme-ng needs
    retries: int = 0  # an infrastructure error runs again in the next run, not this one
    _spawned: dict[str, Spawned] = field(default_factory=dict)
    _room: Room | None = None

    def __post_init__(self) -> None:
        if self.accel is None:
            known = accel_mod.known(self.settings)
            self.accel = known.name if known else None

    @property
    def ready(self) -> bool:
        return self.accel is not None

    def check(self) -> None:
        """Before anything is built: the programs a boot needs are there."""
        if self.vng is None:
            vng_path()
        if not accel_mod.qemu_binary():
            raise MissingTool(accel_mod.QEMU, "no kernel can boot")

    def prepare(self, image: Path, say: Say) -> None:
        if self.accel is None:
            self.accel = accel_mod.choose(self.settings, image, self.runner, say).name

    def identity(self) -> dict[str, str]:
        assert self.accel is not None, "prepare() first"
        return {"executor": self.name, "accel": self.accel, "qemu": accel_mod.qemu_version(self.runner),
                **numa.machine(self.settings.vm, machine(self.accel))}

    def describe(self) -> str:
        return f"{self.name} ({self.accel or '?'})"

    def room(self) -> Room:
        """How many guests at once: decided once, when the accelerator is known (the memory the
        host has available drops while guests run; the answer must not)."""
        if self._room is None or self.accel is None:
            self._room = room(self.settings, self.accel or "tcg")
        return self._room

    def notes(self) -> list[str]:
        note = overlap_note(self.settings, self.accel or "tcg")
        guests = self.room()
        return [note] * bool(note) + [f"guests at once: {guests.guests} ({guests.why})"]

    def in_flight(self) -> int:
        """Up to `guests` boots at once; with one guest and no overlap, each cell is collected at once."""
        guests = self.room().guests
        return guests if guests > 1 or overlap_allowed(self.settings, self.accel or "tcg") else 0

    def waits_for_builds(self) -> bool:
        """Several guests where a build must not run beside a boot: every cell is built first."""
        return self.room().guests > 1 and not overlap_allowed(self.settings, self.accel or "tcg")

    def finished(self, handle: Handle) -> bool | None:
        spawned = self._spawned.get(handle.cell)
        return spawned.proc.poll() is not None if spawned else (handle.workdir / RC_FILE).exists()

    def attach(self, tell: Tell) -> None:
        return None

    def submit(self, job: GuestJob) -> Handle:
        vng = self.vng or vng_path()
        out = job.workdir / "out"
        out.mkdir(parents=True, exist_ok=True)
        (job.workdir / CONSOLE).unlink(missing_ok=True)
        command = script.command(job.script, out, job.testdir, job.vm, job.tests, job.setup)
        argv = vng_argv(vng, job.image, job.vm, self.accel or "tcg", out, command)
        spawned = self.runner.spawn(argv, output=job.workdir / CONSOLE, rc_file=job.workdir / RC_FILE,
                                    env=vng_env(vng))
        self._spawned[job.cell] = spawned
        handle = Handle.new(self.name, job, {"pid": spawned.proc.pid, "accel": self.accel})
        handle.save()
        return handle

    def collect(self, handle: Handle) -> Collected:
        seconds, rc, timed_out = self._wait(handle)
        text = _read(handle.workdir / CONSOLE)
        guest = script.read(handle.workdir / "out", handle.tests, text)
        reached = console.START_MARK in text or guest.started
        if guest.finished:
            state = ExitState.FINISHED
        elif timed_out:
            state = ExitState.TIMED_OUT
        elif rc is None:
            state = ExitState.LOST
        elif not console.booted(text) and not reached:
            state = ExitState.NOT_STARTED
        else:
            state = ExitState.STOPPED
        detail = "the boot was interrupted" if rc is None and not timed_out else f"vng exited {rc}"
        return Collected(console=text, tests=guest.tests, env=guest.env, state=state, reached_guest=reached,
                         seconds=seconds, detail=detail,
                         phases=script.phases(handle.workdir / "out", handle.submitted, handle.submitted + seconds))

    def _wait(self, handle: Handle) -> tuple[float, int | None, bool]:
        """(seconds, vng's exit code or None, timed out): wait for the boot that `handle` names."""
        spawned = self._spawned.pop(handle.cell, None)
        if spawned is not None:
            done = spawned.wait(timeout=max(0.0, handle.deadline - handle.submitted))
            return done.seconds, None if done.timed_out else done.returncode, done.timed_out
        pid = int(handle.data.get("pid", 0))
        rc_file = handle.workdir / RC_FILE
        while not rc_file.exists() and pid and alive(pid) and time.time() < handle.deadline:
            time.sleep(0.5)
        if rc_file.exists():
            rc, seconds = rc_file.read_text().split()
            return float(seconds), int(rc), False
        if pid and alive(pid):  # a boot started by another process, out of time
            _kill_group(pid)
            return time.time() - handle.submitted, None, True
        return time.time() - handle.submitted, None, False


def overlap_allowed(settings: Settings, accel: str) -> bool:
    """Boot while building: `on` when the machine has room for it, never by default under TCG on
    2 cores or fewer, where a guest starved by make shows RCU stalls and soft lockups that would
    read as crashes; `force` overlaps anyway (to measure it), `off` never."""
    mode = settings.overlap
    if mode is Overlap.OFF:
        return False
    if mode is Overlap.FORCE:
        return True
    return not (accel == "tcg" and (os.cpu_count() or 1) <= 2)


def overlap_note(settings: Settings, accel: str) -> str:
    """What to tell a user who asked for overlap and does not get it."""
    if settings.overlap is Overlap.ON and not overlap_allowed(settings, accel):
        return (f"overlap refused: TCG on {os.cpu_count()} cores would starve the guest; building and booting "
                "in turn (--overlap force overlaps anyway)")
    return ""


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + 8
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""

