"""A study: the data that says which code to change and how (`templates/<study>/study.toml`).

The Python here only reads and checks the file; what the variants write lives in
Jinja2 templates next to it, so adding a variant is adding a template and a line.
"""
from __future__ import annotations

import enum
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import UnknownName, UserError
from ..records import BASE
from . import forms as forms_mod
from . import keys
from . import observe as observe_mod
from . import words as words_mod
from .forms import Form
from .observe import Observe
from .words import Words


class Accuracy(str, enum.Enum):
    EXACT = "exact"  # computes what the upstream helper computes, from what this base tracks
    APPROXIMATE = "approximate"  # cannot: the base lacks what the helper needs (say what it misses)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    within: tuple[str, ...]
    condition: tuple[str, ...]
    page: tuple[str, ...]
    folio: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """One place the study changes: a function in a file, the forms its checks take there and the
    roles its sites can have (a study may have several: `[[targets]]` in study.toml)."""

    name: str
    file: str
    function: str  # its name in the study's own words (the first of `names`)
    forms: tuple[Form, ...]
    roles: tuple[Role, ...]
    names: tuple[str, ...] = ()  # every name it goes by, in order: a base's is the first it defines
    observe: Observe = field(default_factory=Observe)  # can a program observe it, may a base lack it (observe.py)

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.names or (self.function,)


@dataclass(frozen=True)
class ConfigCase:
    """What a prototype computes when the built kernel's `.config` sets `option` (`y`): its C says the
    same with `#ifdef option` (a stated approximation, or `#error` with the reason: `refused`)."""

    option: str  # "CONFIG_NO_PAGE_MAPCOUNT"
    accuracy: Accuracy | None  # None: refused (the C stops with #error)
    label: str = ""  # the column's label under it (approximate), or why it is refused
    note: str = ""

    @property
    def refused(self) -> bool:
        return self.accuracy is None


@dataclass(frozen=True)
class Prototype:
    helper: str
    template: str
    accuracy: Accuracy
    requires: tuple[str, ...]
    note: str
    home: str = "include/linux/mm.h"  # where an RFC series moves it
    label: str = ""  # what a column using it computes at such a base, in a few words (the reports say it)
    configs: tuple[ConfigCase, ...] = ()  # what it computes under options the built config may set


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
    source: str = ""  # a template the user brought: where it came from ("" for the study's own)


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
    targets: tuple[Target, ...]
    question: str
    variants: tuple[Variant, ...]
    helpers: dict[str, tuple[Prototype, ...]]
    probes: dict[str, Probe]
    message: str | None = None
    fixes: tuple[Fix, ...] = ()
    series: dict[str, str] = field(default_factory=dict)  # "helper", "cover": template paths
    fragments: tuple[str, ...] = ()  # config fragments the study brings (<study>/kbuild/<name>.config)
    search: tuple[Path, ...] = ()  # where its templates are found: its own folder, then those of the study it reuses
    reuses: dict[str, Path] = field(default_factory=dict)  # {study name: folder}: `<name>/...` names a template there

    @property
    def files(self) -> list[str]:
        """The files the study changes, in the order its targets name them."""
        return list(dict.fromkeys(t.file for t in self.targets))

    @property
    def functions(self) -> list[str]:
        return [t.function for t in self.targets]

    @property
    def file(self) -> str:
        """The first target's file (a study of one place: its file)."""
        return self.targets[0].file

    @property
    def function(self) -> str:
        return self.targets[0].function

    def with_variant(self, name: str, template: Path, source: str) -> Study:
        """The study with one more variant, from a template file outside it (`--variants NAME=FILE.j2`);
        `source` says where it came from, for the run."""
        return replace(self, variants=self.variants + (Variant(name, str(template.resolve()), source),))

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UnknownName(f"study {self.name!r} has no variant {name!r}", [BASE, *self.variant_names])

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
        return [self.variant(n) for n in names if n != BASE]

    def symbols_of_interest(self) -> set[str]:
        names = set(self.helpers)
        for protos in self.helpers.values():
            for p in protos:
                names.update(p.requires)
        return names


def load(templates_dir: Path, name: str, _reusing: tuple[str, ...] = ()) -> Study:
    """The study `templates/<name>/`, or the study in directory `name` when it is a path."""
    root = (Path(name) if ("/" in name or Path(name).is_dir()) else templates_dir / name).resolve()
    path = root / "study.toml"
    if not path.exists():
        known = sorted(p.parent.name for p in templates_dir.glob("*/study.toml"))
        raise UserError(f"no study {name!r} ({path} does not exist)", f"Studies here: {', '.join(known) or 'none'}.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: {exc}", "Fix the TOML syntax there (a name given twice, `[targets.x]` or "
                        "`[roles.x]` twice, is refused by TOML itself).") from exc
    keys.check(raw, path)  # an unknown key (a typo) and a name that is not the folder's are refused
    try:
        return _build(templates_dir, root, raw, path, _reusing)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise UserError(f"{path}: missing or bad entry: {exc}",
                        "Compare with templates/mapcount/study.toml (one target) or templates/lazyfree/study.toml "
                        "(several).") from exc


def _build(templates_dir: Path, root: Path, raw: dict[str, Any], path: Path, reusing: tuple[str, ...]) -> Study:
    head = raw["study"]
    reused = _reused(templates_dir, head, path, reusing)
    roles = {k: Role(name=k, label=v.get("label", k), within=tuple(v.get("within", ())),
                     condition=tuple(v.get("condition", ())), page=tuple(v.get("page", ())),
                     folio=tuple(v.get("folio", ()))) for k, v in raw.get("roles", {}).items()}
    variants = {v.name: v for v in (reused.variants if reused else ())}
    variants |= {k: Variant(k, v) for k, v in raw.get("variants", {}).items()}
    if BASE in variants:
        raise ValueError(f"{BASE!r} is the unchanged tree and cannot be a variant name")
    helpers = dict(reused.helpers) if reused else {}
    helpers |= {
        name: tuple(Prototype(helper=name, template=p["template"], accuracy=Accuracy(p.get("accuracy", "exact")),
                              requires=tuple(p.get("requires", ())), note=p.get("note", ""),
                              home=p.get("home", "include/linux/mm.h"), label=p.get("label", ""),
                              configs=tuple(_config_case(c, name, path) for c in p.get("configs", ())))
                    for p in protos)
        for name, protos in raw.get("helpers", {}).items()}
    message = head.get("message") or (reused.message if reused else None)
    search = (root,) + (reused.search if reused else ())
    for rel in [v.template for v in variants.values()] + ([message] if message else []) + [
            p.template for ps in helpers.values() for p in ps]:
        if not any((d / rel).exists() for d in search):
            raise ValueError(f"template {rel} does not exist in {' or '.join(map(str, search))}")
    return Study(name=head["name"], root=root, targets=_targets(head, raw, roles, path),
                 question=head.get("question", ""), variants=tuple(variants.values()), helpers=helpers,
                 probes=_probes(root, raw.get("probes", {})), message=message,
                 fragments=tuple(head.get("fragments", ())),
                 fixes=tuple(Fix(f["commit"], f.get("subject", ""), tuple(f.get("fixed_by", ())),
                                 tuple(f.get("for", ()))) for f in raw.get("fixes", [])),
                 series=dict(raw.get("series", {})), search=search,
                 reuses=({reused.name: reused.root} | reused.reuses) if reused else {})


def _config_case(raw: dict[str, Any], helper: str, path: Path) -> ConfigCase:
    """`[[helpers.<name>.configs]]`: option, and accuracy = "approximate" with a label, or refused = "why"."""
    option = str(raw["option"])
    if not re.fullmatch(r"CONFIG_[A-Z0-9_]+", option):
        raise UserError(f"{path}: [[helpers.{helper}.configs]] option {option!r} is not a Kconfig option's name",
                        "Name it as the C does, e.g. option = \"CONFIG_NO_PAGE_MAPCOUNT\".")
    if ("refused" in raw) == ("accuracy" in raw):
        raise UserError(f"{path}: [[helpers.{helper}.configs]] for {option} must say either `accuracy` (what the "
                        "prototype computes then, with a `label`) or `refused` (why it cannot, as its #error says)",
                        "Give exactly one of the two.")
    if "refused" in raw:
        return ConfigCase(option, None, str(raw["refused"]), raw.get("note", ""))
    return ConfigCase(option, Accuracy(raw["accuracy"]), raw.get("label", ""), raw.get("note", ""))


def _reused(templates_dir: Path, head: dict[str, Any], path: Path, reusing: tuple[str, ...]) -> Study | None:
    """`reuse = "<study>"`: that study's variants, helper prototypes and message, its templates found
    after this study's own (a file of the same name here takes its place)."""
    other = head.get("reuse")
    if not other:
        return None
    if other in reusing + (head["name"],):
        raise UserError(f"{path}: reuse = {other!r} goes round in a circle ({' -> '.join(reusing + (head['name'], other))})",
                        "A study can reuse another only if that one does not reuse it back.")
    return load(templates_dir, other, reusing + (head["name"],))


def _targets(head: dict[str, Any], raw: dict[str, Any], roles: dict[str, Role], path: Path) -> tuple[Target, ...]:
    """`[[targets]]` (file, function, and optionally name, roles, forms), or `file` and `function` in
    `[study]` for a study of one place; study-wide `forms` are every target's unless it names its own."""
    entries = raw.get("targets")
    if entries is None and ("file" in head or "function" in head):
        entries = [{"file": head["file"], "function": head["function"]}]
    elif entries is not None and ("file" in head or "function" in head):
        raise UserError(f"{path}: names its place twice, in [study] (file, function) and in [[targets]]",
                        "Move [study]'s file and function into a [[targets]] entry.")
    if not entries:
        raise UserError(f"{path}: names no target: no [[targets]] entry and no file and function in [study]",
                        "Add a [[targets]] entry with the `file` and the `function` the study changes.")
    forms = forms_mod.parse(head.get("forms", ()), "[study] forms", path)
    out: list[Target] = []
    for i, entry in enumerate(entries, 1):
        names = _function_names(entry.get("function"), path, i)
        name = entry.get("name", names[0])
        twin = next((n for n, t in enumerate(out, 1) if t.name == name), None)
        if twin is not None:
            raise UserError(f"{path}: two targets named {name!r} (targets {twin} and {i})",
                            "Give each [[targets]] entry a `name` of its own (a target without one is named after its "
                            "function), or drop the repeated entry.")
        wanted = entry.get("roles", list(roles))
        unknown = [r for r in wanted if r not in roles]
        if unknown or not wanted:
            raise UserError(f"{path}: target {name!r} names role(s) {', '.join(unknown) or '(none)'}, which [roles] "
                            "does not define", f"Roles defined: {', '.join(roles) or 'none'}; add a [roles.<name>] "
                            "table or fix the name.")
        if not str(entry["file"]).endswith(".c"):
            raise UserError(f"{path}: target {name!r}: file {entry['file']!r} is not a .c file",
                            "A target is a function in a C file of the tree, e.g. file = \"mm/madvise.c\".")
        own = forms_mod.parse(entry["forms"], f"target {name!r}'s forms", path) if "forms" in entry else forms
        if not own:
            raise UserError(f"{path}: target {name!r} has no forms to look for",
                            "List the shapes of the check in `forms` (in [study], or in the target).")
        out.append(Target(name, entry["file"], names[0], own, tuple(roles[r] for r in wanted), names,
                          observe_mod.parse(entry, name, path)))
    return tuple(out)


def _function_names(raw: Any, path: Path, i: int) -> tuple[str, ...]:
    """A target's `function`: a name, or a list of the names it has gone by (a base's is the first
    of them it defines: `["queue_folios_hugetlb", "queue_pages_hugetlb"]`)."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and re.fullmatch(r"[A-Za-z_]\w*", n) for n in names):
        raise UserError(f"{path}: [[targets]] {i}: function = {raw!r} is not a C function name or a list of them",
                        'Write function = "migrate_folio_add", or a list of the names it has gone by, newest first: '
                        'function = ["queue_folios_hugetlb", "queue_pages_hugetlb"].')
    return tuple(names)


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
