"""Run folders and their states: the prologue leaves nothing behind for a refused run, reports and
series take only finished runs, damaged records are named, and a first-wave run still renders."""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest
from kernelfake import make_tree

from workbench import matrix, report, runs
from workbench.errors import UserError
from workbench.kernel.tree import Base, KernelTree, hold_lock
from workbench.proc import Runner
from workbench.records import CellResult, Run, RunKind, RunState
from workbench.settings import PROJECT_ROOT, Settings
from workbench.status import Status

FIRST_WAVE = Path(__file__).parent / "data" / "first-wave" / "20261201-081830-v6.12"


def settings_for(tmp_path: Path) -> Settings:
    return Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})


def record(tmp_path: Path, name: str, state: RunState, cells: int = 1, kind: str = "matrix", base: str = "v6.12",
           pid: int | None = None) -> Run:
    folder = tmp_path / "out" / "results" / name
    folder.mkdir(parents=True)
    run = Run(dir=folder, kind=RunKind(kind), base=base, commit="c" * 40, kernelversion="6.12.117",
              study="mapcount", tests=["cow"], variants=["base"], command="invoke matrix", state=state,
              pid=pid if pid is not None else os.getpid())
    run.cells = [CellResult(identity=f"i{i}", base=base, variant="base", commit="c", status=Status.PASS, repeat=i)
                 for i in range(cells)]
    run.save()
    return run


def no_runs(tmp_path: Path) -> bool:
    return not list((tmp_path / "out" / "results").glob("*")) if (tmp_path / "out" / "results").exists() else True


def test_a_run_refused_by_the_lock_leaves_no_folder(tmp_path):
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    s = settings_for(tmp_path)
    runner = Runner()
    kt = KernelTree.open(s, runner, repo)
    base = kt.resolve("v6.12")
    lock = kt.base_dir(base) / "lock"
    lock.parent.mkdir(parents=True)
    record_ = Run(dir=Path(), kind=RunKind.MATRIX, base="v6.12", commit=base.commit, kernelversion="",
                  study="mapcount", tests=["cow"], variants=[], command="x")
    with hold_lock(lock, "another run"), pytest.raises(UserError, match="in use by workbench pid"), \
            runs.prologue(kt, base, s, runner, record_):
        pass
    assert no_runs(tmp_path) and not runner.log


@pytest.mark.parametrize("change,match", [
    ({"repeat": 0}, "--repeat must be 1 or more"), ({"repeat": -1}, "--repeat must be 1 or more"),
    ({"tests": ()}, "no tests named"), ({"tests": ("nosuchtest",)}, "no test nosuchtest: not a probe"),
    ({"base": "v9.99"}, "unknown tag or ref 'v9.99'"), ({"variants": ("nope",)}, "has no variant 'nope'"),
    ({"configs": "minimal+nofrag"}, "no config fragment 'nofrag'")])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, change, match):
    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    configs = change.pop("configs", None)  # a setting: in the Settings the task makes from the flags
    req = matrix.MatrixRequest(**{"base": "v6.12", "tests": ("cow",), "tree": str(repo), **change})
    settings = Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")},
                                     configs=configs)
    with pytest.raises(UserError, match=match):
        matrix.execute(req, settings, lambda m: None)
    assert no_runs(tmp_path) and not (tmp_path / "out" / "patches").exists()


def test_states_on_disk_and_a_killed_run_reads_as_interrupted(tmp_path):
    s = settings_for(tmp_path)
    record(tmp_path, "1-done", RunState.FINISHED)
    record(tmp_path, "2-live", RunState.RUNNING)
    record(tmp_path, "3-killed", RunState.RUNNING, pid=2 ** 22 + 4321)  # no such process
    states = {r.id: r.state for r in runs.list_runs(s)}
    assert states == {"1-done": RunState.FINISHED, "2-live": RunState.RUNNING, "3-killed": RunState.INTERRUPTED}


def test_report_takes_the_newest_finished_run_with_cells_and_a_named_one_as_it_is(tmp_path):
    s = settings_for(tmp_path)
    record(tmp_path, "20261201-000001-v6.12", RunState.FINISHED)
    record(tmp_path, "20261201-000002-v6.12", RunState.FINISHED, cells=0)  # empty
    record(tmp_path, "20261201-000003-v6.12", RunState.INTERRUPTED)
    record(tmp_path, "20261201-000004-v6.12-bisect", RunState.FINISHED, kind="bisect")
    record(tmp_path, "20261201-000005-v6.12", RunState.RUNNING)
    assert runs.find_run(s, None).id == "20261201-000001-v6.12"
    named = runs.find_run(s, "20261201-000003")
    assert named.state is RunState.INTERRUPTED
    assert "[INTERRUPTED]" in report.render(named, "text").splitlines()[0]
    assert "[INTERRUPTED]" not in report.render(runs.find_run(s, None), "text").splitlines()[0]


def test_nothing_finished_is_an_error_that_says_what_to_do(tmp_path):
    record(tmp_path, "20261201-000003-v6.12", RunState.INTERRUPTED)
    with pytest.raises(UserError, match="no finished matrix/run run with results"):
        runs.find_run(settings_for(tmp_path), None)


def test_damaged_records_are_named_and_the_others_listed(tmp_path):
    s = settings_for(tmp_path)
    record(tmp_path, "20261201-000001-v6.12", RunState.FINISHED)
    for name, content in (("2-cut", b'{"kind": "matr'), ("3-list", b"[1, 2]"), ("4-empty", b"{}"),
                          ("5-binary", b"\xff\xfe\x00garbage")):
        folder = tmp_path / "out" / "results" / name
        folder.mkdir()
        (folder / "run.json").write_bytes(content)
    text = runs.listing(s)
    assert "20261201-000001-v6.12" in text
    for name in ("2-cut", "3-list", "4-empty", "5-binary"):
        assert f"damaged: {tmp_path / 'out' / 'results' / name / 'run.json'}" in text
        with pytest.raises(UserError, match="is damaged and cannot be read"):
            runs.find_run(s, str(tmp_path / "out" / "results" / name))
    assert runs.find_run(s, None).id == "20261201-000001-v6.12"


def test_series_refuses_a_named_unfinished_or_empty_run(tmp_path):
    from workbench import series
    from workbench.study.model import load

    mapcount = load(PROJECT_ROOT / "templates", "mapcount")
    lazyfree = load(PROJECT_ROOT / "templates", "lazyfree")
    record(tmp_path, "20261201-000003-v6.12", RunState.INTERRUPTED)
    with pytest.raises(UserError, match="is interrupted with 1 cell"):
        series._table_run(series.SeriesRequest(base="v6.12", variant="x", run="20261201-000003"),
                          settings_for(tmp_path), mapcount, [])
    notes: list[str] = []
    assert series._table_run(series.SeriesRequest(base="v6.12", variant="x"), settings_for(tmp_path), mapcount,
                             notes) is None
    assert notes == ["no finished matrix run of study mapcount at v6.12 yet: the cover letter says so"]
    # another study's table speaks of other code: never taken, and refused when named
    record(tmp_path, "20261201-000004-v6.12", RunState.FINISHED)
    notes = []
    assert series._table_run(series.SeriesRequest(base="v6.12", variant="x"), settings_for(tmp_path), lazyfree,
                             notes) is None and "of study lazyfree" in notes[0]
    with pytest.raises(UserError, match="is of study 'mapcount', not 'lazyfree'"):
        series._table_run(series.SeriesRequest(base="v6.12", variant="x", run="20261201-000004"),
                          settings_for(tmp_path), lazyfree, [])


def test_a_run_records_its_settings_and_its_vm_and_they_round_trip(tmp_path):
    s = Settings.from_mapping({"cache": "/tmp/c", "configs": "minimal,minimal+debug", "vm": {"memory": "6G"},
                               "overlap": "off"})
    assert Settings.from_mapping(json.loads(json.dumps(s.to_mapping()))) == s
    assert Settings.from_mapping({"fragments": "minimal,debug"}).configs == ("minimal+debug",)
    run = record(tmp_path, "r", RunState.FINISHED)
    run.vm, run.settings = s.vm.to_mapping(), s.to_mapping()
    run.save()
    again = Run.load(run.dir)
    assert again.vm["memory"] == "6G" and again.settings["configs"] == "minimal,minimal+debug"


def test_the_reproduce_command_is_quoted():
    req = matrix.MatrixRequest(base="v6.12", variants=("folio_mapcount",), tests=("cow",), tree="/my trees/linux",
                               flags=matrix.given(configs="minimal,minimal+debug", study=None, timeout=120.0))
    assert req.command() == ("invoke matrix --base v6.12 --variants folio_mapcount --tests cow "
                             "--tree '/my trees/linux' --configs minimal,minimal+debug --timeout 120.0")


def test_a_first_wave_run_folder_still_renders(tmp_path):
    folder = tmp_path / FIRST_WAVE.name
    shutil.copytree(FIRST_WAVE, folder)
    with gzip.open(folder / "run.json.gz") as fh:
        (folder / "run.json").write_bytes(fh.read())
    run = runs.load(folder)
    assert run.state is RunState.FINISHED and run.kind is RunKind.MATRIX and run.configs == ["minimal"]
    assert run.config_hashes == {"minimal": "2478f5f5198a273f"} and not run.words
    m = report.matrix_rows(run)
    assert [c.variant for c in m.columns] == run.variants and len(m.columns) == 5 and len(m.rows) == 884
    assert [c.status for c in m.columns] == [Status.FAIL] * 5  # the probe fails the kernel's known mistakes
    text = report.render(run, "text", PROJECT_ROOT / "templates")
    assert "executor: vng (tcg)" in text.splitlines()[0]
    assert "probe: what each variant does to exclusive and shared folios" in text  # words from the study
    for fmt in report.FORMATS:
        assert report.render(run, fmt, PROJECT_ROOT / "templates")
    assert report.compare(run, run).endswith("No status changed, no verdict word changed, no cost changed significantly.\n")


def test_base_named_for_a_run_folder_has_a_slug():
    assert Base("review/branch v2", "c").slug == "review_branch_v2"


def test_missing_qemu_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    from workbench.errors import InfraError
    from workbench.guest import accel

    repo = make_tree(tmp_path, "v6.10", headers="v6.12", tag="v6.12")
    repo_tests = repo / "tools" / "testing" / "selftests" / "mm"
    repo_tests.mkdir(parents=True, exist_ok=True)
    (repo_tests / "cow.c").write_text("int main(void) { return 0; }\n")
    from kernelfake import git
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "cow")
    git(repo, "tag", "-f", "v6.12")
    from workbench.guest import vng

    monkeypatch.setattr(accel, "qemu_binary", lambda: None)
    monkeypatch.setattr(vng, "vng_path", lambda: "/usr/bin/vng")  # installed or not, QEMU is what is missing
    req = matrix.MatrixRequest(base="v6.12", tests=("cow",), tree=str(repo))
    with pytest.raises(InfraError, match="qemu-system-x86_64 is not installed, so no kernel can boot"):
        matrix.execute(req, settings_for(tmp_path), lambda m: None)
    assert no_runs(tmp_path) and not (tmp_path / "cache" / "accel.json").exists()


def test_a_run_where_no_cell_reached_a_verdict_exits_non_zero(tmp_path):
    from invoke import Exit

    import tasks

    run = record(tmp_path, "r", RunState.FINISHED)
    run.cells[0].status = Status.INFRA_ERROR
    with pytest.raises(Exit) as exc:
        tasks._exit_unless_verdicts(run)
    assert exc.value.code == 3 and "no cell reached a verdict" in str(exc.value.message)
    run.cells[0].status = Status.FAIL
    tasks._exit_unless_verdicts(run)  # a failing kernel is a verdict: exit 0


def test_results_lists_states_and_repeats(tmp_path):
    record(tmp_path, "20261201-000001-v6.12", RunState.FINISHED, cells=2)
    record(tmp_path, "20261201-000002-v6.12", RunState.RUNNING, pid=2 ** 22 + 99)
    text = runs.listing(settings_for(tmp_path))
    assert "finished" in text and "interrupted" in text and "base=PASS, base #2=PASS" in text
