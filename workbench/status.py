"""Statuses and the one precedence rule for combining them.

A test case, a test binary and a whole cell each end in one `Status`. When
several statuses meet (cases of a binary, binaries of a cell, a console splat
and a timeout) the one that comes first in `PRECEDENCE` wins: a crash beats a
timeout (the guest was stopped by the panic, not by the clock), anything
broken beats a failure, a failure beats a pass, a pass beats a skip.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable


class Status(str, enum.Enum):
    PASS = "PASS"
    SKIP = "SKIP"
    XFAIL = "XFAIL"
    XPASS = "XPASS"
    FAIL = "FAIL"
    ERROR = "ERROR"  # the test itself reported an error (kselftest `# error`, exit code other than 0-4)
    TIMEOUT = "TIMEOUT"  # the guest (or one binary in it) ran out of time, with no splat in the console
    CRASH = "CRASH"  # oops, panic, BUG or WARN in the console
    BUILD_FAILED = "BUILD_FAILED"
    INFRA_ERROR = "INFRA_ERROR"  # the VM or the tool failed, not the kernel: never a verdict
    NO_TESTS = "NO_TESTS"  # the binary ran and printed no test lines
    PARSE_ERROR = "PARSE_ERROR"  # output that is not TAP
    NOT_RUN = "NOT_RUN"  # e.g. the test does not exist at this base

    def __str__(self) -> str:
        return self.value

    @property
    def is_verdict(self) -> bool:
        """Whether a cell that ended so is finished (cached, never run again)."""
        return self is not Status.INFRA_ERROR


PRECEDENCE: tuple[Status, ...] = (
    Status.CRASH, Status.TIMEOUT, Status.INFRA_ERROR, Status.BUILD_FAILED, Status.PARSE_ERROR,
    Status.ERROR, Status.FAIL, Status.XPASS, Status.NO_TESTS, Status.PASS, Status.XFAIL, Status.SKIP,
    Status.NOT_RUN,
)
_RANK = {s: i for i, s in enumerate(PRECEDENCE)}


def combine(statuses: Iterable[Status], empty: Status = Status.NO_TESTS) -> Status:
    """The status that wins among `statuses` (`empty` if there are none)."""
    best: Status | None = None
    for s in statuses:
        if best is None or _RANK[s] < _RANK[best]:
            best = s
    return best if best is not None else empty


# kselftest exit codes (tools/testing/selftests/kselftest.h)
EXIT_CODES = {0: Status.PASS, 1: Status.FAIL, 2: Status.XFAIL, 3: Status.XPASS, 4: Status.SKIP}
