"""The verdict mapping, and a real `git bisect run` driven with a fake step runner."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fake_step import cells_for
from kernelfake import git, make_tree

from workbench import bisect
from workbench.errors import InfraError, UserError
from workbench.records import Case, CellResult, TestOutput
from workbench.settings import Settings
from workbench.status import Status

CASE = "Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"
OTHER = "Basic COW after fork() ... with base page"
HUGE = "R/O longterm GUP pin ... with swapped-out, PTE-mapped THP (1048576 kB)"


def cell(status=Status.PASS, cases=(), **kw) -> CellResult:
    out = TestOutput(test="cow", status=Status.PASS, cases=[Case("cow", n, s, r, env_skip=e) for n, s, r, e in cases],
                     plan=len(cases), complete=True, exit_code=0)
    return CellResult(identity="x", base="b", variant="base", commit="c", status=status, tests={"cow": out}, **kw)


WATCH = {f"cow: {CASE}": Status.PASS}


@pytest.mark.parametrize("c,policy,expected", [
    (cell(cases=[(CASE, Status.PASS, "", False)]), bisect.Policy(), bisect.Verdict.GOOD),
    (cell(cases=[(CASE, Status.SKIP, "MADV_PAGEOUT did not work, is swap enabled?", False)]), bisect.Policy(),
     bisect.Verdict.BAD),
    (cell(cases=[(CASE, Status.SKIP, "MADV_PAGEOUT did not work", False)]), bisect.Policy.parse("fail"),
     bisect.Verdict.GOOD),
    (cell(cases=[(CASE, Status.SKIP, "something else", False)]),
     bisect.Policy.parse("skip:MADV_PAGEOUT did not work"), bisect.Verdict.GOOD),
    (cell(cases=[(CASE, Status.SKIP, "MADV_PAGEOUT did not work, is swap enabled?", False)]),
     bisect.Policy.parse("skip:MADV_PAGEOUT did not work"), bisect.Verdict.BAD),
    (cell(cases=[(CASE, Status.FAIL, "", False)]), bisect.Policy(), bisect.Verdict.BAD),
    (cell(cases=[(CASE, Status.SKIP, "need more free huge pages", True)]), bisect.Policy(), bisect.Verdict.GOOD),
    (cell(cases=[(OTHER, Status.FAIL, "", False)]), bisect.Policy(), bisect.Verdict.SKIP),  # case not found
    (cell(Status.BUILD_FAILED, build_errors=["mm/madvise.c:1: error: x"]), bisect.Policy(), bisect.Verdict.SKIP),
    (cell(Status.CRASH, reason="kernel BUG at mm/madvise.c:519!"), bisect.Policy(), bisect.Verdict.BAD),
    (cell(Status.CRASH, reason="Oops"), bisect.Policy.parse(None, crash_skip=True), bisect.Verdict.SKIP),
    (cell(Status.INFRA_ERROR, reason="the VM did not start"), bisect.Policy(), bisect.Verdict.ABORT),
    (cell(Status.TIMEOUT, reason="no answer"), bisect.Policy(), bisect.Verdict.ABORT),
    (cell(Status.TIMEOUT, reason="stall", splat=["rcu: INFO: rcu_sched self-detected stall"]), bisect.Policy(),
     bisect.Verdict.BAD),
])
def test_verdict_mapping(c, policy, expected):
    assert bisect.verdict([c], WATCH, policy)[0] is expected


def test_only_cases_that_passed_at_good_are_watched():
    ref = cell(cases=[(CASE, Status.PASS, "", False), (HUGE, Status.SKIP, "need more free huge pages", True),
                      (OTHER, Status.PASS, "", False)])
    assert bisect.watched(ref, ["swapped-out, PTE-mapped THP"]) == WATCH


def test_repeat_any_bad_run_makes_the_step_bad():
    ok = cell(cases=[(CASE, Status.PASS, "", False)])
    flaky = cell(cases=[(CASE, Status.SKIP, "MADV_PAGEOUT did not work", False)])
    assert bisect.verdict([ok, flaky], WATCH, bisect.Policy())[0] is bisect.Verdict.BAD


def test_bad_on_parsing():
    assert bisect.Policy.parse("fail") == bisect.Policy(fail=True, skip=False)
    assert bisect.Policy.parse("skip:MADV_PAGEOUT").skip_reason == "MADV_PAGEOUT"
    with pytest.raises(UserError, match="'sometimes' is not fail, skip or skip:<reason>"):
        bisect.Policy.parse("sometimes")


def history(tmp_path: Path, n: int, planted: int, broken: tuple[int, int] | None = None) -> tuple[Path, list[str], dict]:
    """A fake tree with n commits after the tag; commit `planted` brings the regression;
    commits in [broken[0], broken[1]) do not build."""
    repo = make_tree(tmp_path, "v6.10", tag="v6.12")
    commits = [git(repo, "rev-parse", "HEAD").strip()]
    table = {commits[0]: {"cases": {CASE: ["PASS", ""], OTHER: ["PASS", ""]}}}
    for i in range(1, n + 1):
        (repo / "mm" / f"note{i}.txt").write_text(f"{i}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"mm: harmless change {i}" if i != planted else "mm/madvise: bring back folio_mapcount() != 1")
        sha = git(repo, "rev-parse", "HEAD").strip()
        commits.append(sha)
        if broken and broken[0] <= i < broken[1]:
            table[sha] = {"status": "BUILD_FAILED", "build_errors": ["mm/note.c:1: error: broken on purpose"]}
        elif i >= planted:
            table[sha] = {"cases": {CASE: ["SKIP", "MADV_PAGEOUT did not work, is swap enabled?"], OTHER: ["PASS", ""]}}
        else:
            table[sha] = {"cases": {CASE: ["PASS", ""], OTHER: ["PASS", ""]}}
    return repo, commits, table


def run_fake(tmp_path: Path, repo: Path, commits: list[str], table: dict, **kw) -> bisect.BisectOutcome:
    tfile = tmp_path / "table.json"
    tfile.write_text(json.dumps(table))
    settings = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
    req = bisect.BisectRequest(good=commits[0], bad=commits[-1], tests=("cow",), cases=("swapped-out, PTE-mapped THP",),
                               tree=str(repo), **kw)
    step = [sys.executable, str(Path(__file__).parent / "fakes" / "fake_step.py"), str(tfile)]
    return bisect.bisect(req, settings, lambda m: None, step=step,
                         reference=lambda base: cells_for(table, base.commit))


def test_git_bisect_run_names_the_planted_commit(tmp_path):
    repo, commits, table = history(tmp_path, 20, planted=13)
    before = git(repo, "for-each-ref") + git(repo, "worktree", "list")
    out = run_fake(tmp_path, repo, commits, table)
    assert out.first_bad["commit"] == commits[13]
    assert out.first_bad["subject"] == "mm/madvise: bring back folio_mapcount() != 1"
    assert 4 <= len(out.steps) <= 6  # about log2(20)
    assert all(s["verdict"] in ("good", "bad") for s in out.steps)
    assert "first bad commit" in out.log.read_text()
    assert git(repo, "for-each-ref") + git(repo, "worktree", "list") == before  # user's repo untouched


def test_a_finished_bisection_is_reset_and_the_same_one_runs_again_in_full(tmp_path):
    repo, commits, table = history(tmp_path, 20, planted=13)
    first = run_fake(tmp_path, repo, commits, table)
    gitdirs = list((tmp_path / "cache").glob("clones/*/.git/worktrees/*"))
    assert gitdirs and not any((d / "BISECT_START").exists() for d in gitdirs)
    again = run_fake(tmp_path, repo, commits, table)
    assert again.first_bad["commit"] == commits[13] and len(again.steps) == len(first.steps)


def test_build_failures_are_skipped_and_logged(tmp_path):
    repo, commits, table = history(tmp_path, 20, planted=13, broken=(8, 12))
    out = run_fake(tmp_path, repo, commits, table)
    assert out.first_bad["commit"] == commits[13]
    skipped = [s for s in out.steps if s["verdict"] == "skip"]
    assert skipped and "does not build" in skipped[0]["reason"]
    assert "git bisect skip" in out.log.read_text()


def test_infrastructure_failure_aborts_instead_of_answering(tmp_path):
    repo, commits, table = history(tmp_path, 8, planted=5)
    for sha in commits[1:]:
        table[sha] = {"status": "INFRA_ERROR", "reason": "the VM did not start"}
    with pytest.raises(InfraError, match="without an answer"):
        run_fake(tmp_path, repo, commits, table)


def test_named_case_that_never_passed_at_good_is_an_error(tmp_path):
    repo, commits, table = history(tmp_path, 4, planted=2)
    table[commits[0]]["cases"][CASE] = ["SKIP", "MADV_PAGEOUT did not work"]
    with pytest.raises(UserError, match="nothing to bisect on"):
        run_fake(tmp_path, repo, commits, table)
    assert not list((tmp_path / "out" / "results").glob("*"))  # refused before the run folder was opened


def test_a_test_the_good_end_lacks_is_refused_before_anything(tmp_path):
    repo, commits, _ = history(tmp_path, 4, planted=2)
    calls = []
    settings = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
    req = bisect.BisectRequest(good=commits[0], bad=commits[-1], tests=("nosuchtest",), cases=("x",), tree=str(repo))
    with pytest.raises(UserError, match="--test nosuchtest: no such test at --good") as err:
        bisect.bisect(req, settings, lambda m: None, step=["true"], reference=lambda base: calls.append(base) or [])
    assert "cow" in err.value.hint and not calls and not (tmp_path / "out" / "results").exists()


def test_imports_without_history_are_refused_saying_so(tmp_path):
    """Two orphan commits, as two Debian imports are in debian.git: no history between them, and the
    refusal says so and how to get one; a history planted on an import bisects (see above)."""
    repo, commits, _ = history(tmp_path, 2, planted=2)
    git(repo, "checkout", "-q", "--orphan", "import-7.3")
    git(repo, "commit", "-q", "-m", "linux-source-7.3 7.3.4")
    git(repo, "tag", "v7.3")
    settings = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
    for good, bad, alone in (("v6.12", "v7.3", "v6.12 and v7.3 have"), (commits[-1], "v7.3", "v7.3 has"),
                             ("v7.3", "v7.3", "v7.3 has")):
        req = bisect.BisectRequest(good=good, bad=bad, tests=("cow",), cases=("x",), tree=str(repo))
        with pytest.raises(UserError, match="no history") as err:
            bisect.bisect(req, settings, lambda m: None, step=["true"], reference=lambda base: [])
        assert f"{alone} no history" in err.value.message and "Debian import" in err.value.message
        assert "plant one" in err.value.hint and "--tree" in err.value.hint
    assert not (tmp_path / "out" / "results").exists()
    req = bisect.BisectRequest(good=commits[-1], bad=commits[1], tests=("cow",), cases=("x",), tree=str(repo))
    with pytest.raises(UserError, match="is not an ancestor") as err:  # a tree with history: the plain refusal
        bisect.bisect(req, settings, lambda m: None, step=["true"], reference=lambda base: [])
    assert "no history" not in err.value.message


def test_a_step_process_sees_the_same_settings_as_the_command():
    """The bisect step runs in its own process: every setting must reach it (VM, fragments, jobs)."""
    s = Settings.from_mapping({"cache": "/tmp/c", "outputs": "/tmp/o", "fragments": "minimal,debug", "jobs": 3,
                               "vm": {"hugetlb_2m": 19, "memory": "6G"}, "tree": "/tmp/t"})
    assert Settings.from_mapping(json.loads(json.dumps(s.to_mapping()))) == s
