"""Finding the study's call sites in its function, and giving each one its role.

A site is a match of one of the study's forms inside the function's body
(comments and strings excluded). Its role comes from where it stands: a
`within` call in the header of an enclosing block (`if (pmd_trans_huge(*pmd))`)
or a `condition` call in its own if-condition (`!folio_test_lru(folio) || ...`).
Each role also says how to name the page and the folio there, picked from the
variables that have a value at the site (a parameter, or assigned above it), so
a variant can write `page_mapcount(pte_page(ptent))` at a base without a `page`
variable and `page_folio(page)` at a base without a `folio` one (or where it is
set only below the site).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UserError
from . import cexpr, csrc
from .forms import Form, Polarity
from .model import Role, Study, Target
from .observe import LeftOut


class Missing(UserError):
    """The base lacks a target's file, its function or every site of its forms (`missing` says which):
    an error for a target the study requires, a target left out for an optional one."""

    def __init__(self, message: str, hint: str, missing: str) -> None:
        super().__init__(message, hint)
        self.missing = missing


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
    shape: Form  # the form that matched (its polarity)
    context: cexpr.Context  # the code around it: how tightly it binds, a `!` before it
    in_function: str = ""  # the function's name at this base (a target may name several)

    @property
    def polarity(self) -> Polarity:
        """The question the site's own expression asks: the study's (same) or its opposite."""
        return self.shape.polarity

    @property
    def asks_opposite(self) -> bool:
        """The code asks the opposite of the study's question here: an opposite form, or a `!`
        before a form of the study's question (not both)."""
        return (self.polarity == Polarity.OPPOSITE) != self.context.negated

    @property
    def asks(self) -> str:
        """Which question the code asks here and why, where that is not plainly the study's ("")."""
        why = [w for w, yes in (("its form's polarity", self.polarity == Polarity.OPPOSITE),
                                ("a `!` before it", self.context.negated)) if yes]
        if not why:
            return ""
        question = "the opposite" if self.asks_opposite else "the study's question"
        return f"asks {question} ({' and '.join(why)})"

    @property
    def original(self) -> str:
        """The site's expression as an answer to the study's question (what templates call
        `original`): the code's own where the form asks that question, else negated."""
        return cexpr.negate(self.text) if self.polarity == Polarity.OPPOSITE else self.text

    @property
    def role_label(self) -> str:
        return self.role.label

    @property
    def file(self) -> str:
        return self.target.file

    @property
    def function(self) -> str:
        return self.in_function or self.target.function


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
    func = next((f for f in map(functools.partial(csrc.find_function, masked), target.aliases) if f), None)
    if func is None:
        named = " or ".join(f"{n}()" for n in target.aliases)
        raise Missing(
            f"{where}: no function {named} in {target.file}: target {target.name!r} of "
            f"{study.root / 'study.toml'} is not found",
            f"The study {study.name!r} targets that function; this base does not define it. Pick another base, "
            "or change the target's `file`, or add the name the code goes by here to its `function` list, or "
            "mark the target optional = \"why a base may lack it\".", f"no function {named} in {target.file}")
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
                    f"in {func.name}() but cannot tell its role",
                    f"None of target {target.name!r}'s roles fits (their `within`/`condition` calls are not around "
                    f"it); add or adjust a role in {study.root / 'study.toml'}.")
            sites.append(Site(target=target, role=role, start=m.start(), end=m.end(), text=text[m.start():m.end()],
                              form=form.text, line=csrc.line_of(text, m.start()),
                              names=_names(role, csrc.valued_names(masked, func, m.start())), shape=form,
                              context=cexpr.context(masked, body_lo, m.start(), m.end(), body_hi),
                              in_function=func.name))
    if not sites:
        forms = "; ".join(f.text for f in target.forms)
        raise Missing(
            f"{where}: no form of target {target.name!r} matches anything in {func.name}() in {target.file}",
            f"Forms searched: {forms}. If the code has a new shape, add it to `forms` in "
            f"{study.root / 'study.toml'}.", f"no site of its forms in {func.name}()")
    sites.sort(key=lambda s: s.start)
    return Located(target=target, text=text, masked=masked, function=func, sites=tuple(sites))


def locate_all(study: Study, read: Callable[[str], str | None], where: str) -> tuple[list[Located], list[LeftOut]]:
    """Every target of the study at a base (`read`: a file's text there, None where it has none):
    the places found, and the optional targets the base lacks (a required one is an error)."""
    texts: dict[str, str | None] = {}
    places: list[Located] = []
    left_out: list[LeftOut] = []
    for target in study.targets:
        if target.file not in texts:
            texts[target.file] = read(target.file)  # two targets in one file: read once
        text = texts[target.file]
        try:
            if text is None:
                raise Missing(f"{where}: the base has no {target.file}: target {target.name!r} of "
                              f"{study.root / 'study.toml'} is not found",
                              "Pick a base that has the file, or change the target's `file` to where the code went, "
                              "or mark the target optional = \"why a base may lack it\".", f"no {target.file}")
            places.append(locate(study, text, where, target))
        except Missing as exc:
            if not target.observe.optional:
                raise
            left_out.append(LeftOut(target.name, target.file, target.aliases, exc.missing, target.observe.optional))
    if not places:
        raise UserError(f"{where}: every target of the study is optional and this base lacks them all: "
                        + "; ".join(map(str, left_out)), "Pick a base that has at least one of the study's targets.")
    return places, left_out


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


def _names(role: Role, valued: set[str]) -> dict[str, str]:
    """How the role names the page and the folio at a site: the first candidate whose variables all
    have a value there (a parameter, or assigned above the site)."""
    out = {}
    for what, candidates in (("page", role.page), ("folio", role.folio)):
        for expr in candidates:
            if csrc.free_identifiers(expr) <= valued:
                out[what] = expr
                break
    return out


def write(site: Site, predicate: str, where: str, template: str) -> str:
    """The text `predicate` (an answer to the study's question, as a variant's block wrote it) takes
    at `site`, on one line: negated where the site's form asks the opposite, in parentheses where
    the code around it binds tighter than its own operators. A site whose meaning a rewrite could
    lose is refused, naming the file, the line and the form."""
    refusal, remedy = _refusal(site)
    if refusal:
        raise UserError(
            f"{where}: {site.file}:{site.line}: the form {site.form!r} matched {' '.join(site.text.split())!r} in "
            f"{site.function}(); {refusal}, so a variant's predicate written there could mean something else: "
            "the site is refused rather than rewritten on a guess",
            f"In the forms of target {site.target.name!r} ({site.target.file}), {remedy}.")
    text = " ".join(predicate.split())
    try:
        if "//" in re.sub(r"/\*.*?\*/", "", text):
            raise cexpr.NotAnExpression("a // comment would run to the end of the code's line (write /* */)")
        if site.polarity == Polarity.OPPOSITE:
            text = cexpr.negate(text)
        return " ".join(cexpr.fit(text, site.context.fits or cexpr.PRIMARY).split())
    except cexpr.NotAnExpression as exc:
        raise UserError(f"{template}: the block {site.role.name!r} writes {text!r} at {site.file}:{site.line} "
                        f"({where}), which is not one C expression: {exc}",
                        "A block writes one expression (the predicate), e.g. folio_mapcount({{ folio }}) != 1.") from None


def _refusal(site: Site) -> tuple[str, str]:
    """Why the site cannot be rewritten faithfully ("" if it can), and what the study should do."""
    if site.shape.negates_itself and not site.shape.declared:
        return (("the form begins with `!` and declares no polarity: the replaced text would lose that `!` and "
                "the code would answer the opposite question"),
                ("write the form without its `!` (a site right after a `!` is recognised as negated and keeps "
                "it), or declare what the form asks: { form = \"...\", polarity = \"opposite\" }"))
    if site.context.fits is None:
        before = f"`{site.context.before}`" if site.context.before else "nothing"
        return ((f"it stands between {before} and `{site.context.after or 'the end'}`, neighbours the workbench "
                "does not read (a cast, a member access, `~`, `-` or an assignment: it cannot tell how a "
                "predicate binds there, or what they do to its answer)"),
                "widen the form to take in what is around the call, or leave this function out of the study")
    return "", ""
