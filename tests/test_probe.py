"""The study's probe: its real TAP (captured at 6.12 and 6.1) through the parser, and the verdict
table every report format renders from it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from workbench import report
from workbench.guest import tap
from workbench.records import CellResult, Run
from workbench.status import Status
from workbench.study import words as words_mod

REAL = Path(__file__).parent / "data" / "real"
ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["base", "folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared"]


WORDS = words_mod.load(ROOT / "templates" / "mapcount" / "probe" / "words.toml")


def probe_run(tmp_path: Path, words: bool = True) -> Run:
    """A run of the probe at 6.12 (real TAP), with the study's words recorded as the matrix records them."""
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.118",
              study="mapcount", tests=["cow", "probe"], variants=list(VARIANTS), command="invoke matrix",
              approximate=["folio_maybe_mapped_shared"], state="finished",
              words={"probe": WORDS.to_json()} if words else {})
    for v in VARIANTS:
        out = tap.parse((REAL / f"v6.12.118-{v}-probe.tap").read_text(), "probe", exit_code=1)
        run.cells.append(CellResult(identity=v, base="v6.12", variant=v, commit="c", status=out.status,
                                    tests={"probe": out}))
    return run


def test_probe_tap_parses_with_scenarios_verdicts_and_costs():
    out = tap.parse((REAL / "v6.12.118-base-probe.tap").read_text(), "probe", exit_code=1)
    assert out.complete and len(out.cases) == 189 and out.status is Status.FAIL
    failed = [c for c in out.cases if c.status is Status.FAIL]
    assert len(failed) == 16 and all("disjoint halves" in c.name for c in failed)
    # the base splits the shared folio and acts on the caller's half only: split, not wrong; the
    # verdict is the token, the English follows it
    assert all(c.reason.startswith("[split] split a shared folio") for c in failed)
    # shmem THPs (issue 32.6): the exclusive one swapped out whole, the shared one left alone
    by = {c.name: c for c in out.cases}
    shmem = by["MADV_PAGEOUT exclusive PMD-mapped shmem THP (2048 kB)"]
    assert shmem.status is Status.PASS and "512 of 512 pages unmapped by reclaim" in shmem.evidence
    assert "pswpout +512" in shmem.evidence
    shared = by["MADV_PAGEOUT PMD-mapped shmem THP shared with a child (2048 kB)"]
    assert shared.status is Status.PASS and "folio still whole" in shared.evidence
    assert "the child 0 of 256 pages paged out" in next(c.evidence for c in failed if "(2048 kB)" in c.name)
    # every case that ran carries its evidence; a skipped one has none
    assert all(c.evidence for c in out.cases if c.status is not Status.SKIP)
    assert not any(c.evidence for c in out.cases if c.status is Status.SKIP)
    assert set(out.measurements) == {f"{a} 256 MiB PTE-mapped THP{s} (2048 kB)" for a in ("MADV_COLD", "MADV_PAGEOUT")
                                     for s in ("",)} | {f"decision only: {a} 256 MiB PTE-mapped THP shared with "
                                                        "a child (2048 kB)" for a in ("MADV_COLD", "MADV_PAGEOUT")}


def test_probe_at_6_1_has_only_the_pmd_size():
    out = tap.parse((REAL / "v6.1.192-base-probe.tap").read_text(), "probe", exit_code=1)
    assert len(out.cases) == 37 and all("(16 kB)" not in c.name for c in out.cases)
    assert any("(2048 kB)" in c.name for c in out.cases)
    # no mTHP: four folios cannot share one page table, so that scenario is not planned
    assert not any("four THPs" in c.name for c in out.cases)
    # the v6.1 base reclaims a PMD-mapped THP whole although a child maps half of it (wrong), and
    # splits the PTE-mapped one first (split)
    by = {c.name: c for c in out.cases}
    assert by["MADV_PAGEOUT PMD-mapped THP partly shared, child keeps second half (2048 kB)"].reason.startswith(
        "[wrong] treated shared as exclusive")
    assert by["MADV_PAGEOUT PTE-mapped THP partly shared, child keeps second half (2048 kB)"].reason.startswith(
        "[split] split a shared folio")


def words(table: report.ExtraTable, scenario: str) -> list[str]:
    row = next(r for r in table.rows if r[0].startswith(scenario))
    return row[1:]


def test_verdict_table_tells_apart_what_cow_cannot(tmp_path):
    [table] = report.extra_tables(report.matrix_rows(probe_run(tmp_path)))
    assert table.headers[1:] == ["base", "folio_mapcount", "page_mapcount", "folio_estimated_sharers",
                                 "folio_maybe_mapped_shared~"]
    assert table.title.endswith("[3] folio_estimated_sharers, [4] folio_maybe_mapped_shared~)")  # its list says ~ too
    assert words(table, "MADV_PAGEOUT exclusive PTE-mapped THP") == \
        ["correct", "missed pageout", "correct", "correct", "correct"]
    assert words(table, "MADV_PAGEOUT PTE-mapped THP, first half unmapped") == \
        ["correct", "missed pageout", "correct", "missed pageout", "correct"]
    assert words(table, "MADV_PAGEOUT PTE-mapped THP partly shared, child keeps second half") == \
        ["correct", "correct", "wrong pageout", "wrong pageout", "correct"]
    assert words(table, "MADV_COLD THP mapped in disjoint halves") == \
        ["correct" if i == 1 else "split, deactivation of the caller's pages" for i in range(5)]
    # 6.12 goes on past a shared large folio in the same page table: only folio_mapcount misses
    assert words(table, "MADV_PAGEOUT four THPs in one page table") == \
        ["correct", "missed pageout", "correct", "correct", "correct"]
    assert table.marks["split, pageout of the caller's pages"] == "harm" and table.short[
        "split, pageout of the caller's pages"] == "split"
    # the sizes that read the same share a row, every size is named
    row = next(r for r in table.rows if r[0].startswith("MADV_PAGEOUT exclusive PTE-mapped THP"))
    assert row[0].endswith("(16, 32, 64, 128, 256, 512, 1024, 2048 kB)")
    cost = next(r for r in table.rows if r[0].startswith("cost: MADV_PAGEOUT"))
    # one boot a column: the medians and the change against base, no interval and no mark
    assert re.fullmatch(r"\d+(\.\d\d?)? ms", cost[1])
    assert all(re.fullmatch(r"\d+(\.\d\d?)? ms [+-]\d+\.\d%", c) for c in cost[2:])
    assert "fewer than 3 boots per column: no interval and no mark" in table.note


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "terminal"])
def test_verdict_table_is_in_every_report(tmp_path, fmt):
    out = report.render(probe_run(tmp_path), fmt)
    assert "what each variant does to exclusive and shared folios" in out
    assert "wrong" in out and "missed" in out
    # the approximate column is marked in the verdict table's column list as in the case table
    assert ("folio\\_maybe\\_mapped\\_shared~)" if fmt == "markdown" else "folio_maybe_mapped_shared~)") in out
    if fmt == "text":
        assert max(len(line) for line in out.splitlines()) <= 100


def test_verdict_table_in_json(tmp_path):
    data = json.loads(report.render(probe_run(tmp_path), "json"))
    assert any("exclusive and shared folios" in t["title"] for t in data["extra_tables"])


def test_the_words_come_from_the_run_record_not_from_the_code(tmp_path):
    """Another study's probe is described in its own words: the report reads them from run.json."""
    run = probe_run(tmp_path)
    run.words["probe"]["rules"] = [{"word": "kept", "status": "PASS", "mark": "good"},
                                   {"word": "LOST DATA", "token": "wrong", "mark": "bad", "short": "LOST"}]
    run.words["probe"]["title"] = "what MADV_FREE leaves of another process's data"
    run.save()
    again = Run.load(tmp_path)
    [table] = report.extra_tables(report.matrix_rows(again))
    assert table.title.startswith("probe: what MADV_FREE leaves of another process's data")
    assert words(table, "MADV_PAGEOUT PTE-mapped THP partly shared, child keeps second half")[2] == "LOST DATA"
    assert words(table, "MADV_PAGEOUT exclusive PTE-mapped THP")[0] == "kept"
    assert table.marks == {"kept": "good", "LOST DATA": "bad"} and table.short == {"LOST DATA": "LOST"}
    assert "correct" not in {w for r in table.rows for w in r[1:]}
    assert "LOST" in report.render_extra(again, "text")  # the short word, in a mail's table


def test_a_run_without_words_gets_them_from_the_settings_templates_or_no_table(tmp_path):
    run = probe_run(tmp_path, words=False)
    assert report.extra_tables(report.matrix_rows(run)) == []
    [table] = report.extra_tables(report.matrix_rows(run), ROOT / "templates")
    assert words(table, "MADV_PAGEOUT exclusive PTE-mapped THP")[1] == "missed pageout"


def test_the_study_file_names_the_words_and_a_missing_file_is_refused(tmp_path):
    import shutil

    from workbench.errors import UserError
    from workbench.study import model

    study = model.load(ROOT / "templates", "mapcount")
    assert study.probes["probe"].words == WORDS and study.probes["probe"].source.name == "probe.c"
    copy = tmp_path / "mapcount"  # a study's folder is its name
    shutil.copytree(ROOT / "templates" / "mapcount", copy)
    (copy / "probe" / "words.toml").unlink()
    with pytest.raises(UserError, match="probe/words.toml does not exist"):
        model.load(tmp_path, "mapcount")
