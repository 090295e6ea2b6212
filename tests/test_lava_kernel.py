"""The LAVA executor for real: `invoke lab up` on this host, then a small matrix (base and
folio_mapcount at v6.12, cow) through the local lab. Slow (a minute or two); needs root, the
Debian 6.12 tree in the cache and apt's network for a first `lab up`. The test fails, and does not
skip, when the lab does not come up. Run it with `.venv/bin/python -m pytest -m kernel -k lava`.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from test_kernel import SETTINGS, invoke, latest_run, need_tree

pytestmark = pytest.mark.kernel

CACHE = Path(os.environ.get("INVOKE_WORKBENCH_CACHE") or SETTINGS.cache).expanduser()


def forget_lab_cells(base: str) -> None:
    """The lab's finished cells of `base` leave the cell cache, so that the lab really runs them."""
    for record in CACHE.glob("cells/*/cell.json"):
        cell = json.loads(record.read_text())
        if cell.get("base") == base and str(cell.get("executor", "")).startswith("lab local"):
            shutil.rmtree(record.parent)


def test_a_small_matrix_runs_on_the_local_lab_and_the_token_stays_out_of_every_file(tmp_path, monkeypatch):
    need_tree("v6.12")
    up = invoke(tmp_path, "lab", "up", timeout=900)  # fails the test if the lab does not come up
    assert "is up" in up.stdout and "export WORKBENCH_LAVA_TOKEN=$(cat " in up.stdout
    token = (CACHE / "lab" / "token").read_text().strip()
    assert token and token not in up.stdout + up.stderr
    monkeypatch.setenv("WORKBENCH_LAVA_TOKEN", token)
    forget_lab_cells("v6.12")
    done = invoke(tmp_path, "matrix", "--base", "v6.12", "--tests", "cow", "--variants", "folio_mapcount",
                  "--lab", "local", "--format", "json", timeout=1800)
    run = latest_run(tmp_path)
    assert run["executor"] == "lab local (qemu)" and run["settings"]["lab"] == "local"
    cells = {c["variant"]: c for c in run["cells"]}
    assert {v: c["status"] for v, c in cells.items()} == {"base": "PASS", "folio_mapcount": "PASS"}
    assert all(c["detail"].startswith("LAVA job ") and " Complete on qemu-0" in c["detail"] and not c["cached"]
               for c in cells.values())
    thp = [x for x in cells["folio_mapcount"]["tests"]["cow"]["cases"] if "swapped-out, PTE-mapped THP" in x["name"]]
    assert len(thp) == 112 and {x["status"] for x in thp} == {"SKIP"}  # the variant's known regression
    run_dir = next((tmp_path / "results").glob("*/run.json")).parent
    files = [p for p in run_dir.rglob("*") if p.is_file()] + list((CACHE / "logs").glob("*.log"))
    files += [p for c in cells.values() for p in Path(c["dir"]).rglob("*") if p.is_file()]
    assert (run_dir / "commands.log").exists() and (run_dir / "cells" / "base" / "cow.tap").exists()
    assert [str(p) for p in files if token.encode() in p.read_bytes()] == []
    assert token not in done.stdout + done.stderr


def test_a_coverage_kernels_counters_come_back_from_the_lab_with_the_known_decisions(tmp_path, monkeypatch):
    """The lab's console archive carries the gcov counters (gcov/<test>/...): on 2026-12-05 it kept
    only top-level files and the lab's coverage column read "the guest left no gcov counters"."""
    from test_coverage_kernel import decisions

    need_tree("v6.12")
    invoke(tmp_path, "lab", "up", timeout=900)
    monkeypatch.setenv("WORKBENCH_LAVA_TOKEN", (CACHE / "lab" / "token").read_text().strip())
    forget_lab_cells("v6.12")
    invoke(tmp_path, "matrix", "--base", "v6.12", "--configs", "minimal+coverage", "--tests", "probe",
           "--variants", "folio_mapcount", "--lab", "local", "--format", "json", timeout=3600)
    run = latest_run(tmp_path)
    assert run["executor"] == "lab local (qemu)"
    four = "MADV_PAGEOUT four THPs in one page table, a child maps the second"
    assert decisions(run, "base", four, "PTE final check") == {(1, 3)}
    assert decisions(run, "folio_mapcount", four, "PTE final check") == {(4, 0)}
    assert decisions(run, "base", "MADV_PAGEOUT exclusive PMD-mapped THP (2048 kB)", "PMD path") == {(0, 1)}
