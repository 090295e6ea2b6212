"""Forms' polarity and sites fitted to their code (issue 31): a variant's predicate answers the
study's question ("shared?"), and at a site that asks it negated (`!folio_likely_mapped_shared()`,
v6.12's mm/mempolicy.c and mm/rmap.c) or asks the opposite (`page_mapcount(page) == 1`,
"exclusive?", v6.1's mm/mempolicy.c) it is written so that the code means what it meant. The C is
the real code of those bases (tests/data/polarity/), the study a sketch of the NUMA study."""
from __future__ import annotations

from pathlib import Path

import pytest
from kernelfake import DATA

from workbench.errors import UserError
from workbench.mutants import generate
from workbench.settings import PROJECT_ROOT
from workbench.study import cexpr, render, sites
from workbench.study import model as study
from workbench.study.forms import Polarity

TEMPLATES = PROJECT_ROOT / "templates"
CODE = DATA / "polarity"
SKETCH = DATA / "studies" / "numa_sketch"
FILES = {("v6.12", "mm/mempolicy.c"): "v6.12-mempolicy.c", ("v6.12", "mm/rmap.c"): "../observe/v6.12/mm/rmap.c",
         ("v6.1", "mm/mempolicy.c"): "v6.1-mempolicy.c"}
FUNCTIONS = {"v6.12": ("migrate_folio_add", "queue_folios_hugetlb", "folio_referenced_one"),
             "v6.1": ("migrate_folio_add", "queue_pages_hugetlb")}
EVERYTHING = render.Has({}, lambda names: dict.fromkeys(names, True))  # no prototypes: the text alone


def sketch(toml: str | None = None, tmp: Path | None = None) -> study.Study:
    if toml is None:
        return study.load(TEMPLATES, str(SKETCH))
    assert tmp is not None
    folder = tmp / "numa_sketch"
    folder.mkdir(exist_ok=True)
    (folder / "study.toml").write_text(toml)
    return study.load(TEMPLATES, str(folder))


def places(st: study.Study, base: str) -> list[sites.Located]:
    return [sites.locate(st, (CODE / FILES[base, t.file]).read_text(), base, t)
            for t in st.targets if t.function in FUNCTIONS[base]]


def rendered(st: study.Study, base: str, variant: str) -> dict[str, str]:
    ctx = {"where": f"{variant} at {base}", "base": base, "kernelversion": base, "function": st.function,
           "file": st.file, "functions": st.functions, "study": st.name}
    return render.render_variant(st, places(st, base), st.variant(variant), EVERYTHING, ctx).files


def test_the_forms_say_their_polarity_and_a_site_after_a_bang_is_negated():
    found = {s.function: s for p in places(sketch(), "v6.12") for s in p.sites}
    assert set(found) == set(FUNCTIONS["v6.12"])
    for s in found.values():
        assert (s.polarity, s.context.negated, s.asks_opposite) == (Polarity.SAME, True, True)
    old = [s for p in places(sketch(), "v6.1") for s in p.sites]
    assert [(s.text, s.polarity, s.context.negated, s.asks_opposite) for s in old] == [
        ("folio_estimated_sharers(folio) == 1", Polarity.OPPOSITE, False, True),
        ("page_mapcount(page) == 1", Polarity.OPPOSITE, False, True)]


def test_v612_negated_sites_get_the_predicate_in_parentheses():
    out = rendered(sketch(), "v6.12", "folio_mapcount")
    assert "if ((flags & MPOL_MF_MOVE_ALL) || !(folio_mapcount(folio) != 1)) {" in out["mm/mempolicy.c"]
    assert "(!(folio_mapcount(folio) != 1) && !hugetlb_pmd_shared(pte)))" in out["mm/mempolicy.c"]
    assert "folio_test_swapbacked(folio) &&\n\t\t    !(folio_mapcount(folio) != 1)) {" in out["mm/rmap.c"]
    assert "!folio_mapcount" not in "".join(out.values())  # what pasting wrote: (!folio_mapcount(folio)) != 1


def test_a_call_needs_no_parentheses_after_a_bang():
    out = rendered(sketch(), "v6.12", "folio_maybe_mapped_shared")
    assert "|| !folio_maybe_mapped_shared(folio)) {" in out["mm/mempolicy.c"]
    assert "!folio_maybe_mapped_shared(folio)) {" in out["mm/rmap.c"]


def test_v61_exclusive_sites_get_the_predicate_negated():
    out = rendered(sketch(), "v6.1", "folio_mapcount")["mm/mempolicy.c"]
    assert "(flags & MPOL_MF_MOVE && folio_mapcount(page_folio(page)) == 1 &&" in out
    assert "if ((flags & MPOL_MF_MOVE_ALL) || folio_mapcount(folio) == 1) {" in out
    out = rendered(sketch(), "v6.1", "page_mapcount")["mm/mempolicy.c"]
    assert out == (CODE / "v6.1-mempolicy.c").read_text().replace(  # the base's own check, where it is
        "folio_estimated_sharers(folio) == 1", "page_mapcount(folio_page(folio, 0)) == 1")
    out = rendered(sketch(), "v6.1", "folio_maybe_mapped_shared")["mm/mempolicy.c"]
    assert "(flags & MPOL_MF_MOVE && !folio_maybe_mapped_shared(page_folio(page)) &&" in out
    assert "|| !folio_maybe_mapped_shared(folio)) {" in out


def _mutant(st: study.Study, base: str, site_at: int, body: str, tmp: Path) -> dict[str, str]:
    """A mutant of the sketch as workbench/mutants makes it: `body` at one site, the original elsewhere."""
    located = places(st, base)
    site = [s for p in located for s in p.sites][site_at]
    path = tmp / "mutant.j2"
    path.write_text(generate._template(["pmd", "pte_large", "pte_final"], site, site.role.name, body, "m: test"))
    return rendered(st.with_variant("m", path, "test"), base, "m")


@pytest.mark.parametrize("base", ["v6.1", "v6.12"])
def test_mutants_go_through_the_same_path(base, tmp_path):
    st = sketch()
    text = {f: (CODE / FILES[base, f]).read_text() for f in st.files if (base, f) in FILES}
    every = [s for p in places(st, base) for s in p.sites]
    assert _mutant(st, base, 0, "{{ original }}", tmp_path) == text  # the original, given in the study's
    # polarity, comes back as the code has it, at opposite and negated sites alike
    out = _mutant(st, base, 0, "!({{ original }})", tmp_path)[every[0].file]  # the `negate` operator
    written = {"v6.1": "|| folio_estimated_sharers(folio) != 1) {",
               "v6.12": "|| !!(folio_likely_mapped_shared(folio))) {"}[base]
    assert written in out and out.replace(written, "") == text[every[0].file].replace(
        f"|| {'!' if base == 'v6.12' else ''}{every[0].text}) {{", "")
    out = _mutant(st, base, 0, "{{ original }} /* A/A */", tmp_path)[every[0].file]
    assert f"{every[0].text} /* A/A */" in out
    assert out.replace(" /* A/A */", "") == text[every[0].file]
    out = _mutant(st, base, 0, "true", tmp_path)[every[0].file]  # "always shared": not migrated, either way
    assert "|| !true) {" in out


def test_a_form_that_begins_with_a_bang_must_say_its_polarity(tmp_path):
    toml = (SKETCH / "study.toml").read_text().replace(
        '    "folio_likely_mapped_shared($x)",\n', '    "!folio_likely_mapped_shared($x)",\n')
    st = sketch(toml, tmp_path)
    with pytest.raises(UserError) as err:
        rendered(st, "v6.12", "folio_mapcount")
    text = str(err.value)
    assert "mm/mempolicy.c:58" in text and "'!folio_likely_mapped_shared($x)'" in text
    assert "declares no polarity" in text and "polarity = \"opposite\"" in text
    st = sketch(toml.replace('"!folio_likely_mapped_shared($x)"',
                             '{ form = "!folio_likely_mapped_shared($x)", polarity = "opposite" }'), tmp_path)
    out = rendered(st, "v6.12", "folio_mapcount")
    assert "|| folio_mapcount(folio) == 1) {" in out["mm/mempolicy.c"]
    assert "&&\n\t\t    folio_mapcount(folio) == 1) {" in out["mm/rmap.c"]


@pytest.mark.parametrize("code,refused", [
    ("if (x || ~folio_likely_mapped_shared(folio))", "between `~` and `)`"),
    ("if ((bool)folio_likely_mapped_shared(folio))", "between `)` and `)`"),
    ("if (p->folio_likely_mapped_shared(folio))", "between `->` and `)`"),
    ("if (folio_likely_mapped_shared(folio) = x)", "between `(` and `=`"),
])
def test_a_site_whose_surroundings_are_not_understood_is_refused(code, refused, tmp_path):
    st = sketch()
    text = "static bool migrate_folio_add(struct folio *folio)\n{\n\t" + code + "\n\t\treturn true;\n}\n"
    located = sites.locate(st, text, "test", st.targets[0])
    with pytest.raises(UserError) as err:
        render.render_variant(st, located, st.variant("folio_mapcount"), EVERYTHING,
                              {"where": "test", "base": "b", "kernelversion": "6", "function": "f", "file": "x",
                               "functions": [], "study": st.name})
    assert refused in str(err.value) and "mm/mempolicy.c:3" in str(err.value)


@pytest.mark.parametrize("code,written", [
    ("x == folio_likely_mapped_shared(folio)", "x == (folio_mapcount(folio) != 1)"),
    ("folio_likely_mapped_shared(folio) < 1", "(folio_mapcount(folio) != 1) < 1"),
    ("a && folio_likely_mapped_shared(folio) || b", "a && folio_mapcount(folio) != 1 || b"),
    ("a ? folio_likely_mapped_shared(folio) : b", "a ? folio_mapcount(folio) != 1 : b"),
    ("return folio_likely_mapped_shared(folio)", "return folio_mapcount(folio) != 1"),
])
def test_parentheses_where_the_neighbours_bind_tighter(code, written):
    st = sketch()
    text = "static bool migrate_folio_add(struct folio *folio)\n{\n\t" + code + ";\n}\n"
    located = sites.locate(st, text, "test", st.targets[0])
    r = render.render_variant(st, located, st.variant("folio_mapcount"), EVERYTHING,
                              {"where": "t", "base": "b", "kernelversion": "6", "function": "f", "file": "x",
                               "functions": [], "study": st.name})
    assert f"\t{written};\n" in r.text


def test_a_block_that_writes_no_expression_names_the_template(tmp_path):
    st = sketch()
    bad = tmp_path / "bad.j2"
    bad.write_text("{% block pte_final %}folio_mapcount({{ folio }}) !={% endblock %}")
    with pytest.raises(UserError) as err:
        rendered(st.with_variant("bad", bad, "test"), "v6.12", "bad")
    assert "bad.j2" in str(err.value) and "ends with an operator" in str(err.value)
    bad.write_text("{% block pte_final %}folio_mapcount({{ folio }}) != 1 // why{% endblock %}")
    with pytest.raises(UserError, match="// comment"):
        rendered(st.with_variant("bad", bad, "test"), "v6.12", "bad")


@pytest.mark.parametrize("entry,problem", [
    ('{ form = "page_mapcount($x) == 1", polarity = "exclusive" }', "neither"),
    ('{ form = "page_mapcount($x) == 1", polarty = "opposite" }', "polarty"),
    ('{ polarity = "opposite" }', "has no `form`"),
])
def test_a_wrong_form_table_is_refused(entry, problem, tmp_path):
    toml = (SKETCH / "study.toml").read_text().replace('    "folio_likely_mapped_shared($x)",\n', f"    {entry},\n")
    with pytest.raises(UserError, match=problem):
        sketch(toml, tmp_path)


@pytest.mark.parametrize("expr,level", [
    ("f(x)", 1), ("(a != b)", 1), ("!f(x)", 2), ("(bool)x", 2), ("a != b", 7), ("a & b == c", 8),
    ("a || b && c", 12), ("a ? b : c", 13), ("f(a, b) /* c */", 1), ("p->q[1]", 1), ("-x * y", 3)])
def test_level_is_the_loosest_operator_outside_brackets(expr, level):
    assert cexpr.level(expr) == level


@pytest.mark.parametrize("expr,negated", [
    ("f(x)", "!f(x)"), ("a != b", "a == b"), ("!(a != b)", "a != b"), ("!f(x)", "f(x)"), ("a > 1", "a <= 1"),
    ("a < b == c", "a < b != c"), ("a == b && c", "!(a == b && c)"), ("a - 1", "!(a - 1)"),
    ("a == 1 /* A/A */", "a != 1 /* A/A */"), ("!(a) /* A/A */", "a /* A/A */"), ("!a || b", "!(!a || b)"),
    ("true", "!true")])
def test_negate(expr, negated):
    assert cexpr.negate(expr) == negated


def test_patches_says_where_the_code_asks_the_opposite():
    assert {s.asks for p in places(sketch(), "v6.12") for s in p.sites} == {
        "asks the opposite (a `!` before it)"}
    assert {s.asks for p in places(sketch(), "v6.1") for s in p.sites} == {
        "asks the opposite (its form's polarity)"}


def test_two_bangs_ask_what_the_form_asks():
    masked = "{ if (!!folio_likely_mapped_shared(folio)) }"
    start = masked.index("folio_likely")
    ctx = cexpr.context(masked, 0, start, masked.index(")) }"), len(masked))
    assert (ctx.negated, ctx.fits) == (False, cexpr.UNARY)
