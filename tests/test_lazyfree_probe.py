"""The lazyfree study's probe: its real TAP (the matrix's own cells at 6.12 and 6.1) through the
parser and the study's words, and the verdict table the reports render: DATA LOSS where the
planted variant (and, at 6.12, a page-0 check before the dirty flag is cleared) frees a folio
another process maps with clean PTEs."""
from __future__ import annotations

from pathlib import Path

from workbench import report
from workbench.guest import tap
from workbench.records import CellResult, Run, TestOutput
from workbench.status import Status
from workbench.study import words as words_mod

REAL = Path(__file__).parent / "data" / "real"
WORDS = words_mod.load(Path(__file__).resolve().parent.parent / "templates" / "lazyfree" / "probe" / "words.toml")


def parsed(name: str) -> TestOutput:
    return tap.parse((REAL / f"lazyfree-{name}.tap").read_text(), "probe", exit_code=1)


def lost(out: TestOutput) -> list[str]:
    return [c.name for c in out.cases if c.status is Status.FAIL and words_mod.token(c) == "loss"]


def test_the_base_loses_nothing_and_splits_only_disjoint_halves():
    out = parsed("v6.12-base")
    assert out.complete and len(out.cases) == 89
    assert not lost(out)
    failed = [c for c in out.cases if c.status is Status.FAIL]
    assert len(failed) == 16 and all("disjoint halves" in c.name and words_mod.token(c) == "split" for c in failed)
    assert all(c.evidence for c in out.cases)  # LazyFree, pages intact/zero, the counters


def test_where_the_other_process_s_ptes_were_not_made_clean_only_the_caller_s_side_is_said():
    """Issue 32.2: plain fork and the PMD rows: a wrong decision is saved by the child's dirty PTEs,
    so they say what the caller's side shows (LazyFree, pglazyfree) instead of "correct"."""
    base, planted = parsed("v6.12-base"), parsed("v6.12-planted")
    only = {c.name for c in base.cases if words_mod.token(c) == "caller-only"}
    assert only and all("PTEs clean" not in n and c.status is Status.SKIP
                        for n, c in ((c.name, c) for c in base.cases if c.name in only))
    assert "MADV_FREE PMD-mapped THP shared with a child, plain fork (2048 kB)" in only
    assert not any(words_mod.token(c) == "caller-only" for c in base.cases if "PTEs clean" in c.name)
    pmd = "MADV_FREE PMD-mapped THP shared with a child, plain fork (2048 kB)"
    said = {c.name: c.reason for c in planted.cases}
    # the caller's side tells the planted check from the base's: it marked the shared THP lazyfree
    assert "LazyFree 2048 kB" in said[pmd] and "pglazyfree +512" in said[pmd]
    assert "LazyFree 0 kB" in {c.name: c.reason for c in base.cases}[pmd]


def test_the_clean_ptes_of_a_large_folio_are_proven_by_soft_dirty_bits():
    """Issue 32.1: smaps cannot tell (the folio is PG_dirty): the evidence says the child's
    soft-dirty bits were cleared after the read-back and still clear before madvise."""
    base = parsed("v6.12-base")
    clean = [c for c in base.cases if "THP" in c.name and "PTEs clean" in c.name and c.status is Status.PASS]
    assert clean and all("soft-dirty bits cleared then and still clear right before madvise" in c.evidence
                         for c in clean)


def test_the_planted_variant_loses_every_shared_clean_row_but_not_the_dirty_ones():
    base, planted = parsed("v6.12-base"), parsed("v6.12-planted")
    loss = set(lost(planted))
    clean = {c.name for c in base.cases if "PTEs clean" in c.name and c.status is Status.PASS}
    assert len(loss) == 26 and loss == clean
    assert all("PTEs clean" in n for n in loss)  # at 6.12 the child's dirty PTEs save the folio
    case = next(c for c in planted.cases if c.name == "MADV_FREE small pages shared with a child, PTEs clean (4 kB)")
    assert case.reason == "[loss] DATA LOSS: the child read zeros at 8 of 8 pages"
    assert "the child 8 of 8 zero" in case.evidence and "pglazyfreed +8" in case.evidence


def test_a_page_zero_check_before_the_dirty_flag_is_cleared_loses_the_childs_half():
    loss = lost(parsed("v6.12-page_mapcount"))
    assert loss and all("child keeps second half, PTEs clean" in n for n in loss)
    assert len(loss) == 8  # every THP size


def test_at_6_1_a_split_pmd_leaves_clean_ptes_so_plain_fork_rows_lose_data_too():
    loss = lost(parsed("v6.1-planted"))
    assert "MADV_FREE PTE-mapped THP shared with a child, plain fork (2048 kB)" in loss
    assert not lost(parsed("v6.1-base"))


def test_the_verdict_table_says_data_loss_and_marks_it_worst(tmp_path):
    variants = ["base", "page_mapcount", "planted"]
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.117",
              study="lazyfree", tests=["probe"], variants=variants, command="invoke matrix", state="finished",
              words={"probe": WORDS.to_json()})
    for v in variants:
        out = parsed(f"v6.12-{v}")
        run.cells.append(CellResult(identity=v, base="v6.12", variant=v, commit="c", status=out.status,
                                    tests={"probe": out}))
    [table] = report.extra_tables(report.matrix_rows(run))
    row = next(r for r in table.rows if r[0].startswith("MADV_FREE small pages shared with a child, PTEs clean"))
    assert row[1:] == ["correct", "correct", "DATA LOSS"]
    assert WORDS.marks["DATA LOSS"] == "bad" and WORDS.marks["split"] == "harm"
    m = report.matrix_rows(run)
    assert "DATA LOSS" in report.render_text(m, report.extra_tables(m))
