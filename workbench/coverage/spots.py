"""The lines coverage speaks of in one tree: the study's sites and the lines the column changed.

A site's decision (did its check say shared or exclusive?) is read from line counts, by the shape
of its if-statement, never guessed from gcc's branch numbering: when the site is the last operand of
its `if`'s condition, alone on its line, not negated, and the `if`'s body always leaves (`continue`,
`break`, `goto`, `return`, or a block that ends in one) with no `else`, then the first line after the
body runs exactly when the check said exclusive, and the site's line runs each time the check is
evaluated: shared = site line - after line. Any other shape is "not separable" and says why (the
counts of the line are still given). gcc 12 counts an inlined helper's lines under its header, so
the site's own line is the only one that is the site's.
"""
from __future__ import annotations

import re

from ..errors import UserError
from ..kernel.git import Git
from ..records import Spot
from ..study import csrc
from ..study.model import Study
from ..study.sites import Missing, Site, locate

_JUMP = re.compile(r"^\s*(continue|break|goto\s+\w+|return\b[^;]*);")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def spots(study: Study, git: Git, base: str, commit: str, file: str, text: str) -> list[Spot]:
    """The sites of every study target in `file` (as `text` has it), then the lines `commit` changes
    in it against `base` (code lines only: no blank or comment-only line)."""
    found: list[Spot] = []
    for target in (t for t in study.targets if t.file == file):
        try:
            located = locate(study, text, commit[:12], target)
        except UserError as exc:  # a brought change may remove the function or every site: no site then
            if isinstance(exc, Missing) and target.observe.optional:
                continue  # a target this base may lack (study.toml says why): no spot
            found.append(Spot(file, 0, "site", target.function, how=f"no site found: {exc}"))
            continue
        found += [site_spot(located.masked, located.function.body, s, text) for s in located.sites]
    if commit != base:
        found += changed(git.out("diff", "-U0", base, commit, "--", file), file, csrc.mask(text).splitlines())
    return found


def site_spot(masked: str, body: tuple[int, int], site: Site, text: str) -> Spot:
    """The site as a spot: its line, and the line after its if-statement when that line tells its
    decision apart (else `how` says why not)."""
    after, how = _after(masked, body, site.start, site.end)
    label = f"{site.role_label} ({site.text})"
    return Spot(site.file, site.line, "site", label, after=csrc.line_of(text, after) if after else 0, how=how,
                unobservable=site.target.observe.why)


def _after(masked: str, body: tuple[int, int], start: int, end: int) -> tuple[int, str]:
    """(offset of the first statement after the site's if, or 0; how the decision is read, or why not)."""
    span = csrc.controlling_condition(masked, body, start)
    if span is None or not re.search(r"\bif\s*$", masked[body[0]:span[0] - 1]):
        return 0, "not separable: the site is not the condition of an if"
    lo, hi = span
    if masked[end:hi].strip(" \t\n)"):
        return 0, "not separable: the site is not the last operand of its condition"
    before = masked[lo:start].rstrip(" \t(")
    if before.endswith("!"):
        return 0, "not separable: the site is negated"
    line_start = masked.rfind("\n", 0, start) + 1
    other = masked[max(line_start, lo):start].strip(" \t(")
    if other and not other.startswith("if"):
        return 0, f"not separable: another condition shares its line ({' '.join(other.split())[:40]})"
    stop = _body_end(masked, hi + 1)
    if stop is None:
        return 0, "not separable: the if's body does not always leave (continue, break, goto, return)"
    rest = masked[stop:]
    nxt = stop + len(rest) - len(rest.lstrip())
    if re.match(r"else\b|\}|\w+\s*:(?!:)", masked[nxt:]):
        return 0, "not separable: what follows the if is an else, a block's end or a label (reached from elsewhere)"
    return nxt, "decisions: shared = runs of the site's line - runs of the line after its if"


def _body_end(masked: str, pos: int) -> int | None:
    """The offset after the if's body starting at `pos`, when the body always leaves; else None."""
    rest = masked[pos:]
    stripped = rest.lstrip()
    at = pos + len(rest) - len(stripped)
    if stripped.startswith("{"):
        close = csrc.match_close(masked, at)
        inner = masked[at + 1:close].rstrip()
        statements = [s for s in re.split(r"[;{}]", inner) if s.strip()]
        last = statements[-1] + ";" if statements and inner.endswith(";") else ""
        return close + 1 if _JUMP.match(last) else None
    m = _JUMP.match(stripped)
    return at + m.end() if m else None


def changed(diff: str, file: str, masked_lines: list[str]) -> list[Spot]:
    """The code lines a `git diff -U0` adds to `file` (new-side numbers), as spots."""
    out: list[Spot] = []
    line = 0
    for raw in diff.splitlines():
        m = _HUNK.match(raw)
        if m:
            line = int(m.group(1))
            continue
        if raw.startswith("+") and not raw.startswith("+++"):
            code = masked_lines[line - 1].strip() if 0 < line <= len(masked_lines) else ""
            if code and code not in ("{", "}"):
                out.append(Spot(file, line, "changed", " ".join(raw[1:].split())[:72]))
            line += 1
    return out
