"""The numa study on the real v6.12 tree: every variant writes both checks of mm/mempolicy.c under
their `!`, move_pages(2)'s in mm/migrate.c and khugepaged's two, and compiles without new warnings,
and on a two-node guest its probe gives the verdicts v6.12's code predicts, alike through mbind(),
move_pages() and migrate_pages() (khugepaged's differ for page_mapcount, which reads each PTE's page there), the
planted control that calls every folio exclusive moves or collapses every shared one, and with
MPOL_MF_MOVE_ALL every column moves every folio (kernel marker: minutes; the NUMA build is its own
build directory)."""
from __future__ import annotations

import os

import pytest
from test_kernel import cases, invoke, latest_run, need_tree

from workbench.settings import PROJECT_ROOT

pytestmark = pytest.mark.kernel

VARIANTS = ("folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared")
PLANTED = PROJECT_ROOT / "tests" / "data" / "planted" / "every_folio_exclusive.j2"


def test_every_variant_writes_the_check_and_compiles(tmp_path):
    need_tree("v6.12")
    out = invoke(tmp_path, "patches", "--base", "v6.12", "--study", "numa").stdout
    assert "asks the opposite (a `!` before it)" in out
    for variant in VARIANTS:
        patch = (tmp_path / "patches" / "numa" / "v6.12" / f"{variant}.patch").read_text()
        assert "+\tif ((flags & MPOL_MF_MOVE_ALL) || !" in patch and "&& !hugetlb_pmd_shared(pte)))" in patch
        assert "&& !migrate_all)\n \t\treturn -EACCES;" in patch
        assert patch.count("++shared;") == 2  # khugepaged's scan and isolate
    checked = invoke(tmp_path, "check-variants", "--base", "v6.12", "--study", "numa").stdout
    assert "mm/mempolicy.o" in checked and "mm/migrate.o" in checked and "mm/khugepaged.o" in checked  # built with the study's numa.config: no NUMA, no object
    assert "FAILED" not in checked and "new warning(s)" not in checked.replace("no new warnings", "")


def test_the_probe_on_two_nodes_sees_what_the_code_says(tmp_path, monkeypatch):
    need_tree("v6.12")
    monkeypatch.setitem(os.environ, "INVOKE_WORKBENCH_VM_CPUS", "4")
    invoke(tmp_path, "matrix", "--base", "v6.12", "--study", "numa", "--configs", "minimal+numa", "--numa", "2x2G",
           "--tests", "probe", "--variants", ",".join(("base", *VARIANTS, f"planted={PLANTED}")), check=False)
    run = latest_run(tmp_path)
    assert run["state"] == "finished" and run["study"] == "numa"
    wrong = {v: {n.removeprefix("probe: ") for n, (status, reason, _) in cases(run, v).items()
                 if status != "PASS"} for v in ("base", *VARIANTS, "planted")}
    with_child = {n.removeprefix("probe: mbind MPOL_MF_MOVE ") for n in cases(run, "base")
                  if n.startswith("probe: mbind MPOL_MF_MOVE ") and ("shared" in n or "halves" in n)}
    disjoint, partly = ("THP mapped in disjoint halves, parent first, child second",
                        "PTE-mapped THP partly shared, child keeps second half")
    ways = ("mbind MPOL_MF_MOVE", "move_pages", "migrate_pages")  # with MPOL_MF_MOVE_ALL every row moves
    expected = {"base": {disjoint}, "folio_mapcount": {"exclusive PTE-mapped THP"},
                "page_mapcount": {disjoint, partly}, "folio_estimated_sharers": {disjoint, partly},
                "folio_maybe_mapped_shared": {disjoint}, "planted": with_child}
    # khugepaged asks of each PTE's folio (page_mapcount: of each PTE's page, which sees the child's
    # half); its rows are the PTE-mapped THPs only
    collapse = dict(expected, page_mapcount={disjoint},
                    planted={s for s in with_child if s.startswith(("PTE-mapped", "THP mapped"))})
    assert wrong == {v: {f"{w} {s}" for w in ways for s in rows} |
                     {f"khugepaged max_ptes_shared=0 {s}" for s in collapse[v]} for v, rows in expected.items()}
    assert len(with_child) == 6 and len(collapse["planted"]) == 3  # every row with a child moved or collapsed
    assert sum(n.startswith("probe: move_pages MPOL_MF_MOVE_ALL ") for n in cases(run, "base")) == 6
    assert sum(n.startswith("probe: migrate_pages CAP_SYS_NICE ") for n in cases(run, "base")) == 6
