"""Reports of a run: the table model (model.py), then one small module per format — terminal,
text (a mail), markdown, html, json, junit — the study's own tables (extra.py), the comparison
of two runs (compare.py) and the per-case listing of `invoke run` (cases.py)."""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

from ..errors import UserError
from ..mutants import show as mutants
from ..records import Run
from ..settings import PROJECT_ROOT
from .cases import cases_text
from .common import merge_sizes
from .compare import compare
from .coverage import coverage_callouts, coverage_tables
from .extra import ExtraTable, extra_tables
from .html import render_html
from .jsonfmt import to_json
from .junit import render_junit
from .kcidb import KcidbOptions
from .kcidb import export as kcidb_export
from .markdown import extra_markdown, render_markdown
from .model import Column, Flaky, Matrix, Row, TableCell, matrix_rows
from .terminal import render_terminal
from .text import extra_text, render_text

__all__ = ["FORMATS", "Column", "ExtraTable", "Flaky", "Matrix", "Row", "TableCell", "cases_text", "compare",
           "extra_tables", "matrix_rows", "merge_sizes", "render", "render_extra", "render_terminal"]
__all__ += ["KcidbOptions", "kcidb_export"]
FORMATS = ("terminal", "text", "markdown", "html", "json", "junit", "kcidb")


def render(run: Run, fmt: str = "terminal", templates: Path | None = None, color: bool = True,
           every: bool = False, kcidb: KcidbOptions | None = None) -> str:
    """The matrix of `run` in `fmt`. `templates` is the settings' templates folder: the HTML report's
    template comes from there (the project's own without it), and so do the words of the probe of a
    first-wave run, which recorded none (without it, such a probe gets no verdict table)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown report format {fmt!r}", f"Use one of: {', '.join(FORMATS)}.")
    m = matrix_rows(run)
    extras = extra_tables(m, templates) + coverage_tables(m)
    said = [f"coverage: {line}" for line in coverage_callouts(m)]  # above the case table: the change did not run
    if fmt == "terminal":
        return _above(render_terminal(m, extras, color=color, every=every), said) + _lines(mutants.text_lines(run))
    if fmt == "text":
        return _above(render_text(m, extras), said) + _lines(mutants.text_lines(run))
    if fmt == "markdown":
        return _above(render_markdown(m, extras), said) + _lines(mutants.markdown_lines(run))
    if fmt == "html":
        page = render_html(m, extras, templates or PROJECT_ROOT / "templates")
        lines = mutants.text_lines(run)
        if not lines:
            return page
        pre = f'<section id="mutants"><h2>Mutants</h2><pre>{escape(chr(10).join(lines[1:]))}</pre></section>\n'
        return page.replace("</body>", pre + "</body>", 1)
    if fmt == "json":
        section = mutants.to_json(run)
        return json.dumps(to_json(m, extras) | ({"mutants": section} if section else {}), indent=1) + "\n"
    if fmt == "kcidb":  # validated with kcidb-io's schema: an invalid run is refused here
        return kcidb_export(m, kcidb or KcidbOptions(), templates).text
    return render_junit(m)


def _above(text: str, lines: list[str]) -> str:
    """`lines` right after the report's first line (its header)."""
    first, _, rest = text.partition("\n")
    return "\n".join([first, *lines, rest]) if lines else text


def _lines(lines: list[str]) -> str:
    """A section after a format's own output (the mutants': "" in a run without mutants)."""
    return "\n".join(lines) + "\n" if lines else ""


def render_extra(run: Run, fmt: str = "text", templates: Path | None = None) -> str:
    """Only the study's extra tables (for the cover letter): "" when there are none."""
    tables = extra_tables(matrix_rows(run), templates)
    if not tables:
        return ""
    if fmt == "json":
        return json.dumps([t.to_json() for t in tables], indent=1) + "\n"
    render_one = extra_markdown if fmt == "markdown" else extra_text
    return "\n\n".join("\n".join(render_one(t)) for t in tables) + "\n"
