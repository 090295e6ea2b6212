"""Issue 32.3: no report format and no README table merges THP sizes whose verdicts differ. Over
the real TAP of both studies' probes (every column, v6.12 and v6.1: tests/data/real/), every row
that names several sizes reads the same in every column at each of them: the main table's rows
(status and verdict token) and the verdict table's (the study's words); the README's lazyfree
table is rows of that verdict table."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from workbench import report
from workbench.guest import tap
from workbench.records import Case, CellResult, Run
from workbench.report.common import merge_sizes
from workbench.study import words as words_mod

ROOT = Path(__file__).resolve().parent.parent
REAL = Path(__file__).parent / "data" / "real"
MAPCOUNT = ["base", "folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared"]
LAZYFREE = MAPCOUNT + ["planted"]
KERNELS = {"v6.12": "6.12.118", "v6.1": "6.1.192"}
SIZES = re.compile(r"^(?P<stem>.*) \((?P<sizes>\d+(?:, \d+)*) kB\)$")


SAME_AS_BASE = {("mapcount", "v6.1"): {"page_mapcount"}}  # the base's kernel there: its cell is the base's


def tap_file(study: str, base: str, variant: str) -> Path:
    if variant in SAME_AS_BASE.get((study, base), set()):
        variant = "base"
    if study == "lazyfree":
        return REAL / f"lazyfree-{base}-{variant}.tap"
    return REAL / f"{base}.{KERNELS[base].split('.', 2)[2]}-{variant}-probe.tap"


def real_run(tmp_path: Path, study: str, base: str) -> Run:
    variants = LAZYFREE if study == "lazyfree" else MAPCOUNT
    words = words_mod.load(ROOT / "templates" / study / "probe" / "words.toml")
    run = Run(dir=tmp_path, kind="matrix", base=base, commit="c" * 40, kernelversion=KERNELS[base], study=study,
              tests=["probe"], variants=variants, command="invoke matrix", state="finished",
              approximate=["folio_maybe_mapped_shared"], words={"probe": words.to_json()})
    for v in variants:
        out = tap.parse(tap_file(study, base, v).read_text(), "probe", exit_code=1)
        run.cells.append(CellResult(identity=v, base=base, variant=v, commit="c", status=out.status,
                                    tests={"probe": out}))
    return run


def cases_of(run: Run) -> dict[str, dict[str, Case]]:
    return {c.variant: {k.name: k for k in c.tests["probe"].cases} for c in run.cells}


def split(name: str) -> tuple[str, list[str]]:
    m = SIZES.match(name)
    return (m.group("stem"), m.group("sizes").split(", ")) if m else (name, [])


STUDY_BASES = [(s, b) for s in ("mapcount", "lazyfree") for b in KERNELS]


@pytest.mark.parametrize("study,base", STUDY_BASES)
def test_a_merged_row_reads_the_same_at_every_size_it_names(tmp_path: Path, study: str, base: str):
    run = real_run(tmp_path, study, base)
    cases = cases_of(run)
    m = report.matrix_rows(run)
    merged = 0
    for row in merge_sizes(m.rows):  # every row, as the text formats merge those they show
        stem, sizes = split(row.name)
        for variant in cases if len(sizes) > 1 else ():
            said = {(c.status, words_mod.token(c)) for s in sizes
                    for c in [cases[variant].get(f"{stem} ({s} kB)")] if c}
            assert len(said) == 1, f"{row.name}, {variant}: {said}"
            merged += 1
    words = words_mod.load(ROOT / "templates" / study / "probe" / "words.toml")
    [table] = report.extra_tables(m)
    for g in table.grid:
        stem, sizes = split(g.scenario)
        for variant in cases if len(sizes) > 1 else ():
            said = {words.word(cases[variant].get(f"{stem} ({s} kB)")) for s in sizes}
            assert len(said) == 1, f"{g.scenario}, {variant}: {said}"
            merged += 1
    thp_sizes = {split(n)[1][0] for v in cases.values() for n in v if split(n)[1] and split(n)[1][0] != "4"}
    assert merged if len(thp_sizes) > 1 else not merged  # v6.1 has the PMD size only: nothing to merge


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "terminal"])
def test_every_format_shows_the_rows_the_checked_merge_gives(tmp_path: Path, fmt: str):
    """The formats print merge_sizes()'s rows and the verdict table's: a size-list a format shows
    is one of theirs."""
    run = real_run(tmp_path, "lazyfree", "v6.12")
    m = report.matrix_rows(run)
    [table] = report.extra_tables(m)
    allowed = {r.name for r in merge_sizes(m.rows)} | {g.scenario for g in table.grid}
    out = report.render(run, fmt).replace("\xa0", " ")
    for listed in re.findall(r"\((\d+(?:, \d+)+) kB\)", out):
        assert any(name.endswith(f"({listed} kB)") for name in allowed), listed


def readme_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("| scenario (as the report prints it) |", 1)[1].split("\n\n", 1)[0]
    return [[x.strip().strip("*") for x in line.strip("|").split("|")] for line in block.splitlines()[2:]]


def test_the_readme_lazyfree_table_is_rows_of_the_real_verdict_tables(tmp_path: Path):
    """Each README row is `base: scenario (sizes)` and the words of the six columns, exactly as the
    verdict table of the real TAP at that base has that row: no hand-merged sizes."""
    tables = {}
    for base in KERNELS:
        (tmp_path / base).mkdir()
        [t] = report.extra_tables(report.matrix_rows(real_run(tmp_path / base, "lazyfree", base)))
        tables[base] = {g.scenario: [c.text for c in g.cells] for g in t.grid}
    rows = readme_rows()
    assert rows
    for row in rows:
        base, scenario = row[0].split(": ", 1)
        assert scenario in tables[base], f"{row[0]} is not a row of the verdict table at {base}"
        assert tables[base][scenario] == row[1:], row[0]


def test_two_sizes_with_one_status_and_two_verdicts_are_not_merged(tmp_path: Path):
    """The main table shows statuses; a SKIP that is "caller's side only" and one that is
    "inconclusive" (or two FAILs, missed and split) read the same there, and were merged before.
    Cases of the real lazyfree TAP at 6.12, one of them given the other verdict's token."""
    run = real_run(tmp_path, "lazyfree", "v6.12")
    stem = "MADV_FREE PTE-mapped THP shared with a child, plain fork"
    for cell in run.cells:
        out = cell.tests["probe"]
        for i, c in enumerate(out.cases):
            if c.name == f"{stem} (16 kB)" and cell.variant == "planted":
                out.cases[i] = dataclasses.replace(c, reason="[inconclusive] " + c.reason.split("] ", 1)[1])
    rows = [r.name for r in merge_sizes(report.matrix_rows(run).rows) if r.name.startswith(stem)]
    assert f"{stem} (16 kB)" in rows and f"{stem} (32, 64, 128, 256, 512, 1024, 2048 kB)" in rows
