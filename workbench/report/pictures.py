"""The HTML report's pictures of a study's table, as inline SVG drawn by matplotlib.

- `grid_svg`: the verdicts as a colour grid, a row per scenario and a column per variant; a cell
  is filled by its word's mark (good, warn, harm, bad, none) and says its word; a cell whose word
  changed between boots is hatched and spells out the spread ("correct 4/5, missed pageout 1/5").
- `cost_svg`: per cost row a panel, per column a bar at the median with the 95% interval of the
  median as an error bar (none below MIN_N boots); a column whose change against base is
  significant has a bold edge and its label ends in "*". Under TCG the title says so.

Both return "" when there is nothing to draw. A `Figure` is used directly (no pyplot, no global
state); text stays text (`svg.fonttype: none`, so the page can be searched) and the ids are
salted with a fixed string, so the same table gives the same bytes.
"""
from __future__ import annotations

import io
import re
from contextlib import AbstractContextManager

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .extra import CostRow, ExtraTable, GridCell

COLOURS = {"good": "#a6e3b0", "warn": "#ffd873", "harm": "#ffb36b", "bad": "#ff9f96", "none": "#e6e9ed"}
EDGE = "#57606a"
INK = "#1f2328"
FONT = 9  # points
LINE = FONT * 1.3 / 72  # one line of text, in inches
SCENARIO_CHARS, CELL_CHARS = 50, 24  # wrap widths; the grid's width follows from them
SCENARIO_W, CELL_W, PAD = 4.1, 1.85, 0.1  # inches
RELATIVE = "TCG: relative only"
MIXED_HATCH = "//"  # a cell whose word changed between boots
_NUMBERED_ID = re.compile(r' id="[A-Za-z][\w.]*_\d+"')


def mark_of(table: ExtraTable, cell: GridCell) -> str:
    """The mark of the cell's word (the word most boots said): good, warn, harm, bad or none."""
    mark = table.marks.get(cell.word, "none")
    return mark if mark in COLOURS else "none"


def grid_svg(table: ExtraTable) -> str:
    if not table.grid or not table.columns:
        return ""
    with _style():
        return _svg(_grid_figure(table), "grid:" + table.title)


def _grid_figure(table: ExtraTable) -> Figure:
    heads = [_wrap(c, CELL_CHARS) for c in table.columns]
    labels = [_wrap(g.scenario, SCENARIO_CHARS) for g in table.grid]
    texts = [[_cell_lines(c) for c in g.cells] for g in table.grid]
    head_h = max(len(h) for h in heads) * LINE + 2 * PAD
    heights = [max([len(lab)] + [len(t) for t in row]) * LINE + 2 * PAD for lab, row in zip(labels, texts)]
    width = SCENARIO_W + CELL_W * len(table.columns) + PAD
    height = head_h + sum(heights) + 0.45  # the legend below
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)  # inches from the top left
    ax.set_axis_off()
    for j, head in enumerate(heads):
        _text(ax, SCENARIO_W + CELL_W * (j + 0.5), head_h / 2, head, weight="bold", ha="center")
    y = head_h
    for i, (g, lab, row, h) in enumerate(zip(table.grid, labels, texts, heights)):
        _text(ax, PAD, y + h / 2, lab, ha="left")
        for j, (cell, lines) in enumerate(zip(g.cells, row)):
            box = Rectangle((SCENARIO_W + CELL_W * j, y), CELL_W, h, facecolor=COLOURS[mark_of(table, cell)],
                            edgecolor=EDGE, linewidth=0.6, hatch=MIXED_HATCH if cell.mixed else None)
            box.set_gid(f"cell-{i}-{j}")
            ax.add_patch(box)
            _text(ax, SCENARIO_W + CELL_W * (j + 0.5), y + h / 2, lines, ha="center")
        y += h
    _grid_legend(ax, table, y + 0.1)
    return fig


def _cell_lines(cell: GridCell) -> list[str]:
    """The word, or over boots that disagree one "word n/boots" a line."""
    return [line for part in cell.text.split(", ") for line in _wrap(part, CELL_CHARS)]


def _grid_legend(ax: Axes, table: ExtraTable, top: float) -> None:
    used = {mark_of(table, c) for g in table.grid for c in g.cells}
    handles = [Patch(facecolor=COLOURS[m], edgecolor=EDGE, label=m) for m in COLOURS if m in used]
    if any(c.mixed for g in table.grid for c in g.cells):
        handles.append(Patch(facecolor="white", edgecolor=EDGE, hatch=MIXED_HATCH, label="the word changed between boots"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(PAD, top), bbox_transform=ax.transData,
              ncols=len(handles), frameon=False, fontsize=FONT, handlelength=1.5, borderaxespad=0)


def cost_svg(table: ExtraTable) -> str:
    rows = [c for c in table.costs if any(s is not None for s in c.summaries)]
    if not rows or not table.columns:
        return ""
    with _style():
        return _svg(_cost_figure(table, rows), "cost:" + table.title)


def _cost_figure(table: ExtraTable, rows: list[CostRow]) -> Figure:
    n = len(table.columns)
    fig = Figure(figsize=(9.5, 0.7 + len(rows) * (1.0 + 0.3 * n)), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for k, (ax, row) in enumerate(zip(axes, rows)):
        _cost_panel(ax, table, row, k)
    title = "cost: median per column, error bar: its 95% interval; bold edge and *: a significant change"
    if table.relative_only:
        title = f"{RELATIVE} (measured under an emulator: compare the columns, do not quote the times)\n" + title
    fig.suptitle(title, fontsize=FONT + 1)
    return fig


def _cost_panel(ax: Axes, table: ExtraTable, row: CostRow, k: int) -> None:
    ys = list(range(len(table.columns)))
    top = max((s.high if s.high is not None else s.median) for s in row.summaries if s is not None) or 1.0
    for y, s, c in zip(ys, row.summaries, row.comparisons):
        if s is None:
            ax.text(0, y, "  no sample", va="center", fontsize=FONT, color=EDGE, parse_math=False)
            continue
        significant = c is not None and c.significant
        err = None if s.low is None or s.high is None else [[s.median - s.low], [s.high - s.median]]
        ax.barh(y, s.median, xerr=err, height=0.6, color="#d0d7de" if c is None else "#8ec5ff",
                edgecolor="#b3261e" if significant else EDGE, linewidth=2.5 if significant else 0.6,
                error_kw={"ecolor": INK, "capsize": 4, "elinewidth": 1.2}, gid=f"bar-{k}-{y}")
        ax.text(max(s.median, s.high or 0) + top * 0.02, y, f"{row.cell(y)}  (n={s.n})", va="center",
                fontsize=FONT, color=INK, parse_math=False, weight="bold" if significant else "normal")
    ax.set_yticks(ys, [_tex_safe(c) for c in table.columns], fontsize=FONT)
    ax.invert_yaxis()  # the first column on top, as in the tables
    ax.set_xlim(0, top * 1.5)  # room for the labels right of the bars
    ax.set_title(_tex_safe(row.label), fontsize=FONT + 1, loc="left")
    ax.set_xlabel(row.unit + (f" ({RELATIVE})" if table.relative_only else ""), fontsize=FONT)
    ax.tick_params(axis="x", labelsize=FONT)
    ax.spines[["top", "right"]].set_visible(False)


def _text(ax: Axes, x: float, y: float, lines: list[str], ha: str, weight: str = "normal") -> None:
    ax.text(x, y, "\n".join(lines), ha=ha, va="center", fontsize=FONT, color=INK, weight=weight,
            linespacing=1.2, parse_math=False)


def _wrap(text: str, width: int) -> list[str]:
    """Greedy lines of at most `width` characters, broken after a space or an underscore (variant
    names are one long word of them) but never inside a size ("2048 kB"); a longer piece keeps its
    own line."""
    lines: list[str] = []
    for piece in re.split(r"(?<=_)|(?<= )(?![kMG]i?B\b)", text):
        if lines and len(lines[-1] + piece.rstrip()) <= width:
            lines[-1] += piece
        else:
            lines.append(piece)
    return [line.rstrip() for line in lines] or [""]


def _tex_safe(text: str) -> str:
    """Tick labels and titles go through mathtext: a "$" is a dollar, not maths."""
    return text.replace("$", r"\$")


def _style() -> AbstractContextManager[None]:
    """The settings the pictures are drawn and written with, for their duration only."""
    return rc_context({"svg.fonttype": "none", "font.size": FONT, "hatch.linewidth": 0.5})


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an <svg> element for inlining: no XML prolog or doctype, no date; the ids
    things refer to (clip paths, hatches, markers) hashed with `salt`, so they are the same each
    time and differ between the pictures of a page; the groups' numbered ids ("figure_1",
    "text_12"), which nothing refers to and every picture repeats, dropped."""
    buf = io.StringIO()
    with rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return _NUMBERED_ID.sub("", text[text.index("<svg"):])
