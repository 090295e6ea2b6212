"""Mutation analysis: operators from data, one site per mutant, the kill rule, the report's section,
and the positive controls on real captured TAP (each replayed as two boots)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from kernelfake import SHAPES

from workbench import report
from workbench.errors import UserError
from workbench.guest import tap
from workbench.matrix import MatrixRequest
from workbench.mutants import generate, kills, operators, show
from workbench.records import Case, CellResult, Run, RunKind, TestOutput
from workbench.settings import PROJECT_ROOT
from workbench.status import Status
from workbench.study import model as study_model
from workbench.study import render, sites
from workbench.study.words import load as load_words

REAL = Path(__file__).parent / "data" / "real"
TEMPLATES = PROJECT_ROOT / "templates"
MAPCOUNT = study_model.load(TEMPLATES, "mapcount")


def mutant(name: str, aa: bool = False) -> generate.Mutant:
    site, _, op = name.partition(".")
    return generate.Mutant(name, site, op or name, "test", site, "mm/madvise.c", 100, "f", "x", "", aa=aa)


def cell(variant: str, outputs: list[TestOutput], repeat: int = 0, status: Status = Status.PASS,
         same_code: bool = False, reason: str = "") -> CellResult:
    return CellResult(identity=f"{variant}-{repeat}", base="v6.12", variant=variant, commit="c", status=status,
                      config="minimal", tests={o.test: o for o in outputs}, repeat=repeat, same_code=same_code,
                      reason=reason, timings={"build": 5.0, "boot+test": 20.0})


def run_of(tmp_path: Path, columns: dict[str, list[list[TestOutput]]], mutants: list[generate.Mutant],
           tests: list[str], words: dict[str, object] | None = None) -> Run:
    run = Run(dir=tmp_path, kind=RunKind.MATRIX, base="v6.12", commit="c", kernelversion="6.12.118",
              study="mapcount", tests=tests, variants=list(columns), command="invoke matrix", configs=["minimal"])
    for column, boots in columns.items():
        for i, outputs in enumerate(boots):
            run.add(cell(column, outputs, repeat=i))
    run.extra["mutants"] = {"operators": "x", "mutants": [m.to_json() for m in mutants], "same_source": []}
    run.words = dict(words or {})  # type: ignore[arg-type]
    return run


def out(test: str, *cases: tuple[str, Status] | Case) -> TestOutput:
    made = [c if isinstance(c, Case) else Case(test, c[0], c[1]) for c in cases]
    return TestOutput(test=test, status=Status.PASS, cases=made, plan=len(made), complete=True, exit_code=0)


# --- the positive controls, on real data -------------------------------------------------------------------

def test_folio_mapcount_is_killed_by_cows_swapped_out_pte_mapped_thp_cases_and_the_aa_by_nothing(tmp_path):
    base = tap.parse((REAL / "v6.12.117-base-cow.tap").read_text(), "cow", 0)
    fm = tap.parse((REAL / "v6.12.117-folio_mapcount-cow.tap").read_text(), "cow", 0)
    run = run_of(tmp_path, {"base": [[base], [base]], "folio_mapcount": [[fm], [fm]], "aa": [[base], [base]]},
                 [mutant("aa", aa=True), mutant("folio_mapcount")], ["cow"])
    a = show.analysis_of(run)
    assert a is not None
    fmj, aaj = next(j for j in a.judged if j.mutant.name == "folio_mapcount"), a.judged[0]
    assert fmj.state == kills.KILLED and aaj.kills == [] and aaj.state == kills.SURVIVED
    assert fmj.kills and all("swapped-out, PTE-mapped THP" in k.case for k in fmj.kills)
    assert {k.direction for k in fmj.kills} == {"PASS -> SKIP"}
    assert a.suites == {"cow": (1, 1)}


def test_the_planted_every_folio_exclusive_mutant_is_killed_by_the_lazyfree_probe(tmp_path):
    words = load_words(TEMPLATES / "lazyfree" / "probe" / "words.toml")
    base = tap.parse((REAL / "lazyfree-v6.12-base.tap").read_text(), "probe", 0)
    planted = tap.parse((REAL / "lazyfree-v6.12-planted.tap").read_text(), "probe", 0)
    run = run_of(tmp_path, {"base": [[base], [base]], "planted": [[planted], [planted]]},
                 [mutant("planted")], ["probe"], {"probe": words.to_json()})
    a = show.analysis_of(run)
    assert a is not None and a.judged[0].state == kills.KILLED
    assert any(k.direction == "correct -> DATA LOSS" for k in a.judged[0].kills)
    text = "\n".join(show.text_lines(run))
    assert "planted" in text and "probe" in text and "DATA LOSS" in text


# --- the kill rule ---------------------------------------------------------------------------------------

def test_a_case_that_differs_in_one_boot_only_is_flaky_and_kills_nothing(tmp_path):
    ok, bad = out("cow", ("a", Status.PASS)), out("cow", ("a", Status.FAIL))
    run = run_of(tmp_path, {"base": [[ok], [ok]], "m.x": [[bad], [ok]]}, [mutant("m.x")], ["cow"])
    j = show.analysis_of(run).judged[0]  # type: ignore[union-attr]
    assert j.state == kills.SURVIVED and j.flaky == ["cow: a"] and j.reach == kills.NO_REACH


def test_an_unstable_base_case_and_environment_skips_kill_nothing(tmp_path):
    env = Case("cow", "b", Status.SKIP, env_skip=True)
    b1 = out("cow", ("a", Status.PASS), ("b", Status.PASS))
    b2 = out("cow", ("a", Status.FAIL), ("b", Status.PASS))
    m = out("cow", ("a", Status.SKIP), env)
    a = show.analysis_of(run_of(tmp_path, {"base": [[b1], [b2]], "m.x": [[m], [m]]}, [mutant("m.x")], ["cow"]))
    assert a is not None and a.judged[0].state == kills.SURVIVED and a.base_flaky == ["cow: a"]


def test_an_inconclusive_probe_row_kills_nothing(tmp_path):
    words = load_words(TEMPLATES / "mapcount" / "probe" / "words.toml")
    ok = out("probe", ("MADV_PAGEOUT x", Status.PASS))
    inc = out("probe", Case("probe", "MADV_PAGEOUT x", Status.SKIP, reason="[inconclusive] split meanwhile"))
    a = show.analysis_of(run_of(tmp_path, {"base": [[ok], [ok]], "m.x": [[inc], [inc]]}, [mutant("m.x")],
                                ["probe"], {"probe": words.to_json()}))
    assert a is not None and a.judged[0].state == kills.SURVIVED


def test_a_crash_kills_by_the_cases_it_cut_short_and_an_infra_error_leaves_the_mutant_unjudged(tmp_path):
    ok = out("cow", ("a", Status.PASS), ("b", Status.PASS))
    cut = out("cow", ("a", Status.PASS))
    run = run_of(tmp_path, {"base": [[ok], [ok]]}, [mutant("m.crash"), mutant("m.infra")], ["cow"])
    for r in (0, 1):
        run.add(replace(cell("m.crash", [cut], r), status=Status.CRASH))
    run.add(cell("m.infra", [ok], 0))
    run.add(replace(cell("m.infra", [], 1), status=Status.INFRA_ERROR, reason="qemu died"))
    crash, infra = show.analysis_of(run).judged  # type: ignore[union-attr]
    assert [(k.case, k.direction) for k in crash.kills] == [("b", "PASS -> CRASH")]
    assert infra.state == kills.INCOMPLETE and "INFRA_ERROR" in infra.why


def test_equivalent_and_uncompiled_mutants_are_listed_and_not_scored(tmp_path):
    ok = out("cow", ("a", Status.PASS))
    run = run_of(tmp_path, {"base": [[ok], [ok]], "m.kill": [[out("cow", ("a", Status.FAIL))]] * 2},
                 [mutant("m.eq"), mutant("m.cc"), mutant("m.kill")], ["cow", "probe"])
    for r in (0, 1):
        run.add(replace(cell("m.eq", [ok], r), same_code=True))
        run.add(replace(cell("m.cc", [], r), status=Status.BUILD_FAILED, reason="the kernel did not build: error"))
    a = show.analysis_of(run)
    assert a is not None and [j.state for j in a.judged] == [kills.EQUIVALENT, kills.NOT_COMPILED, kills.KILLED]
    assert a.suites == {"cow": (1, 1), "probe": (0, 0)}  # the base ran no probe here: no score
    doc = json.loads(report.render(run, "json"))
    assert doc["mutants"]["scores"]["cow"] == {"killed": 1, "judged": 1}
    assert "## Mutants" in report.render(run, "markdown") and "m:eq" in report.render(run, "text")


def test_one_boot_judges_nothing(tmp_path):
    ok = out("cow", ("a", Status.PASS))
    a = show.analysis_of(run_of(tmp_path, {"base": [[ok]], "m.x": [[ok]]}, [mutant("m.x")], ["cow"]))
    assert a is not None and a.judged[0].state == kills.INCOMPLETE and "N >= 2" in a.note


# --- operators and mutants from data -----------------------------------------------------------------------

def test_a_mutant_writes_its_operator_at_one_site_and_the_original_at_every_other(tmp_path):
    text = (SHAPES / "v6.10.c").read_text()
    located = sites.locate(MAPCOUNT, text, "v6.10")
    target = next(s for s in located.sites if s.role.name == "pte_final")
    roles = sorted(r.name for r in MAPCOUNT.targets[0].roles)
    path = generate._write(tmp_path, generate._template(roles, target, "pte_final", "!({{ original }})", "x: y"))
    st = MAPCOUNT.with_variant("pte_final.negate", path, "mutant")
    has = render.Has({}, lambda names: dict.fromkeys(names, True))
    ctx = {"where": "t", "base": "v6.10", "kernelversion": "6.10", "function": st.function, "file": st.file,
           "study": st.name}
    r = render.render_variant(st, located, st.variant("pte_final.negate"), has, ctx)
    assert [(c.role, c.after) for c in r.changes] == [("pte_final", f"!({target.text})")]


def test_operators_are_read_from_the_study_or_the_one_it_reuses():
    assert "negate" in operators.load(MAPCOUNT).names
    lazyfree = study_model.load(TEMPLATES, "lazyfree")
    assert operators.find(lazyfree) == TEMPLATES / "mapcount" / "mutants.toml"


def test_an_unknown_key_in_mutants_toml_names_the_nearest(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "mutants.toml").write_text('[operators.negate]\ntempalte = "!x"\n')
    with pytest.raises(UserError, match="tempalte") as e:
        operators.load(replace(MAPCOUNT, root=root, reuses={}))
    assert "template" in str(e.value.hint)


def test_selectors_keep_sites_operators_or_pairs_and_refuse_what_is_not_there():
    ops = operators.load(MAPCOUNT)
    assert generate.select(ops, ["pmd", "pte_final"], ("pmd:negate",)) == {("pmd", "negate")}
    assert generate.select(ops, ["pmd", "pte_final"], ("negate",)) == {("pmd", "negate"), ("pte_final", "negate")}
    with pytest.raises(UserError, match="nope"):
        generate.select(ops, ["pmd"], ("nope",))


def test_mutants_need_two_boots_and_are_in_the_reproducer():
    with pytest.raises(UserError, match="--repeat 2"):
        MatrixRequest(base="v6.12", mutants=()).check()
    assert "--mutants all" in MatrixRequest(base="v6.12", mutants=(), repeat=2).command()


def test_survivors_say_whether_the_coverage_config_saw_their_site_reached(tmp_path):
    from workbench.records import Coverage, Spot, Tally

    ok = out("cow", ("a", Status.PASS))
    run = run_of(tmp_path, {"base": [[ok], [ok]], "m.x": [[ok], [ok]]}, [mutant("m.x")], ["cow"])
    assert show.analysis_of(run).judged[0].reach == kills.NO_REACH  # type: ignore[union-attr]
    spot = Spot(file="mm/madvise.c", line=100, kind="site", label="PTE final check")
    base = run.cell("base")
    base.coverage = Coverage(spots=[spot], tests={"cow": [Tally(4096, 12, 4084)]})  # type: ignore[union-attr]
    assert show.analysis_of(run).judged[0].reach == "reached 4,096 times (shared 12, exclusive 4,084)"  # type: ignore[union-attr]
    base.coverage = Coverage(spots=[spot], tests={"cow": [Tally(0, None, None)]})  # type: ignore[union-attr]
    assert show.analysis_of(run).judged[0].reach == "never reached"  # type: ignore[union-attr]
    assert 'id="mutants"' in report.render(run, "html")


def test_a_suite_the_base_did_not_run_gets_no_score_not_zero(tmp_path):
    """cow does not exist at 6.1 (NOT_RUN in every column): it cannot kill, so no 0 % is printed."""
    words = load_words(TEMPLATES / "mapcount" / "probe" / "words.toml")
    ok = out("probe", ("MADV_PAGEOUT x", Status.PASS))
    bad = out("probe", ("MADV_PAGEOUT x", Status.FAIL))
    run = run_of(tmp_path, {"base": [[ok], [ok]], "m.x": [[bad], [bad]], "m.y": [[ok], [ok]]},
                 [mutant("m.x"), mutant("m.y")], ["cow", "probe"], {"probe": words.to_json()})
    a = show.analysis_of(run)
    assert a is not None and a.suites == {"cow": (0, 0), "probe": (1, 2)}
    text = "\n".join(show.text_lines(run))
    cow = next(line for line in text.splitlines() if line.strip().startswith("cow "))
    assert cow.split() == ["cow", "not", "run", "at", "the", "base:", "no", "score"]
    assert "| cow | 0 | 0 | not run at the base |" in report.render(run, "markdown")
