"""A prototype whose answer depends on the kernel's config: its C (`#ifdef CONFIG_X`) and the study's
data (`[[helpers.<name>.configs]]`) agree, and the column's label is read from a built .config."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_render import render_shape

from workbench.errors import UserError
from workbench.records import Run, RunKind
from workbench.report.model import columns_of
from workbench.settings import PROJECT_ROOT
from workbench.study import configs
from workbench.study import model as study
from workbench.study.model import Accuracy, ConfigCase, Prototype

NO_PMC = "CONFIG_NO_PAGE_MAPCOUNT"


def test_page_mapcount_at_7_3_is_exact_by_default_and_approximate_without_per_page_mapcounts():
    r = render_shape("v7.3", "page_mapcount")
    [proto] = r.prototypes
    assert proto.accuracy is Accuracy.EXACT and [c.option for c in proto.configs] == [NO_PMC]
    assert "#ifdef CONFIG_NO_PAGE_MAPCOUNT" in proto.text and "APPROXIMATE with CONFIG_NO_PAGE_MAPCOUNT" in proto.text
    assert configs.under(r.prototypes, configs.options_of("CONFIG_TRANSPARENT_HUGEPAGE=y\n")) == \
        configs.Computes(Accuracy.EXACT, "")
    computes = configs.under(r.prototypes, configs.options_of(f"{NO_PMC}=y\n# CONFIG_PAGE_MAPCOUNT is not set\n"))
    assert computes.accuracy is Accuracy.APPROXIMATE
    assert "average page mapcount" in computes.label and computes.label.endswith(f"({NO_PMC}=y)")


def test_folio_estimated_sharers_is_refused_without_per_page_mapcounts_naming_the_option():
    r = render_shape("v7.3", "folio_estimated_sharers")
    assert "#error" in r.prototypes[0].text
    computes = configs.under(r.prototypes, {NO_PMC: "y"})
    assert computes.refused and NO_PMC in computes.label and "first page" in computes.label
    assert computes.to_json()["accuracy"] == "refused"


def test_a_base_without_the_option_gets_the_prototype_it_always_had():
    """6.12's Kconfig has no NO_PAGE_MAPCOUNT: no #ifdef, no config case, the same text as before."""
    r = render_shape("v6.10", "page_mapcount", headers="v6.12")
    assert "CONFIG_" not in r.prototypes[0].text and r.prototypes[0].configs == ()
    assert configs.under(r.prototypes, {NO_PMC: "y"}).accuracy is Accuracy.EXACT


def proto(*cases: ConfigCase, accuracy: Accuracy = Accuracy.EXACT) -> Prototype:
    return Prototype("helper", "helpers/h.c.j2", accuracy, (), "", configs=cases)


def test_the_prototypes_c_and_the_study_must_agree():
    text = "#ifdef CONFIG_FOO\n#error \"no\"\n#endif\nstatic inline int helper(void) { return 0; }\n"
    with pytest.raises(UserError, match=r"depends on CONFIG_FOO, and study.toml does not say") as exc:
        configs.applicable(proto(), text, "v9 at x", "study.toml")
    assert "[[helpers.helper.configs]]" in exc.value.hint
    refused = ConfigCase("CONFIG_FOO", None, "why")
    assert configs.applicable(proto(refused), text, "w", "s") == (refused,)
    with pytest.raises(UserError, match="has no #error"):
        configs.applicable(proto(refused), "#if IS_ENABLED(CONFIG_FOO)\n#endif\n", "w", "s")
    # a case whose option the C does not test (a base without it) does not apply there
    assert configs.applicable(proto(refused), "static int x;\n", "w", "s") == ()
    assert configs.conditional_options("#if defined(CONFIG_A) && !IS_ENABLED(CONFIG_B)\n  # elif CONFIG_C\n"
                                       "if (IS_ENABLED(CONFIG_D))\n") == ["CONFIG_A", "CONFIG_B", "CONFIG_C"]


def test_an_approximate_prototype_stays_approximate_and_module_options_count_as_set():
    approx = proto(ConfigCase("CONFIG_FOO", Accuracy.EXACT, "exact under foo"), accuracy=Accuracy.APPROXIMATE)
    assert configs.under([approx], {}).accuracy is Accuracy.APPROXIMATE
    assert configs.under([approx], {"CONFIG_FOO": "m"}) == configs.Computes(Accuracy.EXACT,
                                                                             "exact under foo (CONFIG_FOO=y)")


def copy_study(tmp_path: Path) -> Path:
    dest = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates" / "mapcount", dest / "mapcount")
    return dest


@pytest.mark.parametrize("entry, match", [
    ('option = "CONFIG_X"\n', "either `accuracy`"),
    ('option = "CONFIG_X"\naccuracy = "approximate"\nrefused = "no"\n', "either `accuracy`"),
    ('option = "NO_PAGE_MAPCOUNT"\nrefused = "no"\n', "not a Kconfig option's name"),
])
def test_a_bad_config_case_in_the_study_is_refused(tmp_path, entry, match):
    templates = copy_study(tmp_path)
    toml = templates / "mapcount" / "study.toml"
    text = toml.read_text().replace('[[helpers.folio_estimated_sharers.configs]]\noption = "CONFIG_NO_PAGE_MAPCOUNT"\n'
                                    'refused = "the first page\'s own mapcount, which it reads, is not kept for large '
                                    'folios"\n', "[[helpers.folio_estimated_sharers.configs]]\n" + entry)
    assert text != toml.read_text()
    toml.write_text(text)
    with pytest.raises(UserError, match=match):
        study.load(templates, "mapcount")


def test_columns_take_their_label_from_their_config():
    run = Run(dir=Path("/nonexistent"), kind=RunKind.MATRIX, base="v7.3", commit="c", kernelversion="7.3.4",
              study="mapcount", tests=["cow"], variants=["base", "page_mapcount", "folio_estimated_sharers"],
              command="invoke matrix", configs=["minimal", "minimal+no_page_mapcount"],
              per_config={"minimal+no_page_mapcount": {
                  "page_mapcount": {"accuracy": "approximate", "label": "approximate: average"},
                  "folio_estimated_sharers": {"accuracy": "refused", "label": "cannot"}},
                  "minimal": {"page_mapcount": {"accuracy": "exact", "label": ""}}})
    cols = {c.name: c for c in columns_of(run)}
    assert not cols["minimal/page_mapcount"].approximate and cols["minimal/page_mapcount"].computes == ""
    assert cols["minimal+no_page_mapcount/page_mapcount"].title == "minimal+no_page_mapcount/page_mapcount~"
    assert cols["minimal+no_page_mapcount/page_mapcount"].computes == "approximate: average"
    assert not cols["minimal+no_page_mapcount/folio_estimated_sharers"].approximate


def test_the_fragments_a_configs_name_adds_must_come_true(tmp_path):
    from workbench.kernel import fragments, kbuild

    config = kbuild.load_config("minimal+no_page_mapcount", [PROJECT_ROOT / "kbuild"], (),
                                (("kunit:damon", "CONFIG_DAMON_KUNIT_TEST=y\n"),))
    [(label, text)] = kbuild.axis(config)
    assert label == "kbuild/no_page_mapcount.config" and f"{NO_PMC}=y" in text
    # at a base whose Kconfig has no such option, allnoconfig leaves it unset: named, so the run is refused
    assert fragments.unmet_options(text, "CONFIG_TRANSPARENT_HUGEPAGE=y\n") == [f"{NO_PMC}=y (got not set)"]
    assert kbuild.axis(kbuild.load_config("minimal", [PROJECT_ROOT / "kbuild"])) == ()


def test_a_fragment_line_marked_where_the_base_has_it_applies_only_there():
    """numa.config serves 6.x and 7.x: NUMA_MIGRATION (new in 7.x, NUMA_BALANCING depends on it)
    is marked, so a 6.x base, which has no such option, is not refused for it; NO_PAGE_MAPCOUNT in
    no_page_mapcount.config is not marked, so a 6.x base still is."""
    from workbench.kernel import fragments

    numa = (PROJECT_ROOT / "kbuild" / "numa.config").read_text()
    assert fragments.optional(numa) == {"CONFIG_NUMA_MIGRATION"}
    assert fragments.optional((PROJECT_ROOT / "kbuild" / "no_page_mapcount.config").read_text()) == set()
    six = "CONFIG_NUMA=y\nCONFIG_X86_64_ACPI_NUMA=y\nCONFIG_MIGRATION=y\nCONFIG_NUMA_BALANCING=y\n" \
          "CONFIG_NUMA_BALANCING_DEFAULT_ENABLED=y\n"
    assert fragments.unmet_options(numa, six, {"CONFIG_NUMA_MIGRATION"}) == []
    assert fragments.unmet_options(numa, six) == ["CONFIG_NUMA_MIGRATION=y (got not set)"]
    assert fragments.optional(f"{fragments.WHERE_DECLARED}\n# why\nCONFIG_A=y\nCONFIG_B=y\n") == {"CONFIG_A"}
