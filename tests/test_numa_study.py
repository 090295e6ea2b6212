"""The numa study (issue 31's third study, first slice: templates/numa/): its sites, the sharing
checks of migrate_folio_add() and queue_folios_hugetlb() in v6.12's mm/mempolicy.c
(tests/data/polarity/, the real lines), are found negated, and each of the four variants writes a
predicate there that keeps the code's `!` meaning "exclusive"; its probe's words cover every
verdict it prints."""
from __future__ import annotations

import pytest
from kernelfake import DATA

from workbench.errors import UserError
from workbench.settings import PROJECT_ROOT
from workbench.study import model as study
from workbench.study import render, sites, words
from workbench.study.forms import Polarity

TEMPLATES = PROJECT_ROOT / "templates"
CODE = {f"mm/{f}.c": (DATA / "observe" / "v6.12" / "mm" / f"{f}.c").read_text()
        for f in ("mempolicy", "migrate", "memory", "mprotect", "rmap")}  # every function the study names there
CODE["mm/khugepaged.c"] = (DATA / "observe" / "v6.12" / "mm" / "khugepaged.c").read_text()
V61 = {f"mm/{f}.c": (DATA / "polarity" / f"v6.1-{f}.c").read_text() for f in ("mempolicy", "migrate")}
V61["mm/khugepaged.c"] = (DATA / "observe" / "v6.1" / "mm" / "khugepaged.c").read_text()
V612 = {"folio_mapcount", "folio_nr_pages", "folio_entire_mapcount", "folio_likely_mapped_shared", "folio_page",
        "page_folio"}
CHECK = "if ((flags & MPOL_MF_MOVE_ALL) || {}) {{"
HUGETLB = "if ((flags & MPOL_MF_MOVE_ALL) ||\n\t    ({} && !hugetlb_pmd_shared(pte)))"


def numa() -> study.Study:
    return study.load(TEMPLATES, "numa")


def located(st: study.Study) -> list[sites.Located]:
    places, left_out = sites.locate_all(st, CODE.get, "v6.12")
    assert [lo.functions for lo in left_out] == [("folio_can_map_prot_numa",)]  # 7.x's home of prot_numa's check
    return places


def rendered(variant: str) -> render.Rendered:
    st = numa()
    ctx = {"where": f"{variant} at v6.12", "base": "v6.12", "kernelversion": "6.12", "function": st.function,
           "file": st.file, "functions": st.functions, "study": st.name}
    has = render.Has({}, lambda names: {n: n in V612 for n in names})
    return render.render_variant(st, located(st), st.variant(variant), has, ctx)


def test_the_sites_are_mempolicys_two_negated_checks_and_move_pages_one():
    st = numa()
    assert [(t.file, t.function) for t in st.targets][:3] == [
        ("mm/mempolicy.c", "migrate_folio_add"), ("mm/mempolicy.c", "queue_folios_hugetlb"),
        ("mm/migrate.c", "__add_folio_for_migration")]
    assert st.variant_names == ["folio_mapcount", "page_mapcount", "folio_estimated_sharers",
                                "folio_maybe_mapped_shared"]
    found = [s for p in located(st)[:3] for s in p.sites]
    assert [(s.function, s.context.negated) for s in found] == [
        ("migrate_folio_add", True), ("queue_folios_hugetlb", True), ("__add_folio_for_migration", False)]
    for site in found:
        assert (site.text, site.polarity) == ("folio_likely_mapped_shared(folio)", Polarity.SAME)
        assert (site.names["folio"], site.names["page"]) == ("folio", "folio_page(folio, 0)")


def test_each_variant_keeps_the_bang_meaning_exclusive():
    written = {
        "folio_mapcount": "!(folio_mapcount(folio) != 1)",
        "page_mapcount": "!(page_mapcount(folio_page(folio, 0)) != 1)",
        "folio_estimated_sharers": "!(folio_estimated_sharers(folio) != 1)",
        "folio_maybe_mapped_shared": "!folio_maybe_mapped_shared(folio)",
    }
    for variant, predicate in written.items():
        r = rendered(variant)
        text = r.files["mm/mempolicy.c"]
        assert CHECK.format(predicate) in text and HUGETLB.format(predicate) in text, variant
        shared = predicate[2:-1] if predicate.startswith("!(") else predicate[1:]
        assert f"\tif ({shared} && !migrate_all)\n\t\treturn -EACCES;" in r.files["mm/migrate.c"], variant
        # the unobservable sites are patched too: the variant is the real patch
        assert f"if ({shared} && (vma->vm_flags & VM_SHARED))" in r.files["mm/memory.c"], variant
        assert f"(vma->vm_flags & VM_EXEC) &&\n\t\t    {shared})\n\t\t\treturn -EACCES;" in r.files["mm/migrate.c"]
        assert f"(folio_maybe_dma_pinned(folio) ||\n\t\t\t\t     {shared}))" in r.files["mm/mprotect.c"], variant
        assert f"folio_test_swapbacked(folio) &&\n\t\t    {predicate}) {{" in r.files["mm/rmap.c"], variant
        assert len(r.changes) == 9, variant  # 5 observable sites and 4 unobservable
        assert "folio_likely_mapped_shared(folio)" not in text and not r.same_as_base
        assert r.subject.startswith("mm: decide sharing by ") and r.subject.endswith(" in migration and khugepaged")
        assert max(len(line) for line in r.body.splitlines()) <= 75  # checkpatch's commit log limit
    assert [p.name for p in rendered("page_mapcount").prototypes] == ["page_mapcount"]  # gone from 6.12's mm/


def test_v61s_exclusive_check_is_found_and_a_variant_negated_there():
    """v6.1 asks "exclusive?" (`folio_estimated_sharers(folio) == 1`): the form's polarity is
    opposite, and folio_mapcount's `!= 1` is written as its converse."""
    st = numa()
    (target,) = [t for t in st.targets if t.function == "migrate_folio_add"]
    located = sites.locate(st, V61["mm/mempolicy.c"], "v6.1", target)
    (site,) = located.sites
    assert (site.text, site.polarity, site.asks_opposite) == ("folio_estimated_sharers(folio) == 1",
                                                              Polarity.OPPOSITE, True)
    ctx = {"where": "folio_mapcount at v6.1", "base": "v6.1", "kernelversion": "6.1", "function": st.function,
           "file": st.file, "functions": st.functions, "study": st.name}
    everything = render.Has({}, lambda names: dict.fromkeys(names, True))
    text = render.render_variant(st, [located], st.variant("folio_mapcount"), everything, ctx).files["mm/mempolicy.c"]
    assert "if ((flags & MPOL_MF_MOVE_ALL) || folio_mapcount(folio) == 1) {" in text


def test_v61s_hugetlb_check_is_found_under_the_functions_old_name():
    """The hugetlb target names queue_folios_hugetlb() and, before it, queue_pages_hugetlb(): at v6.1
    the site is found in the second, and the messages name the functions as v6.1 does."""
    st = numa()
    places = [sites.locate(st, V61[t.file], "v6.1", t) for t in st.targets[:3]]
    found = [s for p in places for s in p.sites]
    assert [(s.function, s.text, s.polarity) for s in found] == [
        ("migrate_folio_add", "folio_estimated_sharers(folio) == 1", Polarity.OPPOSITE),
        ("queue_pages_hugetlb", "page_mapcount(page) == 1", Polarity.OPPOSITE),
        ("add_page_for_migration", "page_mapcount(page) > 1", Polarity.SAME)]
    assert found[1].names["folio"] == found[2].names["folio"] == "page_folio(page)"
    everything = render.Has({}, lambda names: dict.fromkeys(names, True))
    r = render.render_variant(st, places, st.variant("folio_mapcount"), everything,
                              {"where": "v6.1", "base": "v6.1", "kernelversion": "6.1", "study": st.name})
    assert r.functions == ("migrate_folio_add", "queue_pages_hugetlb", "add_page_for_migration")
    assert "folio_mapcount(page_folio(page)) == 1 &&" in r.files["mm/mempolicy.c"]
    assert "if (folio_mapcount(page_folio(page)) != 1 && !migrate_all)" in r.files["mm/migrate.c"]
    assert "queue_folios_hugetlb" not in r.body


def test_khugepaged_asks_it_of_each_ptes_page_and_folio():
    """khugepaged's two max_ptes_shared checks: at v6.12 `folio_likely_mapped_shared(folio)` of the
    folio each PTE maps, where `page` is that PTE's page (so page_mapcount() reads it, not the
    folio's first page); at v6.1 `page_mapcount(page) > 1`, in the scan's v6.1 name."""
    st = numa()
    khugepaged = [t for t in st.targets if t.file == "mm/khugepaged.c"]
    found = [s for t in khugepaged for s in sites.locate(st, CODE[t.file], "v6.12", t).sites]
    assert [(s.function, s.text, s.context.negated) for s in found] == [
        ("hpage_collapse_scan_pmd", "folio_likely_mapped_shared(folio)", False),
        ("__collapse_huge_page_isolate", "folio_likely_mapped_shared(folio)", False)]
    assert all((s.names["page"], s.names["folio"]) == ("page", "folio") for s in found)
    text = rendered("page_mapcount").files["mm/khugepaged.c"]
    assert text.count("\t\tif (page_mapcount(page) != 1) {\n\t\t\t++shared;") == 2
    old = [s for t in khugepaged for s in sites.locate(st, V61[t.file], "v6.1", t).sites]
    assert [(s.function, s.text, s.polarity) for s in old] == [
        ("hpage_collapse_scan_pmd", "page_mapcount(page) > 1", Polarity.SAME),
        ("__collapse_huge_page_isolate", "page_mapcount(page) > 1", Polarity.SAME)]
    assert all(s.names["folio"] == "page_folio(page)" for s in old)


def test_a_target_that_no_base_name_matches_names_every_name_it_tried():
    st = numa()
    with pytest.raises(UserError, match=r"no function queue_folios_hugetlb\(\) or queue_pages_hugetlb\(\)"):
        sites.locate(st, "static int other(void)\n{\n\treturn 0;\n}\n", "vX", st.targets[1])


def test_function_must_be_a_name_or_a_list_of_names(tmp_path):
    src = (TEMPLATES / "numa" / "study.toml").read_text()
    root = tmp_path / "numa"
    root.mkdir()
    (tmp_path / "mapcount").symlink_to(TEMPLATES / "mapcount")
    for sub in ("probe", "variants"):
        (root / sub).symlink_to(TEMPLATES / "numa" / sub)
    (root / "study.toml").write_text(src.replace('function = "migrate_folio_add"', 'function = ["ok", "not a name"]'))
    with pytest.raises(UserError, match="is not a C function name or a list of them"):
        study.load(tmp_path, "numa")


def test_the_probes_words_cover_its_verdicts():
    rules = words.load(TEMPLATES / "numa" / "probe" / "words.toml").rules
    src = (TEMPLATES / "numa" / "probe" / "probe.c").read_text()
    for token, verdict in {"missed": "V_MISSED", "wrong": "V_WRONG", "inconclusive": "V_INCONCLUSIVE"}.items():
        assert f"set_outcome(o, {verdict}" in src and any(r.token == token for r in rules), token
    assert not any(f"set_outcome(o, {v}" in src for v in ("V_SPLIT", "V_LOSS", "V_CALLER"))


def test_a_guest_with_one_node_is_the_environments_skip():
    from workbench.guest.tap import load_env_skips

    reason = "mbind MPOL_MF_MOVE exclusive small pages: need two NUMA nodes with memory " \
             "(/sys/devices/system/node/has_memory has 1)"
    assert "need two NUMA nodes with memory (\" NODES_FILE \" has %d)" in \
        (TEMPLATES / "numa" / "probe" / "probe.c").read_text()
    assert any(p.search(reason) for p in load_env_skips())
