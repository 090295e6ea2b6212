"""A cell's LAVA job definition, rendered from `templates/lava/qemu.yaml.j2`.

Why a template of ours and not tuxlava's: tuxlava's qemu jobs hard-code their own kernel command
line and run tests through a login and LAVA's test shell, which needs an overlay (and so
libguestfs on the worker) and a root filesystem. The workbench's guest is an initramfs whose
/init runs the guest script and prints everything on the console, so a `monitors` test action
is all the job needs, and the kernel command line stays the local one.

The job's context comes from the workbench's VM settings, so a lab guest gets what a local one
gets (LAVA's qemu device type would give 512 MiB, one CPU and `qemu64`): memory in MiB, the CPU
count, `-machine q35 -cpu max -accel tcg` (what virtme-ng uses under TCG) or, on a KVM lab, the
device template's `-cpu host -enable-kvm`; the kernel command line is
`console=ttyS0,115200` followed by `vm.append` (`oops=panic panic=-1`). A NUMA guest (`vm.numa`)
gets its nodes as QEMU options and `numa_balancing=enable`, from workbench/numa.py as virtme-ng does. The cell id, base,
variant, commit and config hash go into the job's metadata.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from .. import numa
from ..errors import UserError
from ..guest import console
from ..settings import LabSettings, VmSettings

TEMPLATE = "lava/qemu.yaml.j2"
# printk.time=1: every kernel line on the console starts with its time stamp, so a kernel message
# that lands inside a line the guest script is still sending can be taken out again (joblog.py)
CONSOLE = "console=ttyS0,115200 printk.time=1"
MACHINE = "q35"


@dataclass(frozen=True)
class JobSpec:
    cell: str
    label: str
    tests: tuple[str, ...]
    kernel_url: str
    ramdisk_url: str
    metadata: dict[str, str] = field(default_factory=dict)


def memory_mib(memory: str) -> int:
    """'4G' -> 4096, '512M' -> 512, '1024' -> 1024 (MiB, as LAVA's `memory` context wants)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", memory, re.IGNORECASE)
    if not m:
        raise UserError(f"vm.memory {memory!r} is no size", "e.g. vm.memory: 4G in invoke.yaml.")
    scale = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    return max(1, int(int(m.group(1)) * scale))


def qemu_options(lab: LabSettings, vm: VmSettings) -> list[str]:
    accel = ["-cpu max", "-accel tcg"] if lab.accel == "tcg" else []
    return [f"-machine {MACHINE}", *accel, f"-smp {vm.cpus}", *numa.qemu_options(vm), "-no-reboot"]


def append(vm: VmSettings) -> str:
    if '"' in vm.append:
        raise UserError(f"vm.append {vm.append!r} has a double quote, which a LAVA job's kernel argument cannot hold",
                        "Remove the quotes from vm.append in invoke.yaml.")
    return f"{CONSOLE} {numa.append(vm)}".strip()


def timeouts(lab: LabSettings, vm: VmSettings) -> dict[str, int]:
    deploy, boot, test = int(lab.deploy_timeout), int(lab.boot_timeout), int(vm.timeout)
    return {"deploy": deploy, "boot": boot, "test": test, "job": deploy + boot + test + 60}


def render(templates: Path, spec: JobSpec, lab: LabSettings, vm: VmSettings) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["lava_name"] = lava_name
    try:
        template = env.get_template(TEMPLATE)
    except jinja2.TemplateNotFound:
        raise UserError(f"no job template {templates / TEMPLATE}", "It ships with the workbench: restore it.") from None
    return template.render(
        device_type=lab.device_type, job_name=f"workbench {spec.label} (cell {spec.cell[:12]})",
        metadata={"workbench.cell": spec.cell, **spec.metadata}, timeouts=timeouts(lab, vm),
        memory_mib=memory_mib(vm.memory), qemu_options=qemu_options(lab, vm), append=append(vm),
        kernel_url=spec.kernel_url, ramdisk_url=spec.ramdisk_url, tests=list(spec.tests),
        start_mark=console.START_MARK, done_mark=console.DONE_MARK)


def lava_name(text: str) -> str:
    """A name LAVA takes for a test monitor: `mm:mremap` -> `mm-mremap` (it refuses `:`)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text)


def digest(templates: Path) -> str:
    """The template's bytes (part of a lab cell's identity: a change to the job is another cell)."""
    try:
        return hashlib.sha256((templates / TEMPLATE).read_bytes()).hexdigest()[:16]
    except OSError:
        return "missing"
