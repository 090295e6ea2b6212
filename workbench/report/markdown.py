"""Markdown (a merge request, a wiki page): the columns, the rows that differ from base (sizes
merged), the totals, the notes, then the study's tables."""
from __future__ import annotations

from .common import flaky_lines, header_line, merge_sizes, notes
from .extra import ExtraTable
from .model import Matrix

MAIN_HEADS = ("PASS", "SKIP", "env SKIP", "FAIL", "XFAIL")


def md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_") \
        .replace("<", "&lt;").replace("\n", " ")


def render_markdown(m: Matrix, extras: list[ExtraTable]) -> str:
    out = [f"**{md(header_line(m.run))}**", ""]
    out += [f"- `{c.id}` {md(c.name)}" + (" ~ (approximate helper prototype)" if c.approximate else "")
            + (" =base (same code as base here: reuses the base's cell)" if c.same_as_base else "")
            for c in m.columns]
    out += ["", "Only the cases where a variant differs from base (**bold\\***), then the totals.", ""]
    rows = merge_sizes(m.notable())
    heads = [f"{c.id} {md(c.name)}{' ~' if c.approximate else ''}{' =base' if c.same_as_base else ''}"
             for c in m.columns]
    if rows:
        out.append("| case | " + " | ".join(heads) + " |")
        out.append("|---|" + "---|" * len(heads))
        for r in rows:
            cells = [("**" + md(c.label) + "\\***" if c.differs else md(c.shown())) for c in r.cells]
            out.append(f"| {md(r.key)} | " + " | ".join(cells) + " |")
    else:
        out.append("_No case differs from base._")
    out += ["", "| column | cell | " + " | ".join(MAIN_HEADS) + " | other |", "|---|---|" + "---|" * 6]
    for col, tot in zip(m.columns, m.totals):
        if col.same_as_base:
            out.append(f"| {heads[col.index]} | =base |" + " |" * 6)
            continue
        c = tot.counts
        other = ", ".join(f"{k} {n}" for k, n in c.items() if k not in ("PASS", "SKIP", "FAIL", "XFAIL"))
        out.append(f"| {heads[col.index]} | {col.status.value} | {c['PASS']} | {c['SKIP']} | {tot.env_skips} | "
                   f"{c['FAIL']} | {c['XFAIL']} | {md(other)} |")
    said = notes(m)
    if said:
        out += [""] + [f"- {md(n)}" for n in said]
    if m.flaky:
        head, *lines = flaky_lines(m, "")
        out += ["", head, ""] + [f"- {md(line)}" for line in lines]
    for t in extras:
        out += [""] + extra_markdown(t)
    return "\n".join(out) + "\n"


def extra_markdown(t: ExtraTable) -> list[str]:
    out = [f"**{md(t.title)}**", "", "| " + " | ".join(md(h) for h in t.headers) + " |",
           "|" + "---|" * len(t.headers)]
    out += ["| " + " | ".join(md(str(x)) for x in r) + " |" for r in t.rows]
    return out + (["", md(t.note)] if t.note else [])
