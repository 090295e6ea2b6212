"""Several guests at once: the rule `auto` follows, the setting, what the driver does with several
boots in flight (the one that ended first is collected first, each cell says how many guests ran
beside it, identities do not change), where a boot's seconds went, and cost rows compared only
between boots at equal concurrency."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import fake_lab
import pytest

from workbench.cells.cache import CellCache
from workbench.errors import BadSetting
from workbench.guest import room, script
from workbench.guest.vng import VngExecutor
from workbench.proc import Runner
from workbench.records import CellResult
from workbench.report.extra import OTHER_SESSION, cost_rows, shared_guests
from workbench.report.model import Column
from workbench.settings import Settings, VmSettings, parse_guests
from workbench.status import Status

GiB = 1 << 30


def test_auto_on_this_host_and_on_a_16_core_kvm_host():
    here = room.decide(0, "tcg", "4G", 2, cores=2, available=22 * GiB)
    assert here.guests == 1 and "1 by cores" in here.why and "3 by memory" in here.why
    assert room.decide(0, "tcg", "4G", 1, cores=2, available=22 * GiB).guests == 2  # 1-vCPU guests: two fit
    big = room.decide(0, "kvm", "4G", 2, cores=16, available=60 * GiB)
    assert big.guests == 8  # a KVM guest keeps its 2 vCPUs' cores busy; memory would allow 10
    assert room.decide(0, "kvm", "4G", 2, cores=16, available=12 * GiB).guests == 2  # memory decides
    assert room.decide(0, "tcg", "4G", 2, cores=1, available=22 * GiB).guests == 1  # never 0
    assert room.decide(3, "tcg", "4G", 2, cores=2, available=1 * GiB).guests == 3  # a number is taken as it is
    assert room.decide(0, "tcg", "4096M", 2, cores=64, available=0).guests == room.CAP  # memory unknown


def test_the_setting_takes_auto_or_a_number_and_refuses_the_rest(monkeypatch):
    monkeypatch.delenv("INVOKE_WORKBENCH_GUESTS", raising=False)
    assert parse_guests("auto") == 0 and parse_guests(3) == 3 and parse_guests(" 2 ") == 2
    for bad in ("many", "-1", "1.5"):
        with pytest.raises(BadSetting, match="--guests"):
            parse_guests(bad)
    s = Settings.from_mapping({"guests": "3"})
    assert s.guests == 3 and Settings.from_mapping(s.to_mapping()).guests == 3
    assert Settings.from_mapping({}).to_mapping()["guests"] == "auto"


@pytest.mark.parametrize("accel,cores,guests,in_flight,waits", [
    ("tcg", 2, 1, 0, False),  # one guest, no overlap: each cell collected at once, as before
    ("tcg", 2, 2, 2, True),  # several guests on 2 cores: every cell built first, then 2 at a time
    ("kvm", 16, 3, 3, False),  # room for overlap: boots while the next cells build
])
def test_vng_boots_guests_at_once_and_waits_for_builds_only_where_they_must_not_overlap(
        monkeypatch, tmp_path, accel, cores, guests, in_flight, waits):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    ex = VngExecutor(Settings(cache=tmp_path, guests=guests), Runner(), accel=accel)
    assert (ex.in_flight(), ex.waits_for_builds()) == (in_flight, waits)
    assert f"guests at once: {guests}" in ex.notes()[-1]


def test_the_boot_that_ended_first_is_collected_first_and_each_cell_counts_its_neighbours(tmp_path):
    lab = fake_lab.FakeLab(lanes=3, done_first=("b",))
    results = fake_lab.drive(tmp_path, lab, [])
    assert lab.events == ["submit base", "submit a", "submit b", "collect b", "collect base", "collect a"]
    assert [r.variant for r in results] == ["base", "a", "b"]  # still in the specs' order
    assert [r.guests for r in results] == [3, 3, 3]
    alone = fake_lab.drive(tmp_path / "2", fake_lab.FakeLab(lanes=0), [])
    assert [r.guests for r in alone] == [1, 1, 1]


def test_the_number_of_guests_is_not_part_of_a_cells_identity(tmp_path):
    fake_lab.driver_mod.build_cell = fake_lab.fake_build([])  # type: ignore[assignment]
    ids = []
    for guests in (0, 3):
        root = tmp_path / str(guests)
        driver = fake_lab.driver_mod.Driver(fake_lab.prepared(root), fake_lab.FakeLab(),
                                            CellCache(root / "cache" / "cells"),
                                            Settings(cache=root / "cache", guests=guests), Runner(), fake_lab.View(),
                                            record=lambda c: None)
        ids.append([r.identity for r in driver.run(fake_lab.specs())])
    assert ids[0] == ids[1]


def test_where_a_boots_seconds_went(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / script.TIMES).write_text("start 3.50\nsetup 4.25\ntest:cow 14.00\ntest:probe 20.00\ndone 20.50\n")
    (out / "done").write_text("done\n")
    submitted = 1000.0
    os.utime(out / "done", (submitted + 22.0, submitted + 22.0))
    split = script.phases(out, submitted, submitted + 23.5)
    assert split == {"kernel boot": 3.5, "set-up": 0.75, "test:cow": 9.75, "test:probe": 6.0, "after tests": 0.5,
                     "vm start": 1.5, "shutdown": 1.5}
    assert sum(split.values()) == pytest.approx(23.5)
    assert "vm start" not in script.phases(out)  # without the host's clock: the guest's own phases
    (out / script.TIMES).write_text("garbage\n")
    assert script.phases(out) == {}


def _column(index: int, variant: str, guests: list[int], values: list[float]) -> tuple[Column, list]:
    cells = [CellResult(identity=f"{variant}{i}", base="v6.12", variant=variant, commit="c", status=Status.PASS,
                        config="minimal", repeat=i, guests=g) for i, g in enumerate(guests)]
    return Column(index, variant, cells, config="minimal"), [({}, {"cold": v}) for v in values]


def test_cost_rows_are_compared_only_between_boots_at_equal_concurrency():
    base, base_boots = _column(0, "base", [2] * 5 + [1] * 5, [10.0] * 5 + [99.0] * 5)
    same, same_boots = _column(1, "same", [2] * 5, [10.0, 10.1, 9.9, 10.0, 10.05])
    alone, alone_boots = _column(2, "alone", [3] * 5, [10.0] * 5)
    assert shared_guests(base, same) == 2 and shared_guests(base, alone) is None
    rows = cost_rows([base, same, alone], {0: base_boots, 1: same_boots, 2: alone_boots})
    (row,) = rows
    assert row.comparisons[1] is not None and not row.comparisons[1].significant  # the 1-guest boots left out
    assert row.comparisons[2] is None  # nothing booted at equal concurrency: no comparison
    assert row.summaries[0] is not None and row.summaries[0].n == 10  # the summary keeps every boot


def test_a_cost_difference_is_marked_only_between_boots_of_one_run():
    """The A/A check of 2026-12-05: the base's 5 boots came from the cell cache (an earlier run), the
    A/A column's 5 were booted under another load, and a decision-cost row was marked (p 0.012)."""
    def boots(variant: str, session: str, cached: bool, values: list[float]) -> tuple[Column, list]:
        col, measured = _column(0 if variant == "base" else 1, variant, [1] * len(values), values)
        col.cells[:] = [dataclasses.replace(c, session=session, cached=cached) for c in col.cells]
        return col, measured

    base, base_boots = boots("base", "run1", True, [10.0, 10.1, 9.9, 10.0, 10.05])
    aa, aa_boots = boots("aa", "run2", False, [12.0, 12.1, 11.9, 12.0, 12.05])
    (row,) = cost_rows([base, aa], {0: base_boots, 1: aa_boots})
    c = row.comparisons[1]
    assert c is not None and c.change_pct == pytest.approx(20.0) and not c.significant and c.why_not == OTHER_SESSION
    here, here_boots = boots("base", "run2", False, [10.0, 10.1, 9.9, 10.0, 10.05])
    (row,) = cost_rows([here, aa], {0: here_boots, 1: aa_boots})
    assert row.comparisons[1] is not None and row.comparisons[1].significant  # one run: tested and marked


def test_a_record_without_guests_reads_as_one(tmp_path):
    old = {k: v for k, v in CellResult("i", "v6.12", "base", "c", Status.PASS).to_json().items()
           if k not in ("guests", "phases")}
    assert CellResult.from_json(old).guests == 1
    assert dataclasses.replace(CellResult.from_json(old), guests=2).to_json()["guests"] == 2
    assert Path(script.__file__).exists()


def test_the_guest_script_is_told_the_set_up_its_tests_kinds_need(tmp_path):
    cmd = script.command(Path("/k/guest.sh"), Path("/o"), Path("/t"), VmSettings(), ("probe",), ("swap", "thp"))
    assert cmd.startswith("WORKBENCH_SETUP=swap,thp /k/guest.sh /o /t 2G always 16 600 probe")
    assert script.command(Path("/k/guest.sh"), Path("/o"), Path("/t"), VmSettings(), ()).startswith("/k/guest.sh")
    assert "WORKBENCH_SETUP='' " in script.command(Path("/g"), Path("/o"), Path("/t"), VmSettings(), (), ())
    assert fake_lab.prepared(tmp_path).guest_setup == ("debugfs", "hugetlb", "ksm", "swap", "thp", "tmpfs-mnt")
    text = (Path(script.__file__).parents[2] / "kbuild" / "guest.sh").read_text()
    assert all(f"wants {need}" in text for need in ("debugfs", "tmpfs-mnt", "swap", "thp", "hugetlb", "sudo",
                                                    "tests-folder"))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare -m")
def test_the_guest_script_with_no_set_up_asked_runs_its_tests_from_a_copy_of_them_alone(tmp_path):
    """kbuild/guest.sh on this host in a mount namespace of its own (its tmpfs goes with it), told
    to set nothing up: it copies only the tests it runs, stamps its phases and leaves its files."""
    out, tests = tmp_path / "out", tmp_path / "tests"
    out.mkdir()
    tests.mkdir()
    (tests / "hello").write_text('#!/bin/bash\necho "TAP version 13"; echo "1..1"; echo "ok 1 $(ls | tr "\\n" " ")"\n')
    (tests / "hello").chmod(0o755)
    (tests / "other").write_text("not asked for\n")
    guest = Path(script.__file__).parents[2] / "kbuild" / "guest.sh"
    done = subprocess.run(["unshare", "-m", "bash", "-c", script.command(guest, out, tests, VmSettings(),
                                                                         ("hello",), ())],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "ok 1 hello \n" in (out / "hello.tap").read_text() and (out / "hello.rc").read_text() == "0\n"
    assert [name for name, _ in script.marks(out)] == ["start", "setup", "test:hello", "done"]
    env = script.read_env(out / "env.txt")
    assert env["setup"] == "" and env["kernel"] == os.uname().release and "virtme.exec" not in env["cmdline"]
    assert (out / "done").exists() and set(script.phases(out)) == {"kernel boot", "set-up", "test:hello", "after tests"}
