"""What a study's target is to the tests: whether a user space program can observe its decision,
and whether a base may lack it (issue 31, item 2).

Two keys of a `[[targets]]` entry, read here and nowhere else:

- `observable = false` with `why = "..."` (one sentence: why no user space program can observe the
  decision there). Variants still patch the site (the variant is the real patch), but no test can
  give it a verdict: coverage shows its counts marked "(no verdict)", mutants are not made there
  (listed as "unobservable: not scored"), and `patches` and `check-variants` list it with its why.
- `optional = "..."` (a reason): a base that lacks the target's file, its function or any site of
  its forms leaves the target out, saying so with the reason, instead of refusing the study.

The consumers ask `Observe` (`scored`, `no_verdict`) and print `listing()`; none of them reads the
keys themselves.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError

KEYS = ("observable", "why", "optional")  # the [[targets]] keys this module reads
NO_VERDICT = "no verdict"  # what coverage writes beside an unobservable site
NOT_SCORED = "unobservable: not scored"  # what the mutants report writes for its sites


@dataclass(frozen=True)
class Observe:
    """A target's observability: `why` non-empty means no program can observe it (and says why);
    `optional` non-empty means a base may lack it (and says why that is expected)."""

    why: str = ""
    optional: str = ""

    @property
    def observable(self) -> bool:
        return not self.why

    @property
    def scored(self) -> bool:
        """Whether tests can judge the site: mutants are made there, verdicts mean something."""
        return self.observable


@dataclass(frozen=True)
class LeftOut:
    """An optional target a base lacks: what it lacks, and the study's reason."""

    target: str
    file: str
    functions: tuple[str, ...]
    missing: str  # "no mm/x.c", "no function f() in mm/x.c", "no site of its forms in f()"
    reason: str

    def __str__(self) -> str:
        return f"{self.target}: left out here ({self.missing}); optional: {self.reason}"


def parse(entry: Mapping[str, Any], name: str, path: Path) -> Observe:
    """The keys of one `[[targets]]` entry (`name`: the target's); a wrong combination is one paragraph."""
    where = f"{path}: target {name!r}"
    observable = entry.get("observable", True)
    if not isinstance(observable, bool):
        raise UserError(f"{where}: observable = {observable!r} is not true or false",
                        "Write observable = false (with why = \"...\") for a site no program can observe, or leave "
                        "the key out.")
    why = entry.get("why", "")
    if not isinstance(why, str):
        raise UserError(f"{where}: why = {why!r} is not a sentence", 'Write why = "no program can see ... because ...".')
    if not observable and not why.strip():
        raise UserError(f"{where}: observable = false needs why = \"...\": one sentence saying why no user space "
                        "program can observe the decision there",
                        "Add why = \"...\" to the target (coverage and the mutants report show it), or drop "
                        "observable = false if a test can see the decision.")
    if observable and why:
        raise UserError(f"{where}: why = {why!r} without observable = false",
                        "`why` says why a site is unobservable; add observable = false, or remove `why`.")
    optional = entry.get("optional", "")
    if not isinstance(optional, str) or ("optional" in entry and not optional.strip()):
        raise UserError(f"{where}: optional = {optional!r} must be a reason (a non-empty string)",
                        'Write optional = "v6.1 has no such check (it asks page_count())": the output shows it '
                        "where a base lacks the target.")
    return Observe(why=" ".join(why.split()), optional=" ".join(optional.split()))


def listing(targets: Iterable[Any], left_out: Iterable[LeftOut], indent: str = "  ") -> list[str]:
    """The lines `patches` and `check-variants` print: each unobservable target with its why, each
    optional target left out at the base with what it lacks and its reason. `targets`: the study's
    (anything with `name`, `file`, `function` and `observe`)."""
    out = []
    gone = {lo.target for lo in left_out}
    for t in targets:
        if not t.observe.observable and t.name not in gone:
            out.append(f"{indent}unobservable ({NO_VERDICT}, no mutants): {t.name} ({t.file}, {t.function}()): "
                       f"{t.observe.why}")
    out += [f"{indent}{lo}" for lo in left_out]
    return out
