"""The HTML report's pictures: the probe's verdicts as a colour grid and its cost rows as a chart
with intervals, inline SVG. On the real probe run (test_probe.probe_run), on the same TAP over
three boots (so a word changes between boots and the costs get intervals), and on tables built
by hand where a case needs a number the real captures do not have (a significant change)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_probe import REAL, VARIANTS, WORDS, probe_run

from workbench import report
from workbench.guest import tap
from workbench.records import CellResult, Run
from workbench.report import pictures
from workbench.report.extra import CostRow, ExtraTable, GridCell, GridRow
from workbench.report.stats import Comparison, Summary

SVG = "{http://www.w3.org/2000/svg}"


def probe_table(run: Run) -> ExtraTable:
    [table] = report.extra_tables(report.matrix_rows(run))
    return table


def three_boots(tmp_path: Path) -> Run:
    """base and folio_mapcount, three boots each, from the real 6.12 TAP; folio_mapcount's third
    boot is the base's TAP, so its words and times change between boots."""
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.118",
              study="mapcount", tests=["probe"], variants=VARIANTS[:2], command="invoke matrix --repeat 3",
              state="finished", accel="tcg", words={"probe": WORDS.to_json()})
    taps = {"base": ["base"] * 3, "folio_mapcount": ["folio_mapcount", "folio_mapcount", "base"]}
    for variant, names in taps.items():
        for repeat, name in enumerate(names):
            out = tap.parse((REAL / f"v6.12.118-{name}-probe.tap").read_text(), "probe", exit_code=1)
            run.cells.append(CellResult(identity=f"{variant}-{repeat}", base="v6.12", variant=variant, commit="c",
                                        status=out.status, tests={"probe": out}, repeat=repeat))
    return run


def by_hand(relative: bool = False) -> ExtraTable:
    grid = [GridRow("MADV_PAGEOUT exclusive PTE-mapped THP (16, 32 kB)",
                    (GridCell((("correct", 5),)), GridCell((("missed pageout", 5),)),
                     GridCell((("correct", 4), ("missed pageout", 1))))),
            GridRow("MADV_COLD THP mapped in disjoint halves, parent first, child second, and a name long "
                    "enough to need three lines (16, 32, 64, 128, 256, 512, 1024, 2048 kB)",
                    (GridCell((("wrong deactivation", 5),)), GridCell((("skipped", 5),)), GridCell(()))),
            ]
    costs = [CostRow("MADV_PAGEOUT 1024 MiB PTE-mapped THP (2048 kB)", "ms",
                     (Summary(5, 650.0, 640.0, 660.0, 641.0, 659.0), Summary(5, 2.0, 1.8, 2.2, 1.7, 2.4),
                      Summary(5, 655.0, 650.0, 661.0, 646.0, 664.0)),
                     (None, Comparison(-99.7, -99.8, -99.6, 0.008, 0.016, True),
                      Comparison(0.8, -1.0, 2.5, 0.6, 1.0, False)))]
    return ExtraTable("probe: by hand", ["scenario", "base", "folio_mapcount", "folio_maybe_mapped_shared~"], [],
                      marks={"correct": "good", "missed pageout": "warn", "wrong deactivation": "bad"},
                      grid=grid, costs=costs, columns=["base", "folio_mapcount", "folio_maybe_mapped_shared~"],
                      relative_only=relative)


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    return ET.fromstring(svg)


def fill(root: ET.Element, gid: str) -> str:
    """The fill colour of the patch in group `gid` (a hatched patch: its pattern's background)."""
    [group] = [g for g in root.iter(f"{SVG}g") if g.get("id") == gid]
    style = group.find(f"{SVG}path").get("style")
    colour = re.search(r"fill: ([^;]+)", style).group(1)
    hatch = re.fullmatch(r"url\(#(\w+)\)", colour)
    if hatch:
        [pattern] = [p for p in root.iter(f"{SVG}pattern") if p.get("id") == hatch.group(1)]
        return pattern.find(f"{SVG}rect").get("fill")
    return colour


def cells(root: ET.Element) -> list[str]:
    return [g.get("id") for g in root.iter(f"{SVG}g") if re.fullmatch(r"cell-\d+-\d+", g.get("id") or "")]


def text_of(root: ET.Element) -> str:
    return " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def test_grid_has_one_cell_per_scenario_and_column_coloured_by_its_mark(tmp_path):
    table = probe_table(probe_run(tmp_path))
    root = parse(pictures.grid_svg(table))
    assert len(cells(root)) == len(table.grid) * len(VARIANTS) == 39 * 5
    seen = set()
    for i, row in enumerate(table.grid):
        for j, cell in enumerate(row.cells):
            mark = table.marks.get(cell.word, "none")
            assert fill(root, f"cell-{i}-{j}") == pictures.COLOURS[mark], (row.scenario, j, cell.word)
            seen.add(mark)
    assert seen == {"good", "warn", "harm", "bad", "none"}  # correct, missed, split, wrong, skipped
    words = text_of(root)
    assert "missed pageout" in words and "wrong deactivation" in words and "folio_mapcount" in words


def test_a_word_that_changed_between_boots_shows_its_spread_and_is_hatched(tmp_path):
    table = probe_table(three_boots(tmp_path))
    mixed = [(i, j, c) for i, g in enumerate(table.grid) for j, c in enumerate(g.cells) if c.mixed]
    assert mixed and all(j == 1 for _, j, _ in mixed)
    svg = pictures.grid_svg(table)
    root = parse(svg)
    words = text_of(root)
    assert "missed pageout 2/3" in words and "correct 1/3" in words
    i, j, cell = mixed[0]
    assert fill(root, f"cell-{i}-{j}") == pictures.COLOURS[table.marks[cell.word]]  # the word most boots said
    group = next(g for g in root.iter(f"{SVG}g") if g.get("id") == f"cell-{i}-{j}")
    assert "url(#" in group.find(f"{SVG}path").get("style")  # hatched
    assert "the word changed between boots" in words  # the legend says what hatching means


def test_cost_chart_has_a_bar_per_column_and_intervals_from_three_boots(tmp_path):
    table = probe_table(three_boots(tmp_path))
    assert all(s is not None and s.low is not None for c in table.costs for s in c.summaries)
    root = parse(pictures.cost_svg(table))
    bars = [g.get("id") for g in root.iter(f"{SVG}g") if re.fullmatch(r"bar-\d+-\d+", g.get("id") or "")]
    assert bars == [f"bar-{k}-{y}" for k in range(len(table.costs)) for y in range(2)]
    words = text_of(root)
    assert all(c.label in words for c in table.costs)
    assert "TCG: relative only" in words  # accel tcg
    assert "(n=3)" in words


def test_a_significant_change_is_marked_and_relative_only_says_so():
    table = by_hand(relative=True)
    svg = pictures.cost_svg(table)
    root = parse(svg)
    words = text_of(root)
    assert "2.0 ms -99.7% [-100, -100] *" in words and "655 ms +0.8% [-1, +2]" in words
    assert "+0.8% [-1, +2] *" not in words
    edges = {g.get("id"): g.find(f"{SVG}path").get("style") for g in root.iter(f"{SVG}g")
             if (g.get("id") or "").startswith("bar-")}
    assert "stroke-width: 2.5" in edges["bar-0-1"] and "stroke-width: 2.5" not in edges["bar-0-2"]
    assert words.count("TCG: relative only") == 2  # the title and the axis
    assert "ms (TCG: relative only)" in words
    assert "TCG" not in text_of(parse(pictures.cost_svg(by_hand(relative=False))))


def test_long_scenario_names_wrap_and_the_grid_grows_with_rows_and_columns():
    table = by_hand()
    root = parse(pictures.grid_svg(table))
    # a text of several lines is a group of one <text> a line
    label = next(g for g in root.iter(f"{SVG}g") if (g.findtext(f"{SVG}text") or "").startswith("MADV_COLD THP"))
    lines = [t.text or "" for t in label.iter(f"{SVG}text")]
    assert len(lines) >= 3 and all(len(line) <= pictures.SCENARIO_CHARS for line in lines)
    assert lines[-1].endswith("2048 kB)") and "kB)" not in lines  # a size stays on one line
    smaller = ExtraTable("t", [], [], marks=table.marks, grid=[GridRow("a", table.grid[0].cells[:2])],
                         columns=table.columns[:2])
    size = [float(parse(pictures.grid_svg(t)).get(k).removesuffix("pt")) for t in (table, smaller) for k in
            ("width", "height")]
    assert size[0] > size[2] and size[1] > size[3]


def test_same_table_same_bytes_and_nothing_to_draw_is_empty(tmp_path):
    table = probe_table(probe_run(tmp_path))
    assert pictures.grid_svg(table) == pictures.grid_svg(probe_table(probe_run(tmp_path)))
    assert pictures.cost_svg(table) == pictures.cost_svg(table)
    assert "Date" not in pictures.cost_svg(table) and "<dc:date>" not in pictures.grid_svg(table)
    empty = ExtraTable("t", ["a"], [["x"]])
    assert pictures.grid_svg(empty) == "" and pictures.cost_svg(empty) == ""
    no_samples = ExtraTable("t", [], [], costs=[CostRow("x", "ms", (None,), (None,))], columns=["base"])
    assert pictures.cost_svg(no_samples) == ""


@pytest.mark.parametrize("words", [True, False])
def test_the_html_page_opens_with_the_pictures_then_the_differing_rows_then_every_case(tmp_path, words):
    run = probe_run(tmp_path, words=words)
    html = report.render(run, "html", Path(__file__).resolve().parent.parent / "templates")
    order = [html.index(s) for s in ('<figure class="picture grid"><svg', '<figure class="picture cost"><svg',
                                     '<h2 id="differs">', '<table class="matrix" id="matrix">', '<h2>Cells</h2>')]
    assert order == sorted(order)
    assert html.count("<svg") == 2 and "<?xml" not in html
    assert '<td class="bad">wrong pageout</td>' in html  # the table as text, a click away
    differs = html[order[2]:order[3]]
    assert "probe: MADV_PAGEOUT exclusive PTE-mapped THP (16, 32, 64, 128, 256, 512, 1024, 2048 kB)" in differs
    assert 'id="only-diff"' in html[order[3] - 400:order[3]]  # the filter stays with the full table
