"""The probe's table over repeats: verdicts counted over the boots, cost rows with intervals and
marks, and two runs compared the same way (`invoke report --against`). The TAP is the probe's
real output at 6.12; only the timings are set per boot, as known data."""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

from test_probe import REAL, VARIANTS, WORDS

from workbench import report
from workbench.guest import tap
from workbench.records import CellResult, Run
from workbench.status import Status

COLD = "MADV_COLD 1024 MiB PTE-mapped THP (2048 kB)"
PAGEOUT = "MADV_PAGEOUT 1024 MiB PTE-mapped THP (2048 kB)"
SPREAD = [-20.0, -7.0, 0.0, 6.0, 21.0, -13.0, 14.0]


def repeated_run(tmp_path: Path, boots: int, pageout_ms: dict[str, float], seed: int = 1,
                 flip: tuple[str, int] | None = None) -> Run:
    """`boots` repeats of every column; PAGEOUT's time per column around `pageout_ms` (default 800),
    COLD around 10 ms everywhere; `flip` = (variant, repeat) whose first case FAILs in that boot.
    The noise is a known null: every column draws the same values, in its own order."""
    r = random.Random(seed)
    noise = {v: r.sample(SPREAD[:boots], boots) for v in VARIANTS}
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.118",
              study="mapcount", tests=["probe"], variants=list(VARIANTS), command="invoke matrix",
              approximate=["folio_maybe_mapped_shared"], state="finished", accel="tcg",
              words={"probe": WORDS.to_json()})
    for rep in range(boots):
        for v in VARIANTS:
            out = tap.parse((REAL / f"v6.12.118-{v}-probe.tap").read_text(), "probe", exit_code=1)
            out.measurements = {COLD: 10 + noise[v][rep] / 30, PAGEOUT: pageout_ms.get(v, 800) + noise[v][rep]}
            if flip == (v, rep):
                first = out.cases[0]
                out.cases[0] = dataclasses.replace(first, status=Status.FAIL, reason="[missed] treated exclusive as shared")
            run.cells.append(CellResult(identity=f"{v}-{rep}", base="v6.12", variant=v, commit="c",
                                        status=out.status, tests={"probe": out}, repeat=rep))
    return run


def table(run: Run) -> report.ExtraTable:
    [t] = report.extra_tables(report.matrix_rows(run))
    return t


def cost_row(t: report.ExtraTable, label: str) -> list[str]:
    return next(r for r in t.rows if r[0].startswith(f"cost: {label}"))


def test_a_real_cost_difference_is_marked_and_noise_is_not(tmp_path):
    t = table(repeated_run(tmp_path, 5, {"folio_mapcount": 2.0}))
    row = cost_row(t, PAGEOUT)
    assert row[0].endswith("(TCG: relative only)")
    assert "[" in row[1] and not row[1].endswith("*")  # base: its interval
    assert row[2].endswith(" *") and "-99." in row[2]  # folio_mapcount pages nothing out
    assert not any(c.endswith("*") for c in row[3:])  # the others are base's noise
    assert not any(c.endswith("*") for c in cost_row(t, COLD)[1:])
    i = t.columns.index("folio_mapcount")
    [c] = [x.comparisons[i] for x in t.costs if x.label == PAGEOUT]
    assert c is not None and c.p_adjusted == 2 * c.p  # Holm over the two cost rows
    assert "Holm-corrected over the 2 cost rows" in t.note and "TCG" in t.note


def test_one_boot_gives_no_interval_and_no_mark(tmp_path):
    t = table(repeated_run(tmp_path, 1, {"folio_mapcount": 2.0}))
    assert not any("*" in c or "[" in c for c in cost_row(t, PAGEOUT)[1:])
    assert "fewer than 3 boots per column: no interval and no mark" in t.note


def test_a_verdict_that_changes_between_boots_shows_its_counts(tmp_path):
    run = repeated_run(tmp_path, 5, {}, flip=("page_mapcount", 2))
    t = table(run)
    i = t.columns.index("page_mapcount")
    mixed = [g for g in t.grid if g.cells[i].mixed]
    assert len(mixed) == 1
    assert mixed[0].cells[i].text == "correct 4/5, missed pageout 1/5"
    assert t.marks[mixed[0].cells[i].text] == "warn"
    assert not any(g.cells[0].mixed for g in t.grid)


def test_against_compares_cost_rows_of_two_runs(tmp_path):
    a = repeated_run(tmp_path / "a", 5, {}, seed=1)
    b = repeated_run(tmp_path / "b", 5, {"folio_mapcount": 400.0}, seed=2)
    text = report.compare(a, b)
    fm = text.split("== folio_mapcount:")[1].split("==")[0]
    assert f"cost {PAGEOUT}:" in fm and fm.rstrip().endswith("*")
    base = text.split("== base:")[1].split("==")[0]
    assert f"cost {PAGEOUT}:" in base and "*" not in base
    assert "note: a cost marked * differs between the two runs' boots" in text  # each run's load is in it
    same = report.compare(a, repeated_run(tmp_path / "c", 5, {}, seed=3))
    assert same.endswith("No status changed, no verdict word changed, no cost changed significantly.\n")
    assert "note: a cost marked" not in same


def test_the_text_format_lists_cost_rows_a_column_a_line_and_keeps_the_scenarios_readable(tmp_path):
    run = repeated_run(tmp_path, 5, {"folio_mapcount": 2.0})
    lines = report.extra_text(table(run))
    head = next(i for i, line in enumerate(lines) if line.startswith(f"  cost: {PAGEOUT}"))
    block = lines[head + 1:head + 1 + len(VARIANTS)]
    assert [line.split()[1] for line in block] == list(VARIANTS)
    assert block[1].endswith(" *") and "2.0 ms -99." in block[1]  # two significant digits
    assert "ms [" in block[0]  # base: its interval
    # the scenario column is never squeezed below 30 characters by wide cells
    rule = next(line for line in lines if line.startswith("  ---"))
    assert len(rule.split()[0]) >= 30


def test_the_note_counts_the_boots_that_measured_not_the_boots_asked_for(tmp_path):
    run = repeated_run(tmp_path, 5, {})
    for cell in run.cells:
        if cell.repeat >= 2:  # three of five boots a column measured nothing (cut short, say)
            cell.tests["probe"].measurements = {}
    t = table(run)
    assert "fewer than 3 boots per column: no interval and no mark" in t.note
    assert not any(c.endswith("*") for r in t.rows if r[0].startswith("cost:") for c in r[1:])
