"""Rendering a variant: the base's file with every call site rewritten from the variant's template.

Pure text in, text out (no git, no files written), so it is tested on small C
snippets of every shape in KERNEL-FACTS.md.
"""
from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2

from ..errors import UserError
from . import csrc
from .model import Accuracy, Prototype, Study, Variant
from .sites import Located, Site

Ctx = dict[str, Any]


@dataclass(frozen=True)
class SiteChange:
    role: str
    role_label: str
    line: int
    before: str
    after: str


@dataclass(frozen=True)
class UsedPrototype:
    name: str
    accuracy: Accuracy
    note: str
    template: str
    text: str = ""  # the C code as rendered
    home: str = "include/linux/mm.h"
    requires: tuple[str, ...] = ()
    label: str = ""


@dataclass
class Rendered:
    variant: str
    text: str
    same_as_base: bool
    changes: list[SiteChange]
    prototypes: list[UsedPrototype]
    subject: str = ""
    body: str = ""
    warnings: list[str] = field(default_factory=list)
    template: str = ""  # the variant's template (for its message)

    @property
    def approximate(self) -> bool:
        return any(p.accuracy == Accuracy.APPROXIMATE for p in self.prototypes)

    @property
    def label(self) -> str:
        """What the variant computes at this base where a prototype stands in for a helper."""
        return "; ".join(p.label for p in self.prototypes if p.label)

    def message(self, signoff: str) -> str:
        return f"{self.subject}\n\n{self.body}\n\nSigned-off-by: {signoff}\n"


class Has:
    """`has.name` in templates: does the base provide `name`? Looked up on first use."""

    def __init__(self, known: dict[str, bool], lookup: Callable[[list[str]], dict[str, bool]]) -> None:
        self._known = dict(known)
        self._lookup = lookup

    def __getattr__(self, name: str) -> bool:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> bool:
        if name not in self._known:
            self._known.update(self._lookup([name]))
        return self._known[name]

    def ensure(self, names: set[str]) -> None:
        missing = [n for n in names if n not in self._known]
        if missing:
            self._known.update(self._lookup(missing))


def environment(study: Study) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(study.root)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                              autoescape=False)


def render_variant(study: Study, located: Located, variant: Variant, has: Has, context: Ctx) -> Rendered:
    """Rewrite every site for `variant`, add the prototypes the base needs, render the message."""
    env = environment(study)
    tmpl = load_template(env, variant.template)
    predicates = [(site, _predicate(study, tmpl, site, context)) for site in located.sites]
    calls: set[str] = set()
    for _, after in predicates:
        calls |= csrc.called_functions(after)
    has.ensure(calls | study.symbols_of_interest())
    needed = [name for name in study.helpers if name in calls and not has[name]]
    prototypes = [_pick(study, name, has, context["where"]) for name in needed]
    warnings = [f"{name}() is not declared in this base's headers and the study has no prototype of it"
                for name in sorted(calls) if name not in study.helpers and not has[name]]
    new = located.text
    for site, after in sorted(predicates, key=lambda p: -p[0].start):
        new = new[:site.start] + after + new[site.end:]
    used = [UsedPrototype(p.helper, p.accuracy, p.note, p.template,
                          _render(env, p.template, {**context, "has": has}).strip("\n") + "\n", p.home, p.requires,
                          p.label)
            for p in prototypes]
    if used:
        at = csrc.insertion_point(located.text, located.masked, located.function)
        new = new[:at] + "\n".join(u.text for u in used) + "\n" + new[at:]
    changes = [SiteChange(s.role.name, s.role.label, s.line, s.text, a) for s, a in predicates if a != s.text]
    rendered = Rendered(variant=variant.name, text=new, same_as_base=(new == located.text), changes=changes,
                        prototypes=used, warnings=warnings, template=variant.template)
    if not rendered.same_as_base:
        rendered.subject, rendered.body = render_message(study, rendered, context)
    return rendered


def _predicate(study: Study, tmpl: jinja2.Template, site: Site, context: Ctx) -> str:
    """What the variant's template writes at `site` (one line)."""
    if site.role.name not in tmpl.blocks:
        raise UserError(f"{tmpl.filename}: no block for role {site.role.name!r}",
                        f"Add {{% block {site.role.name} %}}...{{% endblock %}} to the template.")
    try:
        after = render_block(tmpl, site.role.name, {**context, **site.names, "original": site.text})
    except UserError as exc:
        missing = [k for k in ("page", "folio") if k not in site.names]
        if missing:
            exc.hint = (f"At {context['where']} none of the ways role {site.role.name!r} lists to name the "
                        f"{' and '.join(missing)} fits this function; add one to {study.root / 'study.toml'}.")
        raise
    return " ".join(after.split())


def render_message(study: Study, rendered: Rendered, context: Ctx) -> tuple[str, str]:
    """The commit subject and body of a rendered variant; `context` may add variables (`series`)."""
    env = environment(study)
    tmpl = load_template(env, rendered.template)
    msg_ctx = {**context, "sites": rendered.changes, "prototypes": rendered.prototypes, "variant": rendered.variant}
    subject = " ".join(render_block(tmpl, "subject", msg_ctx).split())
    body = render_block(tmpl, "body", msg_ctx)
    if study.message:
        body = _render(env, study.message, {**msg_ctx, "body": body})
    return subject, re.sub(r"\n{3,}", "\n\n", body).strip("\n")


def _pick(study: Study, name: str, has: Has, where: str) -> Prototype:
    for proto in study.helpers[name]:
        if all(has[r] for r in proto.requires):
            return proto
    wants = " or ".join("(" + ", ".join(p.requires) + ")" for p in study.helpers[name])
    raise UserError(f"{where}: the base lacks {name}() and none of the study's prototypes fits it "
                    f"(they need {wants})",
                    f"Add a prototype of {name} that this base can build to [helpers.{name}] in study.toml.")


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"{exc.filename or name}:{exc.lineno}: template error: {exc.message}",
                        "Fix the template at that line.") from exc


def _render(env: jinja2.Environment, name: str, ctx: Ctx) -> str:
    tmpl = load_template(env, name)
    try:
        return tmpl.render(ctx)
    except jinja2.TemplateError as exc:
        raise _located_error(exc, name) from exc


def render_block(tmpl: jinja2.Template, block: str, ctx: Ctx) -> str:
    if block not in tmpl.blocks:
        raise UserError(f"{tmpl.filename}: no block {block!r}", f"Add {{% block {block} %}}...{{% endblock %}}.")
    try:
        return "".join(tmpl.blocks[block](tmpl.new_context(ctx)))
    except jinja2.TemplateError:
        try:  # let Jinja2 rewrite the traceback so that its frames carry template lines
            tmpl.environment.handle_exception()
        except jinja2.TemplateError as exc:
            raise _located_error(exc, tmpl.filename or tmpl.name or "?") from exc
        raise


def _located_error(exc: jinja2.TemplateError, name: str) -> UserError:
    """Point at the template line: Jinja2 rewrites tracebacks so template frames carry it."""
    line = getattr(exc, "lineno", None)
    filename = getattr(exc, "filename", None) or name
    if line is None:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if frame.filename.endswith((".j2", ".jinja")):
                filename, line = frame.filename, frame.lineno
                break
    return UserError(f"{filename}:{line if line is not None else '?'}: template error: {exc}",
                     "Fix the template at that line (the variables a template can use are listed in "
                     "templates/README.md).")
