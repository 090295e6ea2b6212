"""Booting a kernel under virtme-ng and reading what its console says.

- The accelerator is probed once per host by really booting to a marker under
  a short timeout (an openable /dev/kvm proves nothing); the answer is kept in
  the cache, keyed on the host kernel, QEMU and virtme-ng versions.
- The guest's results come back as files in the `--rwdir` (vng's own output
  channel needs udev and loses the exit code without it); the console goes to a
  file through a pipe and must hold the kernel's own boot lines.
- The kernel boots with `oops=panic panic=-1`, so a crash ends the VM at once.
  A console with an oops, panic, BUG or WARN makes the boot a crash whatever
  else happened (it beats a timeout); a guest that never reached the guest
  script is a hung boot.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import InfraError
from .proc import Runner
from .settings import Settings, VmSettings

GUEST_SCRIPT = "guest.sh"
START_MARK = "### WORKBENCH-GUEST-START"
DONE_MARK = "### WORKBENCH-GUEST-DONE"
BOOT_LINE = re.compile(r"Linux version \d")
# What a kernel prints when it breaks (the first line of a splat) ...
SPLAT = re.compile(
    r"(Kernel panic - not syncing|BUG: |kernel BUG at|Oops: |Oops\b.*SMP|general protection fault|"
    r"WARNING: CPU: \d+ PID: \d+|WARNING: .* at .*\+0x|Unable to handle kernel|invalid opcode: )")
# ... and when it notices it is stuck: evidence of a hang, not a crash (the cell is a TIMEOUT).
HANG = re.compile(r"(watchdog: BUG: soft lockup|rcu: INFO: rcu_\w+ detected (expedited )?stalls|"
                  r"INFO: task .* blocked for more than|rcu_\w+ self-detected stall)")
SPLAT_END = re.compile(r"(---\[ end trace|---\[ end Kernel panic|Kernel Offset:)")


def vng_path() -> str:
    """vng from the project's venv (next to this Python) or the PATH."""
    here = Path(sys.executable).parent / "vng"
    found = str(here) if here.exists() else shutil.which("vng")
    if not found:
        raise InfraError("virtme-ng (vng) is not installed", "Run `invoke setup`, then `invoke doctor`.")
    return found


def vng_env() -> dict[str, str]:
    """vng runs its helpers (virtme-run, ...) from PATH: put its own directory first, so that it
    works from a venv that was never activated (`./wb`, `.venv/bin/invoke`)."""
    return {"PATH": f"{Path(vng_path()).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


@dataclass
class Boot:
    """How one guest run ended, as the host saw it."""

    seconds: float
    returncode: int
    timed_out: bool
    console: Path
    reached_guest: bool  # the guest script started
    finished: bool  # the guest script wrote its done file
    booted: bool  # the console holds the kernel's own boot lines
    splat: list[str] = field(default_factory=list)  # the first oops/panic/BUG/WARN
    hang: list[str] = field(default_factory=list)  # stall or lockup reports

    @property
    def crashed(self) -> bool:
        return bool(self.splat)

    @property
    def hung_at_boot(self) -> bool:
        return self.timed_out and not self.reached_guest


def vng_argv(image: Path, vm: VmSettings, accel: str, rwdir: Path, command: str) -> list[str]:
    argv = [vng_path(), "--run", str(image), "--force-9p", "--verbose",
            "--memory", vm.memory, "--cpus", str(vm.cpus), "--rwdir", str(rwdir),
            "--append", vm.append]
    if accel == "tcg":
        argv.append("--disable-kvm")
    return argv + ["--exec", command]


def guest_command(script: Path, out: Path, testdir: Path, vm: VmSettings, tests: list[str]) -> str:
    return shlex.join([str(script), str(out), str(testdir), vm.zram, vm.thp, str(vm.hugetlb_2m),
                       str(int(vm.test_timeout)), *tests])


def boot(image: Path, command: str, rwdir: Path, console: Path, vm: VmSettings, accel: str, runner: Runner,
         timeout: float, on_line: Callable[[str], None] | None = None) -> Boot:
    """Boot `image`, run `command` in the guest, wait at most `timeout` seconds."""
    console.parent.mkdir(parents=True, exist_ok=True)
    console.unlink(missing_ok=True)
    done = runner.run(vng_argv(image, vm, accel, rwdir, command), tee=console, timeout=timeout, check=False,
                      keep_output=False, on_line=on_line, env=vng_env(), guard=True)
    text = console.read_text(errors="replace") if console.exists() else ""
    return Boot(seconds=done.seconds, returncode=done.returncode, timed_out=done.timed_out, console=console,
                reached_guest=START_MARK in text or (rwdir / "env.txt").exists(),
                finished=(rwdir / "done").exists(), booted=bool(BOOT_LINE.search(text)),
                splat=find_splat(text), hang=find_splat(text, HANG))


def find_splat(console: str, pattern: re.Pattern[str] = SPLAT, context: int = 60) -> list[str]:
    """The first oops/panic/BUG/WARN (or, with HANG, stall report) in a console log, from its first
    line to its end marker. Hang reports never count as a crash splat."""
    lines = console.splitlines()
    for i, line in enumerate(lines):
        if pattern.search(line) and (pattern is HANG or not HANG.search(line)):
            out = []
            for follow in lines[i:i + context]:
                out.append(follow)
                if SPLAT_END.search(follow):
                    break
            return out
    return []


# --- the accelerator ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" | "tcg"
    reason: str
    probed: bool  # False: taken from the cache or from the settings


def host_key() -> str:
    qemu = shutil.which("qemu-system-x86_64") or "none"
    vng_version = ""
    try:
        import importlib.metadata as md
        vng_version = md.version("virtme-ng")
    except Exception:  # noqa: BLE001 - a key part only
        pass
    return f"{platform.node()}|{platform.release()}|{qemu}|{_mtime(qemu)}|vng {vng_version}"


def _mtime(path: str) -> int:
    try:
        return int(os.stat(path).st_mtime)
    except OSError:
        return 0


def known_accel(settings: Settings) -> Accel | None:
    """The accelerator the settings name, or the one probed earlier on this host; None if unknown."""
    want = settings.vm.accel
    if want in ("kvm", "tcg"):
        return Accel(want, "set in the configuration", probed=False)
    try:
        known = json.loads((settings.cache / "accel.json").read_text())
        if known.get("key") == host_key():
            return Accel(known["accel"], known["reason"], probed=False)
    except (OSError, ValueError, KeyError):
        pass
    return None


def choose_accel(settings: Settings, image: Path, runner: Runner, say: Callable[[str], None]) -> Accel:
    """KVM if it really boots here, else TCG; asked once per host and remembered."""
    known = known_accel(settings)
    if known:
        return known
    cache = settings.cache / "accel.json"
    key = host_key()
    accel = probe_kvm(image, settings, runner)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "accel": accel.name, "reason": accel.reason,
                                 "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    if accel.name == "tcg":
        say(f"KVM does not work on this host ({accel.reason}); using TCG (software emulation, slower). "
            f"Remembered in {cache}.")
    else:
        say(f"KVM works on this host; remembered in {cache}.")
    return accel


def probe_kvm(image: Path, settings: Settings, runner: Runner, timeout: float = 90) -> Accel:
    if not os.path.exists("/dev/kvm"):
        return Accel("tcg", "no /dev/kvm", probed=True)
    marker = "WORKBENCH-KVM-OK"
    tmp = settings.cache / "tmp" / "kvm-probe"
    tmp.mkdir(parents=True, exist_ok=True)
    vm = VmSettings(memory="512M", cpus=1, append=settings.vm.append)
    done = runner.run(vng_argv(image, vm, "kvm", tmp, f"echo {marker}"), timeout=timeout, check=False,
                      env=vng_env(), guard=True)
    if marker in done.output and done.returncode == 0:
        return Accel("kvm", "booted to a marker with KVM", probed=True)
    if done.timed_out:
        return Accel("tcg", f"a KVM boot did not finish in {timeout:.0f}s", probed=True)
    errors = [line.strip() for line in done.output.splitlines() if "error" in line.lower() or "failed" in line]
    return Accel("tcg", errors[0][:160] if errors else f"vng exited {done.returncode} with KVM", probed=True)
