"""Invoke tasks: parse flags, build a typed request, call the workbench package, map errors to Exit.

`invoke --list` shows them; `invoke --help TASK` shows each flag.
"""
from __future__ import annotations

import dataclasses
import functools
import shlex
import subprocess
import sys
from pathlib import Path

from invoke import Collection, Exit, task

from workbench import errors
from workbench.proc import Runner
from workbench.settings import DEFAULTS, Settings


def _edge(fn):
    """Turn the workbench's errors into a one-paragraph message and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        try:
            return fn(c, *args, **kwargs)
        except errors.WorkbenchError as exc:
            kind = "infrastructure error" if isinstance(exc, errors.InfraError) else "error"
            raise Exit(f"{kind}: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted; finished results are on disk, run the same command to resume",
                       code=130) from None

    return wrapper


def _settings(c, **overrides) -> Settings:
    return Settings.from_mapping(dict(c.config.get("workbench", {})), **overrides)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


@task(help={"tree": "your kernel git tree (default: workbench.tree in invoke.yaml, else the Debian import)",
            "debian": "import Debian's linux-source-X.Y package, e.g. 6.12 or 6.1, into the cache"})
@_edge
def tree(c, tree=None, debian=None):
    """Check a kernel tree (or import one from Debian) and prepare the workbench's clone of it."""
    from workbench import debian as deb
    from workbench.tree import KernelTree

    settings = _settings(c)
    runner = Runner()
    if debian:
        imported = deb.import_debian(debian, settings, runner, _say)
        _say(f"tree: {settings.cache / 'debian.git'}  base: --base v{imported.series} "
             f"(Linux {imported.kernelversion})")
        return
    kt = KernelTree.open(settings, runner, _path(tree))
    head = kt.clone.rev("origin/HEAD") or kt.clone.rev("HEAD") or "?"
    _say(f"tree: {kt.source} (Linux {kt.kernelversion(head)} at HEAD); workbench clone: {kt.clone.path}")


@task(help={"base": "tag, branch or commit of your tree to build on (e.g. v6.12)",
            "variants": "comma-separated variants (default: all of the study's)",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)",
            "study": "study under templates/ (default: mapcount)"})
@_edge
def patches(c, base, variants=None, tree=None, study=None):
    """Render each variant at BASE, commit it in the workbench's clone, write patches/<base>/<variant>.patch."""
    from workbench import patches as wp
    from workbench import study as ws
    from workbench.tree import KernelTree

    settings = _settings(c, study=study)
    runner = Runner()
    kt = KernelTree.open(settings, runner, _path(tree))
    st = ws.load(settings.templates_dir, settings.study)
    ps = wp.render_all(kt, st, kt.resolve(base), _list(variants))
    wp.commit_all(kt, st, ps, settings.patches_dir)
    print(wp.summary(ps))


@task(name="check-variants",
      help={"base": "tag, branch or commit to check at", "variants": "comma-separated variants (default: all)",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)"})
@_edge
def check_variants(c, base, variants=None, tree=None):
    """Compile the study's object for base and each variant with W=1 (and sparse): no new warnings."""
    from workbench import check

    outcome = check.check_base(_settings(c), base, _list(variants), _path(tree))
    print(outcome.text)
    _say(f"logs: {outcome.log_dir}")
    if not outcome.ok:
        raise Exit("some variants failed to compile or added warnings (see above)", code=1)


def _cells(c, kind, base, variants, tests, repeat, tree, include_base, study=None, timeout=None, overlap=None):
    from workbench import matrix

    settings = _settings(c, study=study, overlap=overlap)
    if timeout:
        settings = dataclasses.replace(settings, vm=dataclasses.replace(settings.vm, timeout=float(timeout)))
    tests_t = tuple(_list(tests) or settings.tests)
    flags = [f"--base {base}"] + ([f"--variants {variants}"] if variants and kind == "matrix" else []) \
        + ([f"--variant {variants}"] if kind == "run" else []) + [f"--tests {','.join(tests_t)}"] \
        + ([f"--repeat {repeat}"] if int(repeat) > 1 else []) + ([f"--tree {tree}"] if tree else []) \
        + ([f"--study {study}"] if study else []) + ([f"--timeout {timeout}"] if timeout else [])
    req = matrix.MatrixRequest(base=base, variants=tuple(_list(variants)) if variants else None, tests=tests_t,
                               repeat=int(repeat), include_base=include_base, kind=kind, tree=tree,
                               command=f"invoke {kind} " + " ".join(flags))
    return matrix.execute(req, settings, _say)


@task(help={"base": "tag, branch or commit to build on", "variant": "the variant (or base)",
            "tests": "comma-separated tests (default from invoke.yaml: cow,probe)",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)",
            "repeat": "run the cell N times", "study": "study name under templates/, or a study directory",
            "timeout": "seconds for the cell's boot and tests (default from invoke.yaml)"})
@_edge
def run(c, base, variant="base", tests=None, tree=None, repeat=1, study=None, timeout=None):
    """Build, boot and test one cell (BASE x VARIANT x TESTS); prints each case and the timings."""
    from workbench import report

    result = _cells(c, "run", base, variant, tests, repeat, tree, include_base=False, study=study,
                    timeout=timeout)
    print(report.cases_text(result))
    _say(f"results: {result.dir}")


@task(help={"browser": "also install chromium (for the HTML report's browser test)"})
@_edge
def setup(c, browser=True):
    """Install what the workbench needs: QEMU, kernel build dependencies, udev, virtme-ng."""
    from workbench import host

    host.setup(Runner(), _say, browser=browser)


@task
@_edge
def doctor(c):
    """One row per requirement (found, missing, version), and whether KVM really works here."""
    from workbench import host

    rows = host.doctor(_settings(c), Runner(echo=False))
    print(host.table(rows))
    if any(r.state == "missing" for r in rows):
        raise Exit("some requirements are missing: `invoke setup` installs them", code=1)


@task(help={"kernel": "also run the tests that need a real kernel tree, make and QEMU (slow)",
            "k": "only tests matching this pytest -k expression"})
def test(c, kernel=False, k=None):
    """Run the test suite (fast by default; --kernel adds the real-kernel tests)."""
    argv = [sys.executable, "-m", "pytest", "-q"]
    if kernel:
        argv += ["-m", "kernel or not kernel"]
    if k:
        argv += ["-k", k]
    _say("$ " + " ".join(argv))
    code = subprocess.call(argv)
    if code:
        raise Exit(code=code)


@task(help={"base": "the base of the main job (default v6.12, imported from Debian when no tree is set)",
            "tests": "comma-separated tests (default from invoke.yaml: cow,probe)"})
@_edge
def main(c, base="v6.12", tests=None):
    """The main job from nothing: install what is missing, import a Debian tree if none, run the matrix."""
    from workbench import host

    host.make_ready(_settings(c), base, _say)
    matrix(c, base=base, tests=tests)


@task(help={"base": "tag, branch or commit to build on (e.g. v6.5)",
            "variants": "comma-separated variants (default: all of the study's)",
            "tests": "comma-separated tests (default from invoke.yaml: cow,probe)",
            "repeat": "run each cell N times and report cases that flip as flaky",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)",
            "format": "terminal (default), text, markdown, html, json or junit",
            "study": "study name under templates/, or a study directory",
            "timeout": "seconds for one cell's boot and tests (default from invoke.yaml)",
            "overlap": "boot one cell while the next builds: auto (default; only with KVM or > 2 cores), on, "
                       "off, force"})
@_edge
def matrix(c, base, variants=None, tests=None, repeat=1, tree=None, format="terminal", study=None, timeout=None,
           overlap=None):
    """Build, boot and test base and every variant at BASE; print the pass/skip/fail table."""
    from workbench import report

    run_ = _cells(c, "matrix", base, variants, tests, repeat, tree, include_base=True, study=study,
                  timeout=timeout, overlap=overlap)
    print(report.render(run_, format))
    _say(f"results: {run_.dir}")


@task(iterable=["case"],
      help={"good": "a commit where the case passes", "bad": "a commit where it does not",
            "test": "the test binary (default: cow)",
            "case": "text of the case(s) to watch (repeatable); matches every case whose name contains it",
            "bad-on": "what makes a watched case bad: skip,fail (default), fail, skip, or 'skip:<reason text>'",
            "crash-skip": "count a kernel crash as a skip instead of bad",
            "repeat": "run each step N times (a case bad in any run makes the step bad)",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)"})
@_edge
def bisect(c, good, bad, case, test="cow", bad_on=None, crash_skip=False, repeat=1, tree=None):
    """Find the commit that broke a test case: git bisect run with the workbench's build, boot and test."""
    from workbench import bisect as wbisect

    flags = [f"--good {good}", f"--bad {bad}", f"--test {test}"] + [f"--case {shlex.quote(k)}" for k in case] \
        + ([f"--bad-on {shlex.quote(bad_on)}"] if bad_on else []) + (["--crash-skip"] if crash_skip else []) \
        + ([f"--repeat {repeat}"] if int(repeat) > 1 else []) + ([f"--tree {tree}"] if tree else [])
    req = wbisect.BisectRequest(good=good, bad=bad, tests=tuple(_list(test) or ["cow"]), cases=tuple(case),
                                bad_on=bad_on, crash_skip=crash_skip, repeat=int(repeat), tree=tree,
                                command="invoke bisect " + " ".join(flags))
    print(wbisect.summary(wbisect.bisect(req, _settings(c), _say)))


@task(help={"base": "tag, branch or commit the series applies to", "variant": "the variant to send",
            "rfc": "mark the patches [RFC PATCH]", "v": "the series' version (-v N)",
            "force": "write it despite checkpatch errors or an approximate prototype",
            "b4": "also leave it as a b4 prep branch (needs b4)",
            "boot": "also build and boot the final tree and compare it with the variant's matrix cell",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)"})
@_edge
def series(c, base, variant, rfc=False, v=1, force=False, b4=False, boot=False, tree=None):
    """Turn a variant into a patch series with a cover letter, checkpatch and get_maintainer."""
    from workbench import series as wseries

    req = wseries.SeriesRequest(base=base, variant=variant, rfc=rfc, version=int(v), force=force, b4=b4,
                                boot=boot, tree=tree)
    print(wseries.summary(wseries.series(req, _settings(c), _say)))


@task
@_edge
def results(c):
    """List the runs under results/ (newest last): id, kind, base, columns, status counts."""
    from workbench import results as wr

    for r in wr.list_runs(_settings(c)):
        statuses = ", ".join(f"{cell.variant}={cell.status.value}" for cell in r.cells)
        print(f"{r.id:<34} {r.kind:<7} {r.base:<10} {r.accel or '-':<4} {statuses or '(no cells)'}")


@task(help={"run": "run id (or a unique prefix, or a folder); default: the newest matrix run",
            "format": "terminal (default), text, markdown, html, json or junit",
            "against": "another run: show what changed between the two",
            "output": "write to this file instead of the terminal"})
@_edge
def report(c, run=None, format="terminal", against=None, output=None):
    """Render a stored run again, or compare two runs."""
    from workbench import report as wreport
    from workbench import results as wr

    settings = _settings(c)
    this = wr.find_run(settings, run, kind=None if run else "matrix")
    text = wreport.compare(wr.find_run(settings, against), this) if against else wreport.render(this, format)
    if output:
        Path(output).write_text(text)
        _say(f"wrote {output}")
    else:
        print(text)


@task(iterable=["base"],
      help={"base": "remove this base's worktree and build directory (repeatable)",
            "keep_runs": "remove all but the newest N runs", "cells": "empty the cell cache",
            "all": "remove every worktree, build directory, cached cell and run"})
@_edge
def clean(c, base=None, keep_runs=None, cells=False, all=False):
    """Show the disk each base, the cache and the runs use; remove what you name."""
    from workbench import clean as wclean

    settings = _settings(c)
    runner = Runner(echo=False)
    for line in wclean.clean(settings, Runner(), list(base or []), int(keep_runs) if keep_runs else None, all,
                             cells):
        _say(line)
    print(wclean.table(wclean.usage(settings, runner)))


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


ns = Collection(main, setup, doctor, tree, patches, check_variants, run, matrix, bisect, series, results, report,
                clean, test)
ns.configure({"workbench": DEFAULTS})
