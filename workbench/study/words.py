"""The words a study's probe is reported in: what each verdict is called, marked and explained.

They are the study's data (`templates/<study>/probe/words.toml`, named in study.toml), recorded
in every run.json that ran the probe, and read back from there by the reports, so another
study's probe is described in its own words.

A probe prints its verdict on a case as a token: the first word of the result's reason, in
square brackets (`not ok 4 NAME # [missed] ...`, `ok 5 # SKIP [inconclusive] NAME: ...`; see
templates/probe-common/probe_common.h). A rule gives a case its word: the first rule whose
status, environment-skip flag and token all fit the case; `{action}` in a word is the first
action whose `name` is in the first word of the case's name (the advice). No rule: the status, in
lower case. The English after the token never decides anything.

A rule with `reason` (text the reason contains) is how a run recorded before the tokens says its
words; such a run still reads as it did, but a words file may not use one.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..records import Case

MARKS = ("good", "warn", "harm", "bad")  # harm: worse than warn, short of bad
TOKEN = re.compile(r"^\[([a-z][a-z-]*)\]")  # a verdict token, at the start of a case's reason


def token(case: Case) -> str:
    """The verdict token the test printed for the case ("missed"), or ""."""
    m = TOKEN.match(case.reason)
    return m.group(1) if m else ""


@dataclass(frozen=True)
class Rule:
    word: str
    status: str = ""  # "" any
    env_skip: bool | None = None
    token: str = ""  # the verdict token the case carries ("" any)
    mark: str = ""  # good | warn | harm | bad (colours)
    short: str = ""  # a shorter word for a mail's fixed-width table
    reason: str = ""  # only in runs recorded before the tokens: text the reason contains

    def fits(self, case: Case) -> bool:
        return ((not self.status or case.status.value == self.status)
                and (self.env_skip is None or case.env_skip == self.env_skip)
                and (not self.token or token(case) == self.token)
                and (not self.reason or self.reason.lower() in case.reason.lower()))


@dataclass(frozen=True)
class Action:
    word: str
    name: str = ""  # text in the first word of the case's name, the advice ("MADV_COLD"; "" any)


@dataclass(frozen=True)
class Words:
    title: str
    note: str = ""
    missing: str = "-"  # a case this column did not report
    rules: tuple[Rule, ...] = ()
    actions: tuple[Action, ...] = field(default_factory=tuple)

    def word(self, case: Case | None) -> str:
        if case is None:
            return self.missing
        for rule in self.rules:
            if rule.fits(case):
                return rule.word.replace("{action}", self._action(case.name))
        return case.status.value.lower()

    def _action(self, name: str) -> str:
        advice = name.split(" ", 1)[0]
        for action in self.actions:
            if action.name in advice:
                return action.word
        return ""

    def _expanded(self, text: str) -> list[str]:
        return [text.replace("{action}", a.word) for a in self.actions] if "{action}" in text else [text]

    @property
    def marks(self) -> dict[str, str]:
        """word -> mark, for every word a rule can give."""
        return {w: r.mark for r in self.rules if r.mark for w in self._expanded(r.word)}

    @property
    def short(self) -> dict[str, str]:
        return {w: r.short for r in self.rules if r.short for w in self._expanded(r.word)}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Words:
        rules = tuple(Rule(**r) for r in d.get("rules", []))
        for r in rules:
            if r.mark and r.mark not in MARKS:
                raise ValueError(f"mark {r.mark!r} of {r.word!r} is not one of {', '.join(MARKS)}")
        return cls(title=str(d["title"]), note=str(d.get("note", "")), missing=str(d.get("missing", "-")),
                   rules=rules, actions=tuple(Action(**a) for a in d.get("actions", [])))


def load(path: Path) -> Words:
    """A words file: `title`, `note`, `[[verdict]]` rules and `[[action]]` words (see mapcount's).

    A rule matches a verdict token (`token = "missed"`), a status or an environment skip, never
    the English of a reason.
    """
    import tomllib

    raw = tomllib.loads(path.read_text())
    for rule in raw.get("verdict", []):
        if "reason" in rule:
            raise ValueError(f"{path}: the rule for {rule.get('word', '?')!r} matches the reason's text; "
                             "match the verdict token the probe prints instead (token = \"missed\")")
    return Words.from_json({"title": raw["title"], "note": raw.get("note", ""), "missing": raw.get("missing", "-"),
                            "rules": raw.get("verdict", []), "actions": raw.get("action", [])})
