"""The mm selftests the way the kernel runs them: `--tests mm:CATEGORY` is `run_vmtests.sh -t CATEGORY`.

run_vmtests.sh (tools/testing/selftests/mm) runs every binary of a category, each under a
title, its output prefixed with `# `, and then prints its own result line:

    TAP version 13
    # --------------------------          \\
    # running ./gup_test -u -w -n 1         |  one run: its title,
    # --------------------------          /
    # TAP version 13                        |  the binary's own TAP, one level down,
    # ok 1 ...                              |
    # [PASS]                                |
    ok 1 gup_test -u -w -n 1                |  and run_vmtests.sh's line for it (`# SKIP`, `# exit=1`)

Each run is parsed on its own (guest/tap.py), its cases named `<run>: <case>`; a run whose
binary printed no case is one case, the run, with run_vmtests.sh's status for it. The categories
a base has are read from its run_vmtests.sh (`CATEGORY="..."`).
"""
from __future__ import annotations

import re

from ..records import Case, TestOutput
from ..status import Status, combine
from . import tap

PREFIX = "mm:"
CATEGORY = re.compile(r'CATEGORY="([\w-]+)"')
_TITLE = re.compile(r"^# running (.*)$")
_RESULT = re.compile(r"^(not )?ok \d+ (.*?)(?: # (SKIP|exit=(\d+)).*)?$")


def categories(script: str) -> list[str]:
    """The categories a run_vmtests.sh knows, in order."""
    return list(dict.fromkeys(CATEGORY.findall(script)))


def _runs(text: str) -> list[tuple[str, list[str], str]]:
    """(title, the run's own lines one level up, run_vmtests.sh's result line) of every run."""
    runs: list[tuple[str, list[str], str]] = []
    title, body = "", list[str]()
    for line in text.splitlines():
        line = line.rstrip()
        m = _TITLE.match(line)
        if m:
            title, body = m.group(1).strip(), []
            continue
        if _RESULT.match(line) and title:
            runs.append((title, body, line))
            title, body = "", []
        elif title and (line.startswith("# ") or line == "#"):
            body.append(line[2:])
    return runs


def _pretty(title: str) -> str:
    return re.sub(r"^(bash )?\./", "", title)


def parse(text: str, test: str, exit_code: int | None) -> TestOutput:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for title, body, result in _runs(text):
        name = _pretty(title)
        seen[name] = seen.get(name, 0) + 1
        name = name if seen[name] == 1 else f"{name} [{seen[name]}]"
        m = _RESULT.match(result)
        assert m is not None
        status = Status.SKIP if m.group(3) == "SKIP" else Status.PASS if not m.group(1) else \
            Status.TIMEOUT if m.group(4) == str(tap.TIMEOUT_RC) else Status.FAIL
        inner = tap.parse("\n".join(line for line in body if not line.startswith("---")), name,
                          exit_code=None).cases
        if inner:
            cases += [Case(test=test, name=f"{name}: {c.name}", status=c.status, reason=c.reason, env_skip=c.env_skip,
                           group=name, number=len(cases) + 1) for c in inner]
            if status in (Status.FAIL, Status.TIMEOUT) and all(c.status is not Status.FAIL for c in inner):
                cases.append(Case(test=test, name=name, status=status, reason=m.group(3) or "", group=name,
                                  number=len(cases) + 1))
        else:
            reason = next((line for line in reversed(body) if line and not line.startswith("[")), "")
            cases.append(Case(test=test, name=name, status=status, reason=reason if status is not Status.PASS else "",
                              group=name, number=len(cases) + 1))
    if not cases:
        return tap.parse(text, test, exit_code)  # no run at all: what the script said, as a binary
    status = combine([c.status for c in cases])
    return TestOutput(test=test, status=status, cases=cases, plan=len(cases), complete=exit_code is not None,
                      exit_code=exit_code)
