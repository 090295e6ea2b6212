"""The HTML report: one self-contained file (inline CSS, a few lines of JS for the filter).

templates/report/report.html.j2 renders the `Matrix` of workbench/report.py; the patches
(`<run dir>/patches/<variant>.patch`) are highlighted by Pygments with a <style> block.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

from . import report
from .settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates" / "report"
PATCH_CSS_CLASS = "patch"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def patch_html(run_dir: Path, variant: str, formatter: HtmlFormatter) -> str:
    """The variant's patch, highlighted ("" when the run folder has none)."""
    path = Path(run_dir) / "patches" / f"{variant}.patch"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return highlight(text, DiffLexer(), formatter)


def render_html(m: report.Matrix) -> str:
    formatter = HtmlFormatter(cssclass=PATCH_CSS_CLASS, style="default")
    patches = {c.variant: patch_html(m.run.dir, c.variant, formatter) for c in m.columns}
    return _environment().get_template("report.html.j2").render(
        m=m, run=m.run, header=report.header_line(m.run), patch_css=formatter.get_style_defs(f".{PATCH_CSS_CLASS}"),
        patches=patches, extras=report.extra_tables(m.run), notes=report.column_notes(m),
        status_class=lambda s: "st-" + s.value.lower(),
    )
