"""The mutants section of a run's report: counts, the score per suite, each mutant with the cases
that killed it (grouped by test, with the direction), the survivors with site, operator and reach,
and the flaky cases. Plain text (the terminal and a mail), markdown, and JSON for other tools."""
from __future__ import annotations

from collections import Counter
from typing import Any

from ..records import Run
from ..study.observe import NOT_SCORED
from ..study.words import Words
from .kills import EQUIVALENT, INCOMPLETE, KILLED, NOT_COMPILED, SURVIVED, Analysis, Judged, analyse

SHOWN = 3  # cases named per test in the text; JSON has them all


def analysis_of(run: Run) -> Analysis | None:
    return analyse(run, {name: Words.from_json(w) for name, w in run.words.items()})


def _counts(a: Analysis) -> str:
    c = Counter(j.state for j in a.judged if not j.mutant.aa)
    return ", ".join(f"{c[s]} {s}" for s in (KILLED, SURVIVED, EQUIVALENT, NOT_COMPILED, INCOMPLETE))


def _aa(a: Analysis) -> str:
    aa = [j for j in a.judged if j.mutant.aa]
    if not aa:
        return "no A/A mutant in this run"
    j = aa[0]
    if j.state == INCOMPLETE:
        return f"A/A mutant ({j.mutant.name}): not judged" + (f" ({j.why})" if j.why else "")
    if j.kills:
        return (f"A/A mutant ({j.mutant.name}) KILLED by {len(j.kills)} case(s): the tests are not stable enough "
                "here for these kills to mean anything")
    return f"A/A mutant ({j.mutant.name}): killed by nothing, as it must be"


def header(a: Analysis, run: Run) -> list[str]:
    mutants = [j for j in a.judged if not j.mutant.aa]
    sites = len({j.mutant.site for j in mutants} | {m.site for m in a.same_source})
    ops = len({j.mutant.operator for j in mutants} | {m.operator for m in a.same_source})
    lines = [f"Mutants of study {run.study} at {run.base} (config {a.config}, N = {a.boots} boots per column)",
             f"  {len(mutants)} mutants of {sites} sites x {ops} operators: {_counts(a)}"]
    if a.same_source:
        lines.append("  not mutants here (the operator writes what the base has): "
                     + ", ".join(m.shown for m in a.same_source))
    lines += [f"  {NOT_SCORED}: {u['site']} ({u['file']}:{u['line']}, {u['function']}()): {u['why']}"
              for u in a.unobservable]
    lines.append("  " + _aa(a))
    if a.note:
        lines.append(f"  no kills judged: {a.note}")
    return lines


def _kill_text(j: Judged) -> str:
    parts = []
    for test in j.suites():
        kills = [k for k in j.kills if k.test == test]
        named = "; ".join(f"{k.case} ({k.direction})" for k in kills[:SHOWN])
        more = f"; and {len(kills) - SHOWN} more" if len(kills) > SHOWN else ""
        parts.append(f"{test}: {len(kills)} case(s): {named}{more}")
    return " | ".join(parts)


def _state_text(j: Judged) -> str:
    if j.mutant.aa and j.state == SURVIVED:
        return "the A/A mutant: killed by nothing" + (f" ({len(j.flaky)} case(s) flaky)" if j.flaky else "")
    if j.state == KILLED:
        return _kill_text(j)
    if j.state == SURVIVED:
        return f"survived at {j.mutant.file}:{j.mutant.line} ({j.mutant.role}): {j.reach}"
    if j.state == EQUIVALENT:
        return "equivalent: its kernel is the base's, byte for byte (=base, never booted)"
    return f"{j.state}: {j.why}" if j.why else "not judged (see above)"


def text_lines(run: Run) -> list[str]:
    a = analysis_of(run)
    if a is None:
        return []
    lines = ["", *header(a, run), "", "mutation score per suite (killed / judged mutants):"]
    for suite, (killed, scored) in a.suites.items():
        lines.append(f"  {suite:<24} {killed:>3} / {scored:<3} {100 * killed / scored:.0f}%" if scored else
                     f"  {suite:<24} not run at the base: no score")
    lines += ["", "per mutant (the cases that killed it, by test: base -> mutant over its boots):"]
    width = max((len(j.mutant.shown) for j in a.judged), default=10)
    for j in a.judged:
        lines.append(f"  {j.mutant.shown:<{width}}  {j.state:<12} {j.seconds:>6.0f} s  {_state_text(j)}")
    survivors = [j for j in a.judged if j.state == SURVIVED and not j.mutant.aa]
    if survivors:
        lines += ["", "survivors (site, operator, reach):"]
        lines += [f"  {j.mutant.shown}: {j.mutant.label}; `{j.mutant.before}` at {j.mutant.file}:{j.mutant.line}; "
                  f"{j.reach}" for j in survivors]
    flaky = [(j.mutant.shown, f) for j in a.judged for f in j.flaky]
    if flaky or a.base_flaky:
        lines += ["", "flaky (they kill nothing):"]
        lines += [f"  base: {f}" for f in a.base_flaky[:20]]
        lines += [f"  {m}: {f}" for m, f in flaky[:40]]
        if len(flaky) > 40:
            lines.append(f"  and {len(flaky) - 40} more (report --format json lists them all)")
    return lines


def markdown_lines(run: Run) -> list[str]:
    a = analysis_of(run)
    if a is None:
        return []
    lines = ["", "## Mutants", "", *[h.strip() + "  " for h in header(a, run)], "",
             "| suite | killed | judged | score |", "|---|---|---|---|"]
    for suite, (killed, scored) in a.suites.items():
        lines.append(f"| {suite} | {killed} | {scored} | {f'{100 * killed / scored:.0f}%' if scored else 'not run at the base'} |")
    lines += ["", "| mutant | state | wall time | killed by / reach |", "|---|---|---|---|"]
    for j in a.judged:
        lines.append(f"| `{j.mutant.shown}` | {j.state} | {j.seconds:.0f} s | {_state_text(j).replace('|', '/')} |")
    return lines


def to_json(run: Run) -> dict[str, Any] | None:
    a = analysis_of(run)
    if a is None:
        return None
    return {"boots": a.boots, "config": a.config, "note": a.note, "base_flaky": a.base_flaky,
            "same_source": [m.to_json() for m in a.same_source], "unobservable": a.unobservable,
            "scores": {s: {"killed": k, "judged": n} for s, (k, n) in a.suites.items()},
            "mutants": [{**j.mutant.to_json(), "shown": j.mutant.shown, "state": j.state, "why": j.why,
                         "seconds": j.seconds, "reach": j.reach, "flaky": j.flaky,
                         "kills": [{"test": k.test, "case": k.case, "base": k.base, "mutant": k.mutant}
                                   for k in j.kills]} for j in a.judged]}
