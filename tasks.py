"""Invoke tasks: parse flags, build a typed request, call the workbench package, map errors to Exit.

`invoke --list` shows them; `invoke --help TASK` shows each flag.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke import Collection, Context, Exit, task

from workbench import errors
from workbench.records import RunKind
from workbench.settings import DEFAULTS, Settings, check_environment

try:  # where the program starts: Invoke itself would fail on INVOKE_WORKBENCH_JOBS=many with a traceback
    check_environment(os.environ)
except errors.WorkbenchError as _bad:
    print(f"error: {_bad}", file=sys.stderr)
    sys.exit(_bad.exit_code)

F = TypeVar("F", bound=Callable[..., Any])
TREE = "kernel git tree (default from invoke.yaml, else the Debian import)"
STUDY = "study name under templates/, or a study directory"
VERBOSE = "echo every external command (they are always in the run's commands.log)"
NUMA = ("the guest's NUMA nodes, NODESxSIZE (2x2G: 2 nodes of 2G, adding up to vm.memory; vm.cpus a multiple of 2); "
        "default from invoke.yaml's vm.numa, none; build with a config that has NUMA, e.g. minimal+numa")
LAB = "boot and test the cells on this LAVA lab (a name under `labs` in invoke.yaml, e.g. local) instead of this host"


def _edge(fn: F) -> F:
    """Turn the workbench's errors into a one-paragraph message and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(c, *args, **kwargs)
        except errors.WorkbenchError as exc:
            kind = "infrastructure error" if isinstance(exc, errors.InfraError) else "error"
            raise Exit(f"{kind}: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted; finished results are on disk, run the same command to resume",
                       code=130) from None

    return wrapper  # type: ignore[return-value]


def _settings(c: Context, **overrides: Any) -> Settings:
    return Settings.from_mapping(dict(c.config.get("workbench", {})), **overrides)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _list(value: str | None) -> tuple[str, ...] | None:
    """'a, b' -> ('a', 'b'); None (flag not given) -> None; '' -> () (given, but empty)."""
    if value is None:
        return None
    return tuple(v.strip() for v in str(value).split(",") if v.strip())


def _int(value: Any, flag: str, least: int) -> int:
    """A whole-number flag, at least `least` (`clean --keep-runs -1` once removed every run)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = least - 1
    if number < least:
        raise errors.BadSetting(flag, value, f"a whole number of at least {least}", f"e.g. {flag} {max(least, 3)}.")
    return number


def _float(value: Any, flag: str) -> float | None:
    """A number of seconds from a flag: over 0 and finite."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if not 0 < number < float("inf"):
        raise errors.BadSetting(flag, value, "a number of seconds over 0", f"e.g. {flag} 900.")
    return number


@task(help={"tree": "your kernel git tree (default: workbench.tree in invoke.yaml, else the Debian import)",
            "debian": "import Debian's linux-source-X.Y package (e.g. 7.3, 6.12, 6.1) into the cache; `list`: "
                      "which series the Debian suites have, and from which suite",
            "verbose": VERBOSE})
@_edge
def tree(c, tree=None, debian=None, verbose=False):
    """Check a kernel tree (or import one from Debian) and prepare the workbench's clone of it."""
    from workbench.kernel import trees

    print(trees.describe(_settings(c, verbose=verbose or None), _path(tree), debian, _say))


@task(help={"base": "tag, branch or commit of your tree to build on (e.g. v6.12)",
            "variants": "comma-separated variants (default: all of the study's)", "tree": TREE, "study": STUDY,
            "verbose": VERBOSE})
@_edge
def patches(c, base, variants=None, tree=None, study=None, verbose=False):
    """Render each variant at BASE, commit it in the workbench's clone, write patches/<base>/<variant>.patch."""
    from workbench.study import commits

    print(commits.patches(_settings(c, study=study, verbose=verbose or None), base, _list(variants), _path(tree)))


@task(name="check-variants",
      help={"base": "tag, branch or commit to check at", "variants": "comma-separated variants (default: all)",
            "tree": TREE, "study": STUDY, "verbose": VERBOSE})
@_edge
def check_variants(c, base, variants=None, tree=None, study=None, verbose=False):
    """Compile the study's object for base and each variant with W=1 (and sparse): no new warnings."""
    from workbench import check

    names = _list(variants)
    outcome = check.check_base(_settings(c, study=study, verbose=verbose or None), base,
                               list(names) if names else None, _path(tree))
    print(outcome.text)
    _say(f"logs: {outcome.log_dir}")
    if not outcome.ok:
        raise Exit("some variants failed to compile or added warnings (see above)", code=1)


def _cells(c: Context, kind: RunKind, base: str, variants: str | None, tests: str | None, repeat: Any,
           tree: str | None, study: str | None, timeout: Any, overlap: str | None, configs: str | None,
           verbose: bool, no_reuse: bool = False, lab: str | None = None, guests: str | None = None,
           mutants: Any = None, numa: str | None = None) -> Any:
    from workbench import matrix

    overrides = {"configs": configs, "study": study, "timeout": _float(timeout, "--timeout"), "overlap": overlap,
                 "guests": guests, "lab": lab, "numa": numa}  # the flags that set a setting: Settings takes them, the run's command shows them
    settings = _settings(c, **overrides, verbose=verbose or None)
    req = matrix.MatrixRequest(base=base, variants=_list(variants), tests=_list(tests),
                               repeat=_int(1 if repeat is None else repeat, "--repeat", 1), kind=kind, tree=tree,
                               reuse=not no_reuse, flags=matrix.given(**overrides),
                               mutants=None if mutants in (None, False) else
                               () if mutants is True or mutants == "all" else _list(str(mutants)))
    run = matrix.execute(req, settings, _say)
    _exit_unless_verdicts(run)
    return run, settings


def _exit_unless_verdicts(run: Any) -> None:
    if run.cells and not any(cell.status.is_verdict for cell in run.cells):
        from workbench import report

        print(report.cases_text(run))
        raise Exit(f"no cell reached a verdict (infrastructure errors; see {run.dir}/commands.log)", code=3)


CELL_HELP = {"base": "tag, branch or commit to build on (e.g. v6.5)",
             "tests": "comma-separated tests (default from invoke.yaml: cow,probe)", "tree": TREE, "study": STUDY,
             "repeat": "run each cell N times and report cases that flip as flaky (default 1)",
             "timeout": "seconds for one cell's boot and tests (default from invoke.yaml)",
             "overlap": "boot one cell while the next builds: auto (default; only with KVM or > 2 cores), on, off, "
                        "force",
             "configs": "configs to build, comma-separated; each joins kbuild/ fragments with '+' "
                        "(e.g. minimal,minimal+debug: one column group per config)",
             "guests": "how many cells boot at once on this host: auto (default: by cores, memory and KVM or TCG; "
                       "see the README) or a number",
             "numa": NUMA,
             "verbose": VERBOSE, "lab": LAB,
             "no-reuse": "boot a variant whose kernel is the base's, byte for byte, instead of reusing the base's cell"}


@task(help={**CELL_HELP, "variant": "the variant (or base), or NAME=PATCH|MBOX|REF: a change you bring"})
@_edge
def run(c, base, variant="base", tests=None, tree=None, repeat=None, study=None, timeout=None, overlap=None,
        configs=None, verbose=False, no_reuse=False, lab=None, guests=None, numa=None):
    """Build, boot and test one cell (BASE x VARIANT x TESTS); prints each case and the timings."""
    from workbench import report

    result, _ = _cells(c, RunKind.RUN, base, variant, tests, repeat, tree, study, timeout, overlap, configs, verbose,
                       no_reuse, lab, guests, numa=numa)
    print(report.cases_text(result))
    _say(f"results: {result.dir}")


@task(help={"base": "the base of the main job (default v6.12, imported from Debian when no tree is set)",
            "tests": "comma-separated tests (default from invoke.yaml: cow,probe)"})
@_edge
def main(c, base="v6.12", tests=None):
    """The main job from nothing: install what is missing, import a Debian tree if none, run the matrix."""
    from workbench import host

    host.make_ready(_settings(c), base, _say)
    matrix(c, base=base, tests=tests)


@task(help={**CELL_HELP, "variants": "comma-separated variants (default: all of the study's); NAME=SPEC brings your "
                                    "own change as a column: a patch file, an mbox of a series, a branch, tag or "
                                    "commit of the tree, or a variant template (FILE.j2) the study renders",
            "format": "terminal (default), text, markdown, html, json or junit",
            "color": "terminal colours: auto (default: on a terminal, unless NO_COLOR is set), always, never",
            "all": "the terminal table with every row (by default the rows that differ from base)",
            "mutants": "add one column per (site, operator) of the study's mutants.toml, and its A/A mutant: "
                       "--mutants (all), or the sites and operators to keep (pte_final,negate; pmd:negate); "
                       "needs --repeat 2 or more"},
      optional=["mutants"])
@_edge
def matrix(c, base, variants=None, tests=None, repeat=None, tree=None, format="terminal", study=None, timeout=None,
           overlap=None, configs=None, verbose=False, color="auto", all=False, no_reuse=False, lab=None, guests=None,
           mutants=None, numa=None):
    """Build, boot and test base and every variant at BASE; print the pass/skip/fail table."""
    from workbench import report

    colored = _color(color)  # a bad value is refused before anything runs
    if format not in report.FORMATS:
        raise errors.UserError(f"unknown report format {format!r}", f"Use one of: {', '.join(report.FORMATS)}.")
    run_, settings = _cells(c, RunKind.MATRIX, base, variants, tests, repeat, tree, study, timeout, overlap, configs,
                            verbose, no_reuse, lab, guests, mutants, numa)
    print(report.render(run_, format, settings.templates_dir, color=colored, every=all))
    _say(f"results: {run_.dir}")


def _color(mode: str) -> bool:
    if mode not in ("auto", "always", "never"):
        raise errors.UserError(f"--color {mode!r}: use auto, always or never", "e.g. --color never.")
    return mode == "always" or (mode == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))


@task(iterable=["case"],
      help={"good": "a commit where the case passes", "bad": "a commit where it does not",
            "test": "the test binary (default: cow)",
            "case": "text of the case(s) to watch (repeatable); matches every case whose name contains it",
            "bad-on": "what makes a watched case bad: skip,fail (default), fail, skip, or 'skip:<reason text>'",
            "crash-skip": "count a kernel crash as a skip instead of bad",
            "repeat": "run each step N times (a case bad in any run makes the step bad)", "tree": TREE,
            "verbose": VERBOSE, "lab": LAB})
@_edge
def bisect(c, good, bad, case, test="cow", bad_on=None, crash_skip=False, repeat=None, tree=None, verbose=False,
           lab=None):
    """Find the commit that broke a test case: git bisect run with the workbench's build, boot and test."""
    from workbench import bisect as wbisect

    req = wbisect.BisectRequest(good=good, bad=bad, tests=_list(test) or ("cow",), cases=tuple(case), bad_on=bad_on,
                                crash_skip=crash_skip, repeat=_int(1 if repeat is None else repeat, "--repeat", 1), tree=tree, lab=lab)
    print(wbisect.summary(wbisect.bisect(req, _settings(c, verbose=verbose or None, lab=lab), _say)))


@task(help={"base": "tag, branch or commit the series applies to", "variant": "the variant to send",
            "rfc": "mark the patches [RFC PATCH]", "v": "the series' version (-v N)",
            "force": "write it despite checkpatch errors or an approximate prototype",
            "b4": "also leave it as a b4 prep branch (needs b4)",
            "boot": "also build and boot the final tree and compare it with the variant's matrix cell",
            "run": "the run whose table goes into the cover letter (default: the study's newest finished matrix at "
                   "BASE)",
            "tree": TREE, "study": STUDY, "verbose": VERBOSE})
@_edge
def series(c, base, variant, rfc=False, v=None, force=False, b4=False, boot=False, run=None, tree=None, study=None,
           verbose=False):
    """Turn a variant into a patch series with a cover letter, checkpatch and get_maintainer."""
    from workbench import series as wseries

    req = wseries.SeriesRequest(base=base, variant=variant, rfc=rfc, version=_int(1 if v is None else v, "-v", 1), force=force, b4=b4,
                                boot=boot, tree=tree, run=run)
    print(wseries.summary(wseries.series(req, _settings(c, study=study, verbose=verbose or None), _say)))


@task
@_edge
def results(c):
    """List the runs under results/ (oldest first): id, kind, state, base, executor, cells."""
    from workbench import runs

    print(runs.listing(_settings(c)))


KCIDB_HELP = {"origin": "with --format kcidb: the KCIDB origin (the CI system's name) the data is submitted as "
                        "(default workbench)",
              "repo-url": "with --format kcidb: the https:// URL of a repository that has the base commit",
              "patch-url": "with --format kcidb: the URL of the folder where each column's <variant>.patch is "
                           "published"}


def _kcidb(settings: Any, run: Any, origin: str, repo_url: str | None, patch_url: str | None) -> str:
    from workbench import report as wreport
    from workbench.kernel.tree import debian_repo

    options = wreport.KcidbOptions(origin=origin, repo_url=repo_url or "", patch_url=patch_url or "",
                                   debian_repo=str(debian_repo(settings)))
    done = wreport.kcidb_export(wreport.matrix_rows(run), options, settings.templates_dir)
    counts = ", ".join(f"{n} {k}" for k, n in done.counts().items())
    _say(f"KCIDB data valid under kcidb-io's schema v{done.schema} ({counts})" + "".join(f"\n  {note}" for note in done.notes))
    return done.text


@task(positional=[],  # Invoke's positional arguments are required; the run is optional: --run
      help={"run": "run id (or a unique prefix, or a folder); default: the newest finished matrix or run",
            "format": "terminal (default), text, markdown, html, json, junit or kcidb",
            "against": "another run: show what changed between the two",
            "output": "write to this file instead of the terminal",
            "color": "terminal colours: auto (default), always, never",
            "all": "the terminal table with every row (by default the rows that differ from base)",
            **KCIDB_HELP})
@_edge
def report(c, run=None, format="terminal", against=None, output=None, color="auto", all=False, origin="workbench",
           repo_url=None, patch_url=None):
    """Render a stored run again, or compare two runs."""
    from workbench import report as wreport
    from workbench import runs

    settings = _settings(c)
    this = runs.find_run(settings, run)
    if not run:
        _say(f"run {this.id} (the newest finished one)")
    if against:
        text = wreport.compare(runs.find_run(settings, against), this)
    elif format == "kcidb":
        text = _kcidb(settings, this, origin, repo_url, patch_url)
    else:
        text = wreport.render(this, format, settings.templates_dir, color=_color(color) and not output, every=all)
    if output:
        runs.write_output(Path(output), text)
        _say(f"wrote {output}")
    else:
        print(text)


@task(help={"to": "the message or thread to answer: an mbox (what `b4 mbox MSGID` writes) or one saved message",
            "run": "run id (or a unique prefix, or a folder); default: the newest finished matrix or run",
            "msgid": "the Message-ID of the message to answer (default: the first of the file, the thread's root)",
            "output": "where to write the reply (default: reply.mbox in the run's folder)"})
@_edge
def reply(c, to, run=None, msgid=None, output=None):
    """Write a plain-text reply to a list message with a run's table, ready for `git send-email`."""
    from workbench import reply as wreply

    req = wreply.ReplyRequest(to=Path(to).expanduser(), msgid=msgid or "", run=run or "", output=_path(output))
    path = wreply.write(req, _settings(c), _say)
    _say(f"wrote {path}; send it with: git send-email {path}")


@task(help={"base": "tag, branch or commit to build on (e.g. v6.12)", "variant": "the column: base or a study variant",
            "config": "the column's config (default: the first of invoke.yaml's); with --gdb one with debug "
                      "information, e.g. minimal+gdb",
            "tests": "the test binaries put on the guest's PATH (default from invoke.yaml: cow,probe)",
            "gdb": "boot with virtme-ng's --debug: QEMU's gdb server on localhost:1234 (attach with `vng --gdb`)",
            "tree": TREE, "study": STUDY, "verbose": VERBOSE, "numa": NUMA})
@_edge
def shell(c, base, variant="base", config=None, tests=None, gdb=False, tree=None, study=None, verbose=False,
          numa=None):
    """Boot a column's kernel in the guest a cell gets (swap on zram, THP, hugetlb, the tests on the PATH): a shell."""
    from workbench import shell as wshell

    commands = None if sys.stdin.isatty() else sys.stdin.read()  # piped commands run in the guest, then it ends
    req = wshell.ShellRequest(base=base, variant=variant, config=config, tests=_list(tests), tree=tree, gdb=gdb,
                              commands=commands)
    code = wshell.shell(req, _settings(c, study=study, verbose=verbose or None, numa=numa), _say)
    if code:
        raise Exit(f"the guest ended with exit code {code}", code=code)


@task(iterable=["base"],
      help={"base": "remove this base's worktree and build directories (repeatable)",
            "keep_runs": "remove all but the newest N runs", "cells": "empty the cell cache",
            "all": "remove every worktree, build directory, cached cell and run"})
@_edge
def clean(c, base=None, keep_runs=None, cells=False, all=False):
    """Show the disk each base, the cache and the runs use; remove what you name."""
    from workbench import clean as wclean
    from workbench.proc import Runner

    settings = _settings(c)
    keep = _int(keep_runs, "--keep-runs", 0) if keep_runs is not None else None
    for line in wclean.clean(settings, Runner(log=settings.task_log("clean")), list(base or []), keep, all, cells):
        _say(line)
    print(wclean.table(wclean.usage(settings, Runner())))


@task(positional=["action"],
      help={"action": "up (install what is missing, start the daemons, add the devices), down, or status",
            "purge": "with down: also remove the LAVA packages, databases, settings and devices (nothing left)",
            "name": "the lab's declaration in invoke.yaml whose URL, device type and device count it uses "
                    "(default: local)"})
@_edge
def lab(c, action, purge=False, name="local"):
    """A LAVA lab on this host, on loopback: lab up, lab down [--purge], lab status (for --lab local)."""
    from workbench.lab import local

    settings = _settings(c)
    if action not in ("up", "down", "status"):
        raise errors.UserError(f"`invoke lab {action}`: the action is up, down or status", "e.g. invoke lab up.")
    if purge and action != "down":
        raise errors.UserError("--purge goes with `invoke lab down`", "e.g. invoke lab down --purge.")
    print(local.main(settings, name, action, purge, _say))


@task(help={"browser": "also install chromium (for the HTML report's browser test)"})
@_edge
def setup(c, browser=True):
    """Install what the workbench needs: QEMU, kernel build dependencies, udev, virtme-ng."""
    from workbench import host
    from workbench.proc import Runner

    settings = _settings(c)
    host.setup(Runner(log=settings.task_log("setup"), echo=True), _say, browser=browser)


@task
@_edge
def doctor(c):
    """One row per requirement (found, missing, version), and whether KVM really works here."""
    from workbench import host
    from workbench.proc import Runner

    settings = _settings(c)
    rows = host.doctor(settings, Runner(log=settings.task_log("doctor")))
    print(host.table(rows))
    if any(r.state == "missing" for r in rows):
        raise Exit("some requirements are missing: `invoke setup` installs them", code=1)


@task(help={"kernel": "also run the tests that need a real kernel tree, make and QEMU (slow)",
            "k": "only tests matching this pytest -k expression",
            "checks": "also run ruff, mypy --strict and the shape check first (default; --no-checks skips them)"})
def test(c, kernel=False, k=None, checks=True):
    """Run the checks (ruff, mypy --strict, the shape of the package) and the tests (fast by default)."""
    root = Path(__file__).resolve().parent
    shared = root.parent / "shared" / "tools" / "shape.py"
    steps = [[sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
             [sys.executable, "-m", "mypy"],
             [sys.executable, str(shared if shared.exists() else root / "tools" / "shape.py"), "workbench"]] \
        if checks and not k else []
    argv = [sys.executable, "-m", "pytest", "-q"] + (["-m", "kernel or not kernel"] if kernel else []) \
        + (["-k", k] if k else [])
    for step in [*steps, argv]:
        _say("$ " + " ".join(step))
        code = subprocess.call(step, cwd=root)
        if code:
            raise Exit(code=code)


ns = Collection(main, setup, doctor, tree, patches, check_variants, run, matrix, bisect, series, results, report,
                clean, test, lab)
ns.add_task(reply)
ns.add_task(shell)
ns.configure({"workbench": DEFAULTS})
