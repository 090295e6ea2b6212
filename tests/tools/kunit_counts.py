"""Print kunit_tool's own counts for KTAP logs, as JSON: run with the kernel tree's kunit_tool.

    python3 tests/tools/kunit_counts.py TREE/tools/testing/kunit LOG...

kunit_tool is not part of this project (it is GPL-2.0, in the kernel tree); this only calls its
parser, so the tests can hold our parser's counts against it. Its parser prints progress as it
goes: older ones to `kunit_printer.stdout`, newer ones (7.x) to the printer they are given; both
are sent nowhere (which one is read from the function's own parameters, not from a version).
"""
from __future__ import annotations

import inspect
import io
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    sys.path.insert(0, argv[0])
    import kunit_parser  # type: ignore[import-not-found]
    import kunit_printer  # type: ignore[import-not-found]

    kunit_printer.stdout._output = io.StringIO()  # its progress lines are not what we want
    quiet = ((kunit_printer.Printer(output=io.StringIO()),)
             if "printer" in inspect.signature(kunit_parser.parse_run_tests).parameters else ())
    out = {}
    for log in argv[1:]:
        lines = Path(log).read_text(errors="replace").splitlines(keepends=True)
        test = kunit_parser.parse_run_tests(lines, *quiet)
        c = test.counts
        out[Path(log).name] = {"passed": c.passed, "failed": c.failed, "crashed": c.crashed, "skipped": c.skipped,
                               "errors": c.errors, "status": test.status.name}
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
