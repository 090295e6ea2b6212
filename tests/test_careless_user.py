"""The second careless-user campaign's classes (issue 26), each at its cause: stale objects, a clean
racing a run, numbers out of range, fragment lines Kconfig changed, unknown keys, a study named
after another, repeats in lists, refusals before work, Jinja errors, unwritable outputs, bad
INVOKE_WORKBENCH_* variables and a run folder that vanished."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import kernelfake
import pytest
from kernelfake import make_tree

from workbench import clean, runs
from workbench.cells import machine
from workbench.cells.build import check_intact
from workbench.errors import (
    BadFragmentLine,
    BadSetting,
    Busy,
    DuplicateName,
    InfraError,
    RunFolderLost,
    TemplateError,
    UnknownKey,
    UserError,
)
from workbench.kernel import fragments, kbuild, selftests
from workbench.kernel.git import Git
from workbench.kernel.tree import Base, KernelTree, Worktree, hold_lock
from workbench.matrix import MatrixRequest
from workbench.proc import Runner
from workbench.records import Run, RunKind, RunState
from workbench.settings import PROJECT_ROOT, Settings, check_environment
from workbench.study import model as study
from workbench.study import render

TEMPLATES = PROJECT_ROOT / "templates"


def settings_for(tmp_path: Path, **more: object) -> Settings:
    return Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out"), **more})


# ---- 1: a change that deletes, renames or adds a source file builds what its tree says

def kbuild_object(build: Path, rel: str, source: str) -> Path:
    obj = build / rel
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(b"\x7fELF object of " + rel.encode())
    (obj.parent / f".{obj.name}.cmd").write_text(f"savedcmd_{rel} := gcc -c\n\nsource_{rel} := {source}\n\n"
                                                 f"deps_{rel} := \\\n  {source} \\\n")
    return obj


def test_an_object_whose_source_the_tree_lost_is_removed_before_the_build(tmp_path):
    src, build = tmp_path / "src", tmp_path / "builds" / "minimal"
    (src / "mm").mkdir(parents=True)
    (src / "mm" / "memory.c").write_text("int x;\n")
    kept = kbuild_object(build, "mm/memory.o", "../../src/mm/memory.c")  # relative to the build directory
    gone = kbuild_object(build, "mm/madvise.o", "../../src/mm/madvise.c")  # the change deleted mm/madvise.c
    absolute = kbuild_object(build, "mm/old.o", str(src / "mm" / "old.c"))  # an earlier tree added it
    generated = kbuild_object(build, "lib/gen.o", "lib/gen.c")  # a source the build generates, still there
    (build / "lib" / "gen.c").write_text("int g;\n")
    (src / "tools" / "objtool").mkdir(parents=True)
    (src / "tools" / "objtool" / "weak.c").write_text("int w;\n")
    objtool = kbuild_object(build, "tools/objtool/weak.o", "weak.c")  # tools' build: from the tool's folder
    assert sorted(kbuild.drop_stale(build)) == ["mm/madvise.o", "mm/old.o"]
    assert objtool.exists()
    assert kept.exists() and generated.exists() and not gone.exists() and not absolute.exists()
    assert not (build / "mm" / ".madvise.o.cmd").exists()  # so make has no record of it either


def test_the_archives_saying_what_is_linked_are_compared(tmp_path):
    base, mine = tmp_path / "base", tmp_path / "mine"
    for root in (base, mine):
        kbuild_object(root, "mm/madvise.o", "x")
        kbuild_object(root, "mm/foo.o", "x")  # left in both build directories
    (base / "mm" / "built-in.a").write_bytes(b"!<thin>\nmm/madvise.o\nmm/foo.o\n")
    (mine / "mm" / "built-in.a").write_bytes(b"!<thin>\nmm/madvise.o\n")  # the change stopped linking foo.o
    snap = tmp_path / "snap"
    machine.snapshot(base, snap)
    same, why = machine.same_as_base(mine, snap)
    assert not same and "built-in.a" in why
    (mine / "mm" / "madvise.o").write_bytes(b"other code")
    assert machine.same_as_base(mine, snap) == (False, "mm/madvise.o differs")  # the object, not its archive


# ---- 2: a destructive clean takes the run's locks; files vanishing under a build are not a verdict

def a_base(tmp_path: Path) -> tuple[Settings, Path]:
    s = settings_for(tmp_path)
    base_dir = s.cache / "work" / "linux-x" / "v6.12"
    (base_dir / "builds").mkdir(parents=True)
    return s, base_dir


def test_clean_refuses_a_base_a_run_holds_and_names_the_run(tmp_path):
    s, base_dir = a_base(tmp_path)
    with hold_lock(base_dir / "lock", "matrix"):
        for kwargs in ({"bases": ["v6.12"]}, {"bases": [], "cells": True}, {"bases": [], "everything": True}):
            args = {"keep_runs": None, "everything": False, "cells": False} | kwargs
            with pytest.raises(Busy, match=f"in use by workbench pid {os.getpid()} \\(matrix\\)"):
                clean.clean(s, Runner(), **args)  # type: ignore[arg-type]
            assert base_dir.is_dir()
    assert clean.clean(s, Runner(), ["v6.12"], None, False, False) == [
        f"removed worktree and build directory {base_dir}"]


def test_clean_of_a_base_not_there_says_so_and_keep_runs_leaves_a_running_run(tmp_path):
    s, _ = a_base(tmp_path)
    with pytest.raises(UserError, match="no such base") as err:
        clean.clean(s, Runner(), ["v6.99"], None, False, False)
    assert "v6.12" in err.value.hint
    for name, state in (("20260101-000000-v6.12", RunState.FINISHED), ("20260101-000001-v6.12", RunState.RUNNING)):
        folder = s.results_dir / name
        folder.mkdir(parents=True)
        Run(dir=folder, kind=RunKind.MATRIX, base="v6.12", commit="c", kernelversion="", study="mapcount", tests=[],
            variants=[], command="x", state=state).save()
    said = clean.clean(s, Runner(), [], 0, False, False)
    assert said[0] == "removed 1 old run(s), kept 0" and "still running" in said[1]
    assert [p.name for p in s.results_dir.iterdir()] == ["20260101-000001-v6.12"]


def git(repo: Path, *args: str) -> str:
    return kernelfake.git(repo, *args).strip()  # with its own identity: the machine may have none


def test_a_build_that_failed_because_its_files_vanished_is_an_infrastructure_error(tmp_path):
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    commit = git(repo, "rev-parse", "HEAD")
    build = tmp_path / "build"
    build.mkdir()
    (build / ".config").write_text("CONFIG_MMU=y\n")
    wt = Worktree(root=tmp_path, git=Git(repo, Runner()), base=Base("v6.12", commit))
    wt_src = Worktree(root=repo.parent, git=wt.git, base=wt.base)  # src = <root>/src: point it at the repo
    os.symlink(repo, repo.parent / "src")
    check_intact(wt_src, build, commit)  # intact: a real build failure, the change's verdict
    (repo / "mm" / "madvise.c").unlink()  # `clean` removed files under the build
    with pytest.raises(InfraError, match="changed under it"):
        check_intact(wt_src, build, commit)
    shutil.rmtree(build)
    with pytest.raises(InfraError, match=".config"):
        check_intact(wt_src, build, commit)


# ---- 3: numbers in range

@pytest.mark.parametrize("mapping,wants", [
    ({"jobs": -1}, "`jobs` (invoke.yaml) wants a whole number of at least 0, not -1"),
    ({"vm": {"cpus": 0}}, "`vm.cpus` (invoke.yaml) wants a whole number of at least 1, not 0"),
    ({"vm": {"hugetlb_2m": -4}}, "wants a whole number of at least 0, not -4"),
    ({"vm": {"test_timeout": "nan"}}, "wants a number over 0, not 'nan'"),
    ({"vm": {"memory": "lots"}}, "`vm.memory` (invoke.yaml) wants a size such as 4G or 4096M, not 'lots'"),
    ({"vm": {"zram": "-2G"}}, "wants a size such as 4G"),
    ({"vm": {"thp": "sometimes"}}, "wants always, madvise or never"),
    ({"labs": {"x": {"url": "http://a/", "token_env": "T", "jobs": 0}}}, "`labs.x.jobs` (invoke.yaml) wants a whole"),
    ({"labs": {"x": {"url": "http://a/", "token_env": "T", "timeouts": {"boot": -1}}}}, "labs.x.timeouts.boot"),
])
def test_every_number_and_size_of_the_settings_is_range_checked(tmp_path, mapping, wants):
    with pytest.raises(BadSetting) as err:
        settings_for(tmp_path, **mapping)
    assert wants in str(err.value) and err.value.hint.startswith("Fix")


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("INVOKE_WORKBENCH_VM_MEMORY", "lots")
    with pytest.raises(BadSetting) as err:
        settings_for(tmp_path, vm={"memory": "lots"})
    assert "INVOKE_WORKBENCH_VM_MEMORY (in the environment)" in str(err.value)
    assert "invoke.yaml" not in str(err.value)


def test_the_campaigns_other_settings_from_the_environment_name_their_variable(tmp_path, monkeypatch):
    for var, value, mapping, wants in (("INVOKE_WORKBENCH_OVERLAP", "sometimes", {"overlap": "sometimes"},
                                        "auto, on, off or force"),
                                       ("INVOKE_WORKBENCH_VM_TIMEOUT", "-1", {"vm": {"timeout": -1}}, "over 0")):
        monkeypatch.setenv(var, value)
        check_environment({var: value})  # of the right type: its range is the setting's to check
        with pytest.raises(BadSetting) as err:
            settings_for(tmp_path, **mapping)
        assert f"{var} (in the environment) wants" in str(err.value) and wants in str(err.value)
        monkeypatch.delenv(var)


def test_keep_runs_below_zero_is_refused_by_clean_itself(tmp_path):
    with pytest.raises(BadSetting, match="--keep-runs wants a whole number of at least 0, not -1"):
        clean.clean(settings_for(tmp_path), Runner(), [], -1, False, False)


# ---- 4: a fragment line Kconfig rejects or changes

FRAGMENT = "# --- kbuild/minimal.config\nCONFIG_MMU=y\n# CONFIG_SWAP is not set\n# --- kbuild/mine.config\n{line}\n"


@pytest.mark.parametrize("line,got", [
    ("CONFIG_DEBUG_VM y", "Kconfig said: warning: unexpected data: CONFIG_DEBUG_VM y; so CONFIG_DEBUG_VM not set"),
    ("CONFIG_DEBUG_VM=y", "Kconfig made it CONFIG_DEBUG_VM not set (the base has it, but its dependencies are missing"),
    ("CONFIG_NR_CPUS=3", "Kconfig made it CONFIG_NR_CPUS=2"),
    ("CONFIG_SWAP=y", "Kconfig made it CONFIG_SWAP not set"),  # the last line for an option is the one to check
])
def test_a_fragment_line_not_in_the_config_as_written_is_an_error(line, got):
    config = kbuild.Config("minimal+mine", (), FRAGMENT.format(line=line))
    output = f"workbench.fragment:5:warning: unexpected data: {line}\n" if "=" not in line else ""
    with pytest.raises(BadFragmentLine) as err:
        kbuild.check_fragments(config, "CONFIG_MMU=y\n# CONFIG_SWAP is not set\nCONFIG_NR_CPUS=2\n", output,
                               lambda names: names)  # the base declares every option
    assert f"config fragment kbuild/mine.config: the line `{line}`" in str(err.value) and got in str(err.value)
    assert kbuild.check_fragments(kbuild.Config("minimal", (), FRAGMENT.format(line="")),
                                  "CONFIG_MMU=y\n# CONFIG_SWAP is not set\n", "") == []


def test_an_option_the_base_does_not_have_is_said_not_refused(tmp_path):
    """One fragment serves every base: PROC_SYSCTL is gone in 7.x, and minimal.config still sets it."""
    config = kbuild.Config("minimal", (), "# --- kbuild/minimal.config\nCONFIG_MMU=y\nCONFIG_PROC_SYSCTL=y\n")
    assert kbuild.check_fragments(config, "CONFIG_MMU=y\n", "", lambda names: set()) == [
        "CONFIG_PROC_SYSCTL=y (kbuild/minimal.config: the base has no option CONFIG_PROC_SYSCTL)"]
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    (repo / "mm" / "Kconfig").write_text("config MMU\n\tbool\nmenuconfig SWAP\n\tbool \"swap\"\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "kconfig")
    assert fragments.declared(Git(repo, Runner()), "HEAD", {"MMU", "SWAP", "PROC_SYSCTL"}) == {"MMU", "SWAP"}


def test_the_options_a_test_brings_are_left_to_its_own_check():
    config = kbuild.Config("minimal+kunit:x", (), "# --- kunit:x\nCONFIG_X_KUNIT_TEST=y\n", own=(("kunit:x", ""),))
    kbuild.check_fragments(config, "CONFIG_MMU=y\n", "")


# ---- 5, 6: unknown keys; a study named after another

def test_an_unknown_key_of_invoke_yaml_is_refused_with_the_nearest_one(tmp_path):
    for mapping, key, guess in (({"vm": {"memroy": "8G"}}, "memroy", "memory"), ({"jbos": 2}, "jbos", "jobs"),
                                ({"labs": {"x": {"url": "http://a/", "token_env": "T", "devics": 2}}}, "devics",
                                 "devices")):
        with pytest.raises(UnknownKey) as err:
            settings_for(tmp_path, **mapping)
        assert f"unknown key `{key}`" in str(err.value) and f"Did you mean `{guess}`?" in err.value.hint


def test_an_unknown_or_non_numeric_variable_is_caught_where_the_program_starts():
    check_environment({"INVOKE_WORKBENCH_JOBS": "3", "INVOKE_WORKBENCH_LABS_MINE_URL": "http://x/", "HOME": "/"})
    with pytest.raises(BadSetting, match="INVOKE_WORKBENCH_JOBS \\(in the environment\\) wants a whole number"):
        check_environment({"INVOKE_WORKBENCH_JOBS": "many"})
    with pytest.raises(UnknownKey) as err:
        check_environment({"INVOKE_WORKBENCH_VM_MEMROY": "8G"})
    assert "INVOKE_WORKBENCH_VM_MEMORY" in err.value.hint


def copied(tmp_path: Path, folder: str = "lazyfree", edit: tuple[str, str] | None = None) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "mapcount", root / "mapcount")
    shutil.copytree(TEMPLATES / "lazyfree", root / folder)
    if edit:
        toml = root / folder / "study.toml"
        assert edit[0] in toml.read_text()
        toml.write_text(toml.read_text().replace(edit[0], edit[1], 1))
    return root


@pytest.mark.parametrize("edit,key,guess,where", [
    (('reuse = "mapcount"', 'resue = "mapcount"'), "resue", "reuse", "[study]"),
    (('function = "madvise_free_huge_pmd"', 'fucntion = "madvise_free_huge_pmd"'), "fucntion", "function",
     "target 'pmd handler'"),
    (("[[targets]]", "[[target]]"), "target", "targets", "study.toml"),
])
def test_an_unknown_key_of_a_study_file_is_refused_with_the_nearest_one(tmp_path, edit, key, guess, where):
    root = copied(tmp_path, edit=edit)
    with pytest.raises(UnknownKey) as err:
        study.load(root, "lazyfree")
    assert f"unknown key `{key}`" in str(err.value) and where in str(err.value)
    assert f"Did you mean `{guess}`?" in err.value.hint


def test_a_study_whose_name_is_not_its_folder_is_refused(tmp_path):
    root = copied(tmp_path, folder="mine")
    with pytest.raises(UserError, match="named 'lazyfree' but its folder is 'mine'") as err:
        study.load(root, "mine")
    assert "name = 'mine'" in err.value.hint
    assert study.load(copied(tmp_path / "2", "mine", ('name = "lazyfree"', 'name = "mine"')), "mine").name == "mine"


# ---- 7: repeats in lists

@pytest.mark.parametrize("req,flag", [
    (MatrixRequest(base="v6.12", tests=("cow", "cow")), "--tests names 'cow'"),
    (MatrixRequest(base="v6.12", variants=("t=a.j2", "t=b.j2")), "--variants names 't'"),
    (MatrixRequest(base="v6.12", variants=("folio_mapcount", "folio_mapcount")), "--variants names 'folio_mapcount'"),
])
def test_a_name_given_twice_in_a_list_is_refused(req, flag):
    with pytest.raises(DuplicateName, match=flag):
        req.check()


def test_a_config_given_twice_on_the_command_line_is_refused():
    from workbench.matrix import once  # --configs is a setting: matrix.check asks it of the Settings the flag made
    with pytest.raises(DuplicateName, match="--configs names 'minimal'"):
        once("--configs", ("minimal", "minimal"))


def test_a_test_given_twice_in_invoke_yaml_is_refused(tmp_path):
    with pytest.raises(DuplicateName, match="`tests` \\(invoke.yaml\\) names 'cow' more than once"):
        settings_for(tmp_path, tests="cow,probe,cow")


# ---- 8 (and the unclear --tests vm_util): what can be refused before a run, is

def test_a_helper_object_of_the_selftests_is_not_a_test(tmp_path):
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    g = Git(repo, Runner())
    with pytest.raises(UserError, match="'vm_util' is not a test: tools/testing/selftests/mm/vm_util.c has no main") \
            as err:
        selftests.plan(g, "HEAD", ("vm_util",), {})
    assert "cow" in err.value.hint and "vm_util" not in err.value.hint
    assert [s.kind.name for s in selftests.plan(g, "HEAD", ("cow",), {})] == ["selftest"]


# ---- 9: every Jinja error is one paragraph naming the template and the line

@pytest.mark.parametrize("text,line,what", [
    ('{% extends "mapcount/variants/no_such.j2" %}\n', 1, "'mapcount/variants/no_such.j2' it names is not found"),
    (('\n{% extends "mapcount/variants/folio_mapcount.j2" %}\n{% block subject %}x{% endblock %}\n'
      '{% block body %}{% include "nothere.j2" %}{% endblock %}\n'), 4, "'nothere.j2' it includes is not found"),
    ("{% block pmd %}{{ folio }{% endblock %}\n", 1, "syntax: unexpected '}'"),
])
def test_every_jinja_error_names_the_template_and_line(tmp_path, text, line, what):
    root = copied(tmp_path)
    mine = root / "lazyfree" / "variants" / "mine.j2"
    mine.write_text(text)
    st = study.load(root, "lazyfree").with_variant("mine", mine, "template mine.j2")
    env = render.environment(st)
    with pytest.raises(TemplateError) as err:
        tmpl = render.load_template(env, str(mine.resolve()))
        render.has_block(tmpl, "pmd")
        render.render_block(tmpl, "body", {})
    assert f"{mine.resolve()}:{line}: template error: " in str(err.value) and what in str(err.value)
    assert len(str(err.value).splitlines()) == 2


# ---- 10, 12: unwritable outputs; a run folder that vanished

@pytest.mark.parametrize("target", ["/proc/report.html", "/sys/report.html", "/proc/self/status"])
def test_report_output_into_a_place_that_cannot_be_written_is_an_error(target):
    with pytest.raises(UserError, match=f"--output {target}: cannot be written there"):
        runs.write_output(Path(target), "text")


def test_a_run_whose_folder_vanished_ends_with_a_clear_error(tmp_path):
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    s = settings_for(tmp_path)
    base = KernelTree.open(s, Runner(), repo).resolve("v6.12")
    run = Run(dir=Path(), kind=RunKind.MATRIX, base="v6.12", commit="c", kernelversion="", study="mapcount",
              tests=["cow"], variants=[], command="x")
    for while_writing in (True, False):
        with pytest.raises(RunFolderLost, match="vanished"), runs.opened(s, Runner(), run, base):
            shutil.rmtree(run.dir)
            if while_writing:
                run.save()  # what a cell's record does next
        assert not run.dir.exists() and run.state is RunState.INTERRUPTED or not while_writing


# ---- the unclear ones

def test_a_damaged_patch_at_the_base_it_was_made_for_is_called_damaged(tmp_path):
    from test_sources import FINAL, scratch_patch

    from workbench.study import sources

    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    kt = KernelTree.open(settings_for(tmp_path), Runner(), repo)
    patch = scratch_patch(tmp_path, repo, [(FINAL, "folio_maybe_mapped_shared(folio)")])
    lines = patch.read_text().splitlines()
    context = next(i for i, line in enumerate(lines) if line.startswith(" ") and line.strip() and i > 10)
    lines[context] = " " + lines[context][1:] + " /* edited by hand */"
    patch.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError) as err:
        sources.bring(kt, kt.resolve("v6.12"), "mine", str(patch))
    assert "the patch itself is damaged" in err.value.hint and "try --base" not in err.value.hint


def test_uncommitted_changes_of_the_checkout_at_the_base_are_named_without_touching_it(tmp_path):
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    kt = KernelTree.open(settings_for(tmp_path), Runner(), repo)
    head = kt.resolve("v6.12").commit
    assert kt.uncommitted(head) == []
    (repo / "mm" / "madvise.c").write_text("/* my change */\n")
    index = (repo / ".git" / "index").stat().st_mtime_ns
    assert kt.uncommitted(head) == ["mm/madvise.c"] and kt.uncommitted("0" * 40) == []
    assert (repo / ".git" / "index").stat().st_mtime_ns == index


def test_runs_of_two_studies_compared_say_so():
    from workbench.report import compare

    def a_run(study_: str) -> Run:
        from workbench.records import CellResult
        from workbench.status import Status

        r = Run(dir=Path("/x"), kind=RunKind.MATRIX, base="v6.12", commit="c", kernelversion="", study=study_,
                tests=["cow"], variants=["base"], command="x", state=RunState.FINISHED)
        r.cells = [CellResult(identity="i", base="v6.12", variant="base", commit="c", status=Status.PASS)]
        return r

    assert "note: A is a run of study 'mapcount', B of study 'lazyfree'" in compare(a_run("mapcount"), a_run("lazyfree"))
    assert "note:" not in compare(a_run("mapcount"), a_run("mapcount"))


def test_a_lab_on_loopback_takes_the_token_lab_up_wrote_a_remote_one_only_its_variable(tmp_path, monkeypatch):
    from workbench.lab.api import local_token
    from workbench.settings import LabSettings

    token = tmp_path / "token"
    token.write_text("abc\n")
    monkeypatch.delenv("T", raising=False)
    assert local_token(token, LabSettings("local", "http://127.0.0.1:8000/", "T")) == "abc"
    assert local_token(token, LabSettings("far", "https://lava.example.org/", "T")) is None
    monkeypatch.setenv("T", "from-env")
    assert local_token(token, LabSettings("local", "http://127.0.0.1:8000/", "T")) is None  # the variable wins


def test_configure_refuses_a_bad_fragment_line_and_leaves_no_new_build_directory(tmp_path):
    from types import SimpleNamespace

    from workbench.proc import Completed

    class FakeMake:  # what allnoconfig does with a garbage line: warns, and leaves it out
        build = tmp_path / "builds" / "minimal_mine"
        wt = SimpleNamespace(base=SimpleNamespace(name="v6.12", commit="c" * 40))

        def run(self, *args: str, **_: object) -> Completed:
            (self.build / ".config").write_text("CONFIG_MMU=y\n# CONFIG_DEBUG_VM is not set\n")
            return Completed(list(args), 0, "workbench.fragment:4:warning: unexpected data: CONFIG_DEBUG_VM y\n", 0.1)

    config = kbuild.Config("minimal+mine", (), "# --- kbuild/minimal.config\nCONFIG_MMU=y\n# --- kbuild/mine.config\n"
                                               "CONFIG_DEBUG_VM y\n")
    make = FakeMake()
    with pytest.raises(BadFragmentLine, match="unexpected data: CONFIG_DEBUG_VM y"):
        kbuild.configure(make, config)  # type: ignore[arg-type]
    assert not make.build.exists()
    make.build.mkdir(parents=True)  # configured by an earlier version, which did not check: checked now
    make.run()
    (make.build / ".workbench-fragment").write_text(f"{config.hash} {'c' * 40}\n")
    with pytest.raises(BadFragmentLine, match="the line `CONFIG_DEBUG_VM y`"):
        kbuild.configure(make, config)  # type: ignore[arg-type]
    assert make.build.exists()  # not ours to remove


def test_a_build_directory_configured_at_another_base_is_configured_again(tmp_path):
    """The series slot's one build directory serves every base: a .config made at v7.3 (no
    PROC_SYSCTL there) must not be taken as v6.12's because the fragments are the same."""
    from types import SimpleNamespace

    from workbench.kernel import kbuild
    from workbench.proc import Completed

    calls = []

    class FakeMake:
        build = tmp_path / "builds" / "minimal"
        wt = SimpleNamespace(base=SimpleNamespace(name="series", commit="a" * 40))

        def run(self, *args: str, **_: object) -> Completed:
            calls.append(self.wt.base.commit)
            (self.build / ".config").write_text("CONFIG_MMU=y\n")
            return Completed(list(args), 0, "", 0.1)

    config = kbuild.Config("minimal", (), "# --- kbuild/minimal.config\nCONFIG_MMU=y\n")
    make = FakeMake()
    kbuild.configure(make, config)  # type: ignore[arg-type]
    kbuild.configure(make, config)  # type: ignore[arg-type]
    make.wt.base.commit = "b" * 40
    kbuild.configure(make, config)  # type: ignore[arg-type]
    assert calls == ["a" * 40, "b" * 40]
