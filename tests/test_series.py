"""invoke series on a fake tree: the commits, Fixes from history, the cover letter, checkpatch,
and the error cases (no such variant, no run yet, checkpatch errors, approximate prototype).
The compile step is replaced (a fake tree has no Makefile); the real one runs in test_kernel.py."""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest
from kernelfake import git, make_tree

from workbench import series as ws
from workbench.errors import UserError
from workbench.settings import PROJECT_ROOT, Settings
from workbench.study import model as study
from workbench.study.render import UsedPrototype

CHECKPATCH_OK = """#!/usr/bin/perl
print "total: 0 errors, 1 warnings, 0 checks, 10 lines checked\\n";
print "WARNING:COMMIT_LOG_LONG_LINE: Prefer a maximum 75 chars per line\\n";
"""
CHECKPATCH_ERR = """#!/usr/bin/perl
print "ERROR:TRAILING_WHITESPACE: trailing whitespace\\n";
print "total: 1 errors, 0 warnings, 0 checks, 10 lines checked\\n";
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.setattr(ws, "build_each", lambda git_, make, config, commits:
                        [(git_.out("show", "-s", "--format=%s", c), 0.0) for c in commits])
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    (repo / "scripts").mkdir()
    (repo / "scripts" / "checkpatch.pl").write_text(CHECKPATCH_OK)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "scripts")
    git(repo, "tag", "-f", "v6.12")
    return repo


def settings_for(tmp_path: Path, templates: Path | None = None) -> Settings:
    s = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
    return dataclasses.replace(s, project=templates.parent) if templates else s


def test_series_moves_the_helper_home_then_changes_the_call_sites(tmp_path, tree):
    s = settings_for(tmp_path)
    out = ws.series(ws.SeriesRequest(base="v6.12", variant="folio_estimated_sharers", rfc=True, tree=str(tree)),
                    s, lambda m: None)
    names = [f.name for f in out.files]
    assert len(names) == 3 and names[0] == "0000-cover-letter.patch"
    assert names[1].startswith("0001-mm-add-folio_estimated_sharers")
    assert names[2].startswith("0002-mm-madvise-decide-sharing-by-folio_estimated_shar")
    first, second = out.files[1].read_text(), out.files[2].read_text()
    assert "[RFC PATCH 1/2] mm: add folio_estimated_sharers()" in first and "include/linux/mm.h" in first
    assert "mm/madvise.c" not in first.split("---", 1)[1]
    assert "which the previous patch adds to include/linux/mm.h" in " ".join(second.split())
    assert "static inline int folio_estimated_sharers" not in second  # the helper is not in the .c any more
    assert re.search(r"include/linux/mm.h \| +\d+ \++\n", out.final_diff)  # the helper moved there ...
    assert re.search(r"mm/madvise.c +\| +\d+ -+\n", out.final_diff)  # ... from the .c file; nothing else
    assert "2 files changed" in out.final_diff
    cover = out.files[0].read_text()
    assert "No matrix run exists yet for v6.12" in cover and "*** BLURB HERE ***" not in cover
    assert "no finished matrix run of study mapcount at v6.12 yet" in " ".join(out.notes)
    assert out.checkpatch[0].warnings == 1 and out.checkpatch[0].errors == 0
    assert out.outdir == s.patches_dir / "mapcount" / "series" / "v6.12-folio_estimated_sharers-v1"


def test_unknown_variant(tmp_path, tree):
    with pytest.raises(UserError, match="no variant 'nope'"):
        ws.series(ws.SeriesRequest(base="v6.12", variant="nope", tree=str(tree)), settings_for(tmp_path),
                  lambda m: None)


def test_approximate_prototype_is_refused_without_force(tmp_path, tree):
    req = ws.SeriesRequest(base="v6.12", variant="folio_maybe_mapped_shared", tree=str(tree))
    with pytest.raises(UserError, match="approximate prototype"):
        ws.series(req, settings_for(tmp_path), lambda m: None)
    out = ws.series(dataclasses.replace(req, force=True), settings_for(tmp_path), lambda m: None)
    cover = out.files[0].read_text()
    assert "approximate prototype" in cover and "not to be merged" in cover
    assert "PROTOTYPE for discussion" in out.files[1].read_text()


def test_checkpatch_errors_refuse_the_series_unless_forced(tmp_path, tree):
    (tree / "scripts" / "checkpatch.pl").write_text(CHECKPATCH_ERR)
    git(tree, "commit", "-q", "-am", "strict checkpatch")
    git(tree, "tag", "-f", "v6.12")
    req = ws.SeriesRequest(base="v6.12", variant="folio_mapcount", tree=str(tree))
    s = settings_for(tmp_path)
    with pytest.raises(UserError, match="checkpatch.pl --strict found 1 error"):
        ws.series(req, s, lambda m: None)
    assert not (s.patches_dir / "mapcount" / "series" / "v6.12-folio_mapcount-v1").exists()
    out = ws.series(dataclasses.replace(req, force=True), s, lambda m: None)
    assert sum(c.errors for c in out.checkpatch) == 1 and out.outdir.exists()


def test_same_as_base_variant_has_nothing_to_send(tmp_path):
    repo = make_tree(tmp_path, "v6.3")
    with pytest.raises(UserError, match="nothing to send"):
        ws.series(ws.SeriesRequest(base="v6.3", variant="folio_mapcount", tree=str(repo)), settings_for(tmp_path),
                  lambda m: None)


def test_fixes_only_where_the_base_has_the_bug_and_not_its_fix(tmp_path):
    repo = make_tree(tmp_path, "v6.3")
    (repo / "README").write_text("bug\n")
    git(repo, "commit", "-q", "-am", "madvise: the bug")
    broken = git(repo, "rev-parse", "HEAD").strip()
    (repo / "README").write_text("fix\n")
    git(repo, "commit", "-q", "-am", "madvise: the fix")
    fixed = git(repo, "rev-parse", "HEAD").strip()
    st = study.load(PROJECT_ROOT / "templates", "mapcount")
    st = dataclasses.replace(st, fixes=(study.Fix(broken[:12], "", (fixed[:12],), ("folio_estimated_sharers",)),))
    from workbench.kernel.git import Git
    from workbench.kernel.tree import Base
    from workbench.proc import Runner
    g = Git(repo, Runner(echo=False))
    lines, note = ws.fixes_for(g, st, "folio_estimated_sharers", Base("b", broken))
    assert lines == [f'Fixes: {broken[:12]} ("madvise: the bug")'] and note == ""
    assert ws.fixes_for(g, st, "folio_estimated_sharers", Base("f", fixed)) == ([], "")  # already fixed
    assert ws.fixes_for(g, st, "folio_mapcount", Base("b", broken)) == ([], "")  # not a fix of it
    orphan = tmp_path / "orphan"
    shutil.copytree(repo, orphan)
    git(orphan, "checkout", "-q", "--orphan", "imported")
    git(orphan, "commit", "-q", "-m", "import")
    lines, note = ws.fixes_for(Git(orphan, Runner(echo=False)), st, "folio_estimated_sharers",
                               Base("i", git(orphan, "rev-parse", "HEAD").strip()))
    assert lines == [] and "no history" in note


def test_helper_goes_after_what_it_needs_in_the_header():
    header = "#ifndef X\n#define X\nstatic inline int folio_entire_mapcount(void)\n{\n\treturn 0;\n}\n\n" \
             "static inline int other(void)\n{\n\treturn 1;\n}\n#endif\n"
    proto = UsedPrototype("page_mapcount", "exact", "", "", "static inline int page_mapcount(void)\n{\n}\n",
                          requires=("folio_entire_mapcount",))
    out = ws.place_in_header(header, proto)
    assert out.index("page_mapcount") > out.index("folio_entire_mapcount") and out.index("page_mapcount") < \
        out.index("other")
    nowhere = UsedPrototype("h", "exact", "", "", "static inline int h(void);\n", requires=("absent",))
    assert ws.place_in_header(header, nowhere).endswith("}\n\nstatic inline int h(void);\n\n#endif\n")
    # never two blank lines in a row (checkpatch --strict: LINE_SPACING), whatever was there
    spaced = header.replace("}\n#endif", "}\n\n\n#endif")
    assert "\n\n\n" not in ws.place_in_header(spaced, nowhere) and "\n\n\n" not in out
