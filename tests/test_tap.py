"""workbench.tap: kselftest TAP of the mm selftests, on synthetic samples in tests/data/tap/."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.guest import tap  # TestOutput not imported by name: pytest would try to collect it
from workbench.guest.script import sections as split_sections
from workbench.guest.tap import DEFAULT_ENV_SKIPS, TapParser, load_env_skips, parse
from workbench.records import Case
from workbench.status import Status, combine

DATA = Path(__file__).parent / "data" / "tap"
PAGEOUT = "MADV_PAGEOUT did not work, is swap enabled?"


def sample(name: str, exit_code: int | None = None, test: str = "cow") -> tap.TestOutput:
    return parse((DATA / name).read_text(), test, exit_code)


def by_name(out: tap.TestOutput) -> dict[str, Case]:
    return {c.name: c for c in out.cases}


# --- environment skips ---------------------------------------------------------------------------

def test_env_skip_file_loads_and_pageout_is_not_an_environment_skip():
    patterns = load_env_skips()
    assert DEFAULT_ENV_SKIPS.is_file() and patterns
    assert all(isinstance(p, re.Pattern) for p in patterns)
    assert not any(p.search(PAGEOUT) for p in patterns)
    for reason in ("gup_test not available", "need more free huge pages", "MADV_COLLAPSE failed: Invalid argument",
                   "Did not get a THP populated", "io_uring_queue_init() failed", "memfd_create() failed"):
        assert any(p.search(reason) for p in patterns), reason


def test_load_env_skips_ignores_comments_and_blank_lines(tmp_path):
    f = tmp_path / "skips.txt"
    f.write_text("# a comment\n\nfoo \\d+\n  # indented comment\nBAR\n")
    patterns = load_env_skips(f)
    assert [p.pattern for p in patterns] == ["foo \\d+", "BAR"]
    assert patterns[1].search("bar")  # case-insensitive


# --- the three cow forms -------------------------------------------------------------------------

def test_v6_5_form_names_groups_and_reasons():
    out = sample("synthetic-v6.5-cow.tap", 0)
    assert (out.status, out.plan, out.complete, len(out.cases)) == (Status.PASS, 14, True, 14)
    assert out.totals == {"pass": 8, "fail": 0, "xfail": 0, "xpass": 0, "skip": 6, "error": 0}
    cases = by_name(out)
    pageout = cases["Basic COW after fork() ... with swapped-out, PTE-mapped THP"]
    assert (pageout.status, pageout.reason, pageout.env_skip) == (Status.SKIP, PAGEOUT, False)
    assert pageout.group == "Basic COW after fork()" and pageout.number == 6
    # the same variant in another group is another case
    gup = cases["R/O GUP pin on R/O-mapped shared page ... with swapped-out, PTE-mapped THP"]
    assert (gup.group, gup.status, gup.env_skip) == ("R/O GUP pin on R/O-mapped shared page", Status.SKIP, True)
    assert cases["Basic COW after fork() ... with hugetlb (1048576 kB)"].env_skip
    collapse = cases["Basic COW after fork() when collapsing before fork()"]
    assert collapse.env_skip and collapse.group == collapse.name  # no " ... ": the name is its own group
    # a [RUN] line without a result is replaced by the next one
    assert "Non-anonymous memory tests in private mappings" not in cases
    assert cases["Basic COW ... with shared zeropage"].status is Status.PASS
    assert all(c.reason == "" for c in out.cases if c.status is Status.PASS)
    assert all(c.test == "cow" for c in out.cases)


def test_v6_8_form_with_sizes_fail_xfail_and_closing_bail_out():
    out = sample("synthetic-v6.8-cow.tap", 1)
    cases = by_name(out)
    assert out.complete and out.plan == 16 and len(out.cases) == 16
    # cow's `Bail out! 1 out of 16 tests failed` after all results is a summary: FAIL, not ERROR
    assert out.status is Status.FAIL and out.reason == "1 out of 16 tests failed"
    pageout = cases["Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"]
    assert (pageout.status, pageout.reason, pageout.env_skip) == (Status.SKIP, PAGEOUT, False)
    assert cases["Basic COW after fork() ... with swapped-out, PTE-mapped THP (64 kB)"].status is Status.PASS
    fail = cases["vmsplice() + unmap in child ... with swapped-out, PTE-mapped THP (2048 kB)"]
    assert (fail.status, fail.reason, fail.group) == (Status.FAIL, "Leak from parent into child",
                                                      "vmsplice() + unmap in child")
    xfail = cases["vmsplice() + unmap in child ... with hugetlb (2048 kB)"]
    assert (xfail.status, xfail.reason) == (Status.XFAIL, "Leak from parent into child")
    assert cases["R/O longterm GUP pin ... with memfd"].env_skip
    assert [c.name for c in out.cases if c.env_skip] == [
        "Basic COW after fork() when collapsing after fork() (fully shared)",
        "R/O longterm GUP pin ... with memfd", "R/O longterm GUP pin ... with memfd hugetlb (2048 kB)"]


def test_v6_16_form_reason_lines_and_names_in_results():
    out = sample("synthetic-v6.16-cow.tap", 1)
    cases = by_name(out)
    assert len(out.cases) == 8 and out.complete and out.status is Status.FAIL
    assert cases["Basic COW after fork() ... with base page"].status is Status.PASS  # with a [RUN] line
    assert cases["Basic COW after fork() ... with swapped out base page"].number == 2  # without one
    pageout = cases["Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"]
    assert (pageout.status, pageout.reason, pageout.env_skip) == (Status.SKIP, PAGEOUT, False)
    # SKIP without a [RUN] line: the name is in the result, the reason on the line before
    gup = cases["R/O GUP pin on R/O-mapped shared page ... with swapped-out, PTE-mapped THP (2048 kB)"]
    assert (gup.status, gup.reason, gup.group) == (Status.SKIP, PAGEOUT, "R/O GUP pin on R/O-mapped shared page")
    fail = cases["vmsplice() + unmap in child ... with PTE-mapped THP (2048 kB)"]
    assert (fail.status, fail.reason) == (Status.FAIL, "Leak from parent into child")
    assert cases["vmsplice() + unmap in child ... with hugetlb (2048 kB)"].status is Status.XFAIL
    hugetlb = cases["R/O longterm GUP pin ... with memfd hugetlb (2048 kB)"]
    assert (hugetlb.reason, hugetlb.env_skip) == ("need more free huge pages", True)
    assert cases["Basic COW ... with shared zeropage"].group == "Basic COW"


def test_same_case_name_twice_gets_a_suffix():
    run = "# [RUN] Basic COW after fork() ... with hugetlb (2048 kB)"
    text = "\n".join(["TAP version 13", "1..3", run, "ok 1 No leak from parent into child",
                      run, "ok 2 No leak from parent into child", run, "ok 3 # SKIP need more free huge pages"])
    out = parse(text, "cow", 0)
    assert [c.name for c in out.cases] == ["Basic COW after fork() ... with hugetlb (2048 kB)",
                                           "Basic COW after fork() ... with hugetlb (2048 kB) [2]",
                                           "Basic COW after fork() ... with hugetlb (2048 kB) [3]"]
    assert {c.group for c in out.cases} == {"Basic COW after fork()"}


# --- nesting -------------------------------------------------------------------------------------

def test_run_vmtests_nesting_exit_1():
    out = sample("synthetic-run_vmtests-cow-exit1.tap", 1)
    assert out.plan == 4 and out.complete and len(out.cases) == 4
    assert out.status is Status.FAIL
    assert out.totals == {"pass": 1, "fail": 1, "xfail": 0, "xpass": 0, "skip": 2, "error": 0}
    cases = by_name(out)
    assert cases["Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"].reason == PAGEOUT
    assert cases["vmsplice() + unmap in child ... with THP (2048 kB)"].status is Status.FAIL
    assert cases["R/O GUP pin on R/O-mapped shared page ... with base page"].env_skip
    assert "cow" not in cases  # the runner's own result is not a case
    assert "cow: FAIL exit=1" in out.reason


def test_runner_nesting_two_levels_timeout():
    for exit_code in (None, 0):  # the runner itself may exit 0: the `# TIMEOUT` line decides
        out = sample("synthetic-runner-run_vmtests-timeout.tap", exit_code)
        assert out.status is Status.TIMEOUT
        assert out.plan == 6 and not out.complete
        assert [c.name for c in out.cases] == ["Basic COW after fork() ... with base page",
                                               "Basic COW after fork() ... with swapped out base page"]
        assert "TIMEOUT 180 seconds" in out.reason
        assert "cut short during: Basic COW after fork() ... with THP (2048 kB)" in out.reason


def test_runner_skip_line_and_exit_124_line():
    skipped = "TAP version 13\n# TAP version 13\n# 1..0 # SKIP hugetlb not available\nok 1 cow # SKIP\n1..1\n"
    out = parse(skipped, "cow", 4)
    assert (out.status, out.reason, out.cases) == (Status.SKIP, "hugetlb not available", [])
    timed_out = ("TAP version 13\n# TAP version 13\n# 1..2\n# # [RUN] Basic COW after fork() ... with base page\n"
                 "# ok 1 No leak from parent into child\nnot ok 1 cow # exit=124\n1..1\n")
    out = parse(timed_out, "cow", 1)
    assert out.status is Status.TIMEOUT and len(out.cases) == 1 and not out.complete


# --- robustness ----------------------------------------------------------------------------------

def test_duplicated_blocks_from_unflushed_fork_buffers():
    text = (DATA / "synthetic-v6.5-cow-fork-dup.tap").read_text()
    assert text.count("TAP version 13") > 1 and text.count("ok 1 No leak") > 1  # the sample really repeats
    out = parse(text, "cow", 0)
    assert out.plan == 6 and out.complete and out.status is Status.PASS
    assert [c.number for c in out.cases] == [1, 2, 3, 4, 5, 6]
    assert [c.name for c in out.cases] == [
        "Basic COW after fork() ... with base page", "Basic COW after fork() ... with swapped out base page",
        "Basic COW after fork() ... with THP", "Basic COW after fork() ... with swapped-out THP",
        "Basic COW after fork() ... with PTE-mapped THP",
        "Basic COW after fork() ... with swapped-out, PTE-mapped THP"]
    assert out.cases[-1].status is Status.SKIP and out.cases[-1].reason == PAGEOUT


def test_repeated_result_number_keeps_the_first():
    out = parse("1..2\n# [RUN] A ... x\nnot ok 1 boom\n# [RUN] A ... x\nok 1 fine\n# [RUN] B ... y\nok 2 fine\n",
                "cow", 1)
    assert [(c.name, c.status) for c in out.cases] == [("A ... x", Status.FAIL), ("B ... y", Status.PASS)]


def test_kernel_messages_are_ignored():
    out = sample("synthetic-v6.8-cow-kmsg.tap", 0)
    assert out.status is Status.PASS and out.complete and len(out.cases) == 4
    assert [c.name for c in out.cases][:2] == ["Basic COW after fork() ... with base page",
                                               "Basic COW after fork() ... with swapped out base page"]
    assert out.cases[3].reason == PAGEOUT


def test_console_splice_loses_lines_but_parsing_goes_on():
    # as seen on a real guest console: host-side merging of the guest's stdout and the kernel log
    # cut a line, dropped two results and left a fragment behind
    text = "\n".join([
        "TAP version 13", "1..4",
        "# [RUN] vmsplice() + unmap in child ... with THP (2048 kB)", "ok 1 No leak from parent into child",
        "# [RUN] vmsplice() + unmap in child ... with swapped-out THP (workbench: test cow end rc=0",
        "workbench: guest done", "reboot: Power down", "o leak from parent into child",
        "# [RUN] vmsplice() + unmap in child ... with single PTE of THP (2048 kB)",
        "ok 4 No leak from parent into child"])
    out = parse(text, "cow", 0)
    assert [c.number for c in out.cases] == [1, 4] and not out.complete
    assert out.cases[1].name == "vmsplice() + unmap in child ... with single PTE of THP (2048 kB)"


def test_cut_short_by_a_crash():
    out = sample("synthetic-v6.8-cow-crash.tap", None)
    assert out.plan == 761 and not out.complete and len(out.cases) == 2
    assert out.status is Status.PASS  # the caller turns it into CRASH from the console
    assert out.reason == "cut short during: Basic COW after fork() ... with PTE-mapped THP (16 kB)"


def test_skip_all():
    out = sample("synthetic-skip-all.tap", 4, test="memfd_secret")
    assert (out.status, out.reason, out.plan, out.complete, out.cases) == (
        Status.SKIP, "memfd_secret is not supported", 0, True, [])


def test_bail_out_before_the_plan_is_reached_is_an_error():
    out = sample("synthetic-bail-out.tap", 1)
    assert (out.status, out.reason, out.complete) == (Status.ERROR, "opening pagemap failed", False)


def test_empty_output():
    out = sample("synthetic-empty.tap", 0)
    assert (out.status, out.cases, out.plan) == (Status.NO_TESTS, [], None)
    assert parse("", "cow", None).status is Status.NO_TESTS


def test_garbage_output():
    out = sample("synthetic-garbage.tap", 127)
    assert out.status is Status.PARSE_ERROR and out.cases == []


@pytest.mark.parametrize("exit_code, status", [(0, Status.PASS), (1, Status.FAIL), (2, Status.PASS),
                                               (3, Status.XPASS), (4, Status.PASS), (124, Status.TIMEOUT),
                                               (139, Status.ERROR), (None, Status.PASS)])
def test_exit_code_meets_the_cases_in_combine(exit_code, status):
    out = parse("TAP version 13\n1..2\nok 1 a\nok 2 # SKIP b\n", "t", exit_code)
    assert out.status is status
    expected = [c.status for c in out.cases]
    if exit_code is not None:
        expected.append({0: Status.PASS, 1: Status.FAIL, 2: Status.XFAIL, 3: Status.XPASS, 4: Status.SKIP,
                         124: Status.TIMEOUT}.get(exit_code, Status.ERROR))
    assert out.status is combine(expected)


def test_exit_0_with_a_failed_case_is_fail():
    assert parse("1..2\nok 1 a\nnot ok 2 b\n", "t", 0).status is Status.FAIL


def test_directives_ktap_and_error():
    text = "\n".join(["KTAP version 1", "1..5", "ok 1 first # skip no hugetlb", "not ok 2 second # error oops",
                      "ok 3 third # xpass", "not ok 4 # error ioctl failed", "ok 5 fifth #  note"])
    out = parse(text, "t", None)
    assert [(c.name, c.status, c.reason) for c in out.cases] == [
        ("first", Status.SKIP, "no hugetlb"), ("second", Status.ERROR, "oops"), ("third", Status.XPASS, ""),
        ("case 4", Status.ERROR, "ioctl failed"), ("fifth", Status.PASS, "")]
    assert out.cases[0].env_skip and out.complete and out.status is Status.ERROR


def test_env_skips_argument():
    text = "1..1\n# [RUN] A ... x\nok 1 # SKIP gup_test not available\n"
    assert parse(text, "cow", 0).cases[0].env_skip
    assert not parse(text, "cow", 0, env_skips=[]).cases[0].env_skip
    assert parse(text, "cow", 0, env_skips=[re.compile("gup")]).cases[0].env_skip


def test_streaming_feed_with_crlf_and_completeness_without_plan():
    parser = TapParser("cow", env_skips=[])
    for line in ["TAP version 13\r\n", "# [RUN] A ... x\r\n", "ok 1 fine\r\n",
                 "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\r\n"]:
        parser.feed(line)
    out = parser.finish()
    assert [c.name for c in out.cases] == ["A ... x"] and out.plan is None
    assert out.complete and out.totals["pass"] == 1  # no plan, but a Totals line
    assert not parse("ok 1 a\n", "t", None).complete
    assert parse("ok 1 a\n", "t", 0).complete  # no plan, but an exit code


def test_json_round_trip():
    out = sample("synthetic-v6.8-cow.tap", 1)
    back = tap.TestOutput.from_json(out.to_json())
    assert back == out


# --- console sections ----------------------------------------------------------------------------

def test_split_sections():
    sections = split_sections((DATA / "synthetic-console.log").read_text())
    assert list(sections) == ["cow", "memfd_secret", "gup_longterm"]
    cow_text, cow_rc = sections["cow"]
    assert cow_rc == 0 and cow_text.startswith("TAP version 13") and "WORKBENCH" not in cow_text
    cow = parse(cow_text, "cow", cow_rc)
    assert cow.status is Status.PASS and len(cow.cases) == 2 and cow.cases[1].reason == PAGEOUT
    assert sections["memfd_secret"][1] == 4
    assert parse(*sections["memfd_secret"][:1], "memfd_secret", 4).status is Status.SKIP
    gup_text, gup_rc = sections["gup_longterm"]
    assert gup_rc is None and "Kernel panic" in gup_text  # no END marker: cut short
    gup = parse(gup_text, "gup_longterm", gup_rc)
    assert not gup.complete and gup.cases == [] and "R/O longterm GUP pin ... with memfd" in gup.reason


def test_split_sections_crlf_and_begin_without_end():
    text = ("### WORKBENCH-TEST-BEGIN a\r\nok 1 x\r\n"
            "### WORKBENCH-TEST-BEGIN b\r\nok 1 y\r\n### WORKBENCH-TEST-END b rc=1\r\n")
    assert split_sections(text) == {"a": ("ok 1 x", None), "b": ("ok 1 y", 1)}


def test_an_evidence_line_belongs_to_the_case_it_was_printed_in_whatever_its_verdict():
    out = parse("TAP version 13\n1..3\n# [RUN] a (4 kB)\n# 1 of 1 pages paged out\n"
                "# evidence: 4 kB folio at PFN 0x10; this process 1 of 1 pages paged out\nok 1 a (4 kB)\n"
                "# [RUN] b (4 kB)\nok 2 # SKIP b (4 kB): inconclusive: the folio was not on the LRU\n"
                "# [RUN] c (4 kB)\n# evidence: the child 1 of 1 pages paged out\n"
                "not ok 3 c (4 kB)\n", "probe", exit_code=1)
    a, b, c = out.cases
    assert a.status is Status.PASS and a.reason == "" and a.evidence.startswith("4 kB folio at PFN 0x10")
    assert b.evidence == "" and "inconclusive" in b.reason
    # with no reason of its own a failure's reason is never its evidence line
    assert c.status is Status.FAIL and c.reason == "" and c.evidence == "the child 1 of 1 pages paged out"
    assert Case.from_json(a.to_json()) == a and "evidence" not in b.to_json()
