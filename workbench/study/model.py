"""A study: the data that says which code to change and how (`templates/<study>/study.toml`).

The Python here only reads and checks the file; what the variants write lives in
Jinja2 templates next to it, so adding a variant is adding a template and a line.
"""
from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from . import words as words_mod
from .words import Words


class Accuracy(str, enum.Enum):
    EXACT = "exact"  # computes what the upstream helper computes, from what this base tracks
    APPROXIMATE = "approximate"  # cannot: the base lacks what the helper needs (say what it misses)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Form:
    """One shape of the sharing check, e.g. `folio_mapcount($x) != 1`."""

    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> Form:
        return cls(text, re.compile(form_regex(text)))


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
    accuracy: Accuracy
    requires: tuple[str, ...]
    note: str
    home: str = "include/linux/mm.h"  # where an RFC series moves it
    label: str = ""  # what a column using it computes at such a base, in a few words (the reports say it)


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
class Probe:
    """A test program the study brings (built like a selftest, printing TAP), and its words."""

    name: str
    source: Path
    words: Words | None = None


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
    probes: dict[str, Probe]
    message: str | None = None
    fixes: tuple[Fix, ...] = ()
    series: dict[str, str] = field(default_factory=dict)  # "helper", "cover": template paths
    fragments: tuple[str, ...] = ()  # config fragments the study brings (<study>/kbuild/<name>.config)

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UserError(f"study {self.name!r} has no variant {name!r}",
                        f"Variants: base, {', '.join(self.variant_names)}.")

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    @property
    def probe_sources(self) -> dict[str, Path]:
        return {name: p.source for name, p in self.probes.items()}

    def select(self, names: list[str] | tuple[str, ...] | None) -> list[Variant]:
        """The named variants (all of them when `names` is empty); `base` is implied."""
        if not names:
            return list(self.variants)
        return [self.variant(n) for n in names if n != "base"]

    def symbols_of_interest(self) -> set[str]:
        names = set(self.helpers)
        for protos in self.helpers.values():
            for p in protos:
                names.update(p.requires)
        return names


def load(templates_dir: Path, name: str) -> Study:
    """The study `templates/<name>/`, or the study in directory `name` when it is a path."""
    root = (Path(name) if ("/" in name or Path(name).is_dir()) else templates_dir / name).resolve()
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
    except (KeyError, TypeError, ValueError, re.error, tomllib.TOMLDecodeError) as exc:
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
        name: tuple(Prototype(helper=name, template=p["template"], accuracy=Accuracy(p.get("accuracy", "exact")),
                              requires=tuple(p.get("requires", ())), note=p.get("note", ""),
                              home=p.get("home", "include/linux/mm.h"), label=p.get("label", ""))
                    for p in protos)
        for name, protos in raw.get("helpers", {}).items()}
    message = head.get("message")
    for rel in [v.template for v in variants] + ([message] if message else []) + [p.template for ps in helpers.values() for p in ps]:
        if not (root / rel).exists():
            raise ValueError(f"template {rel} does not exist in {root}")
    return Study(name=head["name"], root=root, file=head["file"], function=head["function"],
                 question=head.get("question", ""), forms=tuple(Form.parse(f) for f in head["forms"]),
                 roles=roles, variants=variants, helpers=helpers, probes=_probes(root, raw.get("probes", {})),
                 message=message, fragments=tuple(head.get("fragments", ())),
                 fixes=tuple(Fix(f["commit"], f.get("subject", ""), tuple(f.get("fixed_by", ())),
                                 tuple(f.get("for", ()))) for f in raw.get("fixes", [])),
                 series=dict(raw.get("series", {})))


def _probes(root: Path, raw: dict[str, Any]) -> dict[str, Probe]:
    """`name = "file.c"`, or `[probes.name]` with `source` and `words`."""
    out = {}
    for name, entry in raw.items():
        spec = entry if isinstance(entry, dict) else {"source": entry}
        source = root / spec["source"]
        if not source.exists():
            raise ValueError(f"probe {name}: {spec['source']} does not exist in {root}")
        words_file = root / spec["words"] if spec.get("words") else None
        if words_file and not words_file.exists():
            raise ValueError(f"probe {name}: {spec['words']} does not exist in {root}")
        words = words_mod.load(words_file) if words_file else None
        out[name] = Probe(name, source, words)
    return out
