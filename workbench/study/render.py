"""Rendering a variant: the base's file with every call site rewritten from the variant's template.

Pure text in, text out (no git, no files written), so it is tested on small C
snippets of every shape in KERNEL-FACTS.md.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field
from typing import Callable

import jinja2

from . import csrc
from .errors import UserError
from .sites import Located, Site
from .study import Accuracy, Prototype, Study, Variant


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
    accuracy: str
    note: str
    template: str
    text: str = ""  # the C code as rendered
    home: str = "include/linux/mm.h"
    requires: tuple[str, ...] = ()


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

    @property
    def approximate(self) -> bool:
        return any(p.accuracy == Accuracy.APPROXIMATE for p in self.prototypes)

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


def render_variant(study: Study, located: Located, variant: Variant, has: Has, context: dict) -> Rendered:
    """Rewrite every site for `variant`, add the prototypes the base needs, render the message."""
    env = environment(study)
    tmpl = _load(env, variant.template)
    predicates: list[tuple[Site, str]] = []
    for site in located.sites:
        block = tmpl.blocks.get(site.role.name)
        if block is None:
            raise UserError(f"{study.root / variant.template}: no block for role {site.role.name!r}",
                            f"Add {{% block {site.role.name} %}}...{{% endblock %}} to the template.")
        try:
            after = _block(tmpl, site.role.name, {**context, **site.names, "original": site.text})
        except UserError as exc:
            missing = [k for k in ("page", "folio") if k not in site.names]
            if missing:
                exc.hint = (f"At {context['where']} none of the ways role {site.role.name!r} lists to name the "
                            f"{' and '.join(missing)} fits this function; add one to study.toml.")
            raise
        predicates.append((site, " ".join(after.split())))

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
    used: list[UsedPrototype] = []
    if prototypes:
        chunks = []
        for proto in prototypes:
            code = _render(env, proto.template, {**context, "has": has}).strip("\n") + "\n"
            chunks.append(code)
            used.append(UsedPrototype(proto.helper, proto.accuracy, proto.note, proto.template, code, proto.home,
                                      proto.requires))
        at = csrc.insertion_point(located.text, located.masked, located.function)
        new = new[:at] + "\n".join(chunks) + "\n" + new[at:]
    changes = [SiteChange(s.role.name, s.role.label, s.line, s.text, a) for s, a in predicates if a != s.text]
    rendered = Rendered(variant=variant.name, text=new, same_as_base=(new == located.text), changes=changes,
                        prototypes=used, warnings=warnings)
    if not rendered.same_as_base:
        msg_ctx = {**context, "sites": changes, "prototypes": used, "variant": variant.name}
        rendered.subject = " ".join(_block(tmpl, "subject", msg_ctx).split())
        body = _block(tmpl, "body", msg_ctx)
        if study.message:
            body = _render(env, study.message, {**msg_ctx, "body": body})
        rendered.body = re.sub(r"\n{3,}", "\n\n", body).strip("\n")
    return rendered


def _pick(study: Study, name: str, has: Has, where: str) -> Prototype:
    for proto in study.helpers[name]:
        if all(has[r] for r in proto.requires):
            return proto
    wants = " or ".join("(" + ", ".join(p.requires) + ")" for p in study.helpers[name])
    raise UserError(f"{where}: the base lacks {name}() and none of the study's prototypes fits it "
                    f"(they need {wants})",
                    f"Add a prototype of {name} that this base can build to [helpers.{name}] in study.toml.")


def _load(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"{exc.filename or name}:{exc.lineno}: template error: {exc.message}",
                        "Fix the template at that line.") from exc


def _render(env: jinja2.Environment, name: str, ctx: dict) -> str:
    tmpl = _load(env, name)
    try:
        return tmpl.render(ctx)
    except jinja2.TemplateError as exc:
        raise _located_error(exc, name) from exc


def _block(tmpl: jinja2.Template, block: str, ctx: dict) -> str:
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
