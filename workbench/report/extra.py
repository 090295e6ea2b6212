"""A study's own tables: for each of its probes in the run, the verdict table (column x scenario,
in the probe's own words, counted over the boots) with the probe's cost measurements below it
(median, interval and change against base: stats.py).

The words come from the run record (`run.words`, written from the study's data when the run was
made). A first-wave run has none recorded: then the study is read from `templates` (the
settings' templates folder), and without it the probe gets no table.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..records import BASE, Case, Run
from ..study.words import Words
from .common import TRAILING_SIZE
from .model import Column, Matrix
from .stats import ALPHA, MIN_N, Comparison, Summary, compare_rows, min_p, summarize

MIXED = "warn"  # the mark of a cell whose word changed between boots
# A column whose boots and the base's were not made by the same invocations (one side from the cell
# cache): the host's load differs between invocations, and an A/A column got a mark that way.
OTHER_SESSION = "no mark: the base's boots and this column's were made by different runs (one side cached)"


@dataclass(frozen=True)
class GridCell:
    """One column's words in one scenario row: (word, boots) over the boots, most first."""

    counts: tuple[tuple[str, int], ...]

    @property
    def word(self) -> str:
        return self.counts[0][0] if self.counts else "-"

    @property
    def boots(self) -> int:
        return sum(n for _, n in self.counts)

    @property
    def mixed(self) -> bool:
        return len(self.counts) > 1

    @property
    def text(self) -> str:
        """"correct", or over boots that disagree "correct 4/5, inconclusive 1/5"."""
        if not self.mixed:
            return self.word
        return ", ".join(f"{w} {n}/{self.boots}" for w, n in self.counts)


@dataclass(frozen=True)
class GridRow:
    scenario: str
    cells: tuple[GridCell, ...]  # one per column


@dataclass(frozen=True)
class CostRow:
    """A measurement over the boots: per column its summary and (not for base) its change against
    the base of its config; None where the column has no sample."""

    label: str
    unit: str
    summaries: tuple[Summary | None, ...]
    comparisons: tuple[Comparison | None, ...]

    def cell(self, i: int) -> str:
        s, c = self.summaries[i], self.comparisons[i]
        if s is None:
            return "-"
        text = f"{num(s.median)} {self.unit}"
        if c is None:
            return text + (f" [{num(s.low)}, {num(s.high)}]" if s.low is not None and s.high is not None else "")
        if c.change_pct is not None:
            text += f" {c.change_pct:+.1f}%"
            if c.low_pct is not None and c.high_pct is not None:
                text += f" [{c.low_pct:+.0f}, {c.high_pct:+.0f}]"
        return text + (" *" if c.significant else "")


def num(x: float) -> str:
    """At least two significant digits: 724 ms, 7.2 ms, 0.14 ms."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}" if abs(x) >= 1 else f"{x:.2f}"


@dataclass
class ExtraTable:
    """A study's own table (e.g. the probe's verdicts: variant x scenario), rendered after the main one."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""
    marks: dict[str, str] = field(default_factory=dict)  # cell text -> "good" | "warn" | "harm" | "bad" (colours)
    short_headers: list[str] = field(default_factory=list)  # for the fixed-width text of a mail
    short: dict[str, str] = field(default_factory=dict)  # cell text -> a shorter word for the text format
    grid: list[GridRow] = field(default_factory=list)  # the verdicts, as data (the pictures draw them)
    costs: list[CostRow] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the column titles of grid and costs
    relative_only: bool = False  # the costs were measured under an emulator: compare them, do not quote them

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "headers": self.headers, "rows": self.rows, "note": self.note,
                "marks": self.marks,
                "costs": [{"label": c.label, "unit": c.unit, "relative_only": self.relative_only,
                           "columns": [{"column": name, "summary": _asdict(s), "against_base": _asdict(k)}
                                       for name, s, k in zip(self.columns, c.summaries, c.comparisons)]}
                          for c in self.costs]}


def _asdict(x: Summary | Comparison | None) -> dict[str, Any] | None:
    return None if x is None else dict(x.__dict__)


def words_of(run: Run, templates: Path | None) -> dict[str, Words]:
    """{probe: its words} for the probes this run ran."""
    if run.words:
        return {name: Words.from_json(w) for name, w in run.words.items() if name in run.tests}
    if templates is None:
        return {}
    from ..study.model import load as load_study  # a first-wave run: the study's data as it is now

    try:
        study = load_study(templates, run.study)
    except UserError:
        return {}
    return {name: p.words for name, p in study.probes.items() if p.words and name in run.tests}


def extra_tables(m: Matrix, templates: Path | None = None) -> list[ExtraTable]:
    words = words_of(m.run, templates)
    return [t for test in m.run.tests if test in words for t in [verdict_table(m, test, words[test])] if t.rows]


def _boots(col: Column, test: str) -> list[tuple[dict[str, Case], dict[str, float]]]:
    """Per boot (repeat) of the column: its cases by name and its measurements."""
    out = []
    for cell in col.cells:
        res = cell.tests.get(test)
        out.append(({c.name: c for c in res.cases} if res else {}, dict(res.measurements) if res else {}))
    return out


def cost_samples(col: Column, test: str) -> dict[str, list[float]]:
    """{cost label: one sample per boot of the column that measured it}."""
    out: dict[str, list[float]] = {}
    for _, measured in _boots(col, test):
        for label, value in measured.items():
            out.setdefault(label, []).append(value)
    return out


def _grid_cell(words: Words, boots: list[tuple[dict[str, Case], dict[str, float]]], name: str) -> GridCell:
    said = Counter(words.word(cases.get(name)) for cases, _ in boots)
    return GridCell(tuple(sorted(said.items(), key=lambda kv: -kv[1])) if said else ((words.missing, 0),))


def cost_rows(columns: list[Column], boots: dict[int, list[tuple[dict[str, Case], dict[str, float]]]],
              unit: str = "ms") -> list[CostRow]:
    """The measurement rows: each column's samples summarised; each column but a base compared with
    the base of its config, Holm-corrected over the rows of that column."""
    labels = list(dict.fromkeys(k for c in columns for _, m in boots[c.index] for k in m))
    samples = {c.index: {label: [m[label] for _, m in boots[c.index] if label in m] for label in labels}
               for c in columns}
    bases = {c.config: c for c in columns if c.variant == BASE}
    compared: dict[int, dict[str, Comparison]] = {}
    for c in columns:
        ref = bases.get(c.config)
        if ref is None or ref is c or c.same_as_base:
            continue
        level = shared_guests(ref, c)
        ours, theirs = _at(ref, boots, level), _at(c, boots, level)
        rows = {label: (ours[label], theirs[label]) for label in labels if ours.get(label) and theirs.get(label)}
        compared[c.index] = compare_rows(rows)
        if _sessions(ref, level) != _sessions(c, level):
            compared[c.index] = {k: replace(v, significant=False, why_not=OTHER_SESSION)
                                 for k, v in compared[c.index].items()}
    return [CostRow(label, unit,
                    tuple(summarize(samples[c.index][label]) if samples[c.index][label] else None
                          for c in columns),
                    tuple(compared.get(c.index, {}).get(label) for c in columns))
            for label in labels]


def shared_guests(a: Column, b: Column) -> int | None:
    """The number of guests beside each other at which both columns booted most (cost rows are
    compared only between boots at equal concurrency: guests share the host's cores); None: none."""
    common = Counter(c.guests for c in a.cells) & Counter(c.guests for c in b.cells)
    return max(common, key=lambda level: (common[level], -level)) if common else None


def _sessions(col: Column, level: int | None) -> set[tuple[str, bool]]:
    """The invocations that booted the column's boots at `level` guests at once (a cell recorded
    before cells named theirs tells at least whether this run booted it or took it from the cache)."""
    return {(cell.session, cell.cached) for cell in col.cells if cell.guests == level}


def _at(col: Column, boots: dict[int, list[tuple[dict[str, Case], dict[str, float]]]],
        level: int | None) -> dict[str, list[float]]:
    """{cost label: the samples of the column's boots that ran with `level` guests at once}."""
    out: dict[str, list[float]] = {}
    for cell, (_, measured) in zip(col.cells, boots[col.index], strict=True):
        if cell.guests == level:
            for label, value in measured.items():
                out.setdefault(label, []).append(value)
    return out


def verdict_table(m: Matrix, test: str, words: Words) -> ExtraTable:
    columns = list(m.columns)
    boots = {col.index: _boots(col, test) for col in columns}
    order = list(dict.fromkeys(name for col in columns for cases, _ in boots[col.index] for name in cases))
    # one row per scenario and outcome: sizes that read the same in every column share a row
    grouped: dict[tuple[str, str, tuple[GridCell, ...]], list[str]] = {}
    for name in order:
        said = tuple(_grid_cell(words, boots[c.index], name) for c in columns)
        match = TRAILING_SIZE.match(name)
        stem, unit, size = (match.group("stem"), match.group("unit"), match.group("n")) if match else (name, "", "")
        grouped.setdefault((stem, unit, said), []).append(size)
    grid = [GridRow(f"{stem} ({', '.join(sorted(sizes, key=int))} {unit})" if unit else stem, said)
            for (stem, unit, said), sizes in grouped.items()]
    costs = cost_rows(columns, boots)
    relative = m.run.accel == "tcg" or "tcg" in (m.run.executor or "")
    rows = [[g.scenario] + [c.text for c in g.cells] for g in grid]
    rows += [[f"cost: {c.label}" + (" (TCG: relative only)" if relative else "")]
             + [c.cell(i) for i in range(len(columns))] for c in costs]
    marks = dict(words.marks) | {c.text: MIXED for g in grid for c in g.cells if c.mixed}
    return ExtraTable(title=f"{test}: {words.title} (columns: "
                            + ", ".join(f"{c.id} {c.title}" for c in columns) + ")",
                      headers=["scenario"] + [c.title for c in columns], rows=rows,
                      note=" ".join(x for x in (words.note, _cost_note(costs, relative), _guests_note(columns, costs),
                                                _session_note(columns, costs)) if x),
                      marks=marks, short_headers=["scenario"] + [c.id + ("~" if c.approximate else "")
                                                                 for c in columns],
                      short=words.short, grid=grid, costs=costs, columns=[c.title for c in columns],
                      relative_only=relative)


def _cost_note(costs: list[CostRow], relative: bool) -> str:
    if not costs:
        return ""
    boots = max((s.n for c in costs for s in c.summaries if s), default=0)  # measured, not asked for
    text = (f"Cost rows: the median over the boots of a column (unit of a sample: one boot); base columns "
            f"with the 95% interval of the median, other columns with their change against base and its "
            f"95% interval; * marks a change that Mann-Whitney U finds significant (p < {ALPHA}, "
            f"Holm-corrected over the {len(costs)} cost rows of a column).")
    if boots < MIN_N:
        text += f" With fewer than {MIN_N} boots per column: no interval and no mark (--repeat 5)."
    else:
        low = min_p(boots, boots) * len(costs)
        if low >= ALPHA:
            text += (f" With {boots} boots a side and {len(costs)} rows no difference can be marked "
                     f"(smallest corrected p {low:.2f}): more boots are needed.")
    if relative:
        text += " Measured under TCG (an emulator): compare the columns, do not quote the times."
    return text


def _session_note(columns: list[Column], costs: list[CostRow]) -> str:
    unmarked = [col.title for i, col in enumerate(columns)
                if any(c.comparisons[i] and c.comparisons[i].why_not == OTHER_SESSION for c in costs)]  # type: ignore[union-attr]
    if not unmarked:
        return ""
    return (f"No mark in {', '.join(unmarked)}: its boots and the base's were made by different runs (one side "
            "from the cell cache), and the host's load differs between runs; the change is shown, not tested.")


def _guests_note(columns: list[Column], costs: list[CostRow]) -> str:
    levels = sorted({cell.guests for c in columns for cell in c.cells})
    if not costs or levels == [1]:
        return ""
    return (f"Guests booted side by side ({', '.join(map(str, levels))} at once): a column's cost rows are "
            "compared with base only over the boots that ran with as many guests at once as the base's.")
