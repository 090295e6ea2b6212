"""Changes the user brings (--variants NAME=SPEC) on a fake tree: a patch file, an mbox series, a
plain diff, a branch; the same change from two sources is one tree; each error names what to fix
and leaves nothing behind."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from kernelfake import git, make_tree

from workbench.errors import UserError
from workbench.kernel.tree import KernelTree
from workbench.matrix import MatrixRequest, _names
from workbench.proc import Runner
from workbench.settings import PROJECT_ROOT, Settings
from workbench.study import commits, sources
from workbench.study import model as study_model

STUDY = study_model.load(PROJECT_ROOT / "templates", "mapcount")
FINAL = "folio_mapcount(folio) != folio_nr_pages(folio)"


@pytest.fixture
def world(tmp_path):
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    settings = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
    kt = KernelTree.open(settings, Runner(), repo)
    return tmp_path, repo, kt, kt.resolve("v6.12"), settings


def scratch_patch(tmp_path: Path, repo: Path, edits: list[tuple[str, str]], name: str = "p") -> Path:
    """`git format-patch` of one commit per (old, new) edit of mm/madvise.c, made in a scratch clone."""
    work = tmp_path / f"scratch-{name}"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    for i, (old, new) in enumerate(edits):
        path = work / "mm" / "madvise.c"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))
        git(work, "commit", "-q", "-a", "-m", f"mm/madvise: edit {i + 1}\n\nBecause.")
    out = tmp_path / f"{name}.mbox"
    out.write_text(git(work, "format-patch", "--stdout", f"HEAD~{len(edits)}"))
    return out


def tree_of(repo_git: KernelTree, commit: str) -> str:
    return repo_git.clone.out("rev-parse", f"{commit}^{{tree}}")


def test_a_patch_file_lands_on_the_tree_of_the_same_study_variant(world):
    _, _, kt, base, settings = world
    ps = commits.commit_all(kt, STUDY, commits.render_all(kt, STUDY, base, ["folio_mapcount"]), settings.patches_dir)
    study_patch = Path(ps.get("folio_mapcount").patch)  # type: ignore[arg-type]
    brought = sources.bring(kt, base, "mine", str(study_patch))
    assert brought.tree == tree_of(kt, ps.commit_of("folio_mapcount")) and not brought.same_as_base
    assert brought.source.startswith("file folio_mapcount.patch (sha256 ")
    assert kt.clone.out("log", "-1", "--format=%s", brought.commit).startswith("mm/madvise:")


def test_a_relative_patch_path_is_the_users_not_the_clones(world, monkeypatch):
    """`--variants mine=fix.patch` names a file in the user's folder; git runs in the clone."""
    _, _, kt, base, settings = world
    ps = commits.commit_all(kt, STUDY, commits.render_all(kt, STUDY, base, ["folio_mapcount"]), settings.patches_dir)
    study_patch = Path(ps.get("folio_mapcount").patch)  # type: ignore[arg-type]
    monkeypatch.chdir(study_patch.parent)
    brought = sources.bring(kt, base, "mine", study_patch.name)
    assert brought.tree == tree_of(kt, ps.commit_of("folio_mapcount"))


def test_an_mbox_series_is_one_column_with_its_commits(world):
    tmp_path, repo, kt, base, _ = world
    mbox = scratch_patch(tmp_path, repo, [(FINAL, "folio_mapcount(folio) != 1"),
                                           ("folio_mapcount(folio) != 1", "folio_mapcount(folio) != 1 /* v6.3 */")])
    brought = sources.bring(kt, base, "mine", str(mbox))
    subjects = kt.clone.out("log", "--format=%s", f"{base.commit}..{brought.commit}").splitlines()
    assert subjects == ["mm/madvise: edit 2", "mm/madvise: edit 1"]
    assert kt.clone.out("log", "-1", "--format=%an <%ae>", brought.commit) == "T <t@t>"  # the mail's author
    assert "folio_mapcount(folio) != 1 /* v6.3 */" in (kt.clone.show(brought.commit, "mm/madvise.c") or "")


def test_a_plain_diff_and_a_branch_of_the_tree(world):
    tmp_path, repo, kt, base, _ = world
    diff = tmp_path / "x.diff"
    mbox = scratch_patch(tmp_path, repo, [(FINAL, "folio_mapcount(folio) != 1")], "one")
    diff.write_text(mbox.read_text().split("\n---\n", 1)[1])  # no mail headers
    plain = sources.bring(kt, base, "plain", str(diff))
    git(repo, "checkout", "-q", "-b", "review", "v6.12")
    (repo / "mm" / "madvise.c").write_text((repo / "mm" / "madvise.c").read_text().replace(FINAL, "folio_mapcount(folio) != 1"))
    git(repo, "commit", "-q", "-a", "-m", "review: the v6.3 shape")
    kt = KernelTree.open(kt.settings, Runner(), repo)  # the clone fetches the new branch
    branch = sources.bring(kt, base, "theirs", "review")
    assert branch.tree == plain.tree  # two sources, one change: one cell
    assert branch.source.startswith("ref review at ") and not branch.notes
    # `diff -u` output, without git's "diff --git" line, is a diff too
    unified = tmp_path / "u.diff"
    unified.write_text("".join(line + "\n" for line in diff.read_text().splitlines()
                               if not line.startswith(("diff --git ", "index "))))
    assert sources.bring(kt, base, "unified", str(unified)).tree == plain.tree


def test_a_branch_from_an_older_commit_is_replayed_and_says_so(world):
    _, repo, kt, _, _ = world
    git(repo, "checkout", "-q", "-b", "old", "v6.12")
    (repo / "README").write_text("older\n")
    git(repo, "commit", "-q", "-a", "-m", "unrelated")
    git(repo, "checkout", "-q", "master")
    (repo / "mm" / "note.txt").write_text("newer base\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the base moves on")
    git(repo, "tag", "v6.13")
    kt = KernelTree.open(kt.settings, Runner(), repo)
    newer = kt.resolve("v6.13")
    got = sources.bring(kt, newer, "old", "old")
    assert any("merge-base" in n and "replayed on v6.13" in n for n in got.notes)
    assert kt.clone.show(got.commit, "README") == "older\n" and kt.clone.show(got.commit, "mm/note.txt") == "newer base\n"


def test_a_change_that_leaves_the_tree_as_it_is_is_same_as_base(world):
    _, repo, kt, base, _ = world
    git(repo, "checkout", "-q", "-b", "empty", "v6.12")
    git(repo, "commit", "-q", "--allow-empty", "-m", "nothing")
    kt = KernelTree.open(kt.settings, Runner(), repo)
    got = sources.bring(kt, base, "empty", "empty")
    assert got.same_as_base and "same as base" in got.notes[-1]


def test_a_patch_that_does_not_apply_names_the_hunk_and_the_base_it_was_made_for(world):
    tmp_path, repo, kt, _, _ = world
    mbox = scratch_patch(tmp_path, repo, [(FINAL, "folio_mapcount(folio) != 1"),
                                           ("folio_mapcount(folio) != 1", "folio_mapcount(folio) != 2")], "two")
    git(repo, "checkout", "-q", "master")
    (repo / "mm" / "madvise.c").write_text((repo / "mm" / "madvise.c").read_text().replace(FINAL, "moved_on(folio)"))
    git(repo, "commit", "-q", "-a", "-m", "the code moved on")
    git(repo, "tag", "v6.13")
    kt = KernelTree.open(kt.settings, Runner(), repo)
    refs_before = kt.clone.out("for-each-ref")
    with pytest.raises(UserError) as err:
        sources.bring(kt, kt.resolve("v6.13"), "mine", str(mbox))
    text = str(err.value)
    assert f"{mbox}, patch 1 of 2 does not apply at v6.13" in text and "error: patch failed: mm/madvise.c:" in text
    assert "try --base v6.12" in text  # its preimage is v6.12's madvise.c
    assert kt.clone.out("for-each-ref") == refs_before  # no branch, nothing half-applied


def test_a_patch_without_its_preimage_in_the_tree_says_why_no_3way(world):
    tmp_path, _, kt, base, _ = world
    patch = tmp_path / "alien.patch"
    patch.write_text("diff --git a/mm/madvise.c b/mm/madvise.c\nindex 1234567..89abcde 100644\n--- a/mm/madvise.c\n"
                     "+++ b/mm/madvise.c\n@@ -1,2 +1,2 @@\n-no such line\n+other\n context\n")
    with pytest.raises(UserError, match=r"--3way not tried: the tree does not hold the patch's preimage blobs \(1234567\)"):
        sources.bring(kt, base, "alien", str(patch))


@pytest.mark.parametrize("value,match", [
    ("folio_mapcount=x.patch", "is already a column \\(a variant of the study\\)"),
    ("base=x.patch", "is already a column \\(the unchanged tree\\)"), ("my name=x", "want NAME=SPEC"),
    ("nosuchvariant", "has no variant 'nosuchvariant'")])
def test_names_that_clash_or_are_bad_are_refused(value, match):
    with pytest.raises(UserError, match=match):
        _names(MatrixRequest(base="v6.12", variants=(value,)), STUDY)


def test_names_keep_their_order_and_a_name_twice_is_refused():
    _, names, specs = _names(MatrixRequest(base="v6.12", variants=("mine=a.patch", "folio_mapcount", "theirs=b")), STUDY)
    assert names == ["mine", "folio_mapcount", "theirs"] and specs == {"mine": "a.patch", "theirs": "b"}
    with pytest.raises(UserError, match="named twice"):
        _names(MatrixRequest(base="v6.12", variants=("mine=a", "mine=b")), STUDY)


def test_no_such_file_and_no_such_ref(world):
    _, _, kt, base, _ = world
    with pytest.raises(UserError, match="no such file, and no branch, tag or commit 'nope'"):
        sources.bring(kt, base, "mine", "nope")
