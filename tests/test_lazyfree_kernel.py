"""The lazyfree study on the real trees: its patches touch both files at v6.12 and v6.1 and compile
without new warnings, and its probe sees data loss: the planted variant that calls every folio
exclusive (tests/data/planted/, not in the study) loses the child's data in every shared row
whose PTEs are clean, and the base loses nothing (kernel marker: minutes)."""
from __future__ import annotations

import pytest
from test_kernel import cases, invoke, latest_run, need_tree

from workbench.settings import PROJECT_ROOT

pytestmark = pytest.mark.kernel

VARIANTS = ("folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared")
PLANTED = PROJECT_ROOT / "tests" / "data" / "planted" / "every_folio_exclusive.j2"


@pytest.mark.parametrize("tag", ["v6.12", "v6.1"])
def test_every_variant_touches_both_files_and_compiles(tmp_path, tag):
    need_tree(tag)
    out = invoke(tmp_path, "patches", "--base", tag, "--study", "lazyfree").stdout
    assert "mm/madvise.c, madvise_free_pte_range()" in out and "mm/huge_memory.c, madvise_free_huge_pmd()" in out
    for variant in VARIANTS:
        patch = (tmp_path / "patches" / "lazyfree" / tag / f"{variant}.patch").read_text()
        assert "--- a/mm/madvise.c" in patch and "--- a/mm/huge_memory.c" in patch, variant
    checked = invoke(tmp_path, "check-variants", "--base", tag, "--study", "lazyfree").stdout
    assert "mm/madvise.o and mm/huge_memory.o" in checked
    assert "FAILED" not in checked and "new warning(s)" not in checked.replace("no new warnings", "")


@pytest.mark.parametrize("tag", ["v6.12", "v6.1"])
def test_the_planted_variant_loses_data_and_the_base_does_not(tmp_path, tag):
    need_tree(tag)
    invoke(tmp_path, "matrix", "--base", tag, "--study", "lazyfree", "--tests", "probe",
           "--variants", f"base,planted={PLANTED}", check=False)
    run = latest_run(tmp_path)
    assert run["state"] == "finished" and run["study"] == "lazyfree"
    base, planted = cases(run, "base"), cases(run, "planted")
    assert not [n for n, (_, reason, _) in base.items() if "DATA LOSS" in reason]
    lost = {n for n, (status, reason, _) in planted.items() if status == "FAIL" and "DATA LOSS" in reason}
    clean = {n for n, (status, _, _) in base.items() if "PTEs clean" in n and "disjoint" not in n and status == "PASS"}
    assert clean and clean <= lost  # every shared clean-PTE row the base gets right, the planted one loses
    if tag == "v6.12":  # where the child's PTEs are dirty, reclaim re-dirties the folio: nothing lost
        assert all("PTEs clean" in n for n in lost)
