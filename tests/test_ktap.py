"""The KTAP parser against kunit_tool's own logs (tests/data/ktap/): the same counts on every one."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.guest import ktap
from workbench.status import Status

DATA = Path(__file__).parent / "data" / "ktap"
DATA_7_3 = Path(__file__).parent / "data" / "ktap-7.3"
EXPECTED = json.loads((DATA / "kunit_tool-counts.json").read_text())
EXPECTED_7_3 = json.loads((DATA_7_3 / "kunit_tool-counts.json").read_text())
# Where 6.12's kunit_tool reads a 7.3 log otherwise than 7.3's: we follow 7.3 (README there says why).
KUNIT_TOOL_6_12_DIFFERS = json.loads((DATA_7_3 / "kunit_tool-6.12-differs.json").read_text())
STATUS = {"SUCCESS": Status.PASS, "FAILURE": Status.FAIL, "SKIPPED": Status.SKIP, "TEST_CRASHED": Status.CRASH,
          "NO_TESTS": Status.NO_TESTS, "FAILURE_TO_PARSE_TESTS": Status.PARSE_ERROR}


@pytest.mark.parametrize("folder, log", [(DATA, log) for log in sorted(EXPECTED)]
                         + [(DATA_7_3, log) for log in sorted(EXPECTED_7_3)], ids=lambda x: getattr(x, "name", x))
def test_the_counts_are_kunit_tools(folder, log):
    """6.12's logs with 6.12's kunit_tool, 7.3's logs with 7.3's."""
    out = ktap.output((folder / log).read_text(errors="replace"), "kunit")
    want = (EXPECTED if folder == DATA else EXPECTED_7_3)[log]
    assert out.totals == {k: want[k] for k in ("passed", "failed", "crashed", "skipped", "errors")}
    assert out.status is STATUS[want["status"]]


@pytest.mark.parametrize("log", sorted(KUNIT_TOOL_6_12_DIFFERS))
def test_where_6_12s_kunit_tool_differs_on_a_7_3_log_we_follow_7_3(log):
    out = ktap.output((DATA_7_3 / log).read_text(errors="replace"), "kunit")
    theirs = KUNIT_TOOL_6_12_DIFFERS[log]
    assert out.totals != {k: theirs[k] for k in ("passed", "failed", "crashed", "skipped", "errors")}
    assert out.totals == {k: EXPECTED_7_3[log][k] for k in ("passed", "failed", "crashed", "skipped", "errors")}


def test_a_result_line_without_a_name_is_a_result():
    out = ktap.output("KTAP version 1\n1..2\nok 1 first\nok 2 # SKIP nothing to do here\n", "kunit")
    assert [(c.status, c.reason) for c in out.cases] == [(Status.PASS, ""), (Status.SKIP, "nothing to do here")]


def test_nested_cases_are_named_by_their_path_and_keep_their_reason():
    out = ktap.output((DATA / "test_is_test_passed-failure.log").read_text(), "kunit")
    failed = [c for c in out.cases if c.status is Status.FAIL]
    assert [c.name for c in failed] == ["example.example_simple_test"]
    assert "example_simple_test failed" in failed[0].reason and failed[0].group == "example"
    skipped = ktap.output((DATA / "test_skip_tests.log").read_text(), "kunit").cases
    assert [(c.name, c.reason) for c in skipped if c.status is Status.SKIP] == [
        ("example.example_skip_test", "this test should be skipped")]


def test_a_panic_mid_run_leaves_crashed_cases():
    out = ktap.output((DATA / "test_kernel_panic_interrupt.log").read_text(), "kunit")
    assert out.status is Status.CRASH and not out.complete
    assert [c.status for c in out.cases].count(Status.CRASH) == 2


def test_a_report_a_case_provokes_is_that_cases_and_a_real_oops_is_not():
    from workbench.guest import console

    own = ("[    1.0] KTAP version 1\n[    1.0] 1..1\n[    1.0]     # Subtest: kfence\n[    1.0]     1..2\n"
           "[    1.1] BUG: KFENCE: out-of-bounds read in test_out_of_bounds_read+0x9c/0x2d0\n"
           "[    1.1]     ok 1 test_out_of_bounds_read\n[    1.2]     ok 2 test_use_after_free_read\n"
           "[    1.2] ok 1 kfence\n### WORKBENCH-GUEST-START\n")
    assert console.find_splat(own)  # as the console has it
    assert not console.find_splat(ktap.without_own_reports(own, console.SPLAT, console.HANG))
    oops = own.replace("[    1.2]     ok 2 test_use_after_free_read\n[    1.2] ok 1 kfence\n",
                       "[    1.2] BUG: unable to handle page fault for address: 0000\n[    1.2] Kernel panic - not syncing\n")
    kept = console.find_splat(ktap.without_own_reports(oops, console.SPLAT, console.HANG))
    assert kept and "unable to handle page fault" in kept[0]
    from workbench.guest import script

    out = ktap.output(ktap.kunit_part(oops, script.BEGIN, script.END), "kunit:kfence")
    assert out.status is Status.CRASH and [c.status for c in out.cases] == [Status.PASS, Status.CRASH]


def test_the_guest_scripts_own_tap_on_the_console_is_no_part_of_kunits():
    from workbench.guest import script

    text = ("### WORKBENCH-TEST-BEGIN cow\nTAP version 13\n1..1\nok 1 a cow case\n### WORKBENCH-TEST-END cow rc=0\n"
            + (DATA / "test_is_test_passed-all_passed.log").read_text())
    out = ktap.output(ktap.kunit_part(text, script.BEGIN, script.END), "kunit:all")
    assert out.totals["passed"] == 10 and not any("cow" in c.name for c in out.cases)
