"""A study's own tables: for each of its probes in the run, the verdict table (column x scenario,
in the probe's own words) with the probe's cost measurements below it.

The words come from the run record (`run.words`, written from the study's data when the run was
made). A first-wave run has none recorded: then the study is read from `templates` (the
settings' templates folder), and without it the probe gets no table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..records import Case, Run
from ..study.words import Words
from .common import TRAILING_SIZE
from .model import Column, Matrix


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

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "headers": self.headers, "rows": self.rows, "note": self.note,
                "marks": self.marks}


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


def _cases(col: Column, test: str) -> tuple[dict[str, Case], dict[str, float]]:
    cell = col.cells[0] if col.cells else None
    out = cell.tests.get(test) if cell else None
    return ({c.name: c for c in out.cases} if out else {}), (dict(out.measurements) if out else {})


def verdict_table(m: Matrix, test: str, words: Words) -> ExtraTable:
    columns = list(m.columns)
    cases: dict[int, dict[str, Case]] = {}
    costs: dict[int, dict[str, float]] = {}
    order: list[str] = []
    for col in columns:
        cases[col.index], costs[col.index] = _cases(col, test)
        order += [name for name in cases[col.index] if name not in order]
    # one row per scenario and outcome: sizes that read the same in every column share a row
    grouped: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for name in order:
        said = tuple(words.word(cases[c.index].get(name)) for c in columns)
        match = TRAILING_SIZE.match(name)
        stem, unit, size = (match.group("stem"), match.group("unit"), match.group("n")) if match else (name, "", "")
        grouped.setdefault((stem, unit, said), []).append(size)
    rows = [[f"{stem} ({', '.join(sorted(sizes, key=int))} {unit})" if unit else stem] + list(said)
            for (stem, unit, said), sizes in grouped.items()]
    for label in dict.fromkeys(k for c in columns for k in costs[c.index]):
        rows.append([f"cost: {label}"] + [f"{costs[c.index][label]:.0f} ms" if label in costs[c.index] else "-"
                                          for c in columns])
    return ExtraTable(title=f"{test}: {words.title} (columns as above: "
                            + ", ".join(f"{c.id} {c.name}" for c in columns) + ")",
                      headers=["scenario"] + [c.title for c in columns], rows=rows, note=words.note,
                      marks=words.marks, short_headers=["scenario"] + [c.id + ("~" if c.approximate else "")
                                                                       for c in columns],
                      short=words.short)
