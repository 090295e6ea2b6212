"""JUnit XML for CI dashboards: one <testsuite> per column, one <testcase> per row (classname:
the test binary). FAIL and XPASS are failures, a flaky case too; SKIP, XFAIL and NOT_RUN are
skipped; anything broken is an error carrying the splat or the build errors."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..status import Status
from .model import Column, Matrix

_XML_BAD = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
FAILURES = frozenset({Status.FAIL, Status.XPASS})


def _x(text: str) -> str:
    return _XML_BAD.sub("?", text)


def render_junit(m: Matrix) -> str:
    root = ET.Element("testsuites", name=_x(f"{m.run.study} at {m.run.base} ({m.run.id})"))
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for col in m.columns:
        n = _suite(ET.SubElement(root, "testsuite", name=_x(col.name)), m, col)
        for k, v in n.items():
            total[k] += v
    for k, v in total.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(suite: ET.Element, m: Matrix, col: Column) -> dict[str, int]:
    props = ET.SubElement(suite, "properties")
    for k, v in (("base", m.run.base), ("kernelversion", m.run.kernelversion), ("commit", col.commit),
                 ("config", col.config), ("same_as_base", str(col.same_as_base).lower()),
                 ("approximate", str(col.approximate).lower()), ("cell_status", col.status.value),
                 ("cell_reason", col.reason)):
        ET.SubElement(props, "property", name=k, value=_x(v))
    n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in m.rows:
        c = r.cells[col.index]
        tc = ET.SubElement(suite, "testcase", classname=_x(r.test), name=_x(r.name))
        n["tests"] += 1
        msg = _x(f"{c.label}: {c.reason}" if c.reason else c.label)
        if c.flaky:
            ET.SubElement(tc, "failure", type="FLAKY", message=msg)
            n["failures"] += 1
        elif c.status in FAILURES:
            ET.SubElement(tc, "failure", type=c.status.value, message=msg)
            n["failures"] += 1
        elif c.status in (Status.SKIP, Status.XFAIL, Status.NOT_RUN):
            ET.SubElement(tc, "skipped", message=msg)
            n["skipped"] += 1
        elif c.status is not Status.PASS:
            err = ET.SubElement(tc, "error", type=c.status.value, message=msg)
            lines = [line for x in col.cells for line in x.splat + x.build_errors] if c.from_cell else []
            if lines:
                err.text = _x("\n".join(lines))
            n["errors"] += 1
    for k, count in n.items():
        suite.set(k, str(count))
    suite.set("time", f"{sum(sum(x.timings.values()) for x in col.cells):.1f}")
    return n
