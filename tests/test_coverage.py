"""Coverage: the spots of a tree (sites and how their decisions are read, changed lines), gcov's
counts turned into tallies per test and per case, the record, the identity and the tables."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kernelfake import SHAPES

from workbench.cells.identity import CellInputs, cell_identity
from workbench.coverage import gcov, profile, read, spots
from workbench.proc import Runner
from workbench.records import Case, CellResult, Coverage, Spot, Tally, TestOutput
from workbench.settings import PROJECT_ROOT
from workbench.status import Status
from workbench.study import model as study
from workbench.study.sites import locate

STUDY = study.load(PROJECT_ROOT / "templates", "mapcount")


def site_spots(shape: str) -> list[Spot]:
    text = (SHAPES / f"{shape}.c").read_text()
    located = locate(STUDY, text, shape)
    return [spots.site_spot(located.masked, located.function.body, s, text) for s in located.sites]


def test_a_site_alone_on_its_line_before_a_jump_is_separable_and_the_after_line_is_the_next_statement():
    text = (SHAPES / "v6.10.c").read_text().splitlines()
    for spot in site_spots("v6.10"):
        assert spot.separable, spot.how
        assert text[spot.line - 1].strip().endswith(("(folio))", "folio_nr_pages(folio))"))
        between = " ".join(x.strip() for x in text[spot.line:spot.after - 1] if x.strip())
        assert between in ("continue;", "goto huge_unlock;") and text[spot.after - 1].strip()


def test_a_site_sharing_its_line_with_another_condition_is_not_separable_and_says_why():
    final = [s for s in site_spots("v6.1") if s.label.startswith("PTE final")]
    assert final and not final[0].separable
    assert final[0].how.startswith("not separable: another condition shares its line (!PageLRU(page)")


@pytest.mark.parametrize("body,why", [
    ("if (folio_mapcount(folio) != 1) {\n\t\tx++;\n\t}\n\ty++;", "does not always leave"),
    ("if (folio_mapcount(folio) != 1)\n\t\tcontinue;\n\telse\n\t\ty++;", "else"),
    ("if (!(folio_mapcount(folio) != 1))\n\t\tcontinue;\n\ty++;", "negated"),
    ("if (folio_mapcount(folio) != 1 && z)\n\t\tcontinue;\n\ty++;", "last operand"),
    ("if (folio_mapcount(folio) != 1)\n\t\tgoto out;\nout:\n\ty++;", "label"),
])
def test_shapes_whose_directions_cannot_be_told_apart_are_not_separable(body, why):
    text = f"static int f(struct folio *folio, int x, int y, int z)\n{{\n\tfor (;;) {{\n\t{body}\n\t}}\n}}\n"
    masked = spots.csrc.mask(text)
    func = spots.csrc.find_function(masked, "f")
    assert func is not None
    start = text.index("folio_mapcount")
    after, how = spots._after(masked, func.body, start, start + len("folio_mapcount(folio) != 1"))
    assert after == 0 and why in how


def test_a_block_body_ending_in_a_jump_is_separable():
    text = "int f(struct folio *folio)\n{\n\tif (folio_mapcount(folio) != 1) {\n\t\tunlock();\n\t\treturn 0;\n\t}\n\tdone();\n}\n"
    masked = spots.csrc.mask(text)
    func = spots.csrc.find_function(masked, "f")
    assert func is not None
    start = text.index("folio_mapcount")
    after, how = spots._after(masked, func.body, start, start + len("folio_mapcount(folio) != 1"))
    assert text[after:].startswith("done();") and how.startswith("decisions")


def test_changed_lines_are_the_added_code_lines_with_their_new_numbers():
    diff = "@@ -10,0 +11,3 @@\n+\tx = 1;\n+\n+\t/* a comment */\n@@ -20 +23 @@\n-\ty = 0;\n+\ty = 2;\n"
    masked = spots.csrc.mask("\n" * 10 + "\tx = 1;\n\n\t/* a comment */\n" + "\n" * 9 + "\ty = 2;\n").splitlines()
    got = spots.changed(diff, "mm/madvise.c", masked)
    assert [(s.line, s.label) for s in got] == [(11, "x = 1;"), (23, "y = 2;")]


def test_gcov_json_lines_of_one_source_are_summed_and_a_window_is_a_difference():
    data = {"files": [{"file": "/b/src/mm/madvise.c", "lines": [
        {"line_number": 5, "count": 3}, {"line_number": 5, "count": 2}, {"line_number": 6, "count": 0}]},
        {"file": "/b/src/include/linux/mm.h", "lines": [{"line_number": 5, "count": 99}]}]}
    lines = gcov.lines_of(data, "mm/madvise.c")
    assert lines == {5: 5, 6: 0}
    assert gcov.minus({5: 9, 6: 4}, lines) == {5: 4, 6: 4}


def test_tallies_give_decisions_only_for_separable_sites_and_none_for_lines_without_code():
    sp = [Spot("mm/madvise.c", 10, "site", "PMD", after=12), Spot("mm/madvise.c", 20, "site", "final", how="n/s"),
          Spot("mm/madvise.c", 30, "changed", "x = 1;"), Spot("mm/madvise.c", 40, "changed", "int y;")]
    got = read.tallies(sp, {"mm/madvise.c": {10: 7, 12: 5, 20: 3, 30: 0}})
    assert got == [Tally(7, 2, 5), Tally(3), Tally(0), Tally(None)]


def test_coverage_survives_the_cell_record_round_trip_and_a_cell_without_it_stays_without():
    cov = Coverage(objects=["mm/madvise.o"], spots=[Spot("mm/madvise.c", 10, "site", "PMD", after=12, how="h")],
                   tests={"probe": [Tally(7, 2, 5)]}, cases={"probe": {"MADV_COLD x": [Tally(1, 1, 0)]}})
    cell = CellResult(identity="i", base="v6.12", variant="base", commit="c", status=Status.PASS, coverage=cov)
    back = CellResult.from_json(json.loads(json.dumps(cell.to_json())))
    assert back.coverage == cov and back.coverage.reached(0) == {"probe": 7}
    assert back.coverage.site("PMD") == {"probe": Tally(7, 2, 5)} and back.coverage.site("PTE") == {}
    plain = CellResult.from_json(dataclasses.replace(cell, coverage=None).to_json())
    assert plain.coverage is None


INPUTS = CellInputs(base="a" * 40, change="base", config="c1", toolchain="gcc 12", tests=("cow", "probe"),
                    binaries="b1", guest="g1", vm={}, executor={"executor": "vng", "accel": "tcg"})


def test_the_profiled_objects_are_part_of_the_identity_and_hash_as_before_when_there_are_none():
    plain = dict(dataclasses.asdict(INPUTS))
    del plain["profiled"]
    import hashlib
    before = hashlib.sha256(json.dumps(plain | {"tests": ["cow", "probe"]}, sort_keys=True).encode()).hexdigest()[:20]
    assert cell_identity(INPUTS) == before
    assert cell_identity(dataclasses.replace(INPUTS, profiled=("mm/madvise.o",))) != before


def test_the_profiled_objects_give_one_make_variable_each_and_gcov_is_read_from_the_config():
    assert profile.variables(("mm/madvise.o", "mm/rmap.o")) == ("GCOV_PROFILE_madvise.o=$(if $(filter mm,$(obj)),y)",
                                                               "GCOV_PROFILE_rmap.o=$(if $(filter mm,$(obj)),y)")
    assert profile.enabled("CONFIG_X=y\nCONFIG_GCOV_KERNEL=y\n") and not profile.enabled("# CONFIG_GCOV_KERNEL is not set")


def test_an_object_is_instrumented_when_its_cmd_file_has_profile_arcs(tmp_path):
    (tmp_path / "mm").mkdir()
    (tmp_path / "mm" / ".madvise.o.cmd").write_text("savedcmd_mm/madvise.o := gcc -fprofile-arcs -c x\n")
    (tmp_path / "mm" / ".rmap.o.cmd").write_text("savedcmd_mm/rmap.o := gcc -O2 -c y\n")
    assert profile.instrumented(tmp_path, "mm/madvise.o") and not profile.instrumented(tmp_path, "mm/rmap.o")


C = """static inline int shared(int x) { return x % 3 == 0; }
int f(int n)
{
\tint e = 0;
\tfor (int i = 0; i < n; i++) {
\t\tif (shared(i))
\t\t\tcontinue;
\t\te++;
\t}
\treturn e;
}
int main(int argc, char **argv) { return f(argc * 30) > 0 ? 0 : 1; }
"""


@pytest.mark.skipif(not shutil.which("gcov"), reason="needs gcc's gcov")
def test_gcc_and_gcov_at_O2_give_the_decisions_the_shape_says(tmp_path):
    # the control for the method: 30 evaluations, 10 of them "shared" (i % 3 == 0), compiled as the
    # kernel compiles (-O2 with gcov's arcs), read by the same code as a cell's counters
    (tmp_path / "t.c").write_text(C)
    subprocess.run(["gcc", "-O2", "-fprofile-arcs", "-ftest-coverage", "-fno-tree-loop-im", "t.c", "-o", "t"],
                   cwd=tmp_path, check=True)
    subprocess.run([str(tmp_path / "t")], cwd=tmp_path, check=False)
    lines = gcov.counts(tmp_path / "t.gcno", tmp_path / "t.gcda", "t.c", Runner())
    masked = spots.csrc.mask(C)
    func = spots.csrc.find_function(masked, "f")
    assert func is not None
    start = C.index("shared(i)")
    after, _ = spots._after(masked, func.body, start, start + len("shared(i)"))
    spot = Spot("t.c", 6, "site", "s", after=spots.csrc.line_of(C, after))
    assert read.tallies([spot], {"t.c": lines}) == [Tally(30, shared=10, exclusive=20)]


def test_read_turns_a_cells_windows_into_tallies_per_test_and_per_case(tmp_path, monkeypatch):
    notes = tmp_path / "coverage"
    (notes / "mm").mkdir(parents=True)
    (notes / "mm" / "madvise.gcno").write_text("notes")
    (notes / "spots.json").write_text(json.dumps({"objects": ["mm/madvise.o"],
                                                  "spots": [dataclasses.asdict(Spot("mm/madvise.c", 10, "site", "P", 12))]}))
    for window, n in (("probe/test", 9), ("probe/cases/1.begin", 2), ("probe/cases/1.end", 5)):
        gcda = tmp_path / "out" / "gcov" / window / "root" / "b" / "mm" / "madvise.gcda"
        gcda.parent.mkdir(parents=True)
        gcda.write_text(str(n))
    monkeypatch.setattr(gcov, "counts", lambda gcno, gcda, source, runner: {10: int(gcda.read_text()), 12: 1})
    tests = {"probe": TestOutput("probe", Status.PASS, [Case("probe", "MADV_COLD a", Status.PASS, number=1)], 1, True, 0)}
    cov = read.read(tmp_path, tests, Runner())
    assert cov is not None and cov.tests == {"probe": [Tally(9, 8, 1)]}
    assert cov.cases == {"probe": {"MADV_COLD a": [Tally(3, 3, 0)]}}
    assert read.read(tmp_path / "none", tests, Runner()) is None


def test_a_coverage_cell_whose_guest_left_no_counters_says_so(tmp_path):
    (tmp_path / "coverage").mkdir()
    (tmp_path / "coverage" / "spots.json").write_text(json.dumps({"objects": ["mm/madvise.o"], "spots": []}))
    cov = read.read(tmp_path, {}, Runner())
    assert cov is not None and "no gcov counters" in cov.missing


def test_the_guest_script_resets_before_each_test_and_copies_the_counters_after_it():
    script = (PROJECT_ROOT / "kbuild" / "guest.sh").read_text()
    loop = script[script.index('for t in "$@"'):]
    assert loop.index('echo 1 > "$GCOV/reset"') < loop.index("timeout --kill-after") < loop.index('"$OUT/gcov/$t/test"')
    assert Path(PROJECT_ROOT / "templates" / "probe-common" / "probe_common.h").read_text().count("counters_mark(") == 3


def coverage_run(tmp_path: Path, shared: int) -> object:
    from workbench.records import Run, RunKind
    run = Run(dir=tmp_path, kind=RunKind.MATRIX, base="v6.12", commit="c" * 40, kernelversion="6.12.118",
              study="mapcount", tests=["cow", "probe"], variants=["base", "mine"], command="invoke matrix",
              configs=["minimal+coverage"])
    site = Spot("mm/madvise.c", 519, "site", "PTE final check (x)", after=522)
    dead = Spot("mm/madvise.c", 1012, "changed", "if (unlikely(start >= end))")
    for variant, sp in (("base", [site]), ("mine", [site, dead])):
        cov = Coverage(objects=["mm/madvise.o"], spots=sp,
                       tests={"cow": [Tally(40, shared, 40 - shared)] + [Tally(0)] * (len(sp) - 1),
                              "probe": [Tally(9, 0, 9)] + [Tally(0)] * (len(sp) - 1)},
                       cases={"probe": {"MADV_PAGEOUT shared (2048 kB)": [Tally(3, 3, 0)] + [Tally(0)] * (len(sp) - 1)}})
        out = TestOutput("cow", Status.PASS, [Case("cow", "a", Status.PASS, number=1)], 1, True, 0)
        run.add(CellResult(identity=variant, base="v6.12", variant=variant, commit="c", status=Status.PASS,
                           config="minimal+coverage", tests={"cow": out}, coverage=cov))
    return run


def test_the_tables_show_counts_decisions_and_call_out_a_changed_line_no_test_reached(tmp_path):
    from workbench.report import render
    text = render(coverage_run(tmp_path, 2), "text")  # type: ignore[arg-type]
    assert "Coverage: the sites and the changed lines, per test" in text
    assert "40 S2/E38" in text and "9 S0/E9" in text
    assert "mine: 1012 changed: if (unlikely(start >= end)): reached by no test" in " ".join(text.split())
    assert text.splitlines()[1] == "coverage: [1] mine: 1012 changed: if (unlikely(start >= end)): reached by no test"
    assert "Coverage per case of probe" in text and "s1 3/0" in text
    run = coverage_run(tmp_path, 2)
    for cell in run.cells:  # type: ignore[attr-defined]
        cell.coverage.tests = {t: [v[0]] + [Tally(None)] * (len(v) - 1) for t, v in cell.coverage.tests.items()}
    assert "reached by no test" not in render(run, "text")  # type: ignore[arg-type]
    data = json.loads(render(coverage_run(tmp_path, 2), "json"))  # type: ignore[arg-type]
    assert data["columns"][0]["cells"][0]["coverage"]["tests"]["cow"][0] == {"count": 40, "shared": 2, "exclusive": 38}


def test_against_says_which_decisions_changed(tmp_path):
    from workbench.report import compare
    said = compare(coverage_run(tmp_path, 2), coverage_run(tmp_path, 30))  # type: ignore[arg-type]
    assert "coverage cow: 519 PTE final check (x): 40 S2/E38 -> 40 S30/E10" in said


def test_the_html_patch_carries_each_spots_counts_on_its_line():
    from workbench.report.coverage import annotate
    patch = ("--- a/mm/madvise.c\n+++ b/mm/madvise.c\n@@ -1010,3 +1010,5 @@\n \t*prev = NULL;\n"
             "+\tif (unlikely(start >= end))\n+\t\treturn -EINVAL;\n \n")
    cov = Coverage(spots=[Spot("mm/madvise.c", 1011, "changed", "if (unlikely(start >= end))")],
                   tests={"cow": [Tally(0)], "probe": [Tally(0)]})
    lines = annotate(patch, cov).splitlines()
    assert lines[4] == "+\tif (unlikely(start >= end))\t<< cow 0 · probe 0" and lines[5] == "+\t\treturn -EINVAL;"
    assert annotate(patch, None) == patch
