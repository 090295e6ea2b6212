"""Coverage on the real tree (kernel marker: a full build of the coverage config, then boots).

Controls whose counts are known: the probe's "four THPs in one page table, a child maps the second"
case makes one madvise() over four PTE-mapped folios of which exactly the second is shared, so the
PTE final check decides four times: 1 shared, 3 exclusive at the base, and 4 shared under
folio_mapcount (a fully mapped large folio has a mapcount of its number of pages, never 1); the
exclusive PMD-mapped THP case decides once, exclusive, on the PMD path; the brought patch's line in
madvise_remove() (MADV_REMOVE: no test uses it) reads 0 and is said as reached by no test."""
from __future__ import annotations

import pytest
from test_kernel import invoke, latest_run, need_tree

from workbench.settings import PROJECT_ROOT

pytestmark = pytest.mark.kernel

UNREACHED = PROJECT_ROOT / "tests" / "data" / "coverage" / "unreached.patch"


def decisions(run: dict, variant: str, case_start: str, role: str) -> set[tuple[int, int]]:
    """{(shared, exclusive)} of the site of `role` in the probe's cases whose name starts so."""
    cov = next(c for c in run["cells"] if c["variant"] == variant)["coverage"]
    i = next(k for k, s in enumerate(cov["spots"]) if s["kind"] == "site" and s["label"].startswith(role))
    return {(t[i]["shared"], t[i]["exclusive"]) for name, t in cov["cases"]["probe"].items()
            if name.startswith(case_start)}


def check(run: dict) -> None:
    four = "MADV_PAGEOUT four THPs in one page table, a child maps the second"
    assert decisions(run, "base", four, "PTE final check") == {(1, 3)}
    assert decisions(run, "folio_mapcount", four, "PTE final check") == {(4, 0)}
    assert decisions(run, "base", "MADV_PAGEOUT exclusive PMD-mapped THP (2048 kB)", "PMD path") == {(0, 1)}
    mine = next(c for c in run["cells"] if c["variant"] == "mine")["coverage"]
    dead = next(k for k, s in enumerate(mine["spots"]) if s["kind"] == "changed" and "start >= end" in s["label"])
    assert {t: v[dead]["count"] for t, v in mine["tests"].items()} == {"probe": 0}


@pytest.mark.parametrize("tag", ["v6.12"])
def test_known_counts_and_an_unreached_changed_line(tmp_path, tag):
    need_tree(tag)
    done = invoke(tmp_path, "matrix", "--base", tag, "--configs", "minimal+coverage", "--tests", "probe",
                  "--variants", f"base,folio_mapcount,mine={UNREACHED}", "--format", "text", check=False)
    assert "coverage: [2] mine: " in done.stdout and "reached by no test" in done.stdout
    check(latest_run(tmp_path))
