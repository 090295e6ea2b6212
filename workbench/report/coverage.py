"""Coverage tables (a run with a coverage config): per column, each study site and changed line, how
often it ran in each test and, for a site, how often its check said shared (S) and exclusive (E);
then, for a test that marks its cases (the probes), which case reached which site. They are study
tables like the probe's verdicts, so every format shows them; JSON also carries each cell's record.
"""
from __future__ import annotations

import re

from ..records import Coverage, Spot, Tally
from ..study.observe import NO_VERDICT
from .extra import ExtraTable
from .model import Column, Matrix

NOT_SEPARABLE = "not separable"


def coverage_tables(m: Matrix) -> list[ExtraTable]:
    """The per-test table and, where a test marked its cases, the per-case one ([] without coverage)."""
    cols = [(c, first_coverage(c)) for c in m.columns if any(cell.coverage for cell in c.cells)]
    if not cols:
        return []
    tests = [t for t in m.run.tests if any(cov and t in cov.tests for _, cov in cols)]
    rows: list[list[str]] = []
    for col, cov in cols:
        if cov is None or not cov.tests:
            rows.append([_name(col), cov.missing if cov else "no coverage in this cell"] + ["-"] * len(tests))
            continue
        for i, spot in enumerate(cov.spots):
            rows.append([_name(col), spot_label(spot)] + [tally_text(cov.tests[t][i], spot) if t in cov.tests else "-"
                                                           for t in tests])
    boots = " (the first boot of each column)" if m.repeats > 1 else ""
    note = ("Runs of each line per test" + boots + "; for a site, S/E = how often its check said shared / exclusive "
            "(site line runs minus runs of the line after its if); 'no code': gcov counts no code on that line (the "
            "compiler merged it into a neighbour), so it says nothing of whether it ran. " + "; ".join(unreached(cols)))
    if notes := unobservable_notes(cols):
        note += (f" Sites marked ({NO_VERDICT}): no user space program can observe their decision, so their counts "
                 "say the code ran and how it decided, and no test verdict speaks of them: " + "; ".join(notes) + ".")
    out = [ExtraTable(title="Coverage: the sites and the changed lines, per test", headers=["column", "line"] + tests,
                      rows=rows, note=note.strip())]
    for test in [t for t in tests if any(cov and t in cov.cases for _, cov in cols)]:
        out.append(case_table(test, cols))
    return out


def first_coverage(col: Column) -> Coverage | None:
    """The coverage of the column's first boot that has one."""
    return next((cell.coverage for cell in col.cells if cell.coverage), None)


def _name(col: Column) -> str:
    return f"{col.id} {col.name}"


def spot_label(spot: Spot) -> str:
    what = spot.label if spot.kind == "site" else f"changed: {spot.label}"
    return f"{spot.line or '?'} {what}" + (f" ({NO_VERDICT})" if spot.unobservable else "")


def unobservable_notes(cols: list[tuple[Column, Coverage | None]]) -> list[str]:
    """One note per unobservable site (by its label): why no program can observe its decision."""
    said = {f"{spot_label(s)}: {s.unobservable.rstrip('.')}" for _, cov in cols if cov for s in cov.spots
            if s.unobservable}
    return sorted(said)


def tally_text(t: Tally, spot: Spot) -> str:
    if t.count is None:
        return "no code" if spot.line else "-"
    if t.shared is not None:
        return f"{t.count} S{t.shared}/E{t.exclusive}"
    if spot.kind == "site" and t.count:
        return f"{t.count} ({NOT_SEPARABLE})"
    return str(t.count)


def coverage_callouts(m: Matrix) -> list[str]:
    """Every site and changed line no test reached, per column (what the reports say above the table)."""
    return unreached([(c, first_coverage(c)) for c in m.columns if any(cell.coverage for cell in c.cells)])


def unreached(cols: list[tuple[Column, Coverage | None]]) -> list[str]:
    """"[2] mine: line 120 changed: ...: reached by no test", for every site and changed line no test ran."""
    said = []
    for col, cov in cols:
        if cov is None or not cov.tests:
            continue
        for i, spot in enumerate(cov.spots):
            counts = [ts[i].count for ts in cov.tests.values()]
            if spot.line and all(c == 0 for c in counts):  # None: gcov counts no code there (-O2 merged it)
                said.append(f"{_name(col)}: {spot_label(spot)}: reached by no test")
    return said


def case_table(test: str, cols: list[tuple[Column, Coverage | None]]) -> ExtraTable:
    """Per case of `test`, per column: the sites it reached (s1, s2, ... as numbered in the note)."""
    names: list[str] = []
    for _, cov in cols:
        for name in (cov.cases.get(test, {}) if cov else {}):
            if name not in names:
                names.append(name)
    rows = []
    for name in names:
        cells = [_case_cell(cov, test, name) if cov else "-" for _, cov in cols]
        if any(c not in ("", "-") for c in cells):
            rows.append([name] + cells)
    legend = "; ".join(f"{_name(col)}: " + ", ".join(f"s{k + 1} = {spot_label(s)}" for k, s in _sites(cov))
                       for col, cov in cols if cov)
    return ExtraTable(title=f"Coverage per case of {test}: the sites each case reached (S/E: shared/exclusive)",
                      headers=["case"] + [_name(c) for c, _ in cols], rows=rows,
                      note=f"Only the cases that reached a site. {legend}")


def _sites(cov: Coverage) -> list[tuple[int, Spot]]:
    return [(k, s) for k, s in enumerate(s for s in cov.spots if s.kind == "site")]


def _case_cell(cov: Coverage, test: str, name: str) -> str:
    tallies = cov.cases.get(test, {}).get(name)
    if tallies is None:
        return "-"
    index = [i for i, s in enumerate(cov.spots) if s.kind == "site"]
    parts = []
    for k, i in enumerate(index):
        t = tallies[i]
        if t.count:
            parts.append(f"s{k + 1} {t.shared}/{t.exclusive}" if t.shared is not None else f"s{k + 1} {t.count} n/s")
    return " ".join(parts)


def compare_decisions(ca: Column, cb: Column) -> list[str]:
    """For `report --against`: each site and changed line (matched by what it is, not by its line
    number) whose counts or decisions in a test changed from column A to column B."""
    a, b = first_coverage(ca), first_coverage(cb)
    if a is None or b is None:
        return [] if a is b else [f"  coverage: only in {'A' if a else 'B'}"]
    lines = []
    theirs = {(s.kind, s.label): i for i, s in enumerate(b.spots)}
    for i, spot in enumerate(a.spots):
        j = theirs.get((spot.kind, spot.label))
        for test in (t for t in a.tests if t in b.tests and j is not None):
            assert j is not None
            was, now = tally_text(a.tests[test][i], spot), tally_text(b.tests[test][j], b.spots[j])
            if was != now:
                lines.append(f"  coverage {test}: {spot_label(spot)}: {was} -> {now}")
    return lines


def annotate(patch: str, cov: Coverage | None) -> str:
    """The patch with each line that is a spot (a site in the context or a changed line) followed by
    its counts per test: `	<< cow 0 · probe 12 S3/E9` (the patch unchanged without coverage)."""
    if cov is None or not cov.tests:
        return patch
    at: dict[tuple[str, int], int] = {}
    for i, s in enumerate(cov.spots):
        at.setdefault((s.file, s.line), i)  # a site before the changed line on it: its decisions are shown
    out, file, line = [], "", 0
    for raw in patch.splitlines():
        if raw.startswith("+++ "):
            file = raw[4:].removeprefix("b/").strip()
        elif raw.startswith("@@"):
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", raw)
            line = int(m.group(1)) if m else 0
        elif line and raw[:1] in (" ", "+"):
            k = at.get((file, line))
            if k is not None:
                raw += "\t<< " + " · ".join(f"{t} {tally_text(ts[k], cov.spots[k])}" for t, ts in cov.tests.items())
            line += 1
        out.append(raw)
    return "\n".join(out) + "\n"
