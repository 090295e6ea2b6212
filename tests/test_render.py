"""What each variant writes at each site (KERNEL-FACTS' second table), prototypes, template errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kernelfake import HEADERS, SHAPES

from workbench.errors import UserError
from workbench.settings import PROJECT_ROOT
from workbench.study import model as study
from workbench.study import render, sites

STUDY = study.load(PROJECT_ROOT / "templates", "mapcount")

EXPECT = {  # variant -> predicate template, with F = the folio and P = the page mapped there
    "folio_mapcount": "folio_mapcount(F) != 1",
    "page_mapcount": "page_mapcount(P) != 1",
    "folio_estimated_sharers": "folio_estimated_sharers(F) != 1",
    "folio_maybe_mapped_shared": "folio_maybe_mapped_shared(F)",
}


def fake_has(headers: str) -> render.Has:
    present = set(HEADERS[headers])
    return render.Has({}, lambda names: {n: n in present for n in names})


def render_shape(shape: str, variant: str, headers: str | None = None, st: study.Study = STUDY) -> render.Rendered:
    text = (SHAPES / f"{shape}.c").read_text()
    located = sites.locate(st, text, shape)
    ctx = {"where": f"{variant} at {shape}", "base": shape, "kernelversion": "6.x", "function": st.function,
           "file": st.file, "study": st.name}
    return render.render_variant(st, located, st.variant(variant), fake_has(headers or shape), ctx)


@pytest.mark.parametrize("shape", ["v6.1", "v6.3", "v6.10", "v6.15"])
@pytest.mark.parametrize("variant", list(EXPECT))
def test_each_variant_writes_the_tables_predicate_at_every_site(shape, variant):
    r = render_shape(shape, variant)
    located = sites.locate(STUDY, r.text, shape) if not r.same_as_base else None
    base_sites = sites.locate(STUDY, (SHAPES / f"{shape}.c").read_text(), shape).sites
    for s in base_sites:
        want = EXPECT[variant].replace("F", s.names["folio"]).replace("P", s.names["page"])
        if r.same_as_base:
            assert " ".join(s.text.split()) == want
        else:
            assert want in r.text, (s.role.name, want)
    if located:
        assert len(located.sites) == 3  # the rewritten code is still recognised


def test_same_as_base_where_the_code_comes_out_identical():
    assert render_shape("v6.1", "page_mapcount").same_as_base
    assert render_shape("v6.3", "folio_mapcount").same_as_base
    assert not render_shape("v6.3", "page_mapcount").same_as_base
    assert not render_shape("v6.15", "folio_maybe_mapped_shared").same_as_base  # final check differs


def test_page_variant_names_the_mapped_page_not_a_stand_in():
    r = render_shape("v6.10", "page_mapcount", headers="v6.12")
    assert "page_mapcount(pmd_page(orig_pmd)) != 1" in r.text
    assert r.text.count("page_mapcount(pte_page(ptent)) != 1") == 2


def test_folio_is_derived_from_the_page_where_the_base_has_no_folio():
    r = render_shape("v6.1", "folio_mapcount")
    assert r.text.count("folio_mapcount(page_folio(page)) != 1") == 3


def test_final_check_keeps_the_rest_of_the_condition():
    r = render_shape("v6.10", "folio_mapcount")
    assert "if (!folio_test_lru(folio) ||\n\t\t    folio_mapcount(folio) != 1)\n\t\t\tcontinue;" in r.text
    r = render_shape("v6.1", "folio_estimated_sharers")
    assert "if (!PageLRU(page) || folio_estimated_sharers(page_folio(page)) != 1)\n\t\t\tcontinue;" in r.text


@pytest.mark.parametrize("shape,headers,variant,expected", [
    ("v6.1", "v6.1", "folio_maybe_mapped_shared", [("folio_maybe_mapped_shared", "approximate")]),
    ("v6.1", "v6.1", "folio_estimated_sharers", []),  # Debian 6.1 carries the backport
    ("v6.10", "v6.10", "folio_estimated_sharers", [("folio_estimated_sharers", "exact")]),
    ("v6.10", "v6.10", "page_mapcount", []),
    ("v6.10", "v6.12", "page_mapcount", [("page_mapcount", "exact")]),
    ("v6.10", "v6.12", "folio_maybe_mapped_shared", [("folio_maybe_mapped_shared", "approximate")]),
    ("v6.15", "v6.15", "folio_maybe_mapped_shared", []),
    ("v6.3", "v6.3", "folio_mapcount", []),
])
def test_prototypes_follow_what_the_base_declares(shape, headers, variant, expected):
    r = render_shape(shape, variant, headers)
    assert [(p.name, p.accuracy) for p in r.prototypes] == expected
    for name, _ in expected:
        assert r.text.count(f" {name}(struct ") == 1  # one definition, above the function
        assert r.text.index(f" {name}(struct ") < r.text.index("madvise_cold_or_pageout_pte_range(")
    assert r.approximate == any(a == "approximate" for _, a in expected)


def test_prototype_is_written_against_the_base():
    with_type_check = render_shape("v6.10", "page_mapcount", headers="v6.12").text
    assert "page_mapcount_is_type(mapcount)" in with_type_check
    sharers_on_page_mapcount = render_shape("v6.10", "folio_estimated_sharers", headers="v6.10").text
    assert "return page_mapcount(folio_page(folio, 0));" in sharers_on_page_mapcount
    sharers_on_6_12 = render_shape("v6.10", "folio_estimated_sharers", headers="v6.12").text
    assert "page_mapcount(" not in sharers_on_6_12.split("madvise_cold_or_pageout_pte_range")[0]


def test_prototype_comments_state_the_guarantees():
    text = render_shape("v6.10", "folio_maybe_mapped_shared", headers="v6.12").text
    head = text.split("static inline bool folio_maybe_mapped_shared")[0]
    assert "APPROXIMATE" in head and "False negatives" in head and "False positives" in head


def test_commit_message_has_subject_body_and_sites():
    r = render_shape("v6.10", "folio_maybe_mapped_shared", headers="v6.12")
    assert r.subject.startswith("mm/madvise:")
    msg = r.message("A U Thor <a@example.org>")
    assert msg.endswith("Signed-off-by: A U Thor <a@example.org>\n")
    assert "prototype (approximate)" in msg and "PTE final check" in msg
    assert all(len(line) <= 75 for line in msg.splitlines()[2:])


def test_no_prototype_fits_is_a_clear_error():
    st = STUDY
    r = lambda: render_shape("v6.10", "folio_maybe_mapped_shared", headers="v6.12", st=st)
    hollow = dict(HEADERS)
    HEADERS["bare"] = ["page_folio", "folio_page"]
    try:
        with pytest.raises(UserError, match="none of the study's prototypes fits"):
            render_shape("v6.10", "folio_maybe_mapped_shared", headers="bare")
    finally:
        HEADERS.clear()
        HEADERS.update(hollow)
    assert r().prototypes


def copy_study(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates" / "mapcount", root / "mapcount")
    return root


def test_template_syntax_error_names_file_and_line(tmp_path):
    root = copy_study(tmp_path)
    path = root / "mapcount" / "variants" / "page_mapcount.j2"
    lines = path.read_text().splitlines()
    lines[2] = "{% block pmd %}page_mapcount({{ page }) != 1{% endblock %}"
    path.write_text("\n".join(lines) + "\n")
    st = study.load(root, "mapcount")
    with pytest.raises(UserError) as err:
        render_shape("v6.10", "page_mapcount", st=st)
    assert "page_mapcount.j2:3" in str(err.value)


def test_template_undefined_variable_names_file_and_line(tmp_path):
    root = copy_study(tmp_path)
    path = root / "mapcount" / "variants" / "folio_mapcount.j2"
    text = path.read_text().replace("{% block pte_final %}folio_mapcount({{ folio }})",
                                    "{% block pte_final %}folio_mapcount({{ folioo }})")
    path.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "folioo" in l)
    st = study.load(root, "mapcount")
    with pytest.raises(UserError) as err:
        render_shape("v6.10", "folio_mapcount", st=st)
    assert f"folio_mapcount.j2:{line}" in str(err.value) and "folioo" in str(err.value)


def test_adding_a_variant_is_a_template_and_one_line(tmp_path):
    root = copy_study(tmp_path)
    (root / "mapcount" / "variants" / "always_shared.j2").write_text(
        "{% block pmd %}true{% endblock %}{% block pte_large %}true{% endblock %}"
        "{% block pte_final %}true{% endblock %}{% block subject %}mm/madvise: never page out{% endblock %}"
        "{% block body %}Treat every folio as shared.{% endblock %}")
    toml = root / "mapcount" / "study.toml"
    toml.write_text(toml.read_text().replace("[variants]\n", '[variants]\nalways_shared = "variants/always_shared.j2"\n'))
    st = study.load(root, "mapcount")
    r = render_shape("v6.10", "always_shared", st=st)
    assert r.text.count("if (true)") == 2 and not r.prototypes


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(UserError, match="folio_mapcount"):
        STUDY.variant("nope")


BACKPORTED = ("approximate: v6.10's folio_likely_mapped_shared(), backported: it misses MMs that map disjoint "
              "parts, and its folio_mapcount() walks every page here (a cost mark is the prototype's)")


@pytest.mark.parametrize("shape,headers,label", [
    ("v6.10", "v6.12", "approximate: the base's own folio_likely_mapped_shared() under another name, at every site"),
    ("v6.1", "v6.1", BACKPORTED),
    ("v6.5", "v6.3", BACKPORTED),  # the v6.5 - v6.8 helper shapes (not run on real trees of those versions)
    ("v6.9", "v6.3", BACKPORTED),
])
def test_an_approximate_column_says_what_it_computes_and_its_message_claims_no_more(shape, headers, label):
    r = render_shape(shape, "folio_maybe_mapped_shared", headers=headers)
    assert r.label == label
    body = r.message("A U Thor <a@example.org>")
    flat = body.replace("\n", " ")
    assert "no false negatives" not in body and "misses sharing where processes map disjoint parts" in flat
    # issue 32.5: what the column computes at this base, and whose cost a mark would be
    assert "a difference in cost in this column is the prototype's, not upstream's" in flat
    exact = render_shape("v6.15", "folio_maybe_mapped_shared", headers="v6.15")
    assert exact.label == "" and "no false negatives" in exact.message("A <a@b>").replace("\n", " ")


def test_the_first_page_estimate_says_where_it_is_wrong_and_never_claims_it_is_always_right():
    """Issue 32.5: its message said "right for exclusive THPs however they are mapped", then that an
    exclusive folio whose first page is not mapped reads as shared."""
    for at in ("v6.1", "v6.10"):
        body = render_shape(at, "folio_estimated_sharers").message("A U Thor <a@example.org>").replace("\n", " ")
        assert "however they are mapped" not in body
        assert "exact for small folios and for a PMD-mapped THP" in body and "false positive" in body
