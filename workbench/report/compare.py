"""What changed from one run to another: per column both have, the cases whose status changed."""
from __future__ import annotations

from ..records import Run
from .common import header_line
from .model import Column, Matrix, Row, matrix_rows


def compare(run_a: Run, run_b: Run) -> str:
    """Per shared column (by name: variant, under its config when there are several) the cases whose
    status changed (old -> new), the cases only one side has, and the totals when they differ."""
    a, b = matrix_rows(run_a), matrix_rows(run_b)
    out = [f"A: {header_line(run_a)}", f"B: {header_line(run_b)}"]
    cols_a, cols_b = {c.name: c for c in a.columns}, {c.name: c for c in b.columns}
    only_a = [v for v in cols_a if v not in cols_b]
    only_b = [v for v in cols_b if v not in cols_a]
    if only_a:
        out.append(f"columns only in A: {', '.join(only_a)}")
    if only_b:
        out.append(f"columns only in B: {', '.join(only_b)}")
    changed_any = False
    for name in [v for v in cols_a if v in cols_b]:
        lines, cell = _column(a, b, cols_a[name], cols_b[name])
        changed_any |= bool(lines or cell)
        out.append(f"== {name}: " + (f"{len(lines)} case(s) changed{cell}" if lines or cell else "no change"))
        out += lines
        ta, tb = a.totals[cols_a[name].index].text(), b.totals[cols_b[name].index].text()
        if ta != tb:
            out.append(f"  totals: {ta}  ->  {tb}")
    if not changed_any and not only_a and not only_b:
        out.append("No status changed.")
    return "\n".join(out) + "\n"


def _column(a: Matrix, b: Matrix, ca: Column, cb: Column) -> tuple[list[str], str]:
    rows_a: dict[str, Row] = {r.key: r for r in a.rows}
    rows_b: dict[str, Row] = {r.key: r for r in b.rows}
    ia, ib = ca.index, cb.index
    lines = []
    for key, ra in rows_a.items():
        rb = rows_b.get(key)
        if rb is None:
            lines.append(f"  only in A: {key} ({ra.cells[ia].label})")
        elif ra.cells[ia].label != rb.cells[ib].label:
            lines.append(f"  {key}: {ra.cells[ia].label} -> {rb.cells[ib].label}"
                         + (f"  # {rb.cells[ib].reason}" if rb.cells[ib].reason else ""))
    lines += [f"  only in B: {key} ({r.cells[ib].label})" for key, r in rows_b.items() if key not in rows_a]
    cell = f"; cell {ca.status.value} -> {cb.status.value}" if ca.status is not cb.status else ""
    return lines, cell
