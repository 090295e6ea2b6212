"""KCIDB export: a real run (Linux 6.12.117's cow and probe captures, a crashed column, a
same-as-base column) validates with kcidb-io's own schema; a broken run and a bad origin are
refused before anything is written."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import kcidb_io
import pytest
from test_report import REAL, real_run

from workbench import report
from workbench.errors import UserError
from workbench.guest import tap
from workbench.records import Run
from workbench.report import kcidb
from workbench.settings import PROJECT_ROOT


def with_probe(tmp_path: Path) -> Run:
    """The real run, with the real probe output of base and folio_mapcount and the study's words."""
    run = real_run(tmp_path)
    for cell, name in ((run.cells[0], "base"), (run.cells[1], "folio_mapcount")):
        text = (REAL / f"v6.12.118-{name}-probe.tap").read_text()
        cell.tests["probe"] = tap.parse(text, "probe", exit_code=0)
    run.tests = ["cow", "probe"]
    run.commit = hashlib.sha1(b"v6.12.117").hexdigest()  # the helper's short id: KCIDB wants all 40 digits
    return run


def exported(run: Run, **kw: str) -> kcidb.Export:
    return report.kcidb_export(report.matrix_rows(run), report.KcidbOptions(**kw), PROJECT_ROOT / "templates")


def test_a_real_run_validates_with_the_schema_of_kcidb_io(tmp_path):
    done = exported(with_probe(tmp_path), origin="my_lab", repo_url="https://example.org/linux.git",
                    patch_url="https://example.org/p/")
    data = json.loads(done.text)
    kcidb_io.schema.LATEST.validate(data)  # the package's own check, again, on what is written
    assert done.counts()["checkouts"] == 5  # one per column, the same-as-base one too
    assert done.counts()["builds"] == 4  # the same-as-base column has no kernel of its own
    fm = next(c for c in data["checkouts"] if c["misc"]["variant"] == "folio_mapcount")
    patch = (tmp_path / "20261128-120000-v6.12" / "patches" / "folio_mapcount.patch").read_bytes()
    one = hashlib.sha256(patch).hexdigest() + "\n"
    assert fm["patchset_hash"] == hashlib.sha256(one.encode()).hexdigest()
    assert fm["patchset_files"] == [{"name": "folio_mapcount.patch", "url": "https://example.org/p/folio_mapcount.patch"}]
    assert fm["git_repository_url"] == "https://example.org/linux.git"
    assert next(c for c in data["checkouts"] if c["misc"]["variant"] == "base")["patchset_hash"] == ""
    assert all(t["id"].startswith("my_lab:") and t["origin"] == "my_lab" for t in data["tests"])
    assert len({t["id"] for t in data["tests"]}) == len(data["tests"])


def test_paths_are_slugged_names_kept_whole_and_probe_verdicts_in_misc(tmp_path):
    data = exported(with_probe(tmp_path)).data
    paths = Counter((t["build_id"], t["path"]) for t in data["tests"])
    assert max(paths.values()) == 1  # a repeated slug got its -2
    base = [t for t in data["tests"] if t["build_id"].endswith(":base:build")]
    page = next(t for t in base if t["comment"] == "Basic COW after fork() ... with base page")
    assert page["path"] == "cow.Basic_COW_after_fork_with_base_page" and page["status"] == "PASS"
    verdicts = Counter(t["misc"]["verdict"] for t in data["tests"] if t["path"].startswith("probe.")
                       and "verdict" in t["misc"])
    assert verdicts["correct"] > 0 and any(w.startswith("missed") for w in verdicts)
    costs = [t for t in data["tests"] if ".cost." in t["path"]]
    assert costs and all(t["status"] == "DONE" and t["number"]["unit"] == "s" for t in costs)


def test_xfail_crash_and_a_debian_base_are_mapped_and_said(tmp_path):
    run = with_probe(tmp_path)
    run.tree = str(tmp_path / "cache" / "debian.git")
    done = exported(run, debian_repo=run.tree)
    xfail = [t for t in done.data["tests"] if t["misc"]["status"] == "XFAIL"]
    assert xfail and all(t["status"] == "DONE" for t in xfail)
    crashed = next(t for t in done.data["tests"] if t["build_id"].endswith(":bug_on:build") and t["path"] == "cow")
    assert crashed["status"] in ("FAIL", "ERROR") and "log_excerpt" in crashed
    notes = "\n".join(done.notes)
    assert f"{len(xfail)} XFAIL tests as DONE" in notes
    assert "git_repository_url (the base is a Debian source import" in notes and "patchset_files" in notes


def test_a_slug_that_repeats_gets_a_suffix():
    assert kcidb.slug("with PTE-mapped THP (16 kB)") == "with_PTE-mapped_THP_16_kB"
    assert kcidb.slug("(...)") == "_"


def test_a_broken_run_is_refused_naming_the_field(tmp_path):
    run = with_probe(tmp_path)
    run.commit = "not-a-commit"
    with pytest.raises(UserError, match=r"does not make valid KCIDB data .* at checkouts/0/git_commit_hash"):
        report.render(run, "kcidb")
    with pytest.raises(UserError, match="a KCIDB origin is lower-case"):
        exported(with_probe(tmp_path / "b"), origin="My Lab")
    with pytest.raises(UserError, match="only an https:// URL"):
        exported(with_probe(tmp_path / "c"), repo_url="git://example.org/linux.git")


def test_the_task_writes_nothing_for_a_broken_run(tmp_path):
    run = with_probe(tmp_path)
    run.commit = "not-a-commit"
    run.save()
    out = tmp_path / "k.json"
    done = subprocess.run([sys.executable, "-m", "invoke", "report", "--run", str(run.dir), "--format", "kcidb",
                           "--output", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode != 0 and "does not make valid KCIDB data" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
