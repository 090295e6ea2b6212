"""Which cases kill which mutants: the kill rule, over a finished run's records.

A case's outcome in one boot is its probe verdict word (a probe: the study's words) or its status
(any other test). A case kills a mutant when its outcome differs from the base's in every one of
the mutant's N >= 2 boots while the base gave one outcome over its own N boots. Never a kill: an
environment skip or an inconclusive probe row (no outcome, in either column), a case the base
does not give stably (named: flaky on base), a case that differs in some boots of the mutant and
not in others (named: flaky), any boot without a verdict (INFRA_ERROR, NOT_RUN: the mutant is
incomplete). A case a crashed or timed-out boot did not reach reads as that status. A mutant whose
kernel is the base's, byte for byte, is equivalent (never booted); one that did not build is
listed as such. Mutants are judged under the run's first config (the minimal one).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..records import BASE, Case, CellResult, Run
from ..status import Status
from ..study.words import Words, token
from .generate import Mutant

Key = tuple[str, str, int]  # (test, case name, which occurrence of that name)
KILLED, SURVIVED, EQUIVALENT, NOT_COMPILED, INCOMPLETE = "killed", "survived", "equivalent", "not compiled", "incomplete"
NO_REACH = "reach unknown: run with the coverage config"


@dataclass(frozen=True)
class Kill:
    test: str
    case: str
    base: str  # the base's outcome
    mutant: str  # the mutant's, over its boots

    @property
    def direction(self) -> str:
        return f"{self.base} -> {self.mutant}"


@dataclass
class Judged:
    mutant: Mutant
    state: str
    kills: list[Kill] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)  # cases that differed in some boots only
    seconds: float = 0.0  # build and boot over its boots
    reach: str = ""
    why: str = ""  # not compiled: the first error; incomplete: the boot's status

    def suites(self) -> list[str]:
        return list(dict.fromkeys(k.test for k in self.kills))


@dataclass
class Analysis:
    boots: int
    config: str
    judged: list[Judged]
    same_source: list[Mutant]
    base_flaky: list[str]
    suites: dict[str, tuple[int, int]]  # suite -> (killed, scored)
    note: str = ""
    unobservable: list[dict[str, Any]] = field(default_factory=list)  # sites without mutants: site, file, line, why

    @property
    def aa_killed(self) -> list[Judged]:
        return [j for j in self.judged if j.mutant.aa and j.kills]


def outcome(case: Case, words: Words | None) -> str | None:
    """What a case said in one boot; None when it says nothing of the kernel."""
    if case.env_skip or token(case) == "inconclusive":
        return None
    return words.word(case) if words else case.status.value


def observe(cell: CellResult, words: dict[str, Words]) -> dict[Key, str | None]:
    seen: Counter[tuple[str, str]] = Counter()
    out: dict[Key, str | None] = {}
    for case in cell.cases:
        seen[case.test, case.name] += 1
        out[case.test, case.name, seen[case.test, case.name]] = outcome(case, words.get(case.test))
    return out


def _lost(cell: CellResult) -> str:
    """What a case the boot did not reach reads as."""
    return cell.status.value if cell.status in (Status.CRASH, Status.TIMEOUT) else "missing"


def boots_of(run: Run, column: str, config: str) -> list[CellResult]:
    return sorted((c for c in run.cells if c.variant == column and c.config in (config, "")), key=lambda c: c.repeat)


def stable_base(base: list[CellResult], words: dict[str, Words]) -> tuple[dict[Key, str], list[str]]:
    """{case: the outcome every base boot gave}, and the cases the base did not give stably."""
    seen = [observe(c, words) for c in base]
    keys = list(dict.fromkeys(k for obs in seen for k in obs))
    stable: dict[Key, str] = {}
    flaky = []
    for key in keys:
        values = {obs.get(key, _lost(cell)) for obs, cell in zip(seen, base)}
        if len(values) == 1 and None not in values:
            stable[key] = str(values.pop())
        elif len(values) > 1:
            flaky.append(_name(key))
    return stable, flaky


def _name(key: Key) -> str:
    return f"{key[0]}: {key[1]}" + (f" (#{key[2]})" if key[2] > 1 else "")


def wall(boots: list[CellResult]) -> float:
    """A column's build and boot seconds over its boots (a cached cell: what it took when it ran)."""
    return round(sum(c.timings.get("build", 0.0) + c.timings.get("boot+test", 0.0) for c in boots), 1)


def judge(m: Mutant, boots: list[CellResult], stable: dict[Key, str], words: dict[str, Words], n: int) -> Judged:
    """One mutant's state, kills and flaky cases from its boots."""
    j = Judged(m, SURVIVED, seconds=wall(boots))
    if boots and all(c.status is Status.BUILD_FAILED and c.reason.startswith("the kernel did not build")
                     for c in boots):
        j.state, j.why = NOT_COMPILED, boots[0].reason
        return j
    if boots and all(c.same_code for c in boots) and not m.aa:
        j.state = EQUIVALENT
        return j
    if len(boots) < n or any(not c.status.is_verdict or c.status is Status.BUILD_FAILED for c in boots):
        bad = next((c for c in boots if not c.status.is_verdict or c.status is Status.BUILD_FAILED), None)
        j.state, j.why = INCOMPLETE, (f"{bad.status.value}: {bad.reason}" if bad else f"{len(boots)} of {n} boots")
        return j
    seen = [observe(c, words) for c in boots]
    for key, before in stable.items():
        after = [obs[key] if key in obs else _lost(cell) for obs, cell in zip(seen, boots)]
        differs = [a is not None and a != before for a in after]
        if all(differs):
            j.kills.append(Kill(key[0], _name(key).split(": ", 1)[1], before, "/".join(dict.fromkeys(map(str, after)))))
        elif any(differs):
            j.flaky.append(_name(key))
    j.state = KILLED if j.kills else SURVIVED
    return j


def analyse(run: Run, words: dict[str, Words]) -> Analysis | None:
    """The mutants of `run` judged; None when the run has none."""
    record: dict[str, Any] | None = run.extra.get("mutants")
    if not record:
        return None
    config = run.config
    mutants = [Mutant.from_json(d) for d in record.get("mutants", [])]
    same = [Mutant.from_json(d) for d in record.get("same_source", [])]
    base = [c for c in boots_of(run, BASE, config) if c.status.is_verdict]
    n = len(base)
    stable, base_flaky = stable_base(base, words)
    note = "" if n >= 2 else f"the base has {n} boot(s) with a verdict: a kill needs N >= 2 (--repeat 2)"
    judged = [judge(m, boots_of(run, m.name, config), stable, words, n) if n >= 2 else
              Judged(m, INCOMPLETE, seconds=wall(boots_of(run, m.name, config))) for m in mutants]
    for j in judged:
        if j.state == SURVIVED and not j.mutant.aa:
            j.reach = reach(run, j.mutant)
    ran = {t for c in base for t in c.tests}
    return Analysis(n, config, judged, same, base_flaky, scores(run, judged, ran), note,
                    list(record.get("unobservable", [])))


def scores(run: Run, judged: list[Judged], ran: set[str]) -> dict[str, tuple[int, int]]:
    """Per suite (each test of the run): mutants it killed, of those judged (killed or survived, no A/A);
    (0, 0) for a suite the base did not run (NOT_RUN there: cow at 6.1), which can kill nothing."""
    scored = [j for j in judged if j.state in (KILLED, SURVIVED) and not j.mutant.aa]
    suites = list(dict.fromkeys([*run.tests, *(s for j in scored for s in j.suites())]))
    return {s: (sum(1 for j in scored if s in j.suites()), len(scored) if s in ran else 0) for s in suites}


def reach(run: Run, m: Mutant) -> str:
    """Whether the tests ran the mutant's site, from the base's coverage counts (a coverage config's
    cells carry `coverage`: the site's line and its decisions per test); without them, unknown."""
    for cell in (c for c in run.cells if c.variant == BASE):
        cov = cell.coverage
        if cov is None:
            continue
        for i, spot in enumerate(cov.spots):
            if spot.kind == "site" and (spot.file, spot.line) == (m.file, m.line):
                counts = [t[i] for t in cov.tests.values() if i < len(t)]
                total = sum(t.count or 0 for t in counts)
                if not total:
                    return "never reached"
                decided = [(t.shared, t.exclusive) for t in counts if t.shared is not None]
                how = (f" (shared {sum(s or 0 for s, _ in decided):,}, exclusive {sum(e or 0 for _, e in decided):,})"
                       if decided else "")
                return f"reached {total:,} times{how}"
    return NO_REACH
