"""What changed from one run to another: per column both have, the cases whose status changed, and
the cost rows measured in both, compared the way a column is compared with base (stats.py: %change
with its interval, Mann-Whitney U, Holm over the rows of the column), and with a coverage config the
sites and changed lines whose counts or decisions changed."""
from __future__ import annotations

import statistics
from collections import Counter

from ..records import Run
from ..status import Status
from ..study.words import Words
from .common import header_line
from .coverage import compare_decisions
from .extra import cost_samples, num, words_of
from .model import Column, Matrix, Row, matrix_rows
from .stats import compare_rows


def compare(run_a: Run, run_b: Run) -> str:
    """Per shared column (by name: variant, under its config when there are several) the cases whose
    status changed (old -> new), the probe cases whose verdict word changed (each run read in its own
    words), the cases only one side has, and the totals when they differ."""
    a, b = matrix_rows(run_a), matrix_rows(run_b)
    words_a, words_b = words_of(run_a, None), words_of(run_b, None)
    out = [f"A: {header_line(run_a)}", f"B: {header_line(run_b)}"]
    if run_a.study != run_b.study:  # a variant name means another patch in another study
        out.append(f"note: A is a run of study {run_a.study!r}, B of study {run_b.study!r}: a column of the same "
                   "name is a different change in each (compare runs of one study to see what a change did)")
    cols_a, cols_b = {c.name: c for c in a.columns}, {c.name: c for c in b.columns}
    only_a = [v for v in cols_a if v not in cols_b]
    only_b = [v for v in cols_b if v not in cols_a]
    if only_a:
        out.append(f"columns only in A: {', '.join(only_a)}")
    if only_b:
        out.append(f"columns only in B: {', '.join(only_b)}")
    changed_any = marked = False
    for name in [v for v in cols_a if v in cols_b]:
        lines, cell = _column(a, b, cols_a[name], cols_b[name])
        lines += _verdicts(words_a, words_b, cols_a[name], cols_b[name])
        lines += compare_decisions(cols_a[name], cols_b[name])
        changed_any |= bool(lines or cell)
        out.append(f"== {name}: " + (f"{len(lines)} case(s) changed{cell}" if lines or cell else "no change"))
        out += lines
        ta, tb = a.totals[cols_a[name].index].text(), b.totals[cols_b[name].index].text()
        if ta != tb:
            out.append(f"  totals: {ta}  ->  {tb}")
        costs = _costs(run_a, cols_a[name], cols_b[name])
        marked |= any(line.endswith("*") for line in costs)
        out += costs
    changed_any |= marked
    if marked:  # the A/A check found such a mark between runs under different load (report/extra.py)
        out.append("note: a cost marked * differs between the two runs' boots, and each run's host load is part of "
                   "it; a kernel's own cost is told by columns of one run (`matrix --repeat 5`), tested against "
                   "their base there")
    if not changed_any and not only_a and not only_b:
        out.append("No status changed, no verdict word changed, no cost changed significantly.")
    return "\n".join(out) + "\n"


def _column(a: Matrix, b: Matrix, ca: Column, cb: Column) -> tuple[list[str], str]:
    rows_a: dict[str, Row] = {r.key: r for r in a.rows}
    rows_b: dict[str, Row] = {r.key: r for r in b.rows}
    ia, ib = ca.index, cb.index
    lines = []
    for key, ra in rows_a.items():
        rb = rows_b.get(key)
        if rb is None:
            if _has(ra, ia):
                lines.append(f"  only in A: {key} ({ra.cells[ia].label})")
        elif ra.cells[ia].label != rb.cells[ib].label:
            lines.append(f"  {key}: {ra.cells[ia].label} -> {rb.cells[ib].label}"
                         + (f"  # {rb.cells[ib].reason}" if rb.cells[ib].reason else ""))
    lines += [f"  only in B: {key} ({r.cells[ib].label})" for key, r in rows_b.items()
              if key not in rows_a and _has(r, ib)]
    cell = f"; cell {ca.status.value} -> {cb.status.value}" if ca.status is not cb.status else ""
    return lines, cell


def _verdicts(words_a: dict[str, Words], words_b: dict[str, Words], ca: Column, cb: Column) -> list[str]:
    """The cases of a probe both runs have words for whose word changed (over the repeats: every word
    a column said, joined), whatever their status did: FAIL 'missed' -> FAIL 'split' is a change."""
    lines = []
    for test in [t for t in words_a if t in words_b]:
        said_a, said_b = _said(ca, test, words_a[test]), _said(cb, test, words_b[test])
        lines += [f"  verdict {test}: {name}: {said_a[name]} -> {said_b[name]}"
                  for name in said_a if name in said_b and said_a[name] != said_b[name]]
    return lines


def _said(col: Column, test: str, words: Words) -> dict[str, str]:
    said: dict[str, Counter[str]] = {}
    for cell in col.cells:
        out = cell.tests.get(test)
        for case in out.cases if out else ():
            said.setdefault(case.name, Counter())[words.word(case)] += 1
    return {name: " / ".join(sorted(words)) for name, words in said.items()}


def _has(row: Row, i: int) -> bool:
    """Whether column i has the row's case (a row another column of its run has reads NOT_RUN here)."""
    return row.cells[i].status is not Status.NOT_RUN


def _costs(run_a: Run, ca: Column, cb: Column) -> list[str]:
    """The cost rows both columns measured: A's median -> B's, B's change and its interval, p."""
    lines = []
    for test in run_a.tests:
        sa, sb = cost_samples(ca, test), cost_samples(cb, test)
        both = {label: (sa[label], sb[label]) for label in sa if label in sb}
        for label, c in compare_rows(both).items():
            xa, xb = both[label]  # the medians only: no interval is shown here
            change = "" if c.change_pct is None else f" {c.change_pct:+.1f}%"
            ci = "" if c.low_pct is None or c.high_pct is None else f" [{c.low_pct:+.0f}, {c.high_pct:+.0f}]"
            test_text = (f"; {c.why_not}" if c.why_not else
                         f"; p {c.p:.3f}, Holm {c.p_adjusted:.3f}" if c.p is not None and c.p_adjusted is not None
                         else "")
            lines.append(f"  cost {label}: {num(statistics.median(xa))} ms (n={len(xa)}) -> "
                         f"{num(statistics.median(xb))} ms (n={len(xb)})"
                         f"{change}{ci}{test_text}" + (" *" if c.significant else ""))
    return lines
