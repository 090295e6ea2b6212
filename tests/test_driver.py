"""The one driver loop through the executor seam: a fake lab that runs many cells at once, a
collect that happens in a second process after a Ctrl-C, the cache; and the plan."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fake_lab
import pytest

from workbench.cells.cache import CellCache
from workbench.cells.plan import plan
from workbench.kernel.tree import Base
from workbench.proc import Runner
from workbench.settings import Settings
from workbench.status import Status
from workbench.study.commits import PatchSet, VariantPatch


def test_a_lab_gets_every_cell_before_any_is_collected(tmp_path):
    lab, builds = fake_lab.FakeLab(lanes=4), []
    results = fake_lab.drive(tmp_path, lab, builds)
    assert lab.events == ["submit base", "submit a", "submit b", "collect base", "collect a", "collect b"]
    assert [(r.variant, r.status) for r in results] == [("base", Status.PASS)] * 1 + [("a", Status.PASS),
                                                                                     ("b", Status.PASS)]
    assert all(r.executor == "fakelab (qemu)" and r.tests["cow"].cases[1].status is Status.SKIP for r in results)
    assert builds == ["base", "a", "b"]
    # a verdict is kept and the image it booted is gone
    assert all((Path(r.dir) / "cell.json").exists() and not (Path(r.dir) / "bzImage").exists() for r in results)


def test_one_lane_collects_each_cell_before_the_next_is_submitted(tmp_path):
    lab = fake_lab.FakeLab(lanes=0)
    fake_lab.drive(tmp_path, lab, [])
    assert lab.events == ["submit base", "collect base", "submit a", "collect a", "submit b", "collect b"]


def test_an_executor_that_waits_for_builds_gets_every_cell_after_the_last_build(tmp_path):
    lab, builds = fake_lab.FakeLab(lanes=4, waits=True), []
    view = fake_lab.View()
    driver_mod = fake_lab.driver_mod
    driver_mod.build_cell = fake_lab.fake_build(builds)  # type: ignore[assignment]
    driver_mod.Driver(fake_lab.prepared(tmp_path), lab, CellCache(tmp_path / "cache" / "cells"),
                      Settings(cache=tmp_path / "cache"), Runner(), view, record=lambda c: None).run(fake_lab.specs())
    assert lab.events == ["submit base", "submit a", "submit b", "collect base", "collect a", "collect b"]
    built = [i for i, line in enumerate(view.lines) if line.endswith(": building")]
    booted = [i for i, line in enumerate(view.lines) if line.endswith(": booting")]
    assert len(built) == 3 and max(built) < min(booted)  # nothing boots while make runs
    assert "every cell is built: submitting 3 to fakelab (qemu)" in view.lines
    assert lab.tells == [("attached", "", "")]


def test_an_infrastructure_error_is_submitted_once_more_and_its_reason_kept(tmp_path):
    lab = fake_lab.FakeLab(lanes=4, retries=1, fail_first=("a",))
    results = fake_lab.drive(tmp_path, lab, [])
    assert lab.events == ["submit base", "submit a", "submit b", "collect base", "collect a", "submit a",
                          "collect b", "collect a"]  # submitted again at once, collected last
    a = results[1]
    assert a.status is Status.PASS and a.earlier == ["the guest was lost (job job-" + a.identity[:6] + " Canceled)"]
    assert a.detail == f"job job-{a.identity[:6]}"
    no_retry = fake_lab.FakeLab(lanes=0, fail_first=("b",))
    assert fake_lab.drive(tmp_path / "2", no_retry, [])[2].status is Status.INFRA_ERROR  # retries 0: next run


def test_after_a_ctrl_c_a_second_process_follows_the_submitted_cells(tmp_path):
    interrupted = fake_lab.FakeLab(interrupt_collect=True)
    with pytest.raises(KeyboardInterrupt):
        fake_lab.drive(tmp_path, interrupted, [])
    assert interrupted.events == ["submit base", "submit a", "submit b"]
    handles = sorted((tmp_path / "cache" / "cells").glob("*/handle.json"))
    assert len(handles) == 3 and not list((tmp_path / "cache" / "cells").glob("*/cell.json"))
    done = subprocess.run([sys.executable, str(Path(fake_lab.__file__)), str(tmp_path)], capture_output=True,
                          text=True, check=True)
    second = json.loads(done.stdout)
    assert second["builds"] == [] and not any(e.startswith("submit") for e in second["events"])
    assert second["events"] == ["collect base", "collect a", "collect b"]
    assert second["results"] == [["base", "PASS", False], ["a", "PASS", False], ["b", "PASS", False]]


def test_a_finished_cell_comes_from_the_cache_and_an_infrastructure_error_runs_again(tmp_path):
    fake_lab.drive(tmp_path, fake_lab.FakeLab(), [])
    cells = tmp_path / "cache" / "cells"
    broken = next(p for p in cells.glob("*/cell.json") if json.loads(p.read_text())["variant"] == "a")
    data = json.loads(broken.read_text())
    broken.write_text(json.dumps({**data, "status": "INFRA_ERROR"}))
    lab, builds = fake_lab.FakeLab(), []
    results = fake_lab.drive(tmp_path, lab, builds)
    assert builds == ["a"] and lab.events == ["submit a", "collect a"]
    assert [(r.variant, r.cached) for r in results] == [("base", True), ("a", False), ("b", True)]


def test_a_variant_whose_kernel_is_the_bases_gets_the_bases_cell_and_no_boot(tmp_path):
    lab = fake_lab.FakeLab(lanes=0)
    results = fake_lab.drive(tmp_path, lab, [], same_code=("a",))
    assert lab.events == ["submit base", "collect base", "submit b", "collect b"]  # a was not booted
    base, a, b = results
    assert a.same_code and a.variant == "a" and a.status is base.status and a.tests == base.tests
    assert not b.same_code and a.identity != base.identity  # a's own identity, holding the base's result
    again = fake_lab.drive(tmp_path, fake_lab.FakeLab(lanes=0), [], same_code=("a",))
    assert again[1].same_code and again[1].cached


def test_no_reuse_boots_it_anyway_even_when_the_fold_is_cached(tmp_path):
    fake_lab.drive(tmp_path, fake_lab.FakeLab(lanes=0), [], same_code=("a",))
    lab = fake_lab.FakeLab(lanes=0)
    results = fake_lab.drive(tmp_path, lab, [], same_code=None)
    assert lab.events.count("submit a") == 1 and not results[1].same_code


# --- the plan -------------------------------------------------------------------------------------------

class _Git:
    def out(self, *args: str) -> str:
        return "\n".join(f"tree-of-{a[:7]}" for a in args[1:])


def patchset(same: tuple[str, ...] = (), approximate: tuple[str, ...] = ()) -> PatchSet:
    base = Base("v6.12", "a" * 40)
    variants = [VariantPatch(v, v in same, commit=None if v in same else c * 40, approximate=v in approximate)
                for v, c in (("folio_mapcount", "b"), ("page_mapcount", "c"), ("folio_estimated_sharers", "d"))]
    return PatchSet(base, "6.12.117", "mapcount", "mm/madvise.c", [], variants)


def test_the_plan_puts_repeats_outside_configs_outside_columns():
    ps = patchset(same=("page_mapcount",), approximate=("folio_estimated_sharers",))
    p = plan(_Git(), ps, ["folio_mapcount", "page_mapcount", "folio_estimated_sharers"], True,  # type: ignore[arg-type]
             ["minimal", "minimal+debug"], 2)
    assert p.columns == ["base", "folio_mapcount", "page_mapcount", "folio_estimated_sharers"]
    assert p.same_as_base == ["page_mapcount"] and p.approximate == ["folio_estimated_sharers"]
    assert [s.name for s in p.specs[:3]] == ["minimal/base", "minimal/folio_mapcount",
                                             "minimal/folio_estimated_sharers"]
    assert [s.name for s in p.specs[3:6]] == ["minimal+debug/base", "minimal+debug/folio_mapcount",
                                              "minimal+debug/folio_estimated_sharers"]
    assert p.specs[6].name == "minimal/base #2" and p.specs[6].repeat == 1 and len(p.specs) == 12
    assert p.specs[0].change == "base" and p.specs[1].change == "tree-of-bbbbbbb"


def test_a_run_of_a_same_as_base_variant_runs_the_base_for_it():
    p = plan(_Git(), patchset(same=("page_mapcount",)), ["page_mapcount"], False, ["minimal"], 1)  # type: ignore[arg-type]
    assert p.columns == ["page_mapcount"] and [s.variant for s in p.specs] == ["base"]
    p = plan(_Git(), patchset(), ["base"], False, ["minimal"], 1)  # type: ignore[arg-type]
    assert p.columns == ["base"] and [s.label for s in p.specs] == ["base"]


class Unsettled(fake_lab.FakeLab):
    """An executor whose identity is known only once it has seen a kernel image (virtme-ng's KVM probe)."""

    seen: Path | None = None

    @property
    def ready(self) -> bool:
        return self.seen is not None

    def prepare(self, image: Path, say: object) -> None:
        self.seen = image


def test_the_executor_is_settled_before_the_first_identity_with_an_image_the_base_already_has(tmp_path):
    from workbench.cells import setup

    ready = fake_lab.prepared(tmp_path)
    image = ready.configs["minimal"].build / "arch" / "x86" / "boot" / "bzImage"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"an earlier build's kernel")
    lab = Unsettled()
    setup.settle(ready, lab, Runner(), tmp_path, lambda m: None)
    assert lab.seen == image  # no build needed: every cell's identity is known before the driver starts
