"""The HTML report: one self-contained file (inline CSS and SVG, a few lines of JS for the filter).

`<templates>/report/report.html.j2` (the settings' templates folder) renders the `Matrix`: first
the study's tables as pictures (pictures.py), then the rows that differ from base (sizes merged),
then every case. The patches (`<run dir>/patches/<variant>.patch`) are highlighted by Pygments
with a <style> block.
"""
from __future__ import annotations

from pathlib import Path

import jinja2
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer

from ..records import Coverage
from ..status import Status
from .common import column_notes, header_line, merge_sizes
from .coverage import annotate, first_coverage
from .extra import ExtraTable
from .model import Matrix
from .pictures import cost_svg, grid_svg

PATCH_CSS_CLASS = "patch"


def patch_html(run_dir: Path, variant: str, formatter: HtmlFormatter[str], cov: Coverage | None = None) -> str:
    """The variant's patch, highlighted ("" when the run folder has none); with coverage, each site and
    changed line followed by its counts per test."""
    try:
        text = (Path(run_dir) / "patches" / f"{variant}.patch").read_text(errors="replace")
    except OSError:
        return ""
    return str(highlight(annotate(text, cov), DiffLexer(), formatter))


def render_html(m: Matrix, extras: list[ExtraTable], templates: Path) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates / "report")), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    formatter = HtmlFormatter(cssclass=PATCH_CSS_CLASS, style="default")
    patches = {c.variant: patch_html(m.run.dir, c.variant, formatter, first_coverage(c)) for c in m.columns}
    return env.get_template("report.html.j2").render(
        m=m, run=m.run, header=header_line(m.run), patch_css=formatter.get_style_defs(f".{PATCH_CSS_CLASS}"),  # type: ignore[no-untyped-call]
        patches=patches, extras=[(t, grid_svg(t), cost_svg(t)) for t in extras], notable=merge_sizes(m.notable()),
        notes=column_notes(m), status_class=_status_class)


def _status_class(s: Status) -> str:
    return "st-" + s.value.lower()
