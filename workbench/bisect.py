"""`invoke bisect`: a real `git bisect run` whose steps are the workbench's build, boot and test.

The bisection runs in a worktree of the workbench's clone (never the user's
checkout), with its own build directory, so each step builds incrementally.
It first runs `--good` and keeps its results as the reference: a step is bad
when a named case that passed at `--good` does not pass (by default SKIP or
FAIL; `--bad-on` chooses). Cases that did not pass at `--good`, and
environment skips, never decide a step. A build failure or a case that does
not exist at the step is a skip (exit 125); a kernel crash is bad (or a skip
with `--crash-skip`); an infrastructure failure is retried once and then
aborts the bisection (exit 255) rather than give a wrong answer.

`git bisect run` calls `python -m workbench.bisect STATE` for each step; the
state file says what to build, test and compare, so a step is an ordinary
process that git can drive, interrupt and resume.
"""
from __future__ import annotations

import enum
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import runs
from .cells import setup
from .cells.plan import CellSpec
from .errors import DuplicateName, InfraError, NoHistory, UserError
from .guest.select import executor_for
from .kernel import kbuild, selftests
from .kernel.git import SAFE_ENV, Git
from .kernel.tree import Base, KernelTree, Worktree
from .proc import Runner, Say, reap_orphans
from .progress import LineView
from .records import BASE, CellResult, Run, RunKind
from .settings import Settings
from .status import Status
from .study.model import load as load_study


class Verdict(enum.IntEnum):
    GOOD = 0
    BAD = 1
    SKIP = 125
    ABORT = 255  # git bisect run stops on 128-255


@dataclass(frozen=True)
class Policy:
    """What makes a watched case bad at a step, relative to its PASS at --good."""

    fail: bool = True  # FAIL/ERROR/XPASS count as bad
    skip: bool = True  # any SKIP (not an environment skip) counts as bad
    skip_reason: str = ""  # only a SKIP whose reason contains this counts (implies skip)
    crash_skip: bool = False  # a kernel crash is a skip instead of bad

    @classmethod
    def parse(cls, bad_on: str | None, crash_skip: bool = False) -> Policy:
        """`--bad-on`: 'skip,fail' (default), 'fail', 'skip', or 'skip:<reason text>'."""
        if not bad_on:
            return cls(crash_skip=crash_skip)
        fail = skip = False
        reason = ""
        for part in [p.strip() for p in bad_on.split(",") if p.strip()]:
            if part == "fail":
                fail = True
            elif part == "skip":
                skip = True
            elif part.startswith("skip:"):
                skip, reason = True, part[5:].strip()
            else:
                raise UserError(f"--bad-on {bad_on!r}: {part!r} is not fail, skip or skip:<reason>",
                                "e.g. --bad-on fail, or --bad-on 'skip:MADV_PAGEOUT did not work'.")
        return cls(fail=fail, skip=skip, skip_reason=reason, crash_skip=crash_skip)


def matches(name: str, patterns: list[str]) -> bool:
    return any(p.lower() in name.lower() for p in patterns)


def watched(reference: CellResult, patterns: list[str]) -> dict[str, Status]:
    """The named cases that passed at --good: {case key: PASS}."""
    return {c.key: c.status for c in reference.cases if matches(c.name, patterns) and c.status is Status.PASS}


def verdict(cells: list[CellResult], watch: dict[str, Status], policy: Policy) -> tuple[Verdict, str]:
    """The step's verdict from its cell(s) (several with --repeat): pure, so it is unit-tested."""
    reasons = []
    bad = found_any = False
    for cell in cells:
        if cell.status is Status.INFRA_ERROR:
            return Verdict.ABORT, f"infrastructure error: {cell.reason}"
        if cell.status is Status.BUILD_FAILED:
            return Verdict.SKIP, "the kernel does not build here: " + "; ".join(cell.build_errors[:2])
        if cell.status is Status.CRASH:
            if policy.crash_skip:
                return Verdict.SKIP, f"kernel crash (counted as a skip): {cell.reason}"
            return Verdict.BAD, f"kernel crash: {cell.reason}"
        if cell.status is Status.TIMEOUT:
            if cell.splat:  # the kernel itself reported the hang
                return Verdict.BAD, f"kernel hang: {cell.reason}"
            return Verdict.ABORT, f"timed out with no sign from the kernel: {cell.reason}"
        by_key = {c.key: c for c in cell.cases}
        for key in watch:
            case = by_key.get(key)
            if case is None:
                continue
            found_any = True
            if case.env_skip:
                continue
            if case.status is Status.SKIP and policy.skip and policy.skip_reason.lower() in case.reason.lower():
                bad = True
                reasons.append(f"{key}: SKIP ({case.reason})")
            elif case.status in (Status.FAIL, Status.ERROR, Status.XPASS) and policy.fail:
                bad = True
                reasons.append(f"{key}: {case.status.value}")
    if not found_any:
        return Verdict.SKIP, "none of the named cases exists at this commit"
    if bad:
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        return Verdict.BAD, "; ".join(reasons[:3]) + more
    return Verdict.GOOD, "the named cases that passed at --good pass"


@dataclass(frozen=True)
class StepState:
    """What a step of `git bisect run` (a process of its own) needs: written once by `invoke bisect`."""

    settings: dict[str, Any]  # Settings.to_mapping(); the step's tests are `tests`
    tree: str
    worktree: str
    run_dir: str
    watch: list[str]  # the case keys that passed at --good
    policy: Policy
    repeat: int
    tests: list[str]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> StepState:
        d = json.loads(path.read_text())
        return cls(**{**d, "policy": Policy(**d["policy"])})


@dataclass(frozen=True)
class BisectRequest:
    good: str
    bad: str
    tests: tuple[str, ...]
    cases: tuple[str, ...]
    bad_on: str | None = None
    crash_skip: bool = False
    repeat: int = 1
    tree: str | None = None
    lab: str | None = None

    def command(self) -> str:
        """The command that reproduces the bisection, quoted for a shell."""
        argv = ["invoke", "bisect", "--good", self.good, "--bad", self.bad, "--test", ",".join(self.tests)]
        argv += [x for case in self.cases for x in ("--case", case)]
        argv += (["--bad-on", self.bad_on] if self.bad_on else []) + (["--crash-skip"] if self.crash_skip else [])
        argv += (["--repeat", str(self.repeat)] if self.repeat > 1 else []) + (["--tree", self.tree] if self.tree else [])
        return shlex.join(argv + (["--lab", self.lab] if self.lab else []))


@dataclass
class BisectOutcome:
    run: Run
    first_bad: dict[str, str]
    steps: list[dict[str, Any]]
    log: Path
    replay: str


def bisect(req: BisectRequest, settings: Settings, say: Say, step: list[str] | None = None,
           reference: Callable[[Base], list[CellResult]] | None = None) -> BisectOutcome:
    """Bisect for real; `step` (the command git runs per step) and `reference` (the cells at --good)
    can be replaced, which the unit tests do to drive git bisect without a kernel."""
    runner = Runner(echo=settings.verbose, out=say, registry=settings.cache / "running")
    kt, good, bad, policy = check(req, settings, runner, real=step is None)
    run = setup.new_run(RunKind.BISECT, kt, good, settings.study, req.tests, req.command(), [settings.configs[0]],
                        settings, variants=[BASE])
    run.extra = {"good": asdict(good), "bad": asdict(bad), "cases": list(req.cases), "policy": asdict(policy)}
    slot = Base(name="bisect", commit=good.commit)  # one bisect worktree per tree: builds carry over
    start = time.monotonic()
    ref_cells: list[CellResult] = []
    scratch = settings.cache / "tmp" / f"bisect-{os.getpid()}"  # the reference's logs, until the run folder exists

    def reference_first(wt: Worktree) -> None:
        """The good end, run before the run folder exists: a --case that names no case passing
        there refuses the bisection and leaves no run (the reference's cells stay cached)."""
        for pgid in reap_orphans(settings.cache / "running"):
            say(f"killed process group {pgid} left running by an earlier run that was killed")
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            ref_cells.extend(reference(good) if reference else
                             run_cells(kt, wt.root, good, req.tests, req.repeat, settings, runner, scratch, say))
            if not any(watched(cell, list(req.cases)) for cell in ref_cells):
                raise UserError(f"none of the named cases ({'; '.join(req.cases)}) passes at --good {req.good}: "
                                f"nothing to bisect on (the reference: {', '.join(c.status.value for c in ref_cells)})",
                                "Check the --case text against the case names (`invoke run --base "
                                f"{req.good} --tests {','.join(req.tests)}` prints them).")
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    with runs.prologue(kt, bad, settings, runner, run, slot=slot, before=reference_first) as (wt, run):
        for item in scratch.iterdir():  # the reference's config and selftest logs
            shutil.move(str(item), run.dir / item.name)
        shutil.rmtree(scratch, ignore_errors=True)
        for cell in ref_cells:
            runs.record(run, cell)
        watch = {}
        for cell in ref_cells:
            watch.update(watched(cell, list(req.cases)))
        say(f"reference at {req.good}: {len(watch)} named case(s) pass; a step is bad when one of them "
            f"does not ({describe(policy)})")
        state = run.dir / "bisect-state.json"
        StepState(settings=settings.to_mapping(), tree=str(kt.source), worktree=str(wt.root), run_dir=str(run.dir),
                  watch=list(watch), policy=policy, repeat=req.repeat, tests=list(req.tests)).save(state)
        step = (step or [sys.executable, "-m", "workbench.bisect"]) + [str(state)]
        first_bad, log = drive(wt.git, good, bad, step, runner, run.dir, say)
        steps = [json.loads(line) for line in (run.dir / "steps.jsonl").read_text().splitlines() if line.strip()] \
            if (run.dir / "steps.jsonl").exists() else []
        run.extra.update({"first_bad": first_bad, "steps": steps})
        run.timings["total"] = round(time.monotonic() - start, 1)
    replay = f"git -C {kt.clone.path} bisect replay {log}   # or: {req.command()}"
    return BisectOutcome(run=run, first_bad=first_bad, steps=steps, log=log, replay=replay)


def check(req: BisectRequest, settings: Settings, runner: Runner, real: bool = True
          ) -> tuple[KernelTree, Base, Base, Policy]:
    """Everything that can refuse the bisection, before anything is written or built."""
    if not req.cases:
        raise UserError("name the case(s) to watch with --case", 'e.g. --case "swapped-out, PTE-mapped THP".')
    if req.repeat < 1:
        raise UserError(f"--repeat must be 1 or more, not {req.repeat}", "e.g. --repeat 2.")
    policy = Policy.parse(req.bad_on, req.crash_skip)
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    good, bad = kt.resolve(req.good), kt.resolve(req.bad)
    same = good.commit == bad.commit
    if same or not kt.clone.ok("merge-base", "--is-ancestor", good.commit, bad.commit):
        what = (f"--good {req.good} and --bad {req.bad} are the same commit ({good.commit[:12]})" if same
                else f"--good {req.good} is not an ancestor of --bad {req.bad}")
        alone = [name for name, b in ((req.good, good), (req.bad, bad)) if not kt.clone.has_history(b.commit)]
        raise NoHistory(what, alone) if alone else UserError(what, "Name a good commit older than the bad one." if same
                                                             else "git bisect needs the good commit in the bad commit's history.")
    if len(set(req.tests)) < len(req.tests):
        raise DuplicateName("--test", sorted({t for t in req.tests if req.tests.count(t) > 1}))
    check_tests(kt, good, req, settings)
    if real:
        kbuild.check_tools()
        executor_for(settings, runner).check()
    return kt, good, bad, policy


def check_tests(kt: KernelTree, good: Base, req: BisectRequest, settings: Settings) -> None:
    """Every --test is a test at --good (where the reference runs), before anything is built."""
    study = load_study(settings.templates_dir, settings.study)
    sources = selftests.plan(kt.clone, good.commit, req.tests, study.probe_sources)
    missing = [s.name for s in sources if not s.available]
    if missing:
        raise UserError(f"--test {', '.join(missing)}: no such test at --good {req.good}, so it cannot be the "
                        "reference", f"Tests at {req.good}: {', '.join(selftests.known_at(kt.clone, good.commit))}; "
                        f"probes of study {study.name!r}: {', '.join(study.probes) or 'none'}.")


def describe(policy: Policy) -> str:
    parts = []
    if policy.skip:
        parts.append(f"SKIP{' with ' + repr(policy.skip_reason) if policy.skip_reason else ''}")
    if policy.fail:
        parts.append("FAIL")
    return " or ".join(parts) + "; a crash is " + ("a skip" if policy.crash_skip else "bad")


def drive(git: Git, good: Base, bad: Base, step: list[str], runner: Runner, run_dir: Path,
          say: Say) -> tuple[dict[str, str], Path]:
    """Start (or resume) `git bisect`, run it, save its log, reset."""
    gitdir = Path(git.out("rev-parse", "--git-dir"))
    gitdir = gitdir if gitdir.is_absolute() else git.path / gitdir
    resumed = False
    if (gitdir / "BISECT_START").exists():
        log_so_far = git.run("bisect", "log", check=False, quiet=True).output
        same = f"# bad: [{bad.commit}]" in log_so_far and f"# good: [{good.commit}]" in log_so_far
        if same and "# first bad commit" not in log_so_far:
            resumed = True
            say(f"resuming the bisection an interrupted run left ({log_so_far.count('# ') - 2} steps done)")
        else:
            git.run("bisect", "reset", check=False, quiet=True)
    if not resumed:
        git.run("checkout", "--quiet", "--force", "--detach", bad.commit)
        git.run("bisect", "start", bad.commit, good.commit)
    done = runner.run(["git", "-C", str(git.path), "bisect", "run", *step], env=SAFE_ENV, check=False,
                      on_line=lambda line: say(line) if line.startswith(("bisect step", "Bisecting", "running")) else None)
    log = run_dir / "bisect.log"
    log.write_text(git.run("bisect", "log", check=False, quiet=True).output)
    m = re.search(r"^([0-9a-f]{40}) is the first bad commit", done.output, re.MULTILINE)
    if not m:
        tail = "\n".join(done.output.splitlines()[-12:])
        git.run("bisect", "reset", check=False, quiet=True)
        if "could be any of" in done.output:
            raise UserError("git bisect could not tell one commit apart (skipped commits around it):\n" + tail,
                            f"The bisect log is {log}.")
        raise InfraError("the bisection stopped without an answer:\n" + tail,
                         f"Nothing was decided wrongly; the bisect log is {log}. Fix the cause and run again.")
    commit = m.group(1)
    info = git.out("show", "-s", "--format=%H%n%s%n%an <%ae>%n%aI", commit).splitlines()
    git.run("bisect", "reset", check=False, quiet=True)
    return {"commit": info[0], "subject": info[1], "author": info[2], "date": info[3]}, log


# --- one step, run by `git bisect run` in its own process -----------------------------------------------

def run_cells(kt: KernelTree, root: Path, base: Base, tests: tuple[str, ...], repeat: int, settings: Settings,
              runner: Runner, log_dir: Path, say: Say) -> list[CellResult]:
    """Build, boot and test `base` (repeat times) in the bisect worktree at `root`, with the one driver."""
    wt = Worktree(root=root, git=Git(root / "src", runner), base=base)
    study = load_study(settings.templates_dir, settings.study)
    executor = executor_for(settings, runner)
    chosen = setup.tests(kt, base, tests, study, settings, say)
    configs = setup.configs(settings, (settings.configs[0],), study, executor, chosen.config)
    ready = setup.prepared(kt, wt, configs, chosen, executor, settings, runner, log_dir, say)
    specs = [CellSpec(base=base, variant=BASE, commit=base.commit, change=BASE, config=configs[0].name, repeat=r)
             for r in range(repeat)]
    return setup.drive(ready, executor, specs, settings, runner, setup.Reporting(LineView(say), record=lambda c: None))


def step_main(argv: list[str]) -> int:
    """What `git bisect run` executes: build, boot and test HEAD of the bisect worktree."""
    state, commit, subject, runner = load_step(argv)
    t0 = time.monotonic()
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    settings = Settings.from_mapping(state.settings)
    kt = KernelTree.open(settings, runner, Path(state.tree))
    base = Base(name=commit[:12], commit=commit)
    run = runs.load(Path(state.run_dir))
    tests = tuple(state.tests)
    cells = run_cells(kt, Path(state.worktree), base, tests, state.repeat, settings, runner, run.dir, say)
    if any(c.status is Status.INFRA_ERROR for c in cells):
        say(f"bisect step {commit[:12]}: infrastructure error, trying once more")
        cells = run_cells(kt, Path(state.worktree), base, tests, state.repeat, settings, runner, run.dir, say)
    return finish_step(state, commit, subject, cells, t0)


def load_step(argv: list[str]) -> tuple[StepState, str, str, Runner]:
    state = StepState.load(Path(argv[0]))
    runner = Runner(log=Path(state.run_dir) / "commands.log", registry=Path(state.settings["cache"]) / "running")
    git = Git(Path(state.worktree) / "src", runner)
    commit = git.out("rev-parse", "HEAD")
    return state, commit, git.out("show", "-s", "--format=%s", commit), runner


def finish_step(state: StepState, commit: str, subject: str, cells: list[CellResult], t0: float) -> int:
    """Judge the step, append it to steps.jsonl, and return git bisect run's exit code."""
    v, reason = verdict(cells, {k: Status.PASS for k in state.watch}, state.policy)
    record = {"commit": commit, "subject": subject, "verdict": v.name.lower(), "exit": int(v), "reason": reason,
              "seconds": round(time.monotonic() - t0, 1),
              "timings": [c.timings for c in cells], "statuses": [c.status.value for c in cells]}
    with open(Path(state.run_dir) / "steps.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(f"bisect step {commit[:12]} {subject[:50]!r}: {v.name.lower()} ({reason}) in {record['seconds']}s",
          flush=True)
    return int(v)




def summary(out: BisectOutcome) -> str:
    """What `invoke bisect` prints: the first bad commit, every step with its verdict and timings."""
    fb = out.first_bad
    lines = [f"first bad commit: {fb['commit']}", f"  subject: {fb['subject']}", f"  author:  {fb['author']}",
             f"  date:    {fb['date']}", f"{len(out.steps)} steps, {out.run.timings.get('total', 0):.0f}s in all:"]
    for i, s in enumerate(out.steps, 1):
        t = ", ".join(f"{k} {v:.0f}s" for k, v in (s["timings"][0] if s["timings"] else {}).items())
        lines.append(f"  {i:>2}. {s['commit'][:12]} {s['verdict']:<5} {s['seconds']:>6.1f}s  ({t})  {s['subject'][:50]}")
        lines.append(f"      {s['reason']}")
    lines += [f"bisect log: {out.log}", f"replay: {out.replay}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(step_main(sys.argv[1:]))
