"""Plain text for a mail or a cover letter (at most 100 columns): the rows that differ from base,
sizes merged, the reasons given, the totals, the notes, then the study's tables."""
from __future__ import annotations

from .common import WIDTH, flaky_lines, header_line, legend, merge_sizes, notes, wrap
from .extra import ExtraTable
from .model import Matrix, Row


def render_text(m: Matrix, extras: list[ExtraTable]) -> str:
    out = wrap(header_line(m.run)) + legend(m) + [""]
    rows = merge_sizes(m.notable())
    out += _table(m, rows) + _reasons(m)
    out += ["", "Totals:"]
    idw = max(len(c.id + " " + c.name + c.marks) for c in m.columns) if m.columns else 10
    for col, tot in zip(m.columns, m.totals):
        name = f"{col.id} {col.name}{col.marks}"
        out += wrap(f"{name:<{idw}}  " + ("=base" if col.same_as_base else tot.text()), WIDTH, " " * (idw + 2))
    said = notes(m)
    if said:
        out += [""] + [line for n in said for line in wrap(n)]
    if m.flaky:
        out += [""] + [line for n in flaky_lines(m) for line in wrap(n, WIDTH, "      ")]
    for t in extras:
        out += [""] + extra_text(t)
    return "\n".join(out) + "\n"


def _table(m: Matrix, rows: list[Row]) -> list[str]:
    widths = [max([len(c.id) + len(c.marks)] + [len(r.cells[i].shown()) for r in rows]) for i, c in
              enumerate(m.columns)]
    status_w = sum(w + 1 for w in widths)
    longest = max((len(r.key if " ... " not in r.name else "  ... " + r.name.split(" ... ", 1)[1]) for r in rows),
                  default=0)
    name_w = min(WIDTH - status_w - 1, max(longest, 30), 66)
    if not rows:
        return ["No case differs from base." if m.has_base else "Every case that reported passed."]
    out: list[str] = []
    if name_w < 30:  # too many columns for one line: one block per case
        for r in rows:
            out += wrap(r.key, WIDTH)
            out += wrap("  ".join(f"{c.id} {tc.shown()}" for c, tc in zip(m.columns, r.cells)), WIDTH, "    ")
        return out
    head = "case" if m.has_base else "case (no base column: the cases that did not all pass)"
    out.append(_line(head, [c.id + c.marks for c in m.columns], widths, name_w))
    group = None
    for r in rows:
        if r.group and " ... " in r.name and len(rows) > 1:
            if (r.test, r.group) != group:
                group = (r.test, r.group)
                out += wrap(f"{r.test}: {r.group}", WIDTH)
            label = "  ... " + r.name.split(" ... ", 1)[1]
        else:
            group, label = None, r.key
        parts = wrap(label, name_w, "      ")
        out += parts[:-1]
        out.append(_line(parts[-1], [c.shown() for c in r.cells], widths, name_w))
    return out


def _reasons(m: Matrix) -> list[str]:
    reasons: dict[tuple[str, str], int] = {}
    for r in m.notable():  # count cases, not the merged rows
        for tc in r.cells:
            if tc.differs and tc.reason and not tc.from_cell:
                reasons[(tc.label, tc.reason)] = reasons.get((tc.label, tc.reason), 0) + 1
    if not reasons:
        return []
    out = ["", "Reasons given by the cells that differ:"]
    for (label, why), n in reasons.items():
        out += wrap(f"  {label} ({n}x): {why}", WIDTH, "      ")
    return out


def _line(name: str, cells: list[str], widths: list[int], name_w: int) -> str:
    return (f"{name:<{name_w}} " + " ".join(f"{c:<{w}}" for c, w in zip(cells, widths))).rstrip()


NAME_MIN = 30  # the scenario column of a study's table, in the text format


def extra_text(t: ExtraTable) -> list[str]:
    """Fixed width, about WIDTH columns: short headers and words when the table has them, the first
    column wrapped (never narrower than NAME_MIN); cost rows after it, a column a line, since their
    cells are too wide to stand side by side."""
    heads = t.short_headers or t.headers
    body = t.rows[:len(t.rows) - len(t.costs)]
    rows = [[str(r[0])] + [t.short.get(str(x), str(x)) for x in r[1:]] for r in body]
    widths = [max([len(heads[i])] + [len(r[i]) for r in rows if i < len(r)]) for i in range(1, len(heads))]
    longest = max([len(heads[0])] + [len(r[0]) for r in rows])
    first = max(len(heads[0]), min(longest, max(NAME_MIN, WIDTH - 2 - sum(w + 2 for w in widths))))
    lines = wrap(t.title, WIDTH, "  ") + [
        "  " + f"{heads[0]:<{first}}  " + "  ".join(f"{h:<{w}}" for h, w in zip(heads[1:], widths)),
        "  " + "-" * first + "  " + "  ".join("-" * w for w in widths)]
    for r in rows:
        names = wrap(r[0], first, "  ")
        lines += ["  " + n for n in names[:-1]]
        lines.append(("  " + f"{names[-1]:<{first}}  " + "  ".join(f"{x:<{w}}" for x, w in zip(r[1:], widths)))
                     .rstrip())
    names = [f"{h} {n.rstrip('~')}" for h, n in zip(heads[1:], t.columns or t.headers[1:])]
    namew = max((len(n) for n in names), default=0)
    for row in t.rows[len(body):]:
        lines += wrap(f"  {row[0]}", WIDTH, "    ")
        lines += [f"    {n:<{namew}}  {x}" for n, x in zip(names, row[1:])]
    return lines + (wrap(t.note, WIDTH, "") if t.note else [])
