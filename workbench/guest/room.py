"""How many guests boot at once on this host: the `guests` setting, and what `auto` picks.

The rule, from runs of 1, 2 and 3 guests of the same five cells on a 2-core, 24 GiB host under
TCG (the README's "Several guests at once" has the figures):

- cores: a guest keeps its `vm.cpus` host cores busy, under KVM (a vCPU is a thread on a core)
  and under TCG as well: measured here, two 2-vCPU guests on 2 cores took 2.4 times as long per
  cell (the kernel's boot 14 s instead of 3.7, the set-up 10 s instead of 1.8) and the five cells
  took longer than one at a time (158 s against 134 s), three about as long (133 s); so
  `cores // vm.cpus` guests fit beside each other;
- memory: each guest takes its `vm.memory` and about `OVERHEAD` of QEMU's own (the TCG code
  buffer, virtme-ng), and the guests get at most three quarters of what the host has available;
- `auto` is the smaller of the two, at least 1 and at most `CAP`.

A number given (`--guests 3`, `guests: 3` in invoke.yaml) is taken as it is. Builds and boots
overlap only where `overlap` allows it (not under TCG on 2 cores or fewer: one kernel build
keeps every core busy, and the per-base build directory is shared, so builds never run beside
each other either): there, with more than one guest, every cell is built first and then booted
`guests` at a time; where overlap is allowed, up to `guests` boot while the next cells build.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..settings import Settings

OVERHEAD = 512 << 20  # bytes of the host's memory a guest takes beyond its own
CAP = 16
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class Room:
    guests: int
    why: str  # one line: what decided it


def size_bytes(text: str) -> int:
    """A QEMU size (`4G`, `4096M`, `512`: MiB as QEMU reads a bare number) in bytes."""
    unit = text[-1:].upper()
    return int(text[:-1]) * _UNITS[unit] if unit in _UNITS else int(text) << 20


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_available() -> int:
    """MemAvailable in bytes (0 when /proc/meminfo cannot be read: memory then decides nothing)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return 0


def decide(asked: int, accel: str, memory: str, cpus: int, cores: int, available: int) -> Room:
    """The rule above, on given figures (so that a 16-core KVM host can be asked about here)."""
    if asked:
        return Room(asked, f"{asked} asked for (guests)")
    by_cores = max(1, cores // cpus)
    per_guest = size_bytes(memory) + OVERHEAD
    by_memory = max(1, (available * 3 // 4) // per_guest) if available else CAP
    guests = max(1, min(by_cores, by_memory, CAP))
    return Room(guests, f"auto: {by_cores} by cores ({cores} cores, a {accel.upper()} guest keeps {cpus} busy), "
                        f"{by_memory} by memory ({available >> 30} GiB available, {per_guest >> 20} MiB a guest)")


def room(settings: Settings, accel: str) -> Room:
    """What this host gets: the setting, or `auto` on this host's cores and available memory."""
    return decide(settings.guests, accel, settings.vm.memory, settings.vm.cpus, host_cores(), host_available())
