"""Pieces every text format shares: the header line, the legend, the column notes, and rows that
differ only in a size merged into one."""
from __future__ import annotations

import re
import textwrap
from dataclasses import replace

from ..records import Run
from ..status import Status
from .model import CELL_LEVEL, Matrix, Row

WIDTH = 100  # text format: a mail or cover letter
_SIZE = re.compile(r"\((\d+) ([kKMG]i?B)\)")
_UNIT = re.compile(r"(\d+) ([kKMG]i?B\b)")
TRAILING_SIZE = re.compile(r"^(?P<stem>.*) \((?P<n>\d+) (?P<unit>[kMG]B)\)$")


def executor_of(run: Run) -> str:
    return run.executor or (f"vng ({run.accel})" if run.accel else "?")


def header_line(run: Run) -> str:
    n = max((c.repeat for c in run.cells), default=0) + 1
    state = "" if run.state.value == "finished" else f" [{run.state.value.upper()}]"
    configs = f"; configs: {', '.join(run.configs)}" if len(run.configs) > 1 else ""
    numa = f"; NUMA nodes {run.vm['numa']}" if run.vm.get("numa") else ""
    return (f"{run.study} at {run.base} (Linux {run.kernelversion or '?'}); tests: {', '.join(run.tests)}; "
            f"executor: {executor_of(run)}{numa}{configs}" + (f"; {n} repeats" if n > 1 else "")
            + f"; run {run.id}{state}")


def legend(m: Matrix) -> list[str]:
    nbsp = "\xa0"  # keeps an id and its variant on one line
    items = [f"{c.id}{nbsp}{c.name}" + c.marks.replace("=", nbsp + "(=base)") for c in m.columns]
    lines = textwrap.wrap("  ".join(items), WIDTH, break_on_hyphens=False, break_long_words=False)
    marks = (["~ approximate helper prototype (the notes say what it computes at this base)"]
             if any(c.approximate for c in m.columns) else []) + \
        (["=base same code as base here (no build: the base's cell is reused)"]
         if any(c.same_as_base for c in m.columns) else []) + (["* differs from base"] if m.has_base else [])
    return [line.replace("\xa0", " ") for line in lines] + textwrap.wrap(";  ".join(marks), WIDTH)


def column_notes(m: Matrix) -> list[str]:
    """One line per column whose cell did not end normally, and per same-as-base column."""
    lines = []
    for col in m.columns:
        if col.variant in m.run.sources:
            lines.append(f"{col.id} {col.name}: {m.run.sources[col.variant]}")
        if col.computes:
            lines.append(f"{col.id} {col.title}: {col.computes}")
        if col.same_code:
            lines.append(f"{col.id} {col.name}: =base, same machine code as base at {m.run.base} (its kernel is the "
                         "base's, byte for byte; reuses its cell)")
        elif col.same_as_base:
            lines.append(f"{col.id} {col.name}: =base, same code as base at {m.run.base} (reuses its cell)")
        elif col.status in CELL_LEVEL or col.status is Status.ERROR:
            cut = [f"{o.test}: {o.reason}" for c in col.cells for o in c.tests.values() if o.reason and not o.complete]
            lines.append(f"{col.id} {col.name}: {col.status.value}" + (f": {col.reason}" if col.reason else "")
                         + (f" ({'; '.join(cut)})" if cut else ""))
            if col.status is Status.BUILD_FAILED:  # the compiler's own words, file:line first
                errors = [e.strip() for c in col.cells for e in c.build_errors if re.search(r":\d+(:\d+)?: ", e)]
                lines += [f"    {e}" for e in dict.fromkeys(errors[:4])]
    return lines


def notes(m: Matrix) -> list[str]:
    """The column notes, then the tests the base lacks or that did not build."""
    unbuilt = {o.test: o.reason for c in m.run.cells for o in c.tests.values() if o.status is Status.BUILD_FAILED}
    return (column_notes(m) + [f"NOT_RUN: {t} (not at {m.run.base})" for t in m.not_run]
            + [f"BUILD_FAILED: test {t} at {m.run.base}: {why}" for t, why in unbuilt.items()])


def wrap(text: str, width: int = WIDTH, indent: str = "    ") -> list[str]:
    """textwrap.wrap, but a size such as "(2048 kB)" is never split over two lines."""
    lines = textwrap.wrap(_UNIT.sub("\\1\xa0\\2", _SIZE.sub("(\\1\xa0\\2)", text)), width, subsequent_indent=indent,
                          break_on_hyphens=False) or [""]
    return [line.replace("\xa0", " ") for line in lines]


_TOKEN = re.compile(r"^\[[a-z][a-z-]*\]")  # a probe's verdict token at the start of a reason


def _verdict(reason: str) -> str:
    """What a cell's reason says for merging: a probe's verdict token, else the whole reason (two
    FAILs or two SKIPs for different reasons are different verdicts)."""
    m = _TOKEN.match(reason)
    return m.group(0) if m else reason


def merge_sizes(rows: list[Row]) -> list[Row]:
    """Rows that differ only in the size and read the same in every column (status and verdict: the
    probe's token, or the reason) become one row, at the place of the first, that lists the sizes
    ("... THP (16, 32, 2048 kB)"); no size is dropped."""
    slots: list[Row | list[tuple[Row, re.Match[str]]]] = []
    groups: dict[tuple[object, ...], list[tuple[Row, re.Match[str]]]] = {}
    for row in rows:
        m = TRAILING_SIZE.match(row.name)
        if not m:
            slots.append(row)
            continue
        group = row.group if " ... " in row.name else ""  # only "group ... case" names show their group
        key = (row.test, group, m.group("stem"), m.group("unit"),
               tuple((c.shown(), _verdict(c.reason)) for c in row.cells))
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


def flaky_lines(m: Matrix, indent: str = "  ") -> list[str]:
    if not m.flaky:
        return []
    return [f"Flaky (the status changed between the {m.repeats} repeats):"] + [
        f"{indent}{f.variant}: {'/'.join(s.value for s in f.statuses)}: {f.key}" for f in m.flaky]
