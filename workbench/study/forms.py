"""The forms of a study's check (`forms = [...]` in study.toml) and the question each one asks.

A form is a shape of the check as the code reads, `$x` standing for a variable. Every variant's
predicate answers the study's `question` ("may this folio be mapped by another process?"); a form
says whether the code's expression answers that question (`"folio_mapcount($x) != 1"`, a plain
string: polarity "same") or its opposite (`{ form = "page_mapcount($x) == 1", polarity =
"opposite" }`: "is it exclusive?"). Rendering negates a variant's predicate at a site of the
opposite polarity, so that the code still means what it meant (`workbench/study/cexpr.py`).
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnknownKey, UserError

KEYS = ("form", "polarity")  # a form written as a table


class Polarity(str, enum.Enum):
    SAME = "same"  # the form is true when the answer to the study's question is yes
    OPPOSITE = "opposite"  # ... when it is no ("is it exclusive?" in a study that asks "shared?")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Form:
    """One shape of the sharing check, e.g. `folio_mapcount($x) != 1`, and the question it asks."""

    text: str
    regex: re.Pattern[str]
    polarity: Polarity = Polarity.SAME
    declared: bool = False  # the study said its polarity (a table with `polarity`), not the default

    @classmethod
    def parse(cls, text: str, polarity: Polarity = Polarity.SAME, declared: bool = False) -> Form:
        return cls(text, re.compile(form_regex(text)), polarity, declared)

    @property
    def negates_itself(self) -> bool:
        """The form's own text starts with `!` (its sites are replaced `!` and all)."""
        return self.text.lstrip().startswith("!")


def form_regex(text: str) -> str:
    """`folio_mapcount($x) != 1` -> a regex with free whitespace; `$x` matches a variable, or a call
    with simple arguments (`page_folio(page)`, `pmd_page(orig_pmd)`); the same `$x` twice must match
    the same text."""
    parts: list[str] = []
    for tok in re.findall(r"\$\w+|[A-Za-z_]\w*|\d+|\S", text):
        if tok.startswith("$"):
            name = tok[1:]
            parts.append(f"(?P={name})" if f"(?P<{name}>" in "".join(parts) else rf"(?P<{name}>[A-Za-z_]\w*(?:\s*\([^()]*\))?)")
        elif re.fullmatch(r"[A-Za-z_]\w*|\d+", tok):
            parts.append(rf"\b{tok}\b")
        else:
            parts.append(re.escape(tok))
    return r"\s*".join(parts) + r"(?!\s*[\w(])"


def parse(entries: Any, where: str, path: Path) -> tuple[Form, ...]:
    """The forms of `[study] forms` or a target's `forms`: each a string (it asks the study's
    question) or a table `{ form = "...", polarity = "same" | "opposite" }`; each checked to be an
    expression that can match code: balanced parentheses, a call in it, no operator dangling."""
    out = []
    for entry in entries:
        text, polarity, declared = _entry(entry, where, path)
        problem = _problem(text)
        if problem:
            raise UserError(f"{path}: {where}: the form {text!r} can match nothing: {problem}",
                            "Write a form as the check reads in the code, with `$x` for a variable, "
                            "e.g. \"folio_mapcount($x) != 1\".")
        out.append(Form.parse(text, polarity, declared))
    return tuple(out)


def _entry(entry: Any, where: str, path: Path) -> tuple[str, Polarity, bool]:
    if not isinstance(entry, dict):
        return str(entry), Polarity.SAME, False
    fix = ('Write it { form = "page_mapcount($x) == 1", polarity = "opposite" } (polarity "same", the default, '
           "for a form that asks the study's question; \"opposite\" for one that asks its opposite).")
    for key in entry:
        if key not in KEYS:
            raise UnknownKey(key, f"{path}: {where}", KEYS, fix)
    if "form" not in entry:
        raise UserError(f"{path}: {where}: a form written as a table has no `form` (the expression)", fix)
    try:
        polarity = Polarity(entry.get("polarity", "same"))
    except ValueError:
        raise UserError(f"{path}: {where}: form {entry['form']!r}: polarity {entry['polarity']!r} is neither "
                        "\"same\" nor \"opposite\"", fix) from None
    return str(entry["form"]), polarity, "polarity" in entry


def _problem(text: str) -> str:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return "a ')' closes nothing"
    if depth:
        return "a '(' is not closed"
    if not re.search(r"[A-Za-z_]\w*\s*\(", text):
        return "it calls no function"
    if re.search(r"(^\s*[=!<>&|+*/%^-]+(?!\w))|([=!<>&|+*/%^-]\s*$)", text):
        return "an operator at one end has nothing on that side"
    if re.search(r"\$(?!\w)", text):
        return "a '$' without a name ($x)"
    return ""
