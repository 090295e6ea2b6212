"""KTAP (KUnit's output, on the kernel console) read the way the kernel's own kunit_tool reads it.

    [    0.060000] KTAP version 1             the output starts here; what stands before "KTAP"
    [    0.060000] 1..2                       on this line (a printk time, another prefix) is cut
    [    0.060000]     # Subtest: example     from every line after it
    [    0.060000]     1..2
    [    0.060000]     ok 1 example_simple_test
    [    0.060000]     ok 2 example_skip_test # SKIP this test should be skipped
    [    0.060000] ok 1 example               a suite's own result, after its cases
    ...                                        until "reboot: System halted" or the like

A test is a suite when a `KTAP version` or `# Subtest:` header opens it; its cases follow up to
its plan's count (or, without a plan, until its own result line); a case the plan promised and
the output never gave is CRASHED (the kernel stopped: a panic, an oops); a suite that ran no
case is NO_TESTS. Counted like kunit_tool: passed, failed, crashed and skipped cases (the
leaves), and errors (a missing plan item, a result line that is missing or numbered wrong, a
suite with no case, a version it does not know). `tests/data/ktap/` (6.12) and `ktap-7.3/` hold
kunit_tool's own logs with its counts; this module must agree with them on every one. Where 7.3's
kunit_tool reads a log otherwise than 6.12's, this follows 7.3: a result line may have no name
(`ok 3 # SKIP reason`), and a suite's own `not ok` counts as a failure when all its cases passed.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..records import Case, TestOutput
from ..status import Status

KTAP_START = re.compile(r"\s*KTAP version ([0-9]+)$")
TAP_START = re.compile(r"\s*TAP version ([0-9]+)$")
KTAP_END = re.compile(r"\s*(List of all partitions:|Kernel panic - not syncing: VFS:|reboot: System halted)")
EXECUTOR_ERROR = re.compile(r"\s*kunit executor: (.*)$")
HEADER = re.compile(r"^\s*# Subtest: (.*)$")
PLAN = re.compile(r"^\s*1\.\.([0-9]+)")
RESULT = re.compile(r"^\s*(ok|not ok) ([0-9]+) ?(:?- )?([^#]*)( # .*)?$")
RESULT_SKIP = re.compile(r"^\s*(ok|not ok) ([0-9]+) ?(:?- )?(.*) # SKIP ?(.*)$")
STRUCTURE = (RESULT, HEADER, KTAP_START, TAP_START, PLAN)
VERSIONS = {"KTAP": (1, 1), "TAP": (13, 14)}


class Outcome(enum.Enum):
    PASSED = "PASS"
    FAILED = "FAIL"
    SKIPPED = "SKIP"
    CRASHED = "CRASH"
    NO_TESTS = "NO_TESTS"
    UNPARSED = "PARSE_ERROR"


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    crashed: int = 0
    skipped: int = 0
    errors: int = 0

    def total(self) -> int:
        return self.passed + self.failed + self.crashed + self.skipped

    def add(self, other: Counts) -> None:
        self.passed, self.failed = self.passed + other.passed, self.failed + other.failed
        self.crashed, self.skipped = self.crashed + other.crashed, self.skipped + other.skipped
        self.errors += other.errors

    def count(self, outcome: Outcome) -> None:
        if outcome is Outcome.PASSED:
            self.passed += 1
        elif outcome is Outcome.FAILED:
            self.failed += 1
        elif outcome is Outcome.SKIPPED:
            self.skipped += 1
        elif outcome is not Outcome.NO_TESTS:
            self.crashed += 1

    def outcome(self) -> Outcome:
        if not self.total():
            return Outcome.NO_TESTS
        if self.crashed:
            return Outcome.CRASHED
        if self.failed:
            return Outcome.FAILED
        return Outcome.PASSED if self.passed else Outcome.SKIPPED


@dataclass
class Node:
    """One test: a suite (with subtests) or a case."""

    name: str = ""
    outcome: Outcome = Outcome.CRASHED  # until its result line says otherwise
    expected: int | None = 0  # the plan's count; None: no plan
    subtests: list[Node] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    errors: list[str] = field(default_factory=list)
    reason: str = ""

    def error(self, message: str) -> None:
        self.counts.errors += 1
        self.errors.append(f"{self.name or '?'}: {message}")


class Lines:
    """A stream of (extracted) KTAP lines with one line of look-ahead."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines, self._next, self._done = lines, "", False
        self._advance()

    def _advance(self) -> None:
        try:
            self._next = next(self._lines)
        except StopIteration:
            self._done, self._next = True, ""

    def peek(self) -> str:
        return self._next

    def pop(self) -> str:
        line = self._next
        self._advance()
        return line

    def __bool__(self) -> bool:
        return not self._done


def extract(console: Iterable[str]) -> Iterator[str]:
    """The KTAP lines of a console: from the first version line (its prefix cut from every line
    after it) to an end marker; a `kunit executor:` error before it counts too."""
    prefix: int | None = None
    for raw in console:
        line = raw.rstrip()
        if prefix is None:
            start = KTAP_START.search(line) or TAP_START.search(line)
            if start:
                prefix = len(line.split("KTAP version" if KTAP_START.search(line) else "TAP version")[0])
                yield line[prefix:]
            elif EXECUTOR_ERROR.search(line):
                yield line
        elif KTAP_END.search(line):
            return
        else:
            yield line[prefix:]


def _diagnostics(lines: Lines) -> list[str]:
    log = []
    while lines and not any(p.match(lines.peek()) for p in STRUCTURE):
        log.append(lines.pop())
    return log


def _version(lines: Lines, node: Node) -> bool:
    for kind, pattern in (("KTAP", KTAP_START), ("TAP", TAP_START)):
        m = pattern.match(lines.peek())
        if m:
            low, high = VERSIONS[kind]
            number = int(m.group(1))
            if number < low:
                node.error(f"{kind} version lower than expected")
            elif number > high:
                node.error(f"{kind} version higher than expected")
            lines.pop()
            return True
    return False


def _named(lines: Lines, node: Node) -> bool:
    m = RESULT.match(lines.peek())
    return m is not None and bool(m.group(4)) and m.group(4) == node.name


def _result(lines: Lines, node: Node, number: int) -> None:
    line = lines.peek()
    m, skip = RESULT.match(line), RESULT_SKIP.match(line)
    if not m:
        return
    lines.pop()
    node.name = skip.group(4) if skip else m.group(4)
    if int(m.group(2)) != number:
        node.error(f"expected test number {number}, found {m.group(2)}")
    node.outcome = Outcome.SKIPPED if skip else Outcome.PASSED if m.group(1) == "ok" else Outcome.FAILED
    if skip:
        node.reason = skip.group(5).strip()
    elif node.outcome is Outcome.FAILED:  # the case's last diagnostic lines say why
        node.reason = " ".join(line.strip().lstrip("#").strip() for line in node.log[-3:])


def _header(lines: Lines, node: Node, top: bool) -> bool:
    """The suite's header: the version line (and, below the top, `# Subtest:`), then its plan."""
    if top:
        node.name = "main"
        _version(lines, node)
        node.log += _diagnostics(lines)
        is_suite = True
    else:
        version = _version(lines, node)
        m = HEADER.match(lines.peek())
        if m:
            node.name = m.group(1)
            lines.pop()
        is_suite = version or bool(m)
        node.log += _diagnostics(lines)
    m = PLAN.match(lines.peek())
    node.expected = int(m.group(1)) if m else None
    if m:
        lines.pop()
    return is_suite


def parse_test(lines: Lines, number: int, log: list[str], top: bool) -> Node:
    node = Node(log=list(log))
    node.log += _diagnostics(lines)
    is_suite = _header(lines, node, top)
    index = 1
    while is_suite and (node.expected is None or index <= node.expected):
        sub_log = _diagnostics(lines)
        if not lines or (not top and _named(lines, node)):
            if node.expected and index <= node.expected:
                node.error("missing expected subtest")  # the output stopped: the kernel crashed
                node.subtests.append(Node(log=sub_log, reason="no result: the output stopped"))
                node.counts.count(Outcome.CRASHED)
                index += 1
                continue
            node.log += sub_log
            break
        node.subtests.append(parse_test(lines, index, sub_log, False))
        index += 1
    if not top:
        node.log += _diagnostics(lines)
        if node.name and not _named(lines, node):
            node.error("missing subtest result line")
        elif not lines:
            node.outcome = Outcome.NO_TESTS
            node.error("no more test results")
        else:
            _result(lines, node, number)
    if is_suite and not node.subtests and node.outcome in (Outcome.CRASHED, Outcome.PASSED):
        node.outcome = Outcome.NO_TESTS
        node.error("0 tests run")
    own = node.outcome
    for sub in node.subtests:
        node.counts.add(sub.counts)
    if not node.counts.total():
        node.counts.count(node.outcome)
    elif node.counts.outcome() is Outcome.CRASHED:
        node.outcome = Outcome.CRASHED
    if own is Outcome.FAILED and node.counts.outcome() is Outcome.PASSED:
        node.counts.count(Outcome.FAILED)  # a suite that says it failed while its cases passed
    return node


def parse_console(console: Iterable[str]) -> Node:
    """The whole tree of a console's KTAP output (the top node is "main")."""
    lines = Lines(extract(console))
    if not lines:
        main = Node(name="<missing>", outcome=Outcome.UNPARSED)
        main.error("no KTAP output: did any KUnit test run?")
        return main
    main = parse_test(lines, 0, [], True)
    if main.outcome is not Outcome.NO_TESTS:
        main.outcome = main.counts.outcome()
    return main


def _leaves(node: Node, path: str, test: str) -> Iterator[Case]:
    for sub in node.subtests:
        name = f"{path}.{sub.name}" if path else sub.name or "(unnamed)"
        if sub.subtests:
            yield from _leaves(sub, name, test)
        else:
            yield Case(test=test, name=name, status=Status(sub.outcome.value), reason=sub.reason,
                       group=name.split(".", 1)[0])


def output(console: str, test: str) -> TestOutput:
    """A KUnit run's result as one test's output: every case (a leaf, named suite.case), the
    overall status, and kunit_tool's counts in `totals`."""
    main = parse_console(console.splitlines())
    c = main.counts
    return TestOutput(test=test, status=Status(main.outcome.value), cases=list(_leaves(main, "", test)),
                      plan=main.expected, complete=not c.crashed and main.outcome is not Outcome.UNPARSED,
                      exit_code=None, reason="; ".join(main.errors + [e for s in _walk(main) for e in s.errors])[:400],
                      totals={"passed": c.passed, "failed": c.failed, "crashed": c.crashed, "skipped": c.skipped,
                              "errors": c.errors})


def _walk(node: Node) -> Iterator[Node]:
    for sub in node.subtests:
        yield sub
        yield from _walk(sub)


def kunit_part(console: str, begin: re.Pattern[str], end: re.Pattern[str]) -> str:
    """The console without the guest script's test sections (between `begin` and `end` markers):
    KUnit's built-in suites print through the kernel log, and the guest's own TAP, which may come
    before or after it on the console, is no part of it."""
    out, inside = [], False
    for line in console.splitlines():
        if begin.search(line):
            inside = True
        elif inside and end.search(line):
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def without_own_reports(console: str, splat: re.Pattern[str], hang: re.Pattern[str]) -> str:
    """The console without the reports a KUnit case prints on purpose (kfence's `BUG: KFENCE:`
    lines inside its own test, a WARN a test provokes): a splat line inside the KTAP output that a
    later result line follows belongs to that test; the kernel went on. A real oops ends the kernel
    (oops=panic), so no result follows it and it stays."""
    lines = console.splitlines()
    start = next((i for i, line in enumerate(lines) if KTAP_START.search(line) or TAP_START.search(line)), None)
    if start is None:
        return console
    marker = "KTAP version" if KTAP_START.search(lines[start]) else "TAP version"
    prefix = len(lines[start].split(marker)[0])
    results = [i for i in range(start, len(lines)) if RESULT.match(lines[i][prefix:])]
    last = results[-1] if results else start
    return "\n".join("" if start < i < last and (splat.search(line) or hang.search(line)) else line
                     for i, line in enumerate(lines))
