"""The table of a run, built once (`matrix_rows`), which every format renders.

A `Matrix` has one column per (config, variant) — a group of columns per config when the run
built several — and one row per case key (first seen first, base first). Each cell of the table
is a `TableCell`: the status over the repeats, its reason, whether it is an environment skip,
and whether it differs from the base column of its config group. Rows of tests the base does
not have come last. Totals and flaky cases are computed here too.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..records import BASE, CellResult, Run
from ..status import PRECEDENCE, Status, combine

# A cell ending so may lack some (or all) of its cases: the missing rows show the cell's status.
CELL_LEVEL = frozenset({Status.CRASH, Status.TIMEOUT, Status.BUILD_FAILED, Status.INFRA_ERROR, Status.NOT_RUN,
                        Status.PARSE_ERROR, Status.NO_TESTS})
MAIN = (Status.PASS, Status.SKIP, Status.FAIL, Status.XFAIL)  # always in the totals; others when present
NOT_AT_BASE = "(not at this base)"


@dataclass(frozen=True)
class TableCell:
    status: Status  # combine() over the repeats
    statuses: tuple[Status, ...] = ()  # distinct statuses over the repeats, first seen first
    reason: str = ""  # skip / fail reason, or the cell's reason when the case is missing
    env_skip: bool = False  # a SKIP because the guest lacked something
    differs: bool = False  # from the base column
    same_as_base: bool = False  # the column has no cell of its own: this is the base's
    from_cell: bool = False  # the case is missing in (a repeat of) this column: the cell's status stands in
    evidence: str = ""  # what the test saw for the case (its `# evidence:` line), in the first repeat that has one

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
    config: str = ""
    grouped: bool = False  # the run has several configs: the config is part of the title
    same_code: bool = False  # its kernel is the base's, byte for byte: its cells are the base's results
    computes: str = ""  # what its helper prototype computes at this base, under this config

    @property
    def id(self) -> str:
        return f"[{self.index}]"

    @property
    def name(self) -> str:
        """The variant, under its config when there are several: "minimal+debug/base"."""
        return f"{self.config}/{self.variant}" if self.grouped else self.variant

    @property
    def marks(self) -> str:
        return ("~" if self.approximate else "") + ("=" if self.same_as_base else "")

    @property
    def title(self) -> str:
        return self.name + ("~" if self.approximate else "") + (" =base" if self.same_as_base else "")

    @property
    def status(self) -> Status:
        return combine((c.status for c in self.cells), empty=Status.NOT_RUN)

    @property
    def reason(self) -> str:
        if not self.cells:
            return "no result: the run did not reach this cell"
        return next((cell_reason(c) for c in self.cells if c.status is self.status and cell_reason(c)), "")


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


def cell_reason(cell: CellResult) -> str:
    return cell.reason or (cell.splat[0].strip() if cell.splat else "") or \
        (cell.build_errors[0].strip() if cell.build_errors else "")


def _missing(cell: CellResult, test: str) -> tuple[Status, str]:
    """What a row shows in a cell that has no such case."""
    if cell.status in CELL_LEVEL:
        return cell.status, cell_reason(cell)
    if test in cell.not_run:
        return Status.NOT_RUN, "the base has no such test"
    out = cell.tests.get(test)
    if out is None:
        return Status.NOT_RUN, f"no output from {test}"
    if out.status in CELL_LEVEL or out.status is Status.ERROR:
        return out.status, out.reason
    return Status.NOT_RUN, "not reported in this cell" + ("" if out.complete else f" ({test} was cut short)")


def matrix_rows(run: Run) -> Matrix:
    """The table of `run`: one row per case key (first seen first, base first), one column per variant
    and config."""
    columns = columns_of(run)
    maps = [[_cell_map(cell) for cell in col.cells] for col in columns]
    bases = {col.config: i for i, col in enumerate(columns) if col.variant == BASE}
    rows: list[Row] = []
    flaky: list[Flaky] = []
    for key, test, name, group in _row_order(columns):
        tcells = []
        for col, col_maps in zip(columns, maps):
            tc, per_repeat = _table_cell(col, col_maps, key, test)
            tcells.append(tc)
            if tc.flaky and not col.same_as_base:
                flaky.append(Flaky(col.name, key, per_repeat))
        rows.append(Row(key, test, name, group, _mark_differences(columns, tcells, bases)))
    not_run = list(dict.fromkeys(list(run.not_run) + [t for c in run.cells for t in c.not_run]))
    for test in not_run:
        rows.append(Row(f"{test}: {NOT_AT_BASE}", test, NOT_AT_BASE, "",
                        [TableCell(Status.NOT_RUN, (Status.NOT_RUN,), "the base has no such test",
                                   same_as_base=col.same_as_base) for col in columns]))
    totals = [_totals([r.cells[i] for r in rows]) for i in range(len(columns))]
    repeats = max((len(c.cells) for c in columns), default=1) or 1
    return Matrix(run, columns, rows, totals, flaky, not_run, repeats, bool(bases))


def _mark_differences(columns: list[Column], tcells: list[TableCell], bases: dict[str, int]) -> list[TableCell]:
    out = []
    for i, (col, c) in enumerate(zip(columns, tcells)):
        ref = bases.get(col.config)
        # a column nothing ran in (a config refused it) has no result to differ with
        nothing_ran = bool(col.cells) and all(x.status is Status.NOT_RUN and not x.tests for x in col.cells)
        if ref is None or i == ref or c.same_as_base or nothing_ran or set(c.statuses) == set(tcells[ref].statuses):
            out.append(c)
        else:
            out.append(replace(c, differs=True))
    return out


def columns_of(run: Run) -> list[Column]:
    """One column per config and variant, in the run's order; a same-as-base column holds the base's cells."""
    configs = run.configs or [""]
    grouped = len(configs) > 1
    by_key: dict[tuple[str, str], list[CellResult]] = {}
    for c in sorted(run.cells, key=lambda c: c.repeat):
        by_key.setdefault((c.config if grouped else "", c.variant), []).append(c)
    columns: list[Column] = []
    for config in configs:
        for v in run.variants:
            same = v in run.same_as_base and v != BASE
            cells = by_key.get((config if grouped else "", BASE if same else v), [])
            code = bool(cells) and v != BASE and all(c.same_code for c in cells)
            # a config may change what a prototype computes (read from its built .config by the matrix)
            under = run.per_config.get(config, {}).get(v)
            approximate = under["accuracy"] == "approximate" if under else v in run.approximate
            computes = (under["label"] if under["accuracy"] != "refused" else "") if under else run.computes.get(v, "")
            columns.append(Column(len(columns), v, cells, same_as_base=same or code, approximate=approximate,
                                  commit=run.patches.get(v, ""), config=config, grouped=grouped, same_code=code,
                                  computes=computes))
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


class CaseInfo(NamedTuple):
    """What one repeat of a column says of one row."""

    status: Status
    reason: str
    env_skip: bool = False
    evidence: str = ""
    missing: bool = False  # the row has no case in this repeat: the cell's own status stands in


def _table_cell(col: Column, maps: list[dict[str, CaseInfo]], key: str, test: str
                ) -> tuple[TableCell, tuple[Status, ...]]:
    """The column's cell of one row, and its status in each repeat."""
    per = [m[key] if key in m else CaseInfo(*_missing(cell, test), missing=True) for cell, m in zip(col.cells, maps)]
    if not per:
        per = [CaseInfo(Status.NOT_RUN, "no result: the run did not reach this cell", missing=True)]
    distinct = tuple(dict.fromkeys(p.status for p in per))
    status = combine(distinct)
    reason = next(p.reason for p in per if p.status is status)
    env = status is Status.SKIP and all(p.env_skip for p in per if p.status is Status.SKIP)
    evidence = next((p.evidence for p in per if p.status is status and p.evidence), "")
    return (TableCell(status, distinct, reason, env, same_as_base=col.same_as_base,
                      from_cell=any(p.missing for p in per), evidence=evidence),
            tuple(p.status for p in per))


def _cell_keys(cell: CellResult) -> Iterator[tuple[str, str, str, str]]:
    for out in cell.tests.values():
        if not out.cases:  # a binary that printed no case (skipped whole, no tests, garbage)
            yield f"{out.test}: (binary)", out.test, "(binary)", ""
        for c in out.cases:
            yield c.key, c.test, c.name, c.group


def _cell_map(cell: CellResult) -> dict[str, CaseInfo]:
    m: dict[str, CaseInfo] = {}
    for out in cell.tests.values():
        if not out.cases:
            m.setdefault(f"{out.test}: (binary)", CaseInfo(out.status, out.reason))
        for c in out.cases:
            m.setdefault(c.key, CaseInfo(c.status, c.reason, c.env_skip, c.evidence))
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
