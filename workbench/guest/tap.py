"""Streaming parser for the kselftest TAP (and KTAP) output of the mm selftests.

What a kselftest binary prints (tools/testing/selftests/kselftest.h):

    TAP version 13                      header (KTAP: `KTAP version 1`); repeats are ignored
    1..761                              plan; `1..0 # SKIP reason` skips the whole binary
    # [RUN] Basic COW after fork() ... with base page     names the next case (cow)
    ok 1 No leak from parent into child                   a result; its text is not the case name
    ok 6 # SKIP MADV_PAGEOUT did not work, is swap enabled?
    ok 7 # XFAIL Leak from parent into child
    not ok 8 Leak from parent into child
    not ok 9 # error ...                                  ERROR
    Bail out! 1 out of 761 tests failed
    # Totals: pass:756 fail:0 xfail:4 xpass:0 skip:1 error:0

Since v6.16 cow prints the reason as a `# ` line and puts the case name in the result:
`# MADV_PAGEOUT did not work, is swap enabled?` then `ok 6 # SKIP Basic COW after fork() ... (2048 kB)`.

Nesting: a runner (run_vmtests.sh, kselftest/runner.sh) prefixes the binary's lines with `# `
and adds its own result per binary (`ok 1 cow`, `ok 1 cow # SKIP`, `not ok 1 cow # exit=1`,
`not ok 1 selftests: mm: run_vmtests.sh # TIMEOUT 180 seconds`). The deepest level that has TAP
lines holds the cases; the result lines of the levels above it give the binary's status. A
nested output is expected to wrap one binary (`run_vmtests.sh -t cow`).

Lines that are not TAP (kernel messages, fragments of lines printed twice by a fork()ed child
with unflushed stdio buffers) are ignored; a result number seen before is ignored (the first
one is kept).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..records import Case, TestOutput
from ..status import EXIT_CODES, Status, combine

DEFAULT_ENV_SKIPS = Path(__file__).resolve().parent.parent.parent / "kbuild" / "environment-skips.txt"

TIMEOUT_RC = 124  # timeout(1) and kselftest/runner.sh
EVIDENCE = "evidence: "  # a `# evidence: ...` line: what a test saw for the case it is running

_HEADER = re.compile(r"^K?TAP version \d+")
_PLAN = re.compile(r"^1\.\.(\d+)\s*(?:#\s*(.*))?$")
_RESULT = re.compile(r"^(not\s+)?ok\s+(\d+)\b\s*(.*)$")
_SPLIT = re.compile(r"^(.*?)(?:(?:^|\s)#\s*(.*))?$")  # description, then `# directive or comment`
_BAIL = re.compile(r"^Bail out!\s*(.*)$")
_DIRECTIVE = re.compile(r"^(SKIP|TODO|XFAIL|XPASS|TIMEOUT|ERROR)\b[:\s]*(.*)$", re.IGNORECASE)
_RUN = re.compile(r"^\[RUN\]\s+(.*)$")
_TOTALS = re.compile(r"^Totals:\s*(.*)$")
# A measurement printed next to the verdicts (the study's probe): `# [COST] MADV_COLD 1024 MiB ...: 123.4 ms`
_COST = re.compile(r"\[COST\]\s*(.+):\s*([\d.]+)\s*(ms|s)\b")
_GROUP_SEP = " ... "


def load_env_skips(path: Path | str = DEFAULT_ENV_SKIPS) -> list[re.Pattern[str]]:
    """The regexes of an environment-skips file: one per line, `#` comments and blank lines ignored.

    They are compiled case-insensitive and searched (not matched) in a SKIP reason.
    """
    patterns = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(re.compile(line, re.IGNORECASE))
    return patterns


@functools.cache
def _default_env_skips() -> tuple[re.Pattern[str], ...]:
    return tuple(load_env_skips(DEFAULT_ENV_SKIPS))


def _result_status(ok: bool, directive: str, comment: str) -> Status:
    """Status of one result line from `ok`/`not ok`, its directive (upper case) and the comment."""
    if directive == "SKIP":
        return Status.SKIP
    if directive in ("XFAIL", "XPASS"):
        return Status(directive)
    if directive == "TODO":
        return Status.XPASS if ok else Status.XFAIL
    if directive == "TIMEOUT" or comment == f"exit={TIMEOUT_RC}":
        return Status.TIMEOUT
    if directive == "ERROR":
        return Status.ERROR
    return Status.PASS if ok else Status.FAIL


@dataclass
class _Level:
    """The TAP stream at one nesting depth (number of `# ` prefixes)."""

    tap: bool = False  # saw a header, plan, result or bail out at this depth
    plan: int | None = None
    skip_all: str | None = None  # reason of `1..0 # SKIP reason`
    bail: str | None = None
    totals: dict[str, int] | None = None
    cases: dict[int, Case] = field(default_factory=dict)  # by TAP number, first one kept
    running: str | None = None  # name from the last `[RUN]` line not yet followed by a result
    diags: list[str] = field(default_factory=list)  # `# ` lines since the last [RUN] or result
    names: dict[str, int] = field(default_factory=dict)  # how often each case name was used
    measurements: dict[str, float] = field(default_factory=dict)  # `[COST] label: value ms`


class TapParser:
    """Feed the output of one test binary line by line, then `finish()` with its exit code.

    `env_skips`: patterns of skip reasons that mean the guest lacked something (Case.env_skip);
    None loads DEFAULT_ENV_SKIPS, [] marks none.
    """

    def __init__(self, test: str, env_skips: list[re.Pattern[str]] | None = None) -> None:
        self.test = test
        self.env_skips = list(_default_env_skips() if env_skips is None else env_skips)
        self._levels: dict[int, _Level] = {}
        self._output = False  # any non-blank line
        self._tap = False  # any TAP line (header, plan, result, bail out or `# ` diagnostic)

    def _level(self, depth: int) -> _Level:
        return self._levels.setdefault(depth, _Level())

    def feed(self, line: str) -> None:
        """One line of output, with or without its line ending (`\\r\\n` from a serial console too)."""
        line = line.rstrip()
        depth = 0
        while True:
            if line.startswith("# "):
                depth, line = depth + 1, line[2:]
            elif line == "#":
                depth, line = depth + 1, ""
            else:
                break
        if depth == 0 and not line.strip():
            return
        self._output = True
        level = self._level(depth)
        if _HEADER.match(line):
            level.tap = True
        elif m := _PLAN.match(line):
            level.tap = True
            if level.plan is None:
                level.plan = int(m.group(1))
                skip = _DIRECTIVE.match(m.group(2) or "")
                if level.plan == 0 and skip and skip.group(1).upper() == "SKIP":
                    level.skip_all = skip.group(2).strip()
        elif m := _RESULT.match(line):
            level.tap = True
            self._result(level, ok=not m.group(1), number=int(m.group(2)), rest=m.group(3))
        elif m := _BAIL.match(line):
            level.tap = True
            if level.bail is None:
                level.bail = m.group(1).strip()
        elif depth > 0:
            self._diag(self._level(depth - 1), line.strip())
        else:
            return  # not TAP: a kernel message or a fragment of a line
        self._tap = True

    @staticmethod
    def _diag(level: _Level, text: str) -> None:
        """A `# text` line of the stream `level`: a [RUN] name, the Totals, or a possible reason."""
        if m := _RUN.match(text):
            level.running, level.diags = m.group(1).strip(), []
        elif m := _TOTALS.match(text):
            if level.totals is None:
                level.totals = {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", m.group(1))}
        elif m := _COST.match(text):
            value = float(m.group(2)) * (1000.0 if m.group(3) == "s" else 1.0)
            level.measurements.setdefault(m.group(1).strip(), value)
        elif text:
            level.diags.append(text)

    def _result(self, level: _Level, ok: bool, number: int, rest: str) -> None:
        """`ok N desc`, `ok N # SKIP reason`, `not ok N desc # exit=R`, ... at one level."""
        running, diags = level.running, level.diags
        level.running, level.diags = None, []  # a result (even a repeated one) ends the case
        if number in level.cases:
            return  # printed again by a fork()ed child's stdio buffer
        m = _SPLIT.match(rest)
        assert m is not None  # the pattern matches any text
        desc, comment = m.group(1).strip(), (m.group(2) or "").strip()
        d = _DIRECTIVE.match(comment)
        directive, text = (d.group(1).upper(), d.group(2).strip()) if d else ("", comment)
        status = _result_status(ok, directive, comment)
        if running:
            name = running
        elif desc:
            name = desc
        elif _GROUP_SEP in text:
            name = text  # v6.16+: `ok N # SKIP <case name>` without a [RUN] line
        else:
            name = f"case {number}"
        if status is Status.PASS:
            reason = ""
        elif text and text != name:
            reason = text  # `ok N # SKIP reason`, `not ok N name # exit=1`
        elif desc and desc != name:
            reason = desc  # `not ok N Leak from parent into child` after a [RUN] line
        else:  # v6.16+: the reason is the last `# ` line before the result
            reasons = [r for r in diags if not r.startswith(("[", EVIDENCE))]
            reason = reasons[-1] if reasons else ""
        count = level.names[name] = level.names.get(name, 0) + 1
        unique = name if count == 1 else f"{name} [{count}]"
        env = status is Status.SKIP and any(p.search(reason) for p in self.env_skips)
        evidence = next((d[len(EVIDENCE):].strip() for d in reversed(diags) if d.startswith(EVIDENCE)), "")
        level.cases[number] = Case(test=self.test, name=unique, status=status, reason=reason, env_skip=env,
                                   group=name.split(_GROUP_SEP, 1)[0], number=number, evidence=evidence)

    def finish(self, exit_code: int | None = None) -> TestOutput:
        """The binary's result; `exit_code` None when unknown (the run was cut short).

        Status: exit 124 is TIMEOUT; otherwise the exit code's status (EXIT_CODES, any other code
        ERROR), the cases and the runner's result lines above them meet in `combine()`. No output
        is NO_TESTS, output without any TAP line PARSE_ERROR, `1..0 # SKIP` SKIP, and a `Bail out!`
        before the plan was reached ERROR (cow's final `Bail out! N out of M tests failed` after
        all results is only a summary: the FAIL cases speak).
        """
        depths = [d for d, lv in self._levels.items() if lv.tap]
        inner = self._levels.get(max(depths), _Level()) if depths else _Level()
        outer = [self._levels[d] for d in depths if d < max(depths)]
        cases = list(inner.cases.values())
        if inner.plan is not None:
            complete = len(cases) >= inner.plan
        else:
            complete = inner.totals is not None or exit_code is not None
        extra: list[Status] = []
        if exit_code is not None:
            extra.append(Status.TIMEOUT if exit_code == TIMEOUT_RC else EXIT_CODES.get(exit_code, Status.ERROR))
        outer_cases = [c for lv in outer for c in lv.cases.values()]
        extra += [c.status for c in outer_cases]
        reason = ""  # set below for a whole-binary skip or a bail out
        if not self._output:
            status = combine([Status.NO_TESTS] + extra)
        elif not self._tap:
            status = combine([Status.PARSE_ERROR] + extra)
        elif inner.plan == 0 and not cases:
            status = combine([Status.SKIP if inner.skip_all is not None else Status.NO_TESTS] + extra)
            reason = inner.skip_all or ""
        else:
            bailed = inner.bail is not None and not complete
            status = combine([c.status for c in cases] + extra + ([Status.ERROR] if bailed else []))
            reason = inner.bail or ""
        notes = [reason] if reason else []
        notes += [f"{c.name}: {c.status.value} {c.reason}".strip() for c in outer_cases
                  if c.status not in (Status.PASS, Status.SKIP, Status.XFAIL)]
        if not complete and inner.running:
            notes.append(f"cut short during: {inner.running}")
        reason = "; ".join(notes)
        measurements = {k: v for lv in self._levels.values() for k, v in lv.measurements.items()}
        return TestOutput(test=self.test, status=status, cases=cases, plan=inner.plan, complete=complete,
                          exit_code=exit_code, reason=reason, totals=inner.totals, measurements=measurements)


def parse(text: str, test: str, exit_code: int | None = None,
          env_skips: list[re.Pattern[str]] | None = None) -> TestOutput:
    """Parse the whole output `text` of the binary `test` (see TapParser)."""
    parser = TapParser(test, env_skips)
    for line in text.splitlines():
        parser.feed(line)
    return parser.finish(exit_code)
