"""A study: the data that says which code to change and how (`templates/<study>/study.toml`).

The Python here only reads and checks the file; what the variants write lives in
Jinja2 templates next to it, so adding a variant is adding a template and a line.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError


class Accuracy:
    EXACT = "exact"
    APPROXIMATE = "approximate"


@dataclass(frozen=True)
class Form:
    """One shape of the sharing check, e.g. `folio_mapcount($x) != 1`."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> "Form":
        return cls(text, re.compile(form_regex(text)))


def form_regex(text: str) -> str:
    """`folio_mapcount($x) != 1` -> a regex with free whitespace; `$x` matches a variable, or a call
    with simple arguments (`page_folio(page)`, `pmd_page(orig_pmd)`); the same `$x` twice must match
    the same text."""
    parts = []
    for tok in re.findall(r"\$\w+|[A-Za-z_]\w*|\d+|\S", text):
        if tok.startswith("$"):
            name = tok[1:]
            parts.append(f"(?P={name})" if f"(?P<{name}>" in "".join(parts) else rf"(?P<{name}>[A-Za-z_]\w*(?:\s*\([^()]*\))?)")
        elif re.fullmatch(r"[A-Za-z_]\w*|\d+", tok):
            parts.append(rf"\b{tok}\b")
        else:
            parts.append(re.escape(tok))
    return r"\s*".join(parts) + r"(?!\s*[\w(])"


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    within: tuple[str, ...]
    condition: tuple[str, ...]
    page: tuple[str, ...]
    folio: tuple[str, ...]


@dataclass(frozen=True)
class Prototype:
    helper: str
    template: str
    accuracy: str
    requires: tuple[str, ...]
    note: str
    home: str = "include/linux/mm.h"  # where an RFC series moves it


@dataclass(frozen=True)
class Fix:
    """A commit a variant's patch fixes (for `Fixes:`), and the commits that already fixed it."""

    commit: str
    subject: str
    fixed_by: tuple[str, ...]
    variants: tuple[str, ...]


@dataclass(frozen=True)
class Variant:
    name: str
    template: str


@dataclass(frozen=True)
class Study:
    name: str
    root: Path
    file: str
    function: str
    question: str
    forms: tuple[Form, ...]
    roles: tuple[Role, ...]
    variants: tuple[Variant, ...]
    helpers: dict[str, tuple[Prototype, ...]]
    probes: dict[str, str]
    message: str | None = None
    fixes: tuple[Fix, ...] = ()
    series: dict[str, str] = field(default_factory=dict)  # "helper", "cover": template paths

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UserError(f"study {self.name!r} has no variant {name!r}",
                        f"Variants: base, {', '.join(self.variant_names)}.")

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def select(self, names: list[str] | tuple[str, ...] | None) -> list[Variant]:
        """The named variants (all of them when `names` is empty); `base` is implied."""
        if not names:
            return list(self.variants)
        return [self.variant(n) for n in names if n != "base"]

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)

    def symbols_of_interest(self) -> set[str]:
        names = set(self.helpers)
        for protos in self.helpers.values():
            for p in protos:
                names.update(p.requires)
        return names


def load(templates_dir: Path, name: str) -> Study:
    """The study `templates/<name>/`, or the study in directory `name` when it is a path."""
    root = Path(name) if ("/" in name or Path(name).is_dir()) else templates_dir / name
    path = root / "study.toml"
    if not path.exists():
        known = sorted(p.parent.name for p in templates_dir.glob("*/study.toml"))
        raise UserError(f"no study {name!r} ({path} does not exist)", f"Studies here: {', '.join(known) or 'none'}.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}", "Fix the TOML syntax there.") from exc
    try:
        return _build(root, raw)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise UserError(f"{path}: missing or bad entry: {exc}",
                        "Compare with templates/mapcount/study.toml.") from exc


def _build(root: Path, raw: dict[str, Any]) -> Study:
    head = raw["study"]
    roles = tuple(
        Role(name=k, label=v.get("label", k), within=tuple(v.get("within", ())),
             condition=tuple(v.get("condition", ())), page=tuple(v.get("page", ())),
             folio=tuple(v.get("folio", ())))
        for k, v in raw["roles"].items())
    variants = tuple(Variant(k, v) for k, v in raw.get("variants", {}).items())
    if any(v.name == "base" for v in variants):
        raise ValueError("'base' is the unchanged tree and cannot be a variant name")
    helpers = {
        name: tuple(Prototype(helper=name, template=p["template"], accuracy=p.get("accuracy", Accuracy.EXACT),
                              requires=tuple(p.get("requires", ())), note=p.get("note", ""),
                              home=p.get("home", "include/linux/mm.h"))
                    for p in protos)
        for name, protos in raw.get("helpers", {}).items()}
    for protos in helpers.values():
        for p in protos:
            if p.accuracy not in (Accuracy.EXACT, Accuracy.APPROXIMATE):
                raise ValueError(f"accuracy of {p.template} must be exact or approximate")
    message = head.get("message")
    for rel in [v.template for v in variants] + ([message] if message else []) + [p.template for ps in helpers.values() for p in ps]:
        if not (root / rel).exists():
            raise ValueError(f"template {rel} does not exist in {root}")
    return Study(name=head["name"], root=root, file=head["file"], function=head["function"],
                 question=head.get("question", ""), forms=tuple(Form.parse(f) for f in head["forms"]),
                 roles=roles, variants=variants, helpers=helpers, probes=dict(raw.get("probes", {})),
                 message=message,
                 fixes=tuple(Fix(f["commit"], f.get("subject", ""), tuple(f.get("fixed_by", ())),
                                 tuple(f.get("for", ()))) for f in raw.get("fixes", [])),
                 series=dict(raw.get("series", {})))
