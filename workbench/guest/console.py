"""What a kernel console says: that it booted, that the guest script ran, and whether it broke.

A console with an oops, panic, BUG or WARN makes the boot a crash whatever else happened (it
beats a timeout); stall and lockup reports are evidence of a hang, never a crash splat.
"""
from __future__ import annotations

import re

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


def booted(console: str) -> bool:
    """The console holds the kernel's own boot lines."""
    return bool(BOOT_LINE.search(console))


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
