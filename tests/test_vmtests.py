"""run_vmtests.sh categories (--tests mm:CATEGORY): each run of the script its own cases."""
from __future__ import annotations

from workbench.guest import vmtests
from workbench.status import Status

OUTPUT = """TAP version 13
# ----------------------------------
# running ./gup_test -u -w -n 1
# ----------------------------------
# TAP version 13
# 1..1
# # GUP_FAST_BENCHMARK: Time: get:1 put:2 us
# ok 1 ioctl status 0
# # Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0
# [PASS]
ok 1 gup_test -u -w -n 1
# ----------------------------------
# running ./gup_test -u -w -n 1
# ----------------------------------
# [PASS]
ok 2 gup_test -u -w -n 1
# -----------------------
# running ./hugepage-mmap
# -----------------------
# Not enough huge pages available
# [SKIP]
ok 3 hugepage-mmap # SKIP
# ------------------------------
# running bash ./test_vmalloc.sh smoke
# ------------------------------
# ./test_vmalloc.sh: You must have the following enabled in your kernel: CONFIG_TEST_VMALLOC=m
# [FAIL]
not ok 4 test_vmalloc.sh smoke # exit=1
"""


def test_each_run_is_its_own_case_and_its_own_cases_are_kept():
    out = vmtests.parse(OUTPUT, "mm:gup_test", 1)
    got = [(c.name, c.status) for c in out.cases]
    assert got == [("gup_test -u -w -n 1: ioctl status 0", Status.PASS), ("gup_test -u -w -n 1 [2]", Status.PASS),
                   ("hugepage-mmap", Status.SKIP), ("test_vmalloc.sh smoke", Status.FAIL)]
    assert out.cases[2].reason == "Not enough huge pages available"
    assert "CONFIG_TEST_VMALLOC=m" in out.cases[3].reason
    assert out.status is Status.FAIL and out.complete


def test_categories_are_read_from_the_script():
    script = 'CATEGORY="hugetlb" run_test ./a\nCATEGORY="cow" run_test ./cow\nCATEGORY="hugetlb" run_test ./b\n'
    assert vmtests.categories(script) == ["hugetlb", "cow"]
