"""The user's tree: checks, the cache clone, bases, and the promise never to touch it."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernelfake import git, make_tree

from workbench.errors import UserError
from workbench.kernel.tree import KernelTree, check_kernel_repo, kernelversion_of
from workbench.proc import Runner
from workbench.settings import PROJECT_ROOT, Settings
from workbench.study import commits as wp
from workbench.study import model as study
from workbench.study import symbols

STUDY = study.load(PROJECT_ROOT / "templates", "mapcount")


def settings_for(tmp_path: Path) -> Settings:
    return Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})


def snapshot(repo: Path) -> dict:
    """Everything of the user's repository the workbench must leave alone."""
    files = {}
    for p in sorted(repo.rglob("*")):
        if ".git" in p.relative_to(repo).parts or not p.is_file():
            continue
        files[str(p.relative_to(repo))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {
        "refs": git(repo, "for-each-ref", "--format=%(refname) %(objectname)"),
        "head": git(repo, "symbolic-ref", "HEAD") + git(repo, "rev-parse", "HEAD"),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "status": git(repo, "status", "--porcelain", "--ignored"),
        "config": (repo / ".git" / "config").read_text(),
        "files": files,
    }


def test_invoke_patches_leaves_the_users_repository_untouched(tmp_path):
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    before = snapshot(repo)
    env = {**os.environ, "INVOKE_WORKBENCH_CACHE": str(tmp_path / "cache"),
           "INVOKE_WORKBENCH_OUTPUTS": str(tmp_path / "out")}
    done = subprocess.run([sys.executable, "-m", "invoke", "patches", "--base", "v6.12", "--tree", str(repo)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "page_mapcount() [exact]" in done.stdout
    assert (tmp_path / "out" / "patches" / "mapcount" / "v6.12" / "folio_mapcount.patch").exists()
    assert snapshot(repo) == before
    # the branches live in the workbench's clone
    clone = next((tmp_path / "cache" / "clones").iterdir())
    assert "workbench/mapcount/v6.12/folio_mapcount" in git(clone, "branch", "--list")


def test_patches_are_deterministic_and_apply_at_the_base(tmp_path):
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    s = settings_for(tmp_path)
    kt = KernelTree.open(s, Runner(echo=False), repo)
    base = kt.resolve("v6.12")
    first = wp.commit_all(kt, STUDY, wp.render_all(kt, STUDY, base, None), s.patches_dir)
    texts = {p.name: p.read_text() for p in (s.patches_dir / "mapcount" / "v6.12").glob("*.patch")}
    second = wp.commit_all(kt, STUDY, wp.render_all(kt, STUDY, base, None), s.patches_dir)
    assert [v.commit for v in first.variants] == [v.commit for v in second.variants]
    assert texts == {p.name: p.read_text() for p in (s.patches_dir / "mapcount" / "v6.12").glob("*.patch")}
    assert len(texts) == 4
    work = tmp_path / "apply"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    for text in texts.values():
        subprocess.run(["git", "-C", str(work), "apply", "--check", "-"], input=text, text=True, check=True)


def test_same_as_base_variant_gets_no_patch_and_no_branch(tmp_path):
    repo = make_tree(tmp_path, "v6.3")
    s = settings_for(tmp_path)
    kt = KernelTree.open(s, Runner(echo=False), repo)
    base = kt.resolve("v6.3")
    ps = wp.commit_all(kt, STUDY, wp.render_all(kt, STUDY, base, ["folio_mapcount", "page_mapcount"]), s.patches_dir)
    assert ps.get("folio_mapcount").same_as_base and ps.get("folio_mapcount").commit is None
    assert not (s.patches_dir / "mapcount" / "v6.3" / "folio_mapcount.patch").exists()
    assert "same as base" in wp.summary(ps)
    assert ps.commit_of("folio_mapcount") == base.commit


def test_signoff_without_a_git_identity_uses_the_workbench_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "nogitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    s = settings_for(tmp_path)
    kt = KernelTree.open(s, Runner(echo=False), repo)
    ps = wp.commit_all(kt, STUDY, wp.render_all(kt, STUDY, kt.resolve("v6.12"), ["folio_mapcount"]), s.patches_dir)
    patch = (s.patches_dir / "mapcount" / "v6.12" / "folio_mapcount.patch").read_text()
    assert "Signed-off-by: Kernel Patch Workbench <workbench@localhost>" in patch
    assert not ps.signoff_from_config and "no user.name" in wp.summary(ps)


def test_unknown_tag_is_a_clear_error_listing_close_tags(tmp_path):
    repo = make_tree(tmp_path, "v6.10", tag="v6.10")
    kt = KernelTree.open(settings_for(tmp_path), Runner(echo=False), repo)
    with pytest.raises(UserError) as err:
        kt.resolve("v6.99")
    assert "unknown tag or ref 'v6.99'" in str(err.value) and "v6.10" in str(err.value)


def test_not_a_git_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="is not a git repository"):
        check_kernel_repo(tmp_path / "plain", Runner(echo=False))
    with pytest.raises(UserError, match="does not exist"):
        check_kernel_repo(tmp_path / "nowhere", Runner(echo=False))


def test_not_a_kernel_tree(tmp_path):
    repo = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("not linux\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")
    with pytest.raises(UserError, match="does not hold a Linux kernel tree"):
        check_kernel_repo(repo, Runner(echo=False))


def test_no_tree_and_no_debian_import_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="invoke tree --debian"):
        KernelTree.open(settings_for(tmp_path), Runner(echo=False))


def test_base_without_the_studys_file(tmp_path):
    repo = make_tree(tmp_path, "v6.10")
    git(repo, "rm", "-q", "mm/madvise.c")
    git(repo, "commit", "-q", "-m", "drop")
    git(repo, "tag", "nomadvise")
    kt = KernelTree.open(settings_for(tmp_path), Runner(echo=False), repo)
    with pytest.raises(UserError, match="has no mm/madvise.c"):
        wp.render_all(kt, STUDY, kt.resolve("nomadvise"), None)


def test_symbols_read_declarations_definitions_and_macros_from_the_base(tmp_path):
    repo = make_tree(tmp_path, "v6.1")
    kt = KernelTree.open(settings_for(tmp_path), Runner(echo=False), repo)
    commit = kt.resolve("v6.1").commit
    found = symbols.present(kt.clone, commit, ["folio_mapcount", "page_folio", "page_mapcount",
                                               "folio_likely_mapped_shared"], "mm/madvise.c")
    assert found == {"folio_mapcount": True, "page_folio": True, "page_mapcount": True,
                     "folio_likely_mapped_shared": False}


def test_an_option_is_present_where_the_bases_kconfig_declares_it(tmp_path):
    repo = make_tree(tmp_path, "v7.3")
    kt = KernelTree.open(settings_for(tmp_path), Runner(echo=False), repo)
    found = symbols.present(kt.clone, kt.resolve("v7.3").commit, ["CONFIG_NO_PAGE_MAPCOUNT", "CONFIG_FOO",
                                                                  "folio_mapcount"], "mm/madvise.c")
    assert found == {"CONFIG_NO_PAGE_MAPCOUNT": True, "CONFIG_FOO": False, "folio_mapcount": True}


def test_declares_tells_declarations_from_calls():
    assert symbols.declares("int folio_mapcount(struct folio *folio);", "folio_mapcount")
    assert symbols.declares("static inline int folio_mapcount(struct folio *folio)", "folio_mapcount")
    assert symbols.declares("folio_mapcount(struct folio *folio)", "folio_mapcount")
    assert symbols.declares("#define folio_page(folio, n)\tnth_page(&(folio)->page, n)", "folio_page")
    assert not symbols.declares("\treturn folio_mapcount(folio) > 1;", "folio_mapcount")
    assert not symbols.declares("return folio_mapcount(folio);", "folio_mapcount")
    assert not symbols.declares(" * folio_mapcount() - count", "folio_mapcount")


def test_kernelversion_of_makefile():
    assert kernelversion_of("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n") == "6.12.117"
    assert kernelversion_of("VERSION = 6\nPATCHLEVEL = 5\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\n") == "6.5.0-rc3"
