"""Finding the study's call sites in its function, and giving each one its role.

A site is a match of one of the study's forms inside the function's body
(comments and strings excluded). Its role comes from where it stands: a
`within` call in the header of an enclosing block (`if (pmd_trans_huge(*pmd))`)
or a `condition` call in its own if-condition (`!folio_test_lru(folio) || ...`).
Each role also says how to name the page and the folio there, picked from what
the function declares, so a variant can write `page_mapcount(pte_page(ptent))`
at a base without a `page` variable and `page_folio(page)` at a base without a
`folio` one.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from . import csrc
from .model import Role, Study, Target


@dataclass(frozen=True)
class Site:
    target: Target
    role: Role
    start: int  # offsets of the matched expression in the file
    end: int
    text: str  # the expression as the base has it
    form: str
    line: int
    names: dict[str, str]  # "page"/"folio" -> the C expression that names it here

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def file(self) -> str:
        return self.target.file

    @property
    def function(self) -> str:
        return self.target.function


@dataclass(frozen=True)
class Located:
    """The function in the file, and the sites found in it."""

    target: Target
    text: str
    masked: str
    function: csrc.Function
    sites: tuple[Site, ...]


def locate(study: Study, text: str, where: str, target: Target | None = None) -> Located:
    """Find the target's function (a study of one place: its only one) and every call site in it;
    `where` names the base for errors."""
    target = target or study.targets[0]
    masked = csrc.mask(text)
    func = csrc.find_function(masked, target.function)
    if func is None:
        raise UserError(
            f"{where}: no function {target.function}() in {target.file}: target {target.name!r} of "
            f"{study.root / 'study.toml'} is not found",
            f"The study {study.name!r} targets that function; this base does not define it. "
            "Pick another base, or change the target's `file` or `function` to where the code went.")
    declared = csrc.declared_names(masked, func)
    body_lo, body_hi = func.body
    taken: list[tuple[int, int]] = []
    sites: list[Site] = []
    for form in target.forms:
        for m in form.regex.finditer(masked, body_lo, body_hi):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue  # an earlier (longer) form already claimed this text
            taken.append((m.start(), m.end()))
            role = _role_of(target, masked, func, m.start())
            if role is None:
                raise UserError(
                    f"{where}: {target.file}:{csrc.line_of(text, m.start())}: found {text[m.start():m.end()]!r} "
                    f"in {target.function}() but cannot tell its role",
                    f"None of target {target.name!r}'s roles fits (their `within`/`condition` calls are not around "
                    f"it); add or adjust a role in {study.root / 'study.toml'}.")
            sites.append(Site(target=target, role=role, start=m.start(), end=m.end(), text=text[m.start():m.end()],
                              form=form.text, line=csrc.line_of(text, m.start()),
                              names=_names(role, declared)))
    if not sites:
        forms = "; ".join(f.text for f in target.forms)
        raise UserError(
            f"{where}: no form of target {target.name!r} matches anything in {target.function}() in {target.file}",
            f"Forms searched: {forms}. If the code has a new shape, add it to `forms` in "
            f"{study.root / 'study.toml'}.")
    sites.sort(key=lambda s: s.start)
    return Located(target=target, text=text, masked=masked, function=func, sites=tuple(sites))


def _role_of(target: Target, masked: str, func: csrc.Function, pos: int) -> Role | None:
    """The first of the target's roles that fits; a role with neither `within` nor `condition`
    fits any site (a target whose function is one path, like a PMD handler)."""
    headers = csrc.enclosing_headers(masked, func.body, pos)
    cond_span = csrc.controlling_condition(masked, func.body, pos)
    condition = masked[cond_span[0]:cond_span[1]] if cond_span else ""
    for role in target.roles:
        if not role.condition and not role.within:
            return role
        if role.condition and any(_calls(condition, name) for name in role.condition):
            return role
        if role.within and any(_calls(h, name) for h in headers for name in role.within):
            return role
    return None


def _calls(text: str, name: str) -> bool:
    return name in csrc.called_functions(text)


def _names(role: Role, declared: set[str]) -> dict[str, str]:
    out = {}
    for what, candidates in (("page", role.page), ("folio", role.folio)):
        for expr in candidates:
            if csrc.free_identifiers(expr) <= declared:
                out[what] = expr
                break
    return out
