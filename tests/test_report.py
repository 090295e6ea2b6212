"""The matrix report: the model (rows, columns, totals, flaky) and every format, on in-memory runs.

Small runs are built with the helpers below; `real_run` is the real Linux 6.12.117 capture
(tests/data/real/): base, folio_mapcount (112 swapped-out PTE-mapped THP cases SKIP), a
page_mapcount column marked approximate, a same-as-base column and the bug_on variant's CRASH.
"""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from workbench import report
from workbench.errors import UserError
from workbench.guest import console, tap
from workbench.records import Case, CellResult, Run
from workbench.status import Status, combine

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"
PAGEOUT = "MADV_PAGEOUT did not work, is swap enabled?"
SWAPPED_THP = "swapped-out, PTE-mapped THP"


# --- builders -----------------------------------------------------------------------------------------------

def case(name: str, status: str = "PASS", reason: str = "", env: bool = False, test: str = "cow") -> Case:
    return Case(test=test, name=name, status=Status(status), reason=reason, env_skip=env,
                group=name.split(" ... ", 1)[0])


def output(cases: list[Case], test: str = "cow", status: Status | None = None, complete: bool = True,
           reason: str = "") -> tap.TestOutput:
    return tap.TestOutput(test=test, status=status or combine(c.status for c in cases), cases=list(cases),
                          plan=len(cases) if complete else None, complete=complete,
                          exit_code=0 if complete else None, reason=reason)


def cell(variant: str, cases: list[Case] | None = None, status: Status | None = None, repeat: int = 0,
         outputs: list[tap.TestOutput] | None = None, **kw) -> CellResult:
    outs = outputs if outputs is not None else ([output(cases)] if cases is not None else [])
    st = status or combine((o.status for o in outs), empty=Status.NOT_RUN)
    return CellResult(identity=f"id-{variant}-{repeat}", base="v6.12", variant=variant, commit=f"c0ffee-{variant}",
                      status=st, tests={o.test: o for o in outs}, repeat=repeat, kernelversion="6.12.117",
                      accel="tcg", timings={"build": 1.0, "boot+test": 2.5}, **kw)


def make_run(tmp_path: Path, cells: list[CellResult], variants: list[str] | None = None, **kw) -> Run:
    variants = variants or list(dict.fromkeys(c.variant for c in cells))
    run_dir = tmp_path / kw.pop("name", "20261128-120000-v6.12")
    run_dir.mkdir(parents=True, exist_ok=True)
    run = Run(dir=run_dir, kind="matrix", base="v6.12", commit="a5fd56901eff", kernelversion="6.12.117",
              study="mapcount", tests=kw.pop("tests", ["cow"]), variants=variants,
              command="invoke matrix --base v6.12", accel="tcg", executor="vng (tcg)", state="finished", **kw)
    run.cells = cells
    return run


def three(status_b: str = "PASS", reason_b: str = "") -> list[Case]:
    return [case("Basic COW after fork() ... with base page"),
            case(f"Basic COW after fork() ... with {SWAPPED_THP} (2048 kB)", status_b, reason_b),
            case("Basic COW after fork() when collapsing after fork() (fully shared)", "SKIP",
                 "MADV_COLLAPSE failed: Invalid argument", env=True)]


def small_run(tmp_path: Path, **kw) -> Run:
    cells = [cell("base", three()), cell("folio_mapcount", three("SKIP", PAGEOUT)), cell("page_mapcount", three())]
    return make_run(tmp_path, cells, **kw)


def parse_real(name: str) -> tap.TestOutput:
    return tap.parse((REAL / name).read_text(), "cow", exit_code=0)


def real_run(tmp_path: Path) -> Run:
    """Base, folio_mapcount (real), page_mapcount (base's cases; approximate), same_as_base, bug_on (CRASH)."""
    base = parse_real("v6.12.117-base-cow.tap")
    fm = parse_real("v6.12.117-folio_mapcount-cow.tap")
    bug = tap.parse((REAL / "v6.12.117-bug_on-cow.tap").read_text(), "cow", exit_code=None)
    splat = console.find_splat((REAL / "v6.12.117-bug_on-console.log").read_text(errors="replace"))
    env = dict(line.split("=", 1) for line in (REAL / "v6.12.117-base-env.txt").read_text().splitlines()
               if "=" in line)
    cells = [cell("base", outputs=[base], env=env), cell("folio_mapcount", outputs=[fm], env=env),
             cell("page_mapcount", outputs=[base], env=env),
             cell("bug_on", outputs=[bug], status=Status.CRASH, reason=splat[0].strip(), splat=splat)]
    run = make_run(tmp_path, cells, variants=["base", "folio_mapcount", "page_mapcount", "folio_maybe_mapped_shared",
                                              "bug_on"],
                   same_as_base=["folio_maybe_mapped_shared"], approximate=["page_mapcount"],
                   patches={"folio_mapcount": "a2809db3e4b5", "page_mapcount": "46e8398c1d33"})
    (run.dir / "patches").mkdir(exist_ok=True)
    shutil.copy(DATA / "report" / "folio_mapcount.patch", run.dir / "patches" / "folio_mapcount.patch")
    return run


def row(m: report.Matrix, key_part: str) -> report.Row:
    hits = [r for r in m.rows if key_part in r.key]
    assert len(hits) == 1, [r.key for r in hits]
    return hits[0]


# --- the model ----------------------------------------------------------------------------------------------

def test_rows_are_case_keys_and_the_differing_cells_are_marked(tmp_path):
    m = report.matrix_rows(small_run(tmp_path))
    assert [c.variant for c in m.columns] == ["base", "folio_mapcount", "page_mapcount"]
    assert m.rows[0].key == "cow: Basic COW after fork() ... with base page"
    r = row(m, "(2048 kB)")
    assert r.key == f"cow: Basic COW after fork() ... with {SWAPPED_THP} (2048 kB)"
    assert r.differs and [c.differs for c in r.cells] == [False, True, False]
    assert r.cells[1].status is Status.SKIP and r.cells[1].reason == PAGEOUT and not r.cells[1].env_skip
    assert [x.key for x in m.differing] == [r.key]
    assert not row(m, "with base page").differs


def test_a_case_new_in_a_later_column_goes_after_its_predecessor(tmp_path):
    a, b, c = (case(f"t ... {n}") for n in "abc")
    m = report.matrix_rows(make_run(tmp_path, [cell("base", [a, c]), cell("v", [a, b, c])]))
    assert [r.name for r in m.rows] == ["t ... a", "t ... b", "t ... c"]
    assert row(m, "... b").cells[0].status is Status.NOT_RUN and row(m, "... b").differs


def test_same_as_base_column_reuses_the_base_cell(tmp_path):
    run = small_run(tmp_path, same_as_base=["same"])
    run.variants.append("same")  # no cell of its own
    m = report.matrix_rows(run)
    col = m.columns[3]
    assert col.same_as_base and col.cells == m.columns[0].cells
    for r in m.rows:
        assert r.cells[3].same_as_base and r.cells[3].status is r.cells[0].status and not r.cells[3].differs
        assert r.cells[3].shown() == "=base"
    assert m.totals[3] == m.totals[0]
    text = report.render(run, "text")
    assert "[3] same (=base)" in text and re.search(r"^\[3\] same=\s+=base$", text, re.MULTILINE)
    assert re.search(r"\(2048 kB\)\s+PASS\s+SKIP\*\s+PASS\s+=base$", text, re.MULTILINE)
    assert "=base" in report.render(run, "markdown") and "=base" in report.render(run, "html")
    assert json.loads(report.render(run, "json"))["columns"][3]["same_as_base"] is True


def test_approximate_column_is_marked_in_every_format(tmp_path):
    run = small_run(tmp_path, approximate=["page_mapcount"])
    assert report.matrix_rows(run).columns[2].approximate
    text = report.render(run, "text")
    assert "[2] page_mapcount~" in text and "~ approximate helper prototype" in text
    assert re.search(r"^case\s+\[0\]\s+\[1\]\s+\[2\]~$", text, re.MULTILINE)
    assert "page\\_mapcount ~" in report.render(run, "markdown")
    assert "page_mapcount~" in report.render(run, "terminal")
    assert "approximate helper prototype" in report.render(run, "html")
    assert json.loads(report.render(run, "json"))["columns"][2]["approximate"] is True
    props = ET.fromstring(report.render(run, "junit")).findall("testsuite")[2].find("properties")
    assert {p.get("name"): p.get("value") for p in props}["approximate"] == "true"


def test_what_an_approximate_column_computes_is_said_in_every_format(tmp_path):
    said = "approximate: v6.10's folio_likely_mapped_shared(), backported"
    run = small_run(tmp_path, approximate=["page_mapcount"], computes={"page_mapcount": said})
    for fmt in ("text", "markdown", "terminal", "html"):
        assert said in report.render(run, fmt).replace("\n", " ").replace("\\_", "_").replace("&#39;", "'"), fmt
    assert json.loads(report.render(run, "json"))["columns"][2]["computes"] == said


def test_environment_skips_are_counted_apart(tmp_path):
    m = report.matrix_rows(small_run(tmp_path))
    env_row = row(m, "collapsing after fork()")
    assert all(c.env_skip and c.label == "SKIP(env)" for c in env_row.cells)
    assert m.totals[0].counts == {"PASS": 2, "SKIP": 0, "FAIL": 0, "XFAIL": 0} and m.totals[0].env_skips == 1
    assert m.totals[1].counts["SKIP"] == 1 and m.totals[1].env_skips == 1
    assert m.totals[1].text() == "PASS 1  SKIP 1 (+1 env)  FAIL 0  XFAIL 0"


def test_totals_list_the_other_statuses_present(tmp_path):
    cells = [cell("base", three()), cell("v", [case("Basic COW after fork() ... with base page", "FAIL", "leak"),
                                                case("x ... y", "XPASS"), case("x ... z", "XFAIL")])]
    m = report.matrix_rows(make_run(tmp_path, cells))
    assert m.totals[1].counts == {"PASS": 0, "SKIP": 0, "FAIL": 1, "XFAIL": 1, "XPASS": 1, "NOT_RUN": 2}
    assert m.totals[0].counts["NOT_RUN"] == 2  # x ... y and x ... z are not in the base's output


def test_flaky_cases_over_repeats(tmp_path):
    flips = [three(), three("SKIP", PAGEOUT), three()]
    cells = [cell("base", three(), repeat=i) for i in range(3)] + \
            [cell("folio_mapcount", cs, repeat=i) for i, cs in enumerate(flips)]
    run = make_run(tmp_path, cells)
    m = report.matrix_rows(run)
    assert m.repeats == 3
    c = row(m, "(2048 kB)").cells[1]
    assert c.flaky and c.label == "FLAKY PASS/SKIP" and c.differs and c.status is Status.PASS
    assert m.flaky == [report.Flaky("folio_mapcount", row(m, "(2048 kB)").key,
                                    (Status.PASS, Status.SKIP, Status.PASS))]
    assert m.totals[1].counts["FLAKY"] == 1 and m.totals[1].counts["PASS"] == 1
    assert not any(x.flaky for x in row(m, "with base page").cells)
    text = report.render(run, "text")
    assert "FLAKY PASS/SKIP*" in text and "Flaky (the status changed between the 3 repeats):" in text
    assert "  folio_mapcount: PASS/SKIP/PASS: cow: Basic COW after fork() ..." in text
    assert "3 repeats" in text.splitlines()[0]
    data = json.loads(report.render(run, "json"))
    assert data["flaky"] == [{"variant": "folio_mapcount", "key": row(m, "(2048 kB)").key,
                              "statuses": ["PASS", "SKIP", "PASS"]}]
    assert 'type="FLAKY"' in report.render(run, "junit")


def test_crash_column_shows_the_cell_status_in_its_missing_rows_and_the_splat(tmp_path):
    splat = ["kernel BUG at mm/madvise.c:519!", "Oops: invalid opcode: 0000 [#1] SMP",
             "RIP: 0010:madvise_cold_or_pageout_pte_range+0x67f/0x8b0 <&>"]
    partial = output(three()[:1], complete=False, reason="cut short during: Basic COW after fork() ...")
    run = make_run(tmp_path, [cell("base", three()),
                              cell("bug_on", outputs=[partial], status=Status.CRASH, reason=splat[0], splat=splat)])
    m = report.matrix_rows(run)
    assert m.columns[1].status is Status.CRASH and m.columns[1].reason == splat[0]
    first = row(m, "with base page").cells[1]
    assert first.status is Status.PASS and not first.from_cell and not first.differs
    missing = row(m, "(2048 kB)").cells[1]
    assert missing.status is Status.CRASH and missing.from_cell and missing.differs
    assert missing.reason == splat[0]
    assert m.totals[1].counts["CRASH"] == 2
    text = report.render(run, "text")
    assert "[1] bug_on: CRASH: kernel BUG at mm/madvise.c:519! (cow: cut short during:" in text
    assert "CRASH*" in text
    html = report.render(run, "html")
    assert "RIP: 0010:madvise_cold_or_pageout_pte_range+0x67f/0x8b0 &lt;&amp;&gt;" in html
    err = ET.fromstring(report.render(run, "junit")).find(
        "testsuite[@name='bug_on']/testcase[@name='Basic COW after fork() ... with swapped-out, "
        "PTE-mapped THP (2048 kB)']/error")
    assert err.get("type") == "CRASH" and "madvise_cold_or_pageout_pte_range" in err.text


def test_build_failed_and_missing_cells(tmp_path):
    run = make_run(tmp_path, [cell("base", three()),
                              cell("broken", outputs=[], status=Status.BUILD_FAILED, reason="the kernel did not build",
                                   build_errors=["mm/madvise.c:389:13: error: implicit declaration"])],
                   variants=["base", "broken", "pending"])
    m = report.matrix_rows(run)
    assert all(r.cells[1].status is Status.BUILD_FAILED and r.cells[1].from_cell for r in m.rows)
    assert all(r.cells[2].status is Status.NOT_RUN for r in m.rows)
    assert m.columns[2].status is Status.NOT_RUN and "did not reach" in m.columns[2].reason
    assert "[1] broken: BUILD_FAILED: the kernel did not build" in report.render(run, "text")


def test_tests_not_at_this_base_are_one_not_run_row(tmp_path):
    run = small_run(tmp_path, not_run=["probe"], tests=["cow", "probe"])
    m = report.matrix_rows(run)
    r = m.rows[-1]
    assert r.key == "probe: (not at this base)" and not r.differs
    assert [c.status for c in r.cells] == [Status.NOT_RUN] * 3
    assert m.not_run == ["probe"] and m.totals[0].counts["NOT_RUN"] == 1
    assert "NOT_RUN: probe (not at v6.12)" in report.render(run, "text")
    assert "probe: (not at this base)" in report.render(run, "html")


def test_whole_binary_skip_is_one_row(tmp_path):
    skipped = tap.parse("TAP version 13\n1..0 # SKIP gup_test not available\n", "gup_longterm", exit_code=4)
    run = make_run(tmp_path, [cell("base", outputs=[output(three()), skipped])], tests=["cow", "gup_longterm"])
    r = row(report.matrix_rows(run), "gup_longterm")
    assert r.key == "gup_longterm: (binary)" and r.cells[0].status is Status.SKIP
    assert r.cells[0].reason == "gup_test not available"


def test_run_without_a_base_column_lists_the_cases_that_did_not_pass(tmp_path):
    run = make_run(tmp_path, [cell("folio_mapcount", three("SKIP", PAGEOUT))])
    m = report.matrix_rows(run)
    assert not m.has_base and not m.differing
    assert [r.name for r in m.notable()] == [three()[1].name, three()[2].name]
    assert "no base column" in report.render(run, "text")


# --- the formats --------------------------------------------------------------------------------------------

def test_real_run_model(tmp_path):
    m = report.matrix_rows(real_run(tmp_path))
    assert len(m.rows) == 761
    assert m.totals[0].counts == {"PASS": 756, "SKIP": 0, "FAIL": 0, "XFAIL": 4} and m.totals[0].env_skips == 1
    assert m.totals[1].counts == {"PASS": 644, "SKIP": 112, "FAIL": 0, "XFAIL": 4} and m.totals[1].env_skips == 1
    assert m.totals[2] == m.totals[0] and m.totals[3] == m.totals[0]
    assert m.totals[4].counts["PASS"] == 1 and m.totals[4].counts["CRASH"] == 760
    fm = [r for r in m.rows if r.cells[1].differs]
    assert len(fm) == 112 and all(SWAPPED_THP in r.name and r.cells[1].reason == PAGEOUT for r in fm)
    assert len(m.differing) == 760  # every row but the first differs in the CRASH column


def test_text_lists_only_differing_rows_within_100_columns(tmp_path):
    run = real_run(tmp_path)
    run.variants.remove("bug_on")  # keep the 112 real differences only
    run.cells = [c for c in run.cells if c.variant != "bug_on"]
    text = report.render(run, "text")
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100
    assert lines[0] == ("mapcount at v6.12 (Linux 6.12.117); tests: cow; executor: vng (tcg); "
                        "run 20261128-120000-v6.12")
    assert lines[1] == "[0] base  [1] folio_mapcount  [2] page_mapcount~  [3] folio_maybe_mapped_shared (=base)"
    rows = [line for line in lines if re.search(r"\s(PASS|SKIP\*)\s+SKIP\*\s", line)]
    assert len(rows) == 14  # 14 groups; the 8 sizes of each group read the same, so one row lists them
    assert text.count("(16, 32, 64, 128, 256, 512,") == 14 and text.count("1024, 2048 kB)") == 14
    assert "with base page" not in text and "hugetlb" not in text  # rows equal to base are left out
    assert "cow: Basic COW after fork() with mprotect() optimization" in lines
    assert "SKIP (112x): MADV_PAGEOUT did not work, is swap enabled?" in text
    assert re.search(r"^\[1\] folio_mapcount\s+PASS 644  SKIP 112 \(\+1 env\)  FAIL 0  XFAIL 4$", text, re.MULTILINE)
    assert re.search(r"^\[3\] folio_maybe_mapped_shared=\s+=base$", text, re.MULTILINE)


def test_text_wraps_long_names_and_keeps_the_size(tmp_path):
    long = "R/O GUP pin on R/O-mapped previously-shared page after a long, long, long and winding road ... " \
           "with partially mremap()'ed swapped-out, PTE-mapped, partially shared, single PTE of THP (2048 kB)"
    cells = [cell("base", [case(long), case("plain case without group")]),
             cell("v", [case(long, "FAIL", "Leak from parent into child"), case("plain case without group", "SKIP")])]
    text = report.render(make_run(tmp_path, cells), "text")
    assert max(map(len, text.splitlines())) <= 100
    assert "(2048 kB)" in text and re.search(r"\(2048 kB\)\s+PASS\s+FAIL\*$", text, re.MULTILINE)
    assert re.search(r"^cow: plain case without group\s+PASS\s+SKIP\*$", text, re.MULTILINE)
    many = make_run(tmp_path, [cell(v, three("SKIP" if v != "base" else "PASS", PAGEOUT))
                               for v in ["base"] + [f"variant_{i}" for i in range(15)]], name="many")
    text = report.render(many, "text")
    assert max(map(len, text.splitlines())) <= 100 and "(2048 kB)" in text


def test_markdown_table_is_well_formed(tmp_path):
    run = real_run(tmp_path)
    md = report.render(run, "markdown")
    tables: list[list[str]] = []
    prev = ""
    for line in md.splitlines():
        if line.startswith("|"):
            if not prev.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        prev = line
    assert len(tables) == 2  # the differing rows, the totals
    for t in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in t}
        assert len(widths) == 1, widths
        assert re.fullmatch(r"\|(---\|)+", t[1])
    main = tables[0]
    assert main[0].startswith("| case | [0] base | [1] folio\\_mapcount | [2] page\\_mapcount ~ |")
    # rows that read the same for several sizes are one row listing them; no size is dropped
    sizes = [re.search(r"\(([\d, ]+) [kMG]B\)", line) for line in main[2:]]
    assert len(main) - 2 < 760 and sum(len(m.group(1).split(",")) if m else 1 for m in sizes) == 760
    assert any("**SKIP\\***" in line and "2048 kB)" in line for line in main)
    assert "| [0] base | PASS | 756 | 0 | 1 | 0 | 4 |  |" in tables[1]


def test_json_round_trips(tmp_path):
    run = real_run(tmp_path)
    data = json.loads(report.render(run, "json"))
    assert data["run"]["id"] == run.id and data["run"]["kernelversion"] == "6.12.117"
    assert [c["variant"] for c in data["columns"]] == run.variants
    assert len(data["rows"]) == 761
    r = next(r for r in data["rows"] if r["key"].endswith(f"{SWAPPED_THP} (2048 kB)") and
             r["key"].startswith("cow: Basic COW after fork() ..."))
    assert r["cells"]["folio_mapcount"] == {"status": "SKIP", "statuses": ["SKIP"], "label": "SKIP",
                                            "reason": PAGEOUT, "env": False, "differs": True,
                                            "same_as_base": False, "from_cell": False}
    assert r["cells"]["bug_on"]["status"] == "CRASH" and r["cells"]["bug_on"]["from_cell"]
    assert data["totals"]["folio_mapcount"] == {"PASS": 644, "SKIP": 112, "FAIL": 0, "XFAIL": 4, "env_skips": 1}
    assert data["columns"][4]["cells"][0]["splat"][0] == "kernel BUG at mm/madvise.c:519!"
    assert data["extra_tables"] == [] and data["flaky"] == []
    # every row and total is the model's, column by column
    m = report.matrix_rows(run)
    by_key = {r["key"]: r for r in data["rows"]}
    for r in m.rows:
        assert [by_key[r.key]["cells"][c.name]["label"] for c in m.columns] == [x.label for x in r.cells]
    assert [data["totals"][c.name]["PASS"] for c in m.columns] == [t.counts["PASS"] for t in m.totals]
    assert data["run"]["executor"] == "vng (tcg)" and data["version"] == 2


def test_junit_parses_with_the_right_counts(tmp_path):
    run = real_run(tmp_path)
    root = ET.fromstring(report.render(run, "junit"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == run.variants
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases) == 761
        for tag, attr in (("skipped", "skipped"), ("failure", "failures"), ("error", "errors")):
            assert int(s.get(attr)) == sum(1 for c in cases if c.find(tag) is not None)
    base, fm, bug = suites[0], suites[1], suites[4]
    assert base.get("skipped") == "5" and base.get("failures") == "0" and base.get("errors") == "0"  # 4 XFAIL, 1 env
    assert fm.get("skipped") == "117"
    tc = fm.find(f"testcase[@name='Basic COW after fork() ... with {SWAPPED_THP} (2048 kB)']")
    assert tc.get("classname") == "cow" and tc.find("skipped").get("message") == f"SKIP: {PAGEOUT}"
    assert bug.get("errors") == "760"
    assert int(root.get("tests")) == 5 * 761


def test_junit_escapes_and_strips_what_xml_cannot_hold(tmp_path):
    odd = 'a <b> & "c" \x1b[0m ... (4 kB)'
    run = make_run(tmp_path, [cell("base", [case(odd, "FAIL", "x < y & \x00")])])
    tc = ET.fromstring(report.render(run, "junit")).find("testsuite/testcase")
    assert tc.get("name") == 'a <b> & "c" ?[0m ... (4 kB)' and tc.find("failure").get("message") == "FAIL: x < y & ?"


def test_terminal_is_coloured_and_marks_differences(tmp_path):
    run = small_run(tmp_path)
    out = report.render_terminal(report.matrix_rows(run), [], width=200)
    assert "\x1b[" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "SKIP*" in plain and "[1] folio_mapcount" in plain and "1 of 3 rows differ from base" in plain
    assert "PASS 1" in plain and "(+1 env)" in plain
    bare = report.render(run, "terminal", color=False)  # a file or a pipe: the same table, no colour codes
    assert "\x1b[" not in bare and "SKIP*" in bare and "1 of 3 rows differ from base" in bare


def test_html_report(tmp_path):
    run = real_run(tmp_path)
    html = report.render(run, "html")
    assert html.startswith("<!DOCTYPE html>") and "<script src" not in html and "<link rel=\"stylesheet\"" not in html
    assert 'id="only-diff"' in html and 'class="matrix"' in html
    assert html.count('<tr class="differs') == 760 and html.count('<tr class="same') == 1
    assert "MADV_PAGEOUT did not work, is swap enabled?" in html and "<details>" in html
    assert "Oops: invalid opcode" in html  # the splat, in the bug_on cell's section
    assert ".patch .gd {" in html and '<span class="gd">' in html  # Pygments' styles and the highlighted patch
    assert "mm/madvise: decide sharing by folio_mapcount()" in html  # the patch
    assert "thp_enabled" in html and "boot+test 2.5 s" in html  # guest environment, timings
    assert "=base" in html and "approximate helper prototype" in html


def test_extra_tables_are_rendered_by_every_format(tmp_path, monkeypatch):
    t = report.ExtraTable("Sharing probe", ["variant", "exclusive THP", "shared THP"],
                          [["base", "correct", "correct"], ["folio_mapcount", "missed pageout", "correct"],
                           ["cost", "1.0x", "1.1x"]], note="exclusive: one process maps it",
                          marks={"correct": "good", "missed pageout": "bad"})
    run = small_run(tmp_path)
    assert report.extra_tables(report.matrix_rows(run)) == [] and report.render_extra(run, "text") == ""
    monkeypatch.setattr(report, "extra_tables", lambda m, templates=None: [t])
    for fmt in ("text", "markdown", "terminal", "html"):
        assert "missed pageout" in report.render(run, fmt) and "Sharing probe" in report.render(run, fmt), fmt
    assert json.loads(report.render(run, "json"))["extra_tables"][0]["rows"][1][1] == "missed pageout"
    text = report.render_extra(run, "text")
    assert text.splitlines()[:3] == ["Sharing probe", "  variant         exclusive THP   shared THP",
                                     "  --------------  --------------  ----------"]
    assert '<td class="bad">missed pageout</td>' in report.render(run, "html")


def test_unknown_format(tmp_path):
    with pytest.raises(UserError, match="unknown report format 'pdf'"):
        report.render(small_run(tmp_path), "pdf")


# --- compare ------------------------------------------------------------------------------------------------

def test_compare_lists_changed_cases_and_columns_only_in_one_run(tmp_path):
    a = small_run(tmp_path, name="a")
    fixed = [cell("base", three()), cell("folio_mapcount", three()),
             cell("folio_maybe_mapped_shared", three() + [case("new ... case (4 kB)", "FAIL", "leak")])]
    b = make_run(tmp_path, fixed, name="b")
    out = report.compare(a, b)
    assert "A: mapcount at v6.12" in out and "run a" in out and "run b" in out
    assert "columns only in A: page_mapcount" in out and "columns only in B: folio_maybe_mapped_shared" in out
    assert "== base: no change" in out and "== folio_mapcount: 1 case(s) changed" in out
    assert f"  cow: Basic COW after fork() ... with {SWAPPED_THP} (2048 kB): SKIP -> PASS" in out
    # the new case is only in a column only B has: no column both have lists it
    assert "only in B: cow: new ... case" not in out
    assert "totals: PASS 1  SKIP 1 (+1 env)  FAIL 0  XFAIL 0  ->  PASS 2" in out
    assert report.compare(a, a).endswith("No status changed, no verdict word changed, no cost changed significantly.\n")


def test_compare_lists_a_verdict_word_that_changed_under_the_same_status(tmp_path):
    from workbench.study.words import load

    words = load(Path(__file__).parent.parent / "templates" / "mapcount" / "probe" / "words.toml").to_json()
    def probe_run(reason: str, name: str) -> Run:
        cases = [case("MADV_PAGEOUT THP in halves (2048 kB)", "FAIL", reason, test="probe")]
        return make_run(tmp_path, [cell("base", outputs=[output(cases, test="probe")])], name=name,
                        tests=["probe"], words={"probe": words})
    a, b = probe_run("[missed] left alone", "a"), probe_run("[split] only the caller's pages went", "b")
    out = report.compare(a, b)
    assert "== base: 1 case(s) changed" in out  # the status (FAIL) is the same on both sides
    assert ("verdict probe: MADV_PAGEOUT THP in halves (2048 kB): missed pageout -> split, pageout of the "
            "caller's pages") in out


# --- the listing of `invoke run` ----------------------------------------------------------------------------

def test_cases_text_still_lists_every_case(tmp_path):
    text = report.cases_text(small_run(tmp_path))
    assert "== v6.12 / folio_mapcount: PASS" in text
    assert f"SKIP    cow: Basic COW after fork() ... with {SWAPPED_THP} (2048 kB)  # {PAGEOUT}" in text
    assert "[environment]" in text


def test_merge_sizes_merges_rows_that_read_the_same_wherever_they_are():
    rows = [report.Row(key=f"cow: G ... with X ({n} kB)", test="cow", name=f"G ... with X ({n} kB)", group="G",
                       cells=[report.TableCell(Status.PASS), report.TableCell(st, differs=st is not Status.PASS)])
            for n, st in ((16, Status.SKIP), (32, Status.SKIP), (64, Status.PASS), (128, Status.SKIP))]
    merged = report.merge_sizes(rows)
    assert [r.name for r in merged] == ["G ... with X (16, 32, 128 kB)", "G ... with X (64 kB)"]


def test_a_column_a_config_refused_shows_not_run_and_makes_no_row_differ(tmp_path):
    refused = cell("folio_estimated_sharers", status=Status.NOT_RUN,
                   reason="refused with config minimal: folio_estimated_sharers() cannot be computed with "
                          "CONFIG_NO_PAGE_MAPCOUNT=y")
    m = report.matrix_rows(make_run(tmp_path, [cell("base", three()), refused]))
    assert [c.status for c in row(m, "with base page").cells] == [Status.PASS, Status.NOT_RUN]
    assert not m.differing
