"""Targets no user space program can observe (`observable = false` with `why`) and targets a base
may lack (`optional`): the loader's errors, the numa study's sites at v6.1, v6.12 and v7.3 (real
functions of Debian's trees under tests/data/observe/<tag>/), the targets left out where a base
lacks them, no mutants at an unobservable site, and coverage's "(no verdict)"."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from kernelfake import DATA

from workbench import report
from workbench.coverage import spots as spots_mod
from workbench.errors import UnknownKey, UserError
from workbench.mutants import generate, kills, show
from workbench.records import Coverage, Run, RunKind, Spot, Tally
from workbench.report import coverage as cov_report
from workbench.settings import PROJECT_ROOT
from workbench.study import model, observe, sites
from workbench.study.commits import PatchSet

TEMPLATES = PROJECT_ROOT / "templates"
EXCERPTS = DATA / "observe"
BASES = ("v6.1", "v6.12", "v7.3")
OBSERVABLE = ["mbind/migrate_pages queue", "mbind/migrate_pages queue, hugetlb", "move_pages", "khugepaged scan",
              "khugepaged isolate"]


def numa() -> model.Study:
    return model.load(TEMPLATES, "numa")


def read(tag: str):  # type: ignore[no-untyped-def]
    def text(file: str) -> str | None:
        path = EXCERPTS / tag / file
        return path.read_text() if path.exists() else None
    return text


def study_with(tmp_path: Path, target: str) -> Path:
    """A copy of the numa study (its templates linked) with one more [[targets]] entry: `target`."""
    root = tmp_path / "numa"
    root.mkdir()
    (tmp_path / "mapcount").symlink_to(TEMPLATES / "mapcount")
    for sub in ("probe", "variants"):
        (root / sub).symlink_to(TEMPLATES / "numa" / sub)
    src = (TEMPLATES / "numa" / "study.toml").read_text()
    head, _, rest = src.partition("[roles.pte_final]")
    (root / "study.toml").write_text(head + target + "\n[roles.pte_final]" + rest)
    return tmp_path


EXTRA = '[[targets]]\nname = "x"\nfile = "mm/memory.c"\nfunction = "do_numa_page"\n'


# --- the loader ----------------------------------------------------------------------------------------------

def test_unobservable_without_why_is_refused_in_one_paragraph(tmp_path):
    with pytest.raises(UserError, match=r"target 'x': observable = false needs why") as e:
        model.load(study_with(tmp_path, EXTRA + "observable = false\n"), "numa")
    assert "\n" not in e.value.message and "why" in e.value.hint


@pytest.mark.parametrize("keys, match", [
    ('observable = false\nwhy = "  "\n', "needs why"),
    ('why = "nobody sees it"\n', "without observable = false"),
    ('observable = "no"\nwhy = "x"\n', "is not true or false"),
    ('optional = ""\n', "must be a reason"),
    ("optional = true\n", "must be a reason"),
])
def test_wrong_combinations_of_the_keys_are_refused(tmp_path, keys, match):
    with pytest.raises(UserError, match=match):
        model.load(study_with(tmp_path, EXTRA + keys), "numa")


def test_a_misspelt_key_names_the_nearest(tmp_path):
    with pytest.raises(UnknownKey, match="observeable") as e:
        model.load(study_with(tmp_path, EXTRA + 'observeable = false\nwhy = "x"\n'), "numa")
    assert e.value.guess == "observable"


def test_the_keys_are_read_into_the_target():
    st = numa()
    assert [t.name for t in st.targets if t.observe.observable] == OBSERVABLE
    hidden = [t for t in st.targets if not t.observe.observable]
    assert [t.function for t in hidden] == ["numa_migrate_check", "migrate_misplaced_folio_prepare",
                                            "change_pte_range", "folio_can_map_prot_numa", "folio_referenced_one"]
    assert all(t.observe.why.endswith(".") and not t.observe.scored for t in hidden)
    assert [t.function for t in st.targets if t.observe.optional] == [
        "change_pte_range", "folio_can_map_prot_numa", "folio_referenced_one"]


# --- the real trees -----------------------------------------------------------------------------------------

SITES = {
    "v6.1": [("migrate_folio_add", "folio_estimated_sharers(folio) == 1"),
             ("queue_pages_hugetlb", "page_mapcount(page) == 1"),
             ("add_page_for_migration", "page_mapcount(page) > 1"),
             ("hpage_collapse_scan_pmd", "page_mapcount(page) > 1"),
             ("__collapse_huge_page_isolate", "page_mapcount(page) > 1"),
             ("do_numa_page", "page_mapcount(page) > 1"),
             ("migrate_misplaced_page", "page_mapcount(page) != 1")],
    "v6.12": [("migrate_folio_add", "folio_likely_mapped_shared(folio)"),
              ("queue_folios_hugetlb", "folio_likely_mapped_shared(folio)"),
              ("__add_folio_for_migration", "folio_likely_mapped_shared(folio)"),
              ("hpage_collapse_scan_pmd", "folio_likely_mapped_shared(folio)"),
              ("__collapse_huge_page_isolate", "folio_likely_mapped_shared(folio)"),
              ("numa_migrate_check", "folio_likely_mapped_shared(folio)"),
              ("migrate_misplaced_folio_prepare", "folio_likely_mapped_shared(folio)"),
              ("change_pte_range", "folio_likely_mapped_shared(folio)"),
              ("folio_referenced_one", "folio_likely_mapped_shared(folio)")],
    "v7.3": [("migrate_folio_add", "folio_maybe_mapped_shared(folio)"),
             ("queue_folios_hugetlb", "folio_maybe_mapped_shared(folio)"),
             ("__add_folio_for_migration", "folio_maybe_mapped_shared(folio)"),
             ("collapse_scan_pmd", "folio_maybe_mapped_shared(folio)"),
             ("__collapse_huge_page_isolate", "folio_maybe_mapped_shared(folio)"),
             ("numa_migrate_check", "folio_maybe_mapped_shared(folio)"),
             ("migrate_misplaced_folio_prepare", "folio_maybe_mapped_shared(folio)"),
             ("folio_can_map_prot_numa", "folio_maybe_mapped_shared(folio)"),
             ("folio_referenced_one", "folio_maybe_mapped_shared(folio)")],
}
LEFT_OUT = {
    "v6.1": [("change_pte_range", "no site of its forms in change_pte_range()"),
             ("folio_can_map_prot_numa", "no function folio_can_map_prot_numa() in mm/mempolicy.c"),
             ("folio_referenced_one", "no site of its forms in folio_referenced_one()")],
    "v6.12": [("folio_can_map_prot_numa", "no function folio_can_map_prot_numa() in mm/mempolicy.c")],
    "v7.3": [("change_pte_range", "no site of its forms in change_pte_range()")],
}


@pytest.mark.parametrize("tag", BASES)
def test_each_base_has_its_sites_and_leaves_out_the_optional_targets_it_lacks(tag):
    places, left_out = sites.locate_all(numa(), read(tag), tag)
    found = [s for p in places for s in p.sites]
    assert [(s.function, s.text) for s in found] == SITES[tag]
    assert [(lo.functions[0], lo.missing) for lo in left_out] == LEFT_OUT[tag]
    assert [s.target.observe.observable for s in found] == [True] * 5 + [False] * (len(found) - 5)
    negated = {s.function for s in found if s.context.negated}
    assert ("folio_referenced_one" in negated) == (tag != "v6.1")  # `!folio_..._mapped_shared(folio)`


def test_v61s_do_numa_page_asks_the_studys_question_by_the_pages_mapcount():
    """`page_mapcount(page) > 1 && (vma->vm_flags & VM_SHARED)`: "shared?" (polarity same), so a
    variant writes its predicate as it is; the function has no folio: page_folio(page)."""
    (place,) = [p for p in sites.locate_all(numa(), read("v6.1"), "v6.1")[0] if p.function.name == "do_numa_page"]
    (site,) = place.sites
    assert not site.asks_opposite and site.names == {"page": "page", "folio": "page_folio(page)"}


def test_a_required_target_the_base_lacks_is_still_an_error():
    st = numa()
    with pytest.raises(UserError, match=r"no function numa_migrate_check\(\) or do_numa_page\(\)"):
        sites.locate_all(st, lambda f: "static int other(void)\n{\n\treturn 0;\n}\n" if f == "mm/memory.c"
                         else read("v6.12")(f), "vX")
    with pytest.raises(UserError, match="the base has no mm/migrate.c: target 'move_pages'"):
        sites.locate_all(st, lambda f: None if f == "mm/migrate.c" else read("v6.12")(f), "vX")


def test_patches_and_check_variants_list_the_unobservable_and_the_left_out():
    st = numa()
    _, left_out = sites.locate_all(st, read("v6.1"), "v6.1")
    gone = {lo.target for lo in left_out}
    ps = PatchSet(SimpleNamespace(name="v6.1", commit="c" * 40), "6.1.192", "numa", [], [], [],  # type: ignore[arg-type]
                  left_out=left_out, unobservable=[t for t in st.targets if not t.observe.observable
                                                   and t.name not in gone])
    lines = ps.observation
    assert lines[0].startswith("  unobservable (no verdict, no mutants): NUMA hinting fault, TNF_SHARED "
                               "(mm/memory.c, numa_migrate_check()): TNF_SHARED only lets task_numa_group()")
    assert len(lines) == 2 + 3 and all("left out here" in line for line in lines[2:])
    assert "prot_numa, shared CoW folio: left out here (no site of its forms in change_pte_range()); optional: " \
           "v6.1 asks page_count() there" in lines[2]


# --- mutants ------------------------------------------------------------------------------------------------

def fake_tree(tag: str) -> tuple[SimpleNamespace, SimpleNamespace]:
    kt = SimpleNamespace(clone=SimpleNamespace(show=lambda commit, f: read(tag)(f)))
    return kt, SimpleNamespace(name=tag, commit="c" * 40)


def test_no_mutant_is_made_at_an_unobservable_site_and_they_are_listed(tmp_path):
    kt, base = fake_tree("v6.12")
    st = numa()
    made = generate.mutants(kt, st, base, tmp_path)  # type: ignore[arg-type]
    sites_made = {(m.file, m.function) for m in made if not m.aa}
    assert sites_made == {("mm/mempolicy.c", "migrate_folio_add"), ("mm/mempolicy.c", "queue_folios_hugetlb"),
                          ("mm/migrate.c", "__add_folio_for_migration"), ("mm/khugepaged.c", "hpage_collapse_scan_pmd"),
                          ("mm/khugepaged.c", "__collapse_huge_page_isolate")}
    _, names, cols = generate.as_columns(kt, st, base, tmp_path, (), [])  # type: ignore[arg-type]
    assert [u.function for u in cols.unobservable] == ["numa_migrate_check", "migrate_misplaced_folio_prepare",
                                                       "change_pte_range", "folio_referenced_one"]
    assert [u.site for u in cols.unobservable] == ["pte_final-6", "pte_final-7", "pte_final-8", "pte_final-9"]
    assert not any(n.startswith(("pte_final-6.", "pte_final-9.")) for n in names)
    assert json.loads(json.dumps(cols.to_json()))["unobservable"][0]["why"].startswith("TNF_SHARED only")


def test_asking_for_mutants_at_an_unobservable_site_says_why_there_are_none(tmp_path):
    kt, base = fake_tree("v6.12")
    with pytest.raises(UserError, match=r"--mutants names pte_final-9, a site no program can observe") as e:
        generate.mutants(kt, numa(), base, tmp_path, ("pte_final-9:negate",))  # type: ignore[arg-type]
    assert "folio_referenced_one()" in e.value.message


def test_the_mutants_report_says_unobservable_not_scored(tmp_path):
    kt, base = fake_tree("v7.3")
    _, _, cols = generate.as_columns(kt, numa(), base, tmp_path, ("pte_final-1:negate",), [])  # type: ignore[arg-type]
    run = Run(dir=tmp_path, kind=RunKind.MATRIX, base="v7.3", commit="c", kernelversion="7.3.4", study="numa",
              tests=["probe"], variants=["base"], command="invoke matrix", configs=["minimal"])
    run.extra["mutants"] = cols.to_json()
    a = show.analysis_of(run)
    assert a is not None and a.judged[0].state == kills.INCOMPLETE  # no boots here: the listing is what counts
    text = "\n".join(show.text_lines(run))
    assert f"{observe.NOT_SCORED}: pte_final-8 (mm/mempolicy.c:" in text and "folio_can_map_prot_numa()" in text
    assert text.count(observe.NOT_SCORED) == 4
    assert len(json.loads(report.render(run, "json"))["mutants"]["unobservable"]) == 4


# --- coverage -----------------------------------------------------------------------------------------------

def test_coverage_counts_an_unobservable_site_and_marks_it_no_verdict():
    st = numa()
    text = read("v6.12")("mm/memory.c")
    assert text is not None
    (spot,) = spots_mod.spots(st, None, "c", "c", "mm/memory.c", text)  # type: ignore[arg-type]
    assert spot.kind == "site" and spot.unobservable.startswith("TNF_SHARED only")
    label = cov_report.spot_label(spot)
    assert label.endswith("(folio_likely_mapped_shared(folio)) (no verdict)")
    tally = Tally(count=12, shared=0, exclusive=12) if spot.separable else Tally(count=12)
    assert cov_report.tally_text(tally, spot).startswith("12")  # its counts are shown as any site's
    cols = [(SimpleNamespace(id="[1]", name="base"), Coverage(spots=[spot], tests={"probe": [tally]}))]
    (note,) = cov_report.unobservable_notes(cols)  # type: ignore[arg-type]
    assert note == f"{label}: {spot.unobservable.rstrip('.')}"


def test_a_coverage_cells_identity_takes_the_whys_its_kept_spots_carry():
    """A cell keeps its spots from its build; a changed why must make a new cell, while a study
    without unobservable targets hashes as before."""
    from workbench.coverage.profile import Profile, variables

    objs = ("mm/memory.o", "mm/mempolicy.o")
    st = numa()
    ident = Profile(objs, st).identity
    assert ident[:2] == variables(objs) and len(ident) == 2 + 5 and ident[2].startswith("unobservable NUMA hinting")
    assert Profile(("mm/madvise.o",), model.load(TEMPLATES, "mapcount")).identity == variables(("mm/madvise.o",))
    assert "$(filter mm,$(obj))" in variables(("mm/madvise.o",))[0]  # how it is profiled is in the identity


def test_coverage_leaves_an_optional_target_the_base_lacks_out_and_keeps_observable_sites_unmarked():
    st = numa()
    text = read("v7.3")("mm/mprotect.c")
    assert text is not None and spots_mod.spots(st, None, "c", "c", "mm/mprotect.c", text) == []  # type: ignore[arg-type]
    found = spots_mod.spots(st, None, "c", "c", "mm/mempolicy.c", read("v7.3")("mm/mempolicy.c") or "")  # type: ignore[arg-type]
    assert [bool(s.unobservable) for s in found] == [False, False, True]
    assert "(no verdict)" not in cov_report.spot_label(found[0])
    assert Spot(**{k: v for k, v in found[0].__dict__.items() if k != "unobservable"}) == found[0]  # old records load
