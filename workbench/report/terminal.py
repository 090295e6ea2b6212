"""The terminal: every row, coloured (rich), rows that differ only in a size merged, then the
legend, the notes and the study's tables."""
from __future__ import annotations

import io
import shutil

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..status import Status
from .common import flaky_lines, header_line, legend, merge_sizes, notes
from .extra import ExtraTable
from .model import Matrix

STYLE = {Status.PASS: "green", Status.SKIP: "yellow", Status.XFAIL: "cyan", Status.XPASS: "magenta",
         Status.FAIL: "bold red", Status.ERROR: "bold red", Status.TIMEOUT: "bold magenta",
         Status.CRASH: "bold white on red", Status.BUILD_FAILED: "bold red", Status.INFRA_ERROR: "blue",
         Status.NO_TESTS: "dim", Status.PARSE_ERROR: "red", Status.NOT_RUN: "dim"}
MARK_STYLE = {"good": "green", "bad": "bold red", "harm": "dark_orange", "warn": "yellow"}


def render_terminal(m: Matrix, extras: list[ExtraTable], width: int | None = None, color: bool = True,
                    every: bool = False) -> str:
    """The table, then the legend, the notes and the study's tables. By default only the rows that
    differ from base (or, without a base, that did not all pass), sizes merged: what a reader needs
    first; `every` shows every row."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, no_color=not color,
                      width=width or shutil.get_terminal_size((160, 40)).columns)
    console.print(Text(header_line(m.run), style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    table.add_column("case", footer="totals", overflow="fold")
    for col, tot in zip(m.columns, m.totals):
        table.add_column(Text(f"{col.id} {col.title}", style="italic" if col.approximate else ""),
                         footer="=base" if col.same_as_base else tot.text("\n"), no_wrap=True)
    shown = m.rows if every else m.notable()
    for r in merge_sizes(shown):
        cells = [Text("=base", style="dim " + STYLE[c.status]) if c.same_as_base
                 else Text(c.label + ("*" if c.differs else ""), style=("bold " if c.differs else "")
                           + ("dark_orange" if c.flaky else "dim yellow" if c.env_skip else STYLE[c.status]))
                 for c in r.cells]
        table.add_row(r.key, *cells, style="on grey19" if r.differs else None)
    console.print(table)
    for line in legend(m):
        console.print(Text(line, style="dim"))
    console.print(Text(f"{len(m.differing)} of {len(m.rows)} rows differ from base", style="bold"))
    if not every and len(shown) < len(m.rows):
        console.print(Text(f"{len(m.rows) - len(shown)} rows that read the same as base are not shown: "
                           "--all shows every row", style="dim"))
    for line in notes(m) + flaky_lines(m):
        console.print(Text(line))
    for t in extras:
        et = Table(title=t.title, caption=t.note or None, box=box.SIMPLE_HEAD)
        for h in t.headers:
            et.add_column(h)
        for row in t.rows:
            et.add_row(*[Text(str(x), style=MARK_STYLE.get(t.marks.get(str(x), ""), "")) for x in row])
        console.print(et)
    return buf.getvalue()
