"""A fake bisect step for the unit tests: what a kernel would say, read from a table.

    python fake_step.py TABLE.json STATE.json

TABLE maps commit ids to {"status": "PASS"|"BUILD_FAILED"|..., "cases": {name: [status, reason]}}.
It follows the same protocol as the real step (workbench.bisect.step_main).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project (tests/fakes/ is two below)

from workbench import bisect
from workbench.records import Case, CellResult, TestOutput
from workbench.status import Status


def cells_for(table: dict, commit: str) -> list[CellResult]:
    entry = table[commit]
    cases = [Case("cow", name, Status(st), reason, env_skip=reason.startswith("env:"))
             for name, (st, reason) in entry.get("cases", {}).items()]
    out = TestOutput(test="cow", status=Status.PASS, cases=cases, plan=len(cases), complete=True, exit_code=0)
    return [CellResult(identity=commit, base=commit[:12], variant="base", commit=commit,
                       status=Status(entry.get("status", "PASS")), tests={"cow": out},
                       build_errors=entry.get("build_errors", []), reason=entry.get("reason", ""),
                       splat=entry.get("splat", []))]


def main(argv: list[str]) -> int:
    table = json.loads(Path(argv[0]).read_text())
    state, commit, subject, _ = bisect.load_step(argv[1:])
    return bisect.finish_step(state, commit, subject, cells_for(table, commit), time.monotonic())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
