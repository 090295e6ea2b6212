"""The keys a study file (`study.toml`) may have, per table: a key no reader knows (a typo:
`resue`, `fucntion`) is an error naming the table and the nearest known key, never a default
silently used. And the study's name is its folder's: a copy of a study that kept the original's
`name` would write over that study's patches and branches."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnknownKey, UserError
from . import observe

TOP = ("study", "targets", "roles", "variants", "helpers", "fixes", "series", "probes")
STUDY = ("name", "file", "function", "question", "message", "forms", "reuse", "fragments")
TARGET = ("name", "file", "function", "roles", "forms", *observe.KEYS)
ROLE = ("label", "within", "condition", "page", "folio")
HELPER = ("template", "accuracy", "requires", "note", "home", "label", "configs")
HELPER_CONFIG = ("option", "accuracy", "label", "note", "refused")  # [[helpers.<name>.configs]]
FIX = ("commit", "subject", "fixed_by", "for")
SERIES = ("helper", "cover")
PROBE = ("source", "words")


def check(raw: dict[str, Any], path: Path) -> None:
    """Every key of `raw` (the parsed `path`) known, and `[study] name` the folder's name."""
    fix = "Fix or remove it (templates/mapcount/study.toml and templates/lazyfree/study.toml show every key)."
    _known(raw, TOP, f"{path}", fix)
    _known(raw.get("study"), STUDY, f"{path}: [study]", fix)
    for i, entry in enumerate(_list(raw.get("targets")), 1):
        _known(entry, TARGET, f"{path}: target {entry.get('name', entry.get('function', i))!r} ([[targets]] {i})", fix)
    for name, table in _table(raw.get("roles")).items():
        _known(table, ROLE, f"{path}: [roles.{name}]", fix)
    for name, protos in _table(raw.get("helpers")).items():
        for proto in _list(protos):
            _known(proto, HELPER, f"{path}: [[helpers.{name}]]", fix)
            for case in _list(proto.get("configs")):
                _known(case, HELPER_CONFIG, f"{path}: [[helpers.{name}.configs]]", fix)
    for entry in _list(raw.get("fixes")):
        _known(entry, FIX, f"{path}: [[fixes]]", fix)
    _known(raw.get("series"), SERIES, f"{path}: [series]", fix)
    for name, entry in _table(raw.get("probes")).items():
        _known(entry, PROBE, f"{path}: [probes.{name}]", fix)
    named = _table(raw.get("study")).get("name")
    if named is not None and named != path.parent.name:
        raise UserError(f"{path}: the study is named {named!r} but its folder is {path.parent.name!r}; a study's "
                        "patches, branches and runs go by its name, so this one would write over study "
                        f"{named!r}'s", f"Set name = {path.parent.name!r} in [study] (or rename the folder).")


def _known(table: Any, known: tuple[str, ...], where: str, fix: str) -> None:
    for key in _table(table):
        if key not in known:
            raise UnknownKey(key, where, known, fix)


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
