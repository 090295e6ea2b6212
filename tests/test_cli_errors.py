"""Careless input at the command line: each one a one-paragraph error and a non-zero exit, never a
traceback, and nothing left behind (no run folder, no patches). Runs `invoke` for real, on a
fake kernel tree, with a cache and outputs of the test's own."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from kernelfake import make_tree

from workbench.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    repo = make_tree(root, "v6.10", headers="v6.12", tag="v6.12")
    env = {**os.environ, "INVOKE_WORKBENCH_CACHE": str(root / "cache"), "INVOKE_WORKBENCH_OUTPUTS": str(root / "out"),
           "INVOKE_WORKBENCH_TREE": str(repo), "NO_COLOR": "1"}
    return root, env


def invoke(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, check=False, timeout=120)


CASES = [
    (["matrix", "--base", "v6.12", "--repeat", "abc"], "--repeat wants a whole number of at least 1, not 'abc'"),
    (["matrix", "--base", "v6.12", "--repeat", "0"], "--repeat wants a whole number of at least 1, not '0'"),
    (["matrix", "--base", "v6.12", "--repeat", "-1"], "--repeat wants a whole number of at least 1, not '-1'"),
    (["matrix", "--base", "v6.12", "--tests", ""], "no tests named"),
    (["matrix", "--base", "v6.12", "--tests", "nosuchtest"], "no test nosuchtest: not a probe of study 'mapcount'"),
    (["matrix", "--base", "v6.12", "--color", "maybe"], "--color 'maybe': use auto, always or never"),
    (["matrix", "--base", "v6.12", "--format", "pdf"], "unknown report format 'pdf'"),
    (["run", "--base", "v6.12", "--timeout", "abc"], "--timeout wants a number of seconds over 0, not 'abc'"),
    (["run", "--base", "v6.12", "--timeout", "-5"], "--timeout wants a number of seconds over 0, not '-5'"),
    (["matrix", "--base", "v9.99"], "unknown tag or ref 'v9.99'"),
    (["matrix", "--base", "v6.12", "--numa", "2x1G"], ("`vm.numa` (invoke.yaml or --numa) wants nodes whose memory "
                                                       "adds up to vm.memory, 4G")),
    (["run", "--base", "v6.12", "--numa", "4x1G"], "wants as many vCPUs on each node (vm.cpus is 2"),
    (["shell", "--base", "v6.12", "--numa", "two"], "wants NODESxSIZE, e.g. 2x2G"),
    (["matrix", "--base", "v6.12", "--configs", "minimal+nope"], "no config fragment 'nope'"),
    (["clean", "--keep-runs", "abc"], "--keep-runs wants a whole number of at least 0, not 'abc'"),
    (["series", "--base", "v6.12", "--variant", "base"], "`base` is the unchanged tree: there is nothing to send"),
    (["bisect", "--good", "v6.12", "--bad", "v6.12", "--case", "x"], "are the same commit"),
    (["check-variants", "--base", "v6.12", "--study", "nosuchstudy"], "no study 'nosuchstudy'"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_paragraph_and_leaves_nothing(world, argv, message):
    root, env = world
    done = invoke(env, *argv)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert message in done.stderr, done.stderr
    paragraph = done.stderr.strip()
    assert paragraph.startswith(("error:", "infrastructure error:")) and len(paragraph.splitlines()) <= 6
    assert not list((root / "out" / "results").glob("*")) if (root / "out" / "results").exists() else True
    assert not (root / "out" / "patches").exists()


def test_report_output_into_a_missing_folder_or_onto_a_folder(world):
    root, env = world
    run = root / "out" / "results" / "20261201-000001-v6.12"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "kind": "matrix", "base": "v6.12", "commit": "c" * 40, "kernelversion": "6.12.117", "study": "mapcount",
        "tests": ["cow"], "variants": ["base"], "command": "x", "state": "finished", "cells": [
            {"identity": "i", "base": "v6.12", "variant": "base", "commit": "c", "status": "PASS"}]}))
    try:
        for target, message in ((root / "no" / "such" / "r.html", "does not exist"), (root, "is a folder")):
            done = invoke(env, "report", "--format", "html", "--output", str(target))
            assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
        done = invoke(env, "report", "--format", "text", "--color", "maybe")
        assert done.returncode == 2 and "--color 'maybe': use auto, always or never" in done.stderr
        ok = invoke(env, "report", "--format", "text")
        assert ok.returncode == 0 and "\x1b[" not in ok.stdout and "(the newest finished one)" in ok.stderr
    finally:
        import shutil
        shutil.rmtree(root / "out" / "results")


def test_an_accel_answer_that_is_a_json_list_is_asked_again(world):
    root, _ = world
    from workbench.guest import accel
    from workbench.settings import Settings

    (root / "cache").mkdir(exist_ok=True)
    (root / "cache" / "accel.json").write_text("[1, 2]")
    assert accel.known(Settings(cache=root / "cache")) is None
