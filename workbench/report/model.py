"""Rendering runs: the per-case listing of `invoke run` and the matrix table in every format.

`matrix_rows(run)` builds the table once (a `Matrix`: columns, rows of `TableCell`s, totals,
flaky cases); every format renders that model: `render(run, fmt)` for terminal, text, markdown,
html (workbench/report_html.py), json and junit. A study adds tables of its own (`ExtraTable`,
from `extra_tables(run)`), which every format renders after the main table. `compare(a, b)`
lists what changed between two runs.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from .cell import CellResult
from .errors import UserError
from .results import Run
from .settings import PROJECT_ROOT
from .study import load as load_study
from .status import PRECEDENCE, Case, Status, combine

BASE = "base"
WIDTH = 100  # text format: a mail or cover letter
FORMATS = ("terminal", "text", "markdown", "html", "json", "junit")
# A cell ending so may lack some (or all) of its cases: the missing rows show the cell's status.
CELL_LEVEL = frozenset({Status.CRASH, Status.TIMEOUT, Status.BUILD_FAILED, Status.INFRA_ERROR, Status.NOT_RUN,
                        Status.PARSE_ERROR, Status.NO_TESTS})
MAIN = (Status.PASS, Status.SKIP, Status.FAIL, Status.XFAIL)  # always in the totals; others when present
NOT_AT_BASE = "(not at this base)"


# --- the model --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TableCell:
    status: Status  # combine() over the repeats
    statuses: tuple[Status, ...] = ()  # distinct statuses over the repeats, first seen first
    reason: str = ""  # skip / fail reason, or the cell's reason when the case is missing
    env_skip: bool = False  # a SKIP because the guest lacked something
    differs: bool = False  # from the base column
    same_as_base: bool = False  # the column has no cell of its own: this is the base's
    from_cell: bool = False  # the case is missing in (a repeat of) this column: the cell's status stands in

    @property
    def flaky(self) -> bool:
        return len(self.statuses) > 1

    @property
    def label(self) -> str:
        """"PASS", "SKIP(env)", "FLAKY PASS/SKIP" (without the differs mark)."""
        if self.flaky:
            return "FLAKY " + "/".join(s.value for s in self.statuses)
        return self.status.value + ("(env)" if self.env_skip else "")

    def shown(self) -> str:
        """The label as the text formats print it: "=base" for a same-as-base column, "*" if it differs."""
        return "=base" if self.same_as_base else self.label + ("*" if self.differs else "")


@dataclass
class Column:
    index: int
    variant: str
    cells: list[CellResult]  # by repeat; the base's for a same-as-base column
    same_as_base: bool = False
    approximate: bool = False
    commit: str = ""

    @property
    def id(self) -> str:
        return f"[{self.index}]"

    @property
    def marks(self) -> str:
        return ("~" if self.approximate else "") + ("=" if self.same_as_base else "")

    @property
    def title(self) -> str:
        return self.variant + ("~" if self.approximate else "") + (" =base" if self.same_as_base else "")

    @property
    def status(self) -> Status:
        return combine((c.status for c in self.cells), empty=Status.NOT_RUN)

    @property
    def reason(self) -> str:
        if not self.cells:
            return "no result: the run did not reach this cell"
        return next((_cell_reason(c) for c in self.cells if c.status is self.status and _cell_reason(c)), "")


@dataclass
class Row:
    key: str  # Case.key: "cow: <name>"
    test: str
    name: str
    group: str
    cells: list[TableCell]  # one per column

    @property
    def differs(self) -> bool:
        return any(c.differs for c in self.cells)

    @property
    def flaky(self) -> bool:
        return any(c.flaky for c in self.cells)


@dataclass
class Totals:
    counts: dict[str, int]  # PASS, SKIP (verdict skips only), FAIL, XFAIL, then the others present, FLAKY
    env_skips: int = 0

    def text(self, sep: str = "  ") -> str:
        parts = []
        for k, n in self.counts.items():
            parts.append(f"{k} {n}" + (f" (+{self.env_skips} env)" if k == "SKIP" and self.env_skips else ""))
        return sep.join(parts)


@dataclass(frozen=True)
class Flaky:
    variant: str
    key: str
    statuses: tuple[Status, ...]  # one per repeat, in repeat order


@dataclass
class ExtraTable:
    """A study's own table (e.g. the probe's verdicts: variant x scenario), rendered after the main one."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    marks: dict[str, str] = field(default_factory=dict)  # cell text -> "good" | "bad" | "warn" (colours)
    short_headers: list[str] = field(default_factory=list)  # for the fixed-width text of a mail
    short: dict[str, str] = field(default_factory=dict)  # cell text -> a shorter word for the text format

    def to_json(self) -> dict:
        return {"title": self.title, "headers": self.headers, "rows": self.rows, "note": self.note,
                "marks": self.marks}


@dataclass
class Matrix:
    run: Run
    columns: list[Column]
    rows: list[Row]
    totals: list[Totals]  # one per column
    flaky: list[Flaky]
    not_run: list[str]  # tests the base does not have
    repeats: int = 1
    has_base: bool = True

    @property
    def differing(self) -> list[Row]:
        return [r for r in self.rows if r.differs]

    def notable(self) -> list[Row]:
        """What the text formats list: the differing rows; without a base column, the rows not all PASS."""
        if self.has_base:
            return self.differing
        return [r for r in self.rows if any(c.status is not Status.PASS or c.flaky for c in r.cells)]


def extra_tables(run: Run) -> list[ExtraTable]:
    """The study's extra tables: for each of its probes in this run, the verdict table (variant x
    scenario, in words) with the probe's cost measurements below it."""
    try:
        probes = set(load_study(PROJECT_ROOT / "templates", run.study).probes)
    except UserError:
        return []
    return [t for test in run.tests if test in probes for t in [verdict_table(run, test)] if t.rows]


# what a probe case's status and reason mean, in the words a reviewer reads
VERDICT_MARKS = {"correct": "good", "missed pageout": "warn", "missed deactivation": "warn",
                 "wrong pageout": "bad", "wrong deactivation": "bad"}


def verdict_word(case: Case | None) -> str:
    if case is None:
        return "-"
    action = "deactivation" if "COLD" in case.name else "pageout"
    if case.status is Status.PASS:
        return "correct"
    if case.status is Status.SKIP:
        return "n/a (env)" if case.env_skip else "skipped"
    reason = case.reason.lower()
    if "exclusive as shared" in reason:
        return f"missed {action}"
    if "shared as exclusive" in reason:
        return f"wrong {action}"
    return case.status.value.lower()


def verdict_table(run: Run, test: str) -> ExtraTable:
    columns = [v for v in run.variants]
    cells = {v: run.cell("base" if v in run.same_as_base else v) for v in columns}
    order: list[str] = []
    by_column: dict[str, dict[str, Case]] = {}
    costs: dict[str, dict[str, float]] = {}
    for v, cell in cells.items():
        out = cell.tests.get(test) if cell else None
        by_column[v] = {c.name: c for c in out.cases} if out else {}
        costs[v] = dict(out.measurements) if out else {}
        for c in (out.cases if out else []):
            if c.name not in order:
                order.append(c.name)
    heads = ["scenario"] + [v + ("~" if v in run.approximate else "") + (" =base" if v in run.same_as_base else "")
                            for v in columns]
    # one row per scenario and outcome: sizes that read the same in every column share a row
    grouped: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for name in order:
        words = tuple(verdict_word(by_column[v].get(name)) for v in columns)
        m = _TRAILING_SIZE.match(name)
        stem, unit, size = (m.group("stem"), m.group("unit"), m.group("n")) if m else (name, "", "")
        grouped.setdefault((stem, unit, words), []).append(size)
    rows = [[f"{stem} ({', '.join(sorted(sizes, key=int))} {unit})" if unit else stem] + list(words)
            for (stem, unit, words), sizes in grouped.items()]
    labels = [k for v in columns for k in costs[v]]
    for label in dict.fromkeys(labels):
        rows.append([f"cost: {label}"] + [f"{costs[v][label]:.0f} ms" if label in costs[v] else "-" for v in columns])
    note = ("correct: the kernel did what it should (an exclusive folio paged out or deactivated, a folio "
            "another process maps left alone); missed: an exclusive folio treated as shared; wrong: a shared "
            "folio treated as exclusive. Cost rows are measurements, not verdicts.")
    short_heads = ["scenario"] + [f"[{i}]" + ("~" if v in run.approximate else "") for i, v in enumerate(columns)]
    short = {w: w.split()[0] for w in VERDICT_MARKS if " " in w}
    return ExtraTable(title=f"{test}: what each variant does to exclusive and shared folios "
                            f"(columns as above: " + ", ".join(f"[{i}] {v}" for i, v in enumerate(columns)) + ")",
                      headers=heads, rows=rows, note=note, marks=VERDICT_MARKS, short_headers=short_heads,
                      short=short)


def _cell_reason(cell: CellResult) -> str:
    return cell.reason or (cell.splat[0].strip() if cell.splat else "") or \
        (cell.build_errors[0].strip() if cell.build_errors else "")


def _missing(cell: CellResult, test: str) -> tuple[Status, str]:
    """What a row shows in a cell that has no such case."""
    if cell.status in CELL_LEVEL:
        return cell.status, _cell_reason(cell)
    if test in cell.not_run:
        return Status.NOT_RUN, "the base has no such test"
    out = cell.tests.get(test)
    if out is None:
        return Status.NOT_RUN, f"no output from {test}"
    if out.status in CELL_LEVEL or out.status is Status.ERROR:
        return out.status, out.reason
    return Status.NOT_RUN, "not reported in this cell" + ("" if out.complete else f" ({test} was cut short)")


def matrix_rows(run: Run) -> Matrix:
    """The table of `run`: one row per case key (first seen first, base first), one column per variant."""
    columns = _columns(run)
    maps = [[_cell_map(cell) for cell in col.cells] for col in columns]
    base_i = run.variants.index(BASE) if BASE in run.variants else None
    rows: list[Row] = []
    flaky: list[Flaky] = []
    for key, test, name, group in _row_order(columns):
        tcells = []
        for col, col_maps in zip(columns, maps):
            tc, per_repeat = _table_cell(col, col_maps, key, test)
            tcells.append(tc)
            if tc.flaky and not col.same_as_base:
                flaky.append(Flaky(col.variant, key, per_repeat))
        if base_i is not None:
            ref = set(tcells[base_i].statuses)
            tcells = [c if i == base_i or c.same_as_base or set(c.statuses) == ref
                      else replace(c, differs=True) for i, c in enumerate(tcells)]
        rows.append(Row(key, test, name, group, tcells))
    not_run = list(dict.fromkeys(list(run.not_run) + [t for c in run.cells for t in c.not_run]))
    for test in not_run:
        rows.append(Row(f"{test}: {NOT_AT_BASE}", test, NOT_AT_BASE, "",
                        [TableCell(Status.NOT_RUN, (Status.NOT_RUN,), "the base has no such test",
                                   same_as_base=col.same_as_base) for col in columns]))
    totals = [_totals([r.cells[i] for r in rows]) for i in range(len(columns))]
    repeats = max((len(c.cells) for c in columns), default=1) or 1
    return Matrix(run, columns, rows, totals, flaky, not_run, repeats, base_i is not None)


def _columns(run: Run) -> list[Column]:
    by_variant: dict[str, list[CellResult]] = {}
    for c in sorted(run.cells, key=lambda c: c.repeat):
        by_variant.setdefault(c.variant, []).append(c)
    columns = []
    for i, v in enumerate(run.variants):
        same = v in run.same_as_base and v != BASE
        columns.append(Column(i, v, by_variant.get(BASE if same else v, []), same_as_base=same,
                              approximate=v in run.approximate, commit=run.patches.get(v, "")))
    return columns


def _row_order(columns: list[Column]) -> list[tuple[str, str, str, str]]:
    """(key, test, name, group) first seen first; a key new in a later column goes after its predecessor."""
    order: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    for col in columns:
        for cell in col.cells:
            prev = None
            for key, test, name, group in _cell_keys(cell):
                if key not in seen:
                    at = len(order) if prev is None or prev == order[-1][0] else \
                        next(i for i, o in enumerate(order) if o[0] == prev) + 1
                    order.insert(at, (key, test, name, group))
                    seen.add(key)
                prev = key
    return order


def _table_cell(col: Column, maps: list[dict], key: str, test: str) -> tuple[TableCell, tuple[Status, ...]]:
    """The column's cell of one row, and its status in each repeat."""
    per: list[tuple[Status, str, bool, bool]] = []  # status, reason, env skip, missing (cell status stands in)
    for cell, m in zip(col.cells, maps):
        if key in m:
            per.append((*m[key], False))
        else:
            per.append((*_missing(cell, test), False, True))
    if not per:
        per = [(Status.NOT_RUN, "no result: the run did not reach this cell", False, True)]
    distinct = tuple(dict.fromkeys(p[0] for p in per))
    status = combine(distinct)
    reason = next(p[1] for p in per if p[0] is status)
    env = status is Status.SKIP and all(p[2] for p in per if p[0] is Status.SKIP)
    return (TableCell(status, distinct, reason, env, same_as_base=col.same_as_base, from_cell=any(p[3] for p in per)),
            tuple(p[0] for p in per))


def _cell_keys(cell: CellResult):
    for out in cell.tests.values():
        if not out.cases:  # a binary that printed no case (skipped whole, no tests, garbage)
            yield f"{out.test}: (binary)", out.test, "(binary)", ""
        for c in out.cases:
            yield c.key, c.test, c.name, c.group


def _cell_map(cell: CellResult) -> dict[str, tuple[Status, str, bool]]:
    m: dict[str, tuple[Status, str, bool]] = {}
    for out in cell.tests.values():
        if not out.cases:
            m.setdefault(f"{out.test}: (binary)", (out.status, out.reason, False))
        for c in out.cases:
            m.setdefault(c.key, (c.status, c.reason, c.env_skip))
    return m


def _totals(cells: list[TableCell]) -> Totals:
    counts: dict[str, int] = {s.value: 0 for s in MAIN}
    env = 0
    for c in cells:
        if c.flaky:
            counts["FLAKY"] = counts.get("FLAKY", 0) + 1
        elif c.env_skip:
            env += 1
        else:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
    order = [s.value for s in MAIN] + [s.value for s in PRECEDENCE if s not in MAIN] + ["FLAKY"]
    return Totals({k: counts[k] for k in order if k in counts}, env)


# --- shared pieces of the text formats --------------------------------------------------------------------

def header_line(run: Run) -> str:
    n = max((c.repeat for c in run.cells), default=0) + 1
    return (f"{run.study} at {run.base} (Linux {run.kernelversion or '?'}); tests: {', '.join(run.tests)}; "
            f"accel: {run.accel or '?'}" + (f"; {n} repeats" if n > 1 else "") + f"; run {run.id}")


def legend(m: Matrix) -> list[str]:
    nbsp = "\xa0"  # keeps an id and its variant on one line
    items = [f"{c.id}{nbsp}{c.variant}" + c.marks.replace("=", nbsp + "(=base)") for c in m.columns]
    lines = textwrap.wrap("  ".join(items), WIDTH, break_on_hyphens=False, break_long_words=False)
    marks = (["~ approximate helper prototype"] if any(c.approximate for c in m.columns) else []) + \
        (["=base same code as base here (no build: the base's cell is reused)"]
         if any(c.same_as_base for c in m.columns) else []) + (["* differs from base"] if m.has_base else [])
    return [line.replace("\xa0", " ") for line in lines] + textwrap.wrap(";  ".join(marks), WIDTH)


def column_notes(m: Matrix) -> list[str]:
    """One line per column whose cell did not end normally, and per same-as-base column."""
    lines = []
    for col in m.columns:
        if col.same_as_base:
            lines.append(f"{col.id} {col.variant}: =base, same code as base at {m.run.base} (reuses its cell)")
        elif col.status in CELL_LEVEL or col.status is Status.ERROR:
            cut = [f"{o.test}: {o.reason}" for c in col.cells for o in c.tests.values() if o.reason and not o.complete]
            lines.append(f"{col.id} {col.variant}: {col.status.value}" + (f": {col.reason}" if col.reason else "")
                         + (f" ({'; '.join(cut)})" if cut else ""))
    return lines


_SIZE = re.compile(r"\((\d+) ([kKMG]i?B)\)")
_UNIT = re.compile(r"(\d+) ([kKMG]i?B\b)")


def _wrap(text: str, width: int = WIDTH, indent: str = "    ") -> list[str]:
    """textwrap.wrap, but a size such as "(2048 kB)" is never split over two lines."""
    lines = textwrap.wrap(_UNIT.sub("\\1\xa0\\2", _SIZE.sub("(\\1\xa0\\2)", text)), width, subsequent_indent=indent,
                          break_on_hyphens=False) or [""]
    return [line.replace("\xa0", " ") for line in lines]


# --- text -------------------------------------------------------------------------------------------------

_TRAILING_SIZE = re.compile(r"^(?P<stem>.*) \((?P<n>\d+) (?P<unit>[kMG]B)\)$")


def merge_sizes(rows: list[Row]) -> list[Row]:
    """Rows that differ only in the size and read the same in every column become one row, at the
    place of the first, that lists the sizes ("... THP (16, 32, 2048 kB)"); no size is dropped."""
    slots: list[Row | list[tuple[Row, re.Match]]] = []
    groups: dict[tuple, list[tuple[Row, re.Match]]] = {}
    for row in rows:
        m = _TRAILING_SIZE.match(row.name)
        if not m:
            slots.append(row)
            continue
        group = row.group if " ... " in row.name else ""  # only "group ... case" names show their group
        key = (row.test, group, m.group("stem"), m.group("unit"), tuple(c.shown() for c in row.cells))
        if key not in groups:
            groups[key] = []
            slots.append(groups[key])
        groups[key].append((row, m))
    out: list[Row] = []
    for slot in slots:
        if isinstance(slot, Row):
            out.append(slot)
        elif len(slot) == 1:
            out.append(slot[0][0])
        else:
            first, m0 = slot[0]
            sizes = sorted((m.group("n") for _, m in slot), key=int)
            name = f"{m0.group('stem')} ({', '.join(sizes)} {m0.group('unit')})"
            out.append(replace(first, name=name, key=f"{first.test}: {name}"))
    return out


def render_text(m: Matrix) -> str:
    out = _wrap(header_line(m.run)) + legend(m) + [""]
    rows = merge_sizes(m.notable())
    widths = [max([len(c.id) + len(c.marks)] + [len(r.cells[i].shown()) for r in rows]) for i, c in
              enumerate(m.columns)]
    status_w = sum(w + 1 for w in widths)
    longest = max((len(r.key if " ... " not in r.name else "  ... " + r.name.split(" ... ", 1)[1]) for r in rows),
                  default=0)
    name_w = min(WIDTH - status_w - 1, max(longest, 30), 66)
    if not rows:
        out.append("No case differs from base." if m.has_base else "Every case that reported passed.")
    elif name_w < 30:  # too many columns for one line: one block per case
        for r in rows:
            out += _wrap(r.key, WIDTH)
            out += _wrap("  ".join(f"{c.id} {tc.shown()}" for c, tc in zip(m.columns, r.cells)),
                         WIDTH, "    ")
    else:
        head = "case" if m.has_base else "case (no base column: the cases that did not all pass)"
        out.append(_line(head, [c.id + c.marks for c in m.columns], widths, name_w))
        group = None
        for r in rows:
            if r.group and " ... " in r.name and len(rows) > 1:
                if (r.test, r.group) != group:
                    group = (r.test, r.group)
                    out += _wrap(f"{r.test}: {r.group}", WIDTH)
                label = "  ... " + r.name.split(" ... ", 1)[1]
            else:
                group, label = None, r.key
            parts = _wrap(label, name_w, "      ")
            out += parts[:-1]
            out.append(_line(parts[-1], [c.shown() for c in r.cells], widths, name_w))
    reasons: dict[tuple[str, str], int] = {}
    for r in m.notable():  # count cases, not the merged rows
        for tc in r.cells:
            if tc.differs and tc.reason and not tc.from_cell:
                reasons[(tc.label, tc.reason)] = reasons.get((tc.label, tc.reason), 0) + 1
    if reasons:
        out += ["", "Reasons given by the cells that differ:"]
        for (label, why), n in reasons.items():
            out += _wrap(f"  {label} ({n}x): {why}", WIDTH, "      ")
    out += ["", "Totals:"]
    idw = max(len(c.id + " " + c.variant + c.marks) for c in m.columns)
    for col, tot in zip(m.columns, m.totals):
        name = f"{col.id} {col.variant}{col.marks}"
        out += _wrap(f"{name:<{idw}}  " + ("=base" if col.same_as_base else tot.text()), WIDTH, " " * (idw + 2))
    out += _notes_text(m)
    return "\n".join(out) + "\n"


def _notes_text(m: Matrix) -> list[str]:
    out = []
    notes = column_notes(m) + [f"NOT_RUN: {t} (not at {m.run.base})" for t in m.not_run]
    if notes:
        out += [""] + [line for n in notes for line in _wrap(n)]
    if m.flaky:
        out += ["", f"Flaky (the status changed between the {m.repeats} repeats):"]
        for f in m.flaky:
            out += _wrap(f"  {f.variant}: {'/'.join(s.value for s in f.statuses)}: {f.key}", WIDTH, "      ")
    for t in extra_tables(m.run):
        out += [""] + extra_text(t)
    return out


def _line(name: str, cells: list[str], widths: list[int], name_w: int) -> str:
    return (f"{name:<{name_w}} " + " ".join(f"{c:<{w}}" for c, w in zip(cells, widths))).rstrip()


def extra_text(t: ExtraTable) -> list[str]:
    """Fixed width, at most WIDTH columns: short headers and words when the table has them, and the
    first column wrapped."""
    heads = t.short_headers or t.headers
    rows = [[str(r[0])] + [t.short.get(str(x), str(x)) for x in r[1:]] for r in t.rows]
    widths = [max([len(heads[i])] + [len(r[i]) for r in rows if i < len(r)]) for i in range(1, len(heads))]
    longest = max([len(heads[0])] + [len(r[0]) for r in rows])
    first = max(len(heads[0]), min(longest, WIDTH - 2 - sum(w + 2 for w in widths)))
    lines = _wrap(t.title, WIDTH, "  ") + ["  " + f"{heads[0]:<{first}}  " + "  ".join(f"{h:<{w}}" for h, w in zip(heads[1:], widths)),
             "  " + "-" * first + "  " + "  ".join("-" * w for w in widths)]
    for r in rows:
        names = _wrap(r[0], first, "  ")
        lines += ["  " + n for n in names[:-1]]
        lines.append(("  " + f"{names[-1]:<{first}}  " + "  ".join(f"{x:<{w}}" for x, w in zip(r[1:], widths)))
                     .rstrip())
    return lines + (_wrap(t.note, WIDTH, "") if t.note else [])


# --- markdown ---------------------------------------------------------------------------------------------

def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_") \
        .replace("<", "&lt;").replace("\n", " ")


def render_markdown(m: Matrix) -> str:
    out = [f"**{_md(header_line(m.run))}**", ""]
    out += [f"- `{c.id}` {_md(c.variant)}" + (" ~ (approximate helper prototype)" if c.approximate else "")
            + (" =base (same code as base here: reuses the base's cell)" if c.same_as_base else "")
            for c in m.columns]
    out += ["", "Only the cases where a variant differs from base (**bold\\***), then the totals.", ""]
    rows = merge_sizes(m.notable())
    heads = [f"{c.id} {_md(c.variant)}{' ~' if c.approximate else ''}{' =base' if c.same_as_base else ''}"
             for c in m.columns]
    if rows:
        out.append("| case | " + " | ".join(heads) + " |")
        out.append("|---|" + "---|" * len(heads))
        for r in rows:
            cells = [("**" + _md(c.label) + "\\***" if c.differs else _md(c.shown())) for c in r.cells]
            out.append(f"| {_md(r.key)} | " + " | ".join(cells) + " |")
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
                   f"{c['FAIL']} | {c['XFAIL']} | {_md(other)} |")
    notes = column_notes(m) + [f"NOT_RUN: {t} (not at {m.run.base})" for t in m.not_run]
    if notes:
        out += [""] + [f"- {_md(n)}" for n in notes]
    if m.flaky:
        out += ["", f"Flaky (the status changed between the {m.repeats} repeats):", ""]
        out += [f"- {_md(f.variant)}: {'/'.join(s.value for s in f.statuses)}: {_md(f.key)}" for f in m.flaky]
    for t in extra_tables(m.run):
        out += [""] + extra_markdown(t)
    return "\n".join(out) + "\n"


MAIN_HEADS = ("PASS", "SKIP", "env SKIP", "FAIL", "XFAIL")


def extra_markdown(t: ExtraTable) -> list[str]:
    out = [f"**{_md(t.title)}**", "", "| " + " | ".join(_md(h) for h in t.headers) + " |",
           "|" + "---|" * len(t.headers)]
    out += ["| " + " | ".join(_md(str(x)) for x in r) + " |" for r in t.rows]
    return out + (["", _md(t.note)] if t.note else [])


# --- terminal (rich) --------------------------------------------------------------------------------------

STYLE = {Status.PASS: "green", Status.SKIP: "yellow", Status.XFAIL: "cyan", Status.XPASS: "magenta",
         Status.FAIL: "bold red", Status.ERROR: "bold red", Status.TIMEOUT: "bold magenta",
         Status.CRASH: "bold white on red", Status.BUILD_FAILED: "bold red", Status.INFRA_ERROR: "blue",
         Status.NO_TESTS: "dim", Status.PARSE_ERROR: "red", Status.NOT_RUN: "dim"}
MARK_STYLE = {"good": "green", "bad": "bold red", "warn": "yellow"}


def render_terminal(m: Matrix, width: int | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width or shutil.get_terminal_size((160, 40)).columns)
    console.print(Text(header_line(m.run), style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, pad_edge=False)
    table.add_column("case", footer="totals", overflow="fold")
    for col, tot in zip(m.columns, m.totals):
        table.add_column(Text(f"{col.id} {col.title}", style="italic" if col.approximate else ""),
                         footer="=base" if col.same_as_base else tot.text("\n"), no_wrap=True)
    for r in merge_sizes(m.rows):
        cells = [Text("=base", style="dim " + STYLE[c.status]) if c.same_as_base
                 else Text(c.label + ("*" if c.differs else ""), style=("bold " if c.differs else "")
                           + ("dark_orange" if c.flaky else "dim yellow" if c.env_skip else STYLE[c.status]))
                 for c in r.cells]
        table.add_row(r.key, *cells, style="on grey19" if r.differs else None)
    console.print(table)
    for line in legend(m):
        console.print(Text(line, style="dim"))
    console.print(Text(f"{len(m.differing)} of {len(m.rows)} rows differ from base", style="bold"))
    for line in _notes_text_terminal(m):
        console.print(Text(line))
    for t in extra_tables(m.run):
        et = Table(title=t.title, caption=t.note or None, box=box.SIMPLE_HEAD)
        for h in t.headers:
            et.add_column(h)
        for r in t.rows:
            et.add_row(*[Text(str(x), style=MARK_STYLE.get(t.marks.get(str(x), ""), "")) for x in r])
        console.print(et)
    return buf.getvalue()


def _notes_text_terminal(m: Matrix) -> list[str]:
    out = column_notes(m) + [f"NOT_RUN: {t} (not at {m.run.base})" for t in m.not_run]
    if m.flaky:
        out.append(f"Flaky (the status changed between the {m.repeats} repeats):")
        out += [f"  {f.variant}: {'/'.join(s.value for s in f.statuses)}: {f.key}" for f in m.flaky]
    return out


# --- json -------------------------------------------------------------------------------------------------

def to_json(m: Matrix) -> dict:
    run = m.run
    return {
        "format": "kernel-workbench-report", "version": 1,
        "run": {"id": run.id, "kind": run.kind, "study": run.study, "base": run.base, "commit": run.commit,
                "kernelversion": run.kernelversion, "tests": run.tests, "accel": run.accel,
                "command": run.command, "config_hash": run.config_hash, "toolchain": run.toolchain,
                "started": run.started, "finished": run.finished, "timings": run.timings, "repeats": m.repeats},
        "columns": [{"index": c.index, "variant": c.variant, "same_as_base": c.same_as_base,
                     "approximate": c.approximate, "commit": c.commit, "status": c.status.value,
                     "reason": c.reason, "cells": [{"repeat": x.repeat, "status": x.status.value,
                                                    "reason": x.reason, "splat": x.splat,
                                                    "build_errors": x.build_errors, "timings": x.timings,
                                                    "env": x.env, "cached": x.cached, "identity": x.identity}
                                                   for x in c.cells]} for c in m.columns],
        "rows": [{"key": r.key, "test": r.test, "name": r.name, "differs": r.differs, "flaky": r.flaky,
                  "cells": {col.variant: {"status": c.status.value, "statuses": [s.value for s in c.statuses],
                                          "label": c.label, "reason": c.reason, "env": c.env_skip,
                                          "differs": c.differs, "same_as_base": c.same_as_base,
                                          "from_cell": c.from_cell}
                            for col, c in zip(m.columns, r.cells)}} for r in m.rows],
        "totals": {c.variant: {**t.counts, "env_skips": t.env_skips} for c, t in zip(m.columns, m.totals)},
        "flaky": [{"variant": f.variant, "key": f.key, "statuses": [s.value for s in f.statuses]} for f in m.flaky],
        "not_run": m.not_run,
        "extra_tables": [t.to_json() for t in extra_tables(run)],
    }


# --- junit ------------------------------------------------------------------------------------------------

_XML_BAD = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
FAILURES = frozenset({Status.FAIL, Status.XPASS})


def _x(text: str) -> str:
    return _XML_BAD.sub("?", text)


def render_junit(m: Matrix) -> str:
    """One <testsuite> per column, one <testcase> per row (classname: the test binary)."""
    root = ET.Element("testsuites", name=_x(f"{m.run.study} at {m.run.base} ({m.run.id})"))
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for col in m.columns:
        suite = ET.SubElement(root, "testsuite", name=_x(col.variant))
        props = ET.SubElement(suite, "properties")
        for k, v in (("base", m.run.base), ("kernelversion", m.run.kernelversion), ("commit", col.commit),
                     ("same_as_base", str(col.same_as_base).lower()), ("approximate", str(col.approximate).lower()),
                     ("cell_status", col.status.value), ("cell_reason", col.reason)):
            ET.SubElement(props, "property", name=k, value=_x(v))
        n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for r in m.rows:
            c = r.cells[col.index]
            tc = ET.SubElement(suite, "testcase", classname=_x(r.test), name=_x(r.name))
            n["tests"] += 1
            msg = _x(f"{c.label}: {c.reason}" if c.reason else c.label)
            if c.flaky:
                ET.SubElement(tc, "failure", type="FLAKY", message=msg)
                n["failures"] += 1
            elif c.status in FAILURES:
                ET.SubElement(tc, "failure", type=c.status.value, message=msg)
                n["failures"] += 1
            elif c.status in (Status.SKIP, Status.XFAIL, Status.NOT_RUN):
                ET.SubElement(tc, "skipped", message=msg)
                n["skipped"] += 1
            elif c.status is not Status.PASS:
                err = ET.SubElement(tc, "error", type=c.status.value, message=msg)
                splat = [s for x in col.cells for s in x.splat + x.build_errors] if c.from_cell else []
                if splat:
                    err.text = _x("\n".join(splat))
                n["errors"] += 1
        seconds = sum(sum(x.timings.values()) for x in col.cells)
        for k, v in n.items():
            suite.set(k, str(v))
            total[k] += v
        suite.set("time", f"{seconds:.1f}")
    for k, v in total.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- entry points -----------------------------------------------------------------------------------------

def render(run: Run, fmt: str = "terminal") -> str:
    """The matrix of `run` in `fmt`: terminal, text, markdown, html, json or junit."""
    m = matrix_rows(run)
    if fmt == "terminal":
        return render_terminal(m)
    if fmt == "text":
        return render_text(m)
    if fmt == "markdown":
        return render_markdown(m)
    if fmt == "html":
        from .report_html import render_html
        return render_html(m)
    if fmt == "json":
        return json.dumps(to_json(m), indent=1) + "\n"
    if fmt == "junit":
        return render_junit(m)
    from .errors import UserError
    raise UserError(f"unknown report format {fmt!r}", f"Use one of: {', '.join(FORMATS)}.")


def render_extra(run: Run, fmt: str = "text") -> str:
    """Only the study's extra tables (for the cover letter): "" when there are none."""
    tables = extra_tables(run)
    if not tables:
        return ""
    if fmt == "json":
        return json.dumps([t.to_json() for t in tables], indent=1) + "\n"
    render_one = extra_markdown if fmt == "markdown" else extra_text
    return "\n\n".join("\n".join(render_one(t)) for t in tables) + "\n"


def compare(run_a: Run, run_b: Run) -> str:
    """What changed from run A to run B: per shared column the cases whose status changed (old -> new)."""
    a, b = matrix_rows(run_a), matrix_rows(run_b)
    out = [f"A: {header_line(run_a)}", f"B: {header_line(run_b)}"]
    cols_a, cols_b = {c.variant: c for c in a.columns}, {c.variant: c for c in b.columns}
    only_a = [v for v in cols_a if v not in cols_b]
    only_b = [v for v in cols_b if v not in cols_a]
    if only_a:
        out.append(f"columns only in A: {', '.join(only_a)}")
    if only_b:
        out.append(f"columns only in B: {', '.join(only_b)}")
    rows_a, rows_b = {r.key: r for r in a.rows}, {r.key: r for r in b.rows}
    changed_any = False
    for v in [v for v in cols_a if v in cols_b]:
        ia, ib = cols_a[v].index, cols_b[v].index
        lines = []
        for key, ra in rows_a.items():
            rb = rows_b.get(key)
            if rb is None:
                lines.append(f"  only in A: {key} ({ra.cells[ia].label})")
            elif ra.cells[ia].label != rb.cells[ib].label:
                lines.append(f"  {key}: {ra.cells[ia].label} -> {rb.cells[ib].label}"
                             + (f"  # {rb.cells[ib].reason}" if rb.cells[ib].reason else ""))
        lines += [f"  only in B: {key} ({r.cells[ib].label})" for key, r in rows_b.items() if key not in rows_a]
        ca, cb = cols_a[v], cols_b[v]
        cell = f"; cell {ca.status.value} -> {cb.status.value}" if ca.status is not cb.status else ""
        ta, tb = a.totals[ia].text(), b.totals[ib].text()
        changed_any |= bool(lines or cell)
        out.append(f"== {v}: " + (f"{len(lines)} case(s) changed{cell}" if lines or cell else "no change"))
        out += lines
        if ta != tb:
            out.append(f"  totals: {ta}  ->  {tb}")
    if not changed_any and not only_a and not only_b:
        out.append("No status changed.")
    return "\n".join(out) + "\n"


def cases_text(run: Run) -> str:
    """Every case of every cell, then the counts and timings (what `invoke run` prints)."""
    lines = []
    for cell in run.cells:
        lines.append(f"== {run.base} / {cell.variant}: {cell.status.value}"
                     + (f" ({cell.reason})" if cell.reason else ""))
        for case in cell.cases:
            reason = f"  # {case.reason}" if case.reason else ""
            env = " [environment]" if case.env_skip else ""
            lines.append(f"{case.status.value:<7} {case.key}{reason}{env}")
        for name in cell.not_run:
            lines.append(f"NOT_RUN {name}: the base has no such test")
        if cell.splat:
            lines.append("-- splat:")
            lines.extend(f"   {s}" for s in cell.splat)
        counts: dict[str, int] = {}
        for c in cell.cases:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
        env_skips = sum(1 for c in cell.cases if c.env_skip)
        lines.append("totals: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
                     + (f" ({env_skips} environment skips)" if env_skips else ""))
        lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in cell.timings.items())
                     + (" (cached result)" if cell.cached else ""))
        if cell.env:
            lines.append("guest: " + ", ".join(f"{k}={v}" for k, v in cell.env.items() if k != "cmdline"))
    return "\n".join(lines)
