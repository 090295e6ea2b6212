"""Call-site detection for every row of KERNEL-FACTS' table, on small C files of that shape."""
from __future__ import annotations

import pytest
from kernelfake import SHAPES

from workbench.errors import UserError
from workbench.settings import PROJECT_ROOT
from workbench.study import csrc, sites
from workbench.study import model as study

STUDY = study.load(PROJECT_ROOT / "templates", "mapcount")

# (shape, [(role, expression at the base)], page name on the PMD path, folio name on the PTE paths)
ROWS = [
    ("v6.1", [("pmd", "page_mapcount(page) != 1"), ("pte_large", "page_mapcount(page) != 1"),
              ("pte_final", "page_mapcount(page) != 1")], "page", "page_folio(page)"),
    ("v6.3", [("pmd", "folio_mapcount(folio) != 1"), ("pte_large", "folio_mapcount(folio) != 1"),
              ("pte_final", "folio_mapcount(folio) != 1")], "pmd_page(orig_pmd)", "folio"),
    ("v6.5", [("pmd", "folio_estimated_sharers(folio) != 1"), ("pte_large", "folio_estimated_sharers(folio) != 1"),
              ("pte_final", "folio_mapcount(folio) != 1")], "pmd_page(orig_pmd)", "folio"),
    ("v6.9", [("pmd", "folio_estimated_sharers(folio) != 1"), ("pte_large", "folio_estimated_sharers(folio) > 1"),
              ("pte_final", "folio_mapcount(folio) != 1")], "pmd_page(orig_pmd)", "folio"),
    ("v6.10", [("pmd", "folio_likely_mapped_shared(folio)"), ("pte_large", "folio_likely_mapped_shared(folio)"),
               ("pte_final", "folio_mapcount(folio) != folio_nr_pages(folio)")], "pmd_page(orig_pmd)", "folio"),
    ("v6.15", [("pmd", "folio_maybe_mapped_shared(folio)"), ("pte_large", "folio_maybe_mapped_shared(folio)"),
               ("pte_final", "folio_mapcount(folio) != folio_nr_pages(folio)")], "pmd_page(orig_pmd)", "folio"),
]


@pytest.mark.parametrize("shape,expected,pmd_page,pte_folio", ROWS, ids=[r[0] for r in ROWS])
def test_every_shape_gives_three_sites_with_roles(shape, expected, pmd_page, pte_folio):
    text = (SHAPES / f"{shape}.c").read_text()
    located = sites.locate(STUDY, text, shape)
    assert [(s.role.name, " ".join(s.text.split())) for s in located.sites] == expected
    by_role = {s.role.name: s for s in located.sites}
    assert by_role["pmd"].names["page"] == pmd_page
    assert by_role["pte_final"].names["folio"] == pte_folio
    for s in located.sites:  # offsets point at the expression in the original text
        assert text[s.start:s.end] == s.text
        assert text.count("\n", 0, s.start) + 1 == s.line


def test_decoys_in_comments_strings_and_sibling_functions_are_ignored():
    text = (SHAPES / "v6.3.c").read_text()
    assert text.count("folio_mapcount(folio) != 1") == 5  # 3 sites + sibling + string
    located = sites.locate(STUDY, text, "v6.3")
    assert len(located.sites) == 3
    masked = csrc.mask(text)
    assert "folio_mapcount(folio) != 1 in a string" not in masked
    assert len(masked) == len(text)


def test_multiline_condition_is_one_site_with_the_final_role():
    text = (SHAPES / "v6.10.c").read_text()
    final = [s for s in sites.locate(STUDY, text, "v6.10").sites if s.role.name == "pte_final"]
    assert len(final) == 1 and "\n" not in final[0].text


def test_missing_function_names_the_file_and_function():
    with pytest.raises(UserError) as err:
        sites.locate(STUDY, "int main(void) { return 0; }\n", "variant folio_mapcount, mapcount at v9.9")
    msg = str(err.value)
    assert "madvise_cold_or_pageout_pte_range" in msg and "mm/madvise.c" in msg and "v9.9" in msg


def test_no_call_site_lists_the_forms_searched():
    text = (SHAPES / "v6.10.c").read_text()
    for form in ("folio_likely_mapped_shared(folio)", "folio_mapcount(folio) != folio_nr_pages(folio)"):
        text = text.replace(form, "false")
    with pytest.raises(UserError) as err:
        sites.locate(STUDY, text, "mapcount at v6.10")
    msg = str(err.value)
    assert "no form of target" in msg and "matches anything" in msg and "folio_maybe_mapped_shared($x)" in msg
    assert "v6.10" in msg and "mm/madvise.c" in msg


def test_site_of_unknown_role_is_an_error():
    text = (SHAPES / "v6.10.c").read_text().replace(
        "\t\tfolio_clear_referenced(folio);", "\t\tif (folio_likely_mapped_shared(folio))\n\t\t\tcontinue;")
    with pytest.raises(UserError, match="cannot tell its role"):
        sites.locate(STUDY, text, "v6.10")


def test_insertion_point_is_above_the_function_and_its_comment():
    text = "int a;\n\n/*\n * doc\n */\nstatic int f(void)\n{\n\treturn 0;\n}\n"
    masked = csrc.mask(text)
    func = csrc.find_function(masked, "f")
    at = csrc.insertion_point(text, masked, func)
    assert text[at:].startswith("/*\n * doc")


def test_declared_names_reads_parameters_and_locals():
    text = (SHAPES / "v6.1.c").read_text()
    masked = csrc.mask(text)
    func = csrc.find_function(masked, "madvise_cold_or_pageout_pte_range")
    names = csrc.declared_names(masked, func)
    assert {"pmd", "addr", "walk", "page", "ptent", "orig_pmd", "pte", "orig_pte"} <= names
    assert "folio" not in names


def test_a_name_has_a_value_at_a_site_only_when_set_above_it():
    """A local declared `= NULL` and set below the site (v6.1's hpage_collapse_scan_pmd() sets
    `folio = page_folio(page)` below its sharing check) has no value there: a variant naming it
    would read NULL, or the previous iteration's folio."""
    text = ("static int f(struct vm_area_struct *vma, pte_t *pte)\n{\n\tstruct page *page = NULL;\n"
            "\tstruct folio *folio = NULL;\n\tstruct x *p = NULL;\n\tfor (;;) {\n"
            "\t\tpage = vm_normal_page(vma, 0, *pte);\n\t\tp->other = 1;\n\t\tif (page == NULL)\n"
            "\t\t\tbreak;\n\t\tSITE;\n\t\tfolio = page_folio(page);\n\t}\n\treturn 0;\n}\n")
    masked = csrc.mask(text)
    func = csrc.find_function(masked, "f")
    assert csrc.valued_names(masked, func, text.index("SITE")) == {"vma", "pte", "page"}
    assert "folio" in csrc.valued_names(masked, func, text.index("}\n\treturn"))


def test_form_regex_allows_free_whitespace_and_checks_repeated_variables():
    form = study.Form.parse("folio_mapcount($x) != folio_nr_pages($x)")
    assert form.regex.search("folio_mapcount( folio )\n\t != folio_nr_pages(folio)")
    assert not form.regex.search("folio_mapcount(folio) != folio_nr_pages(other)")
    assert not study.Form.parse("folio_mapcount($x) != 1").regex.search("folio_mapcount(folio) != 10")
