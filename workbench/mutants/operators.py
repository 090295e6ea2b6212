"""A study's mutation operators: `templates/<study>/mutants.toml` (or the file of a study it reuses).

The file sits beside study.toml and has its own small loader, so the study's own format is not
changed by it. An operator is a name, a label and a template per role (`template` for every role,
`roles = {pmd = "..."}` for one); `[aa]` is the A/A mutant's template. The templates are the
variables of a variant's blocks (`original`, `page`, `folio`).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnknownKey, UserError
from ..study.model import Study

FILE = "mutants.toml"
TOP = ("aa", "operators")
AA = ("name", "template")
OPERATOR = ("label", "template", "roles")
NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # a column's name is `<site>.<operator>`: no dot in either


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    template: str  # for every role without its own
    roles: dict[str, str] = field(default_factory=dict)  # role -> its own template

    def for_role(self, role: str) -> str:
        return self.roles.get(role, self.template)


@dataclass(frozen=True)
class Operators:
    path: Path
    operators: tuple[Operator, ...]
    aa_name: str = "aa"
    aa_template: str = "{{ original }} /* A/A mutant */"

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.operators]


def find(study: Study) -> Path | None:
    """The study's own mutants.toml, else that of the first study it reuses that has one."""
    for root in (study.root, *study.reuses.values()):
        if (root / FILE).is_file():
            return root / FILE
    return None


def load(study: Study) -> Operators:
    path = find(study)
    if path is None:
        raise UserError(f"study {study.name!r} declares no mutation operators (no {study.root / FILE})",
                        f"Write one beside its study.toml: templates/mapcount/{FILE} shows every key.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}", "Fix the file.") from None
    fix = f"Fix or remove it (templates/mapcount/{FILE} shows every key)."
    _known(raw, TOP, str(path), fix)
    aa = _table(raw.get("aa"), f"{path}: [aa]")
    _known(aa, AA, f"{path}: [aa]", fix)
    ops = []
    for name, entry in _table(raw.get("operators"), f"{path}: [operators]").items():
        where = f"{path}: [operators.{name}]"
        _known(_table(entry, where), OPERATOR, where, fix)
        ops.append(_operator(name, entry, where))
    if not ops:
        raise UserError(f"{path}: no [operators.<name>] entry", "Add at least one operator.")
    aa_name = str(aa.get("name", "aa"))
    if aa_name in (o.name for o in ops) or not NAME.match(aa_name):
        raise UserError(f"{path}: [aa] name {aa_name!r} is an operator's name or not letters, digits, '_' and '-'",
                        "Give the A/A mutant a name of its own, e.g. name = \"aa\".")
    return Operators(path, tuple(ops), aa_name, str(aa.get("template", Operators.aa_template)))


def _operator(name: str, entry: dict[str, Any], where: str) -> Operator:
    if not NAME.match(name):
        raise UserError(f"{where}: an operator's name has only letters, digits, '_' and '-'",
                        "Rename it: a mutant's column is <site>.<operator>.")
    roles = _table(entry.get("roles"), f"{where} roles")
    template = entry.get("template")
    if not isinstance(template, str) and not roles:
        raise UserError(f"{where}: no `template` (for every role) and no `roles`", 'e.g. template = "!({{ original }})".')
    return Operator(name, str(entry.get("label", name)), template if isinstance(template, str) else "",
                    {str(k): str(v) for k, v in roles.items()})


def _known(table: dict[str, Any], known: tuple[str, ...], where: str, fix: str) -> None:
    for key in table:
        if key not in known:
            raise UnknownKey(key, where, known, fix)


def _table(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{where}: want a table, not {type(value).__name__}", "See templates/mapcount/mutants.toml.")
    return value
