"""A cell's verdict from what its guest gave back: one precedence rule, whatever the executor.

A splat in the console (oops, panic, BUG, WARN) makes a CRASH even when the host also timed out
(the guest was stopped by the panic, not the clock); a guest stopped by the host is a TIMEOUT,
with the kernel's own stall report when it gave one; a VM that never started, a guest that
stopped before the guest script finished, or a boot the executor lost is an INFRA_ERROR (never
a verdict: it runs again); otherwise the tests' statuses combine.
"""
from __future__ import annotations

from dataclasses import replace

from ..guest import console
from ..guest.executor import Collected, ExitState
from ..records import TestOutput
from ..status import Status, combine
from ..testkinds import TestSource


def parse_tests(collected: Collected, sources: tuple[TestSource, ...]) -> dict[str, TestOutput]:
    """Each test's output as its kind reads it: from what the guest script gave back for it, or,
    for a test that runs at boot, from the console."""
    out: dict[str, TestOutput] = {}
    for kind in dict.fromkeys(s.kind for s in sources):
        mine = tuple(s.name for s in sources if s.kind == kind)
        if kind.at_boot:
            out.update(kind.from_console(collected.console, mine))
            continue
        out.update({name: kind.parse(text, name, rc) for name, (text, rc) in collected.tests.items() if name in mine})
    return {s.name: out[s.name] for s in sources if s.name in out}


def for_judging(collected: Collected, sources: tuple[TestSource, ...]) -> Collected:
    """What a crash is judged on: the console without the reports the tests' kinds print of their
    own (a KUnit suite's expected failures are not a crash of the kernel under test)."""
    text = collected.console
    for kind in dict.fromkeys(s.kind for s in sources):
        text = kind.console_for_judging(text)
    return collected if text == collected.console else replace(collected, console=text)


def judge(collected: Collected, tests: dict[str, TestOutput], names: tuple[str, ...]) -> tuple[Status, str]:
    splat = console.find_splat(collected.console)
    hang = console.find_splat(collected.console, console.HANG)
    if splat:
        return Status.CRASH, splat[0].strip()
    if collected.state is ExitState.TIMED_OUT:
        where = "during boot (the guest script never started)" if not collected.reached_guest else "while testing"
        evidence = f"; the kernel reported: {hang[0].strip()}" if hang else ""
        return Status.TIMEOUT, f"no answer from the guest {where}{evidence}"
    if collected.state is ExitState.NOT_STARTED:  # QEMU's own reason (`cannot set up guest memory`), if it gave one
        said = next((ln.strip() for ln in reversed(collected.console.splitlines()) if "qemu" in ln.lower()), "")
        return Status.INFRA_ERROR, f"the VM did not start ({collected.detail})" + (f": {said}" if said else "")
    if collected.state is ExitState.LOST:
        return Status.INFRA_ERROR, f"the guest was lost ({collected.detail})"
    if collected.state is not ExitState.FINISHED:
        missing = [n for n in names if n not in tests]
        return Status.INFRA_ERROR, ("the guest stopped before it finished"
                                    + (f" (no result for {', '.join(missing)})" if missing else ""))
    return combine(t.status for t in tests.values()), ""


def evidence(collected: Collected) -> list[str]:
    """The splat, or else the hang report, that the console holds."""
    return console.find_splat(collected.console) or console.find_splat(collected.console, console.HANG)
