"""Does KVM really work here? Answered once per host by booting a kernel, and remembered.

An openable /dev/kvm proves nothing: on some hosts QEMU with `-accel kvm` prints "Booting from
ROM..." and then nothing at all. So the answer is the time to the kernel's first console line
(`earlyprintk`, straight from QEMU, no virtme-ng): first under TCG, which always works, as the
reference taken the same way and under the same load; then with KVM, which must print its first
line within twice that time plus two seconds. A KVM that works prints it far sooner than TCG
even on a loaded host (TCG is the slow one), so a slow-but-working KVM is never called broken,
and a broken one is known within about ten seconds. A missing QEMU is no answer about KVM: it
is an error, and nothing is remembered. The answer is kept in `<cache>/accel.json`, keyed on the
host's kernel and the QEMU binary.
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError, MissingTool
from ..proc import Runner, Say
from ..records import write_atomic
from ..settings import AccelMode, Settings
from .console import BOOT_LINE

QEMU = "qemu-system-x86_64"
KVM_DEVICE = "/dev/kvm"
TCG_LIMIT = 30.0  # seconds for the reference boot to print its first line


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" | "tcg"
    reason: str
    probed: bool  # False: taken from the cache or from the settings


@dataclass(frozen=True)
class FirstLine:
    seconds: float | None  # to the kernel's first console line; None: none within the limit
    exited: int | None  # QEMU's exit code, when it ended before that
    output: str


def qemu_binary() -> str | None:
    return shutil.which(QEMU)


def qemu_version(runner: Runner, qemu: str | None = None) -> str:
    """The emulator's version: part of every cell's identity (through the executor's)."""
    path = qemu or qemu_binary()
    if path not in _VERSIONS:
        out = runner.run([path, "--version"], check=False, quiet=True).output if path else ""
        _VERSIONS[path] = out.splitlines()[0] if out else "qemu: missing"
    return _VERSIONS[path]


_VERSIONS: dict[str | None, str] = {}


def host_key(qemu: str | None) -> str:
    mtime = int(os.stat(qemu).st_mtime) if qemu and os.path.exists(qemu) else 0
    return f"{platform.node()}|{platform.release()}|{qemu or 'none'}|{mtime}"


def known(settings: Settings) -> Accel | None:
    """The accelerator the settings name, or the one probed earlier on this host; None if unknown."""
    if settings.vm.accel is not AccelMode.AUTO:
        return Accel(settings.vm.accel.value, "set in the configuration", probed=False)
    try:
        data = json.loads((settings.cache / "accel.json").read_text())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("key") == host_key(qemu_binary()) and data.get("accel") in ("kvm", "tcg"):
        return Accel(str(data["accel"]), str(data.get("reason", "")), probed=False)
    return None


def choose(settings: Settings, image: Path, runner: Runner, say: Say,
           qemu: str | None = None, device: str = KVM_DEVICE) -> Accel:
    """KVM if it really boots here, else TCG; asked once per host and remembered."""
    found = known(settings)
    if found:
        return found
    qemu = qemu or qemu_binary()
    if not qemu:
        raise MissingTool(QEMU, "no kernel can boot (and nothing is known about KVM)")
    start = time.monotonic()
    accel = probe(image, runner, qemu, settings.cache / "tmp" / "kvm-probe", device)
    cache = settings.cache / "accel.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, json.dumps({"key": host_key(qemu), "accel": accel.name, "reason": accel.reason,
                                    "seconds": round(time.monotonic() - start, 1),
                                    "when": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    if accel.name == "tcg":
        say(f"KVM does not work on this host ({accel.reason}); using TCG (software emulation, slower). "
            f"Found in {time.monotonic() - start:.1f}s, remembered in {cache}.")
    else:
        say(f"KVM works on this host ({accel.reason}); remembered in {cache}.")
    return accel


def probe(image: Path, runner: Runner, qemu: str, workdir: Path, device: str = KVM_DEVICE) -> Accel:
    if not os.path.exists(device):
        return Accel("tcg", "no /dev/kvm", probed=True)
    tcg = first_line(qemu, image, "tcg", runner, workdir, TCG_LIMIT)
    if tcg.seconds is None:
        raise InfraError(f"{image} printed no kernel line in {TCG_LIMIT:.0f}s even under TCG, so KVM cannot be "
                         "judged against it:\n" + _tail(tcg.output),
                         "Check that QEMU works (`invoke doctor`); nothing was remembered.")
    limit = 2 * tcg.seconds + 2
    kvm = first_line(qemu, image, "kvm", runner, workdir, limit)
    if kvm.seconds is not None:
        return Accel("kvm", f"first kernel line after {kvm.seconds:.1f}s with KVM, {tcg.seconds:.1f}s under TCG",
                     probed=True)
    if kvm.exited is not None:
        errors = [line.strip() for line in kvm.output.splitlines() if re.search(r"error|fail", line, re.IGNORECASE)]
        return Accel("tcg", f"QEMU with KVM exited {kvm.exited}" + (f": {errors[0][:160]}" if errors else ""),
                     probed=True)
    return Accel("tcg", f"no kernel line within {limit:.1f}s with KVM, where TCG printed one after "
                        f"{tcg.seconds:.1f}s", probed=True)


def first_line(qemu: str, image: Path, accel: str, runner: Runner, workdir: Path, limit: float) -> FirstLine:
    """Boot `image` straight under QEMU and time its first kernel line; stop QEMU then."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{accel}.log"
    log.unlink(missing_ok=True)
    argv = [qemu, "-accel", accel, "-cpu", "host" if accel == "kvm" else "max", "-machine", "q35", "-m", "256M",
            "-smp", "1", "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", "-kernel", str(image),
            "-append", "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1"]
    spawned = runner.spawn(argv, output=log, rc_file=workdir / f"{accel}.rc")
    seconds: float | None = None
    try:
        while time.monotonic() - spawned.start < limit:
            if BOOT_LINE.search(_read(log)):
                seconds = time.monotonic() - spawned.start
                break
            if spawned.proc.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        done = spawned.stop(force=True)  # nothing to save: the answer is known
    exited = spawned.proc.returncode if seconds is None and not done.timed_out else None
    return FirstLine(seconds, exited, _read(log))


def quick_check(runner: Runner) -> Accel:
    """Without a kernel: whether QEMU starts at all with `-accel kvm` (weaker than a boot)."""
    qemu = qemu_binary()
    if not qemu:
        return Accel("tcg", "QEMU is not installed", probed=True)
    done = runner.run([qemu, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults", "-display", "none",
                       "-monitor", "stdio", "-S"], input="quit\n", timeout=30, check=False, quiet=True)
    if done.ok:
        return Accel("kvm", "QEMU started with KVM", probed=True)
    errors = [line for line in done.output.splitlines() if re.search(r"error|fail|Assert", line, re.IGNORECASE)]
    return Accel("tcg", (errors[0].strip()[:160] if errors else f"QEMU exited {done.returncode}"), probed=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-10:]) or "(no output)"
