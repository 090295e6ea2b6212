"""A study over several places (the lazyfree study: two functions in two files), a study that
reuses another's variants and prototypes, a variant template brought on the command line, and
the mistakes a study file can have, each refused with the file and what to change."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kernelfake import DATA

from workbench.errors import UserError
from workbench.matrix import MatrixRequest, _names
from workbench.settings import PROJECT_ROOT
from workbench.study import model as study
from workbench.study import render, sites

TEMPLATES = PROJECT_ROOT / "templates"
SKELETONS = DATA / "lazyfree"
PLANTED = DATA / "planted" / "every_folio_exclusive.j2"


def lazyfree() -> study.Study:
    return study.load(TEMPLATES, "lazyfree")


def places(st: study.Study, shape: str = "v6.12") -> list[sites.Located]:
    files = {"mm/madvise.c": SKELETONS / "v6.12-madvise.c", "mm/huge_memory.c": SKELETONS / f"{shape}-huge_memory.c"}
    return [sites.locate(st, files[t.file].read_text(), shape, t) for t in st.targets]


def has(present: set[str]) -> render.Has:
    return render.Has({}, lambda names: {n: n in present for n in names})


def render_all(st: study.Study, variant: str, present: set[str], shape: str = "v6.12") -> render.Rendered:
    ctx = {"where": f"{variant} at {shape}", "base": shape, "kernelversion": "6.x", "function": st.function,
           "file": st.file, "functions": st.functions, "study": st.name}
    return render.render_variant(st, places(st, shape), st.variant(variant), has(present), ctx)


V612 = {"folio_mapcount", "folio_nr_pages", "folio_entire_mapcount", "folio_likely_mapped_shared", "folio_page",
        "page_folio"}


def test_the_lazyfree_study_has_two_targets_in_two_files():
    st = lazyfree()
    assert [(t.file, t.function) for t in st.targets] == [("mm/madvise.c", "madvise_free_pte_range"),
                                                          ("mm/huge_memory.c", "madvise_free_huge_pmd")]
    assert st.files == ["mm/madvise.c", "mm/huge_memory.c"]
    found = [(s.file, s.role.name, s.text) for p in places(st) for s in p.sites]
    assert found == [("mm/madvise.c", "pte_large", "folio_likely_mapped_shared(folio)"),
                     ("mm/madvise.c", "pte_final", "folio_mapcount(folio) != folio_nr_pages(folio)"),
                     ("mm/huge_memory.c", "pmd", "folio_likely_mapped_shared(folio)")]  # not the sibling's


def test_v6_1_pmd_handler_form_and_its_folio_named_from_the_page():
    st = lazyfree()
    pmd = places(st, "v6.1")[1].sites[0]
    assert (pmd.role.name, pmd.text, pmd.names["folio"]) == ("pmd", "total_mapcount(page) != 1", "page_folio(page)")


def test_reused_variants_write_every_site_of_both_files():
    st = lazyfree()
    assert st.variant_names == ["folio_mapcount", "page_mapcount", "folio_estimated_sharers",
                                "folio_maybe_mapped_shared"]
    r = render_all(st, "folio_mapcount", V612)
    assert set(r.files) == {"mm/madvise.c", "mm/huge_memory.c"} and not r.same_as_base
    assert r.files["mm/huge_memory.c"].count("if (folio_mapcount(folio) != 1)") == 1
    assert r.files["mm/madvise.c"].count("folio_mapcount(folio) != 1") == 3  # two sites + the comment
    assert {c.file for c in r.changes} == {"mm/madvise.c", "mm/huge_memory.c"}
    assert r.subject == "mm: decide sharing by folio_mapcount() in MADV_FREE"  # this study's message
    assert "  mm/huge_memory.c:16, PMD-mapped THP:" in r.body  # sites named by file and line
    assert max(len(line) for line in r.body.splitlines()) <= 75  # checkpatch's commit log limit


def test_a_missing_helper_is_put_into_each_file_that_calls_it():
    r = render_all(lazyfree(), "page_mapcount", V612)
    (proto,) = r.prototypes
    assert proto.name == "page_mapcount" and proto.files == ("mm/madvise.c", "mm/huge_memory.c")
    for text, function in ((r.files["mm/madvise.c"], "madvise_free_pte_range("),
                           (r.files["mm/huge_memory.c"], "bool madvise_free_huge_pmd(")):
        assert text.count(" page_mapcount(struct page") == 1
        assert text.index(" page_mapcount(struct page") < text.index(function)
    assert "added to mm/madvise.c and mm/huge_memory.c right above the functions" in " ".join(r.body.split())


def test_reuse_takes_templates_from_the_other_study_and_this_ones_first(tmp_path):
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "mapcount", root / "mapcount")
    shutil.copytree(TEMPLATES / "lazyfree", root / "lazyfree")
    (root / "lazyfree" / "variants" / "folio_mapcount.j2").unlink()  # now mapcount's own, with its message
    st = study.load(root, "lazyfree")
    r = render_all(st, "folio_mapcount", V612)
    assert "MADV_COLD/PAGEOUT" in r.subject
    assert st.helpers.keys() == study.load(root, "mapcount").helpers.keys()


def test_reuse_in_a_circle_is_refused(tmp_path):
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "mapcount", root / "mapcount")
    toml = root / "mapcount" / "study.toml"
    toml.write_text(toml.read_text().replace('name = "mapcount"\n', 'name = "mapcount"\nreuse = "mapcount"\n'))
    with pytest.raises(UserError) as err:
        study.load(root, "mapcount")
    assert "circle" in str(err.value) and str(toml) in str(err.value)


def test_a_variant_template_brought_on_the_command_line_is_a_column():
    st, names, specs = _names(MatrixRequest(base="v6.12", variants=("planted=" + str(PLANTED),)), lazyfree())
    assert names == ["planted"] and specs == {}
    r = render_all(st, "planted", V612)
    assert r.files["mm/huge_memory.c"].count("if (false)") == 1
    assert r.files["mm/madvise.c"].count("if (false)") == 2
    assert r.subject.startswith("PLANTED")
    assert st.variant("planted").source.startswith("template every_folio_exclusive.j2 (sha256 ")


# ---- mistakes in a study file: each refused, naming the file and what to change


def broken(tmp_path: Path, edit: tuple[str, str]) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "mapcount", root / "mapcount")
    shutil.copytree(TEMPLATES / "lazyfree", root / "lazyfree")
    toml = root / "lazyfree" / "study.toml"
    text = toml.read_text()
    assert edit[0] in text
    toml.write_text(text.replace(edit[0], edit[1], 1))
    return root


def refused(root: Path, *, at: str | None = None) -> UserError:
    with pytest.raises(UserError) as err:
        st = study.load(root, "lazyfree")
        if at:
            places(st)
    assert str(root / "lazyfree" / "study.toml") in str(err.value)  # the file is named
    assert err.value.hint
    return err.value


def test_two_targets_with_one_name_are_refused(tmp_path):
    err = refused(broken(tmp_path, ('name = "pmd handler"', 'name = "pte walk"')))
    assert "two targets named 'pte walk' (targets 1 and 2)" in str(err) and "`name` of its own" in err.hint


def test_a_study_with_no_target_is_refused(tmp_path):
    root = broken(tmp_path, ("[[targets]]", "[[nottargets]]"))
    err = refused(root)  # an unknown table: the nearest known one is named
    assert "unknown key `nottargets`" in str(err) and "Did you mean `targets`?" in err.hint
    toml = root / "lazyfree" / "study.toml"
    text = toml.read_text()
    toml.write_text(text[:text.index("[[nottargets]]")] + text[text.index("[roles."):])
    err = refused(root)
    assert "names no target" in str(err) and "[[targets]]" in err.hint


def test_a_target_whose_function_is_not_there_is_refused(tmp_path):
    err = refused(broken(tmp_path, ('function = "madvise_free_huge_pmd"', 'function = "madvise_free_huge_pud"')),
                  at="v6.12")
    assert "no function madvise_free_huge_pud()" in str(err) and "target 'pmd handler'" in str(err)


def test_a_form_that_cannot_match_is_refused_at_load(tmp_path):
    err = refused(broken(tmp_path, ('"total_mapcount($x) != 1",', '"total_mapcount($x != 1",')))
    assert "can match nothing: a '(' is not closed" in str(err)
    err = refused(broken(tmp_path / "b", ('"total_mapcount($x) != 1",', '"!= 1",')))
    assert "calls no function" in str(err)


def test_forms_that_match_nothing_in_a_target_are_refused_at_the_base(tmp_path):
    root = broken(tmp_path, ('roles = ["pmd"]', 'roles = ["pmd"]\nforms = ["totl_mapcount($x) != 1"]'))
    err = refused(root, at="v6.12")
    assert "no form of target 'pmd handler' matches anything in madvise_free_huge_pmd()" in str(err)
    assert "totl_mapcount($x) != 1" in err.hint


def test_a_target_naming_an_undefined_role_is_refused(tmp_path):
    err = refused(broken(tmp_path, ('roles = ["pmd"]', 'roles = ["pdm"]')))
    assert "names role(s) pdm" in str(err) and "pte_large" in err.hint


def test_mapcount_is_still_one_target_read_from_its_study_section():
    st = study.load(TEMPLATES, "mapcount")
    (t,) = st.targets
    assert (t.name, t.file, t.function) == ("madvise_cold_or_pageout_pte_range", "mm/madvise.c",
                                            "madvise_cold_or_pageout_pte_range")
    assert [r.name for r in t.roles] == ["pmd", "pte_final", "pte_large"]


def test_a_block_rendered_alone_uses_the_most_derived_blocks_inside_it():
    st = lazyfree()
    env = render.environment(st)
    cover = render.load_template(env, "series/cover.j2")  # lazyfree's, extending mapcount's
    ctx = {"subject": "s", "variant": "v", "base": "v6.12", "kernelversion": "6.12", "function": "f",
           "functions": ["madvise_free_pte_range", "madvise_free_huge_pmd"], "variants": [], "approximate": [],
           "table": "", "run_id": "", "probe_table": "t", "patches": []}
    body = render.render_block(cover, "body", ctx)
    assert body.startswith("MADV_FREE asks, at three places in two functions")  # lazyfree's intro
    assert "MADV_FREE probe (what each variant does" in body and "Sharing probe" not in body
    assert "No matrix run exists yet for v6.12" in body  # the rest is mapcount's
