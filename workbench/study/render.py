"""Rendering a variant: the base's file with every call site rewritten from the variant's template.

Pure text in, text out (no git, no files written), so it is tested on small C
snippets of every shape in KERNEL-FACTS.md.
"""
from __future__ import annotations

import re
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from ..errors import TemplateError, UserError
from . import configs as configs_mod
from . import csrc
from . import sites as sites_mod
from .model import Accuracy, ConfigCase, Prototype, Study, Variant
from .sites import Located, Site

Ctx = dict[str, Any]


@dataclass(frozen=True)
class SiteChange:
    role: str
    role_label: str
    line: int
    before: str
    after: str
    file: str = ""
    function: str = ""


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
    files: tuple[str, ...] = ()  # the files it is put into (those whose sites call it)
    configs: tuple[ConfigCase, ...] = ()  # options its C depends on at this base, and what it computes then


@dataclass
class Rendered:
    variant: str
    files: dict[str, str]  # every file the study changes -> its text for this variant
    same_as_base: bool
    changes: list[SiteChange]
    prototypes: list[UsedPrototype]
    subject: str = ""
    body: str = ""
    warnings: list[str] = field(default_factory=list)
    template: str = ""  # the variant's template (for its message)
    functions: tuple[str, ...] = ()  # the targets' functions as this base names them

    @property
    def text(self) -> str:
        """The first file's text (a study of one place: its only file)."""
        return next(iter(self.files.values()))

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


class _AbsoluteLoader(jinja2.BaseLoader):
    """A variant template given by its path (`--variants NAME=FILE.j2`), outside every study folder."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = Path(template)
        if not path.is_absolute() or not path.is_file():
            raise jinja2.TemplateNotFound(template)
        mtime = path.stat().st_mtime
        return path.read_text(), str(path), lambda: path.stat().st_mtime == mtime


def environment(study: Study) -> jinja2.Environment:
    """Templates are found in the study's folder, then in those of the studies it reuses (also as
    `<study>/<path>`, so that a template here can extend the one it takes the place of)."""
    loader = jinja2.ChoiceLoader([
        jinja2.FileSystemLoader([str(p) for p in (study.search or (study.root,))]),
        jinja2.PrefixLoader({name: jinja2.FileSystemLoader(str(root)) for name, root in study.reuses.items()}),
        _AbsoluteLoader()])
    env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["calls"] = calls
    return env


def calls(names: Sequence[str]) -> str:
    """The `calls` filter: ["f", "g", "h"] -> "f(), g() and h()"."""
    named = [f"{n}()" for n in names]
    return ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named)


def named(places: Sequence[Located]) -> Ctx:
    """The template variables `function` and `functions` as this base names the targets' functions
    (a target may go by several names)."""
    functions = [p.function.name for p in places]
    return {"function": functions[0], "functions": functions}


def render_variant(study: Study, located: Located | Sequence[Located], variant: Variant, has: Has | Mapping[str, Has],
                   context: Ctx) -> Rendered:
    """Rewrite every site of every target for `variant`, add the prototypes the base needs to each
    file that calls them, render the message. `has`: what the base has, per file (one Has: for all)."""
    places = [located] if isinstance(located, Located) else list(located)
    context = {**context, **named(places)}
    has_in = (lambda f: has) if isinstance(has, Has) else has.__getitem__
    env = environment(study)
    tmpl = load_template(env, variant.template)
    predicates = [(site, _predicate(study, tmpl, site, context)) for place in places for site in place.sites]
    files = {p.target.file: p.text for p in places}
    calls_in: dict[str, set[str]] = {f: set() for f in files}
    for site, after in predicates:
        calls_in[site.file] |= csrc.called_functions(after)
    for f, calls in calls_in.items():
        has_in(f).ensure(calls | study.symbols_of_interest())
    needed = {f: [n for n in study.helpers if n in calls and not has_in(f)[n]] for f, calls in calls_in.items()}
    warnings = sorted({f"{name}() is not declared in this base's headers and the study has no prototype of it"
                       for f, calls in calls_in.items() for name in calls
                       if name not in study.helpers and not has_in(f)[name]})
    new = dict(files)
    for site, after in sorted(predicates, key=lambda p: -p[0].start):
        text = new[site.file]
        new[site.file] = text[:site.start] + after + text[site.end:]
    used: dict[str, UsedPrototype] = {}
    for f, names in needed.items():
        place = min((p for p in places if p.target.file == f), key=lambda p: p.function.decl_start)
        texts = []
        for name in names:
            proto = _pick(study, name, has_in(f), context["where"])
            text = _render(env, proto.template, {**context, "has": has_in(f)}).strip("\n") + "\n"
            cases = configs_mod.applicable(proto, text, context["where"], str(study.root / "study.toml"))
            texts.append(text)
            known = used.get(name)
            used[name] = UsedPrototype(proto.helper, proto.accuracy, proto.note, proto.template, known.text if known
                                       else text, proto.home, proto.requires, proto.label,
                                       (known.files if known else ()) + (f,), cases)
        if texts:
            at = csrc.insertion_point(place.text, place.masked, place.function)
            new[f] = new[f][:at] + "\n".join(texts) + "\n" + new[f][at:]
    changes = [SiteChange(s.role.name, s.role.label, s.line, s.text, a, s.file, s.function)
               for s, a in predicates if a != s.text]
    rendered = Rendered(variant=variant.name, files=new, same_as_base=(new == files), changes=changes,
                        prototypes=list(used.values()), warnings=warnings, template=variant.template,
                        functions=tuple(context["functions"]))
    if not rendered.same_as_base:
        rendered.subject, rendered.body = render_message(study, rendered, context)
    return rendered


def _predicate(study: Study, tmpl: jinja2.Template, site: Site, context: Ctx) -> str:
    """What the variant's template writes at `site` (one line). Besides the page, the folio and the
    `original` expression (as an answer to the study's question: negated where the site's form asks
    the opposite), `site_at` (`mm/madvise.c:812`) tells one site from another of its role (a mutant
    rewrites one site only). The block's predicate is fitted to the site (sites.write)."""
    if not has_block(tmpl, site.role.name):
        raise UserError(f"{tmpl.filename}: no block for role {site.role.name!r}",
                        f"Add {{% block {site.role.name} %}}...{{% endblock %}} to the template.")
    try:
        after = render_block(tmpl, site.role.name, {**context, **site.names, "original": site.original,
                                                    "site_at": f"{site.file}:{site.line}"})
    except UserError as exc:
        missing = [k for k in ("page", "folio") if k not in site.names]
        if missing:
            exc.hint = (f"At {context['where']} none of the ways role {site.role.name!r} lists to name the "
                        f"{' and '.join(missing)} fits this function; add one to {study.root / 'study.toml'}.")
        raise
    return sites_mod.write(site, after, context["where"], tmpl.filename or tmpl.name or "?")


def render_message(study: Study, rendered: Rendered, context: Ctx) -> tuple[str, str]:
    """The commit subject and body of a rendered variant; `context` may add variables (`series`)."""
    env = environment(study)
    tmpl = load_template(env, rendered.template)
    msg_ctx = {**context, "sites": rendered.changes, "prototypes": rendered.prototypes, "variant": rendered.variant,
               "files": sorted({c.file for c in rendered.changes}, key=study.files.index)}
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


def load_template(env: jinja2.Environment, name: str, wanted_by: tuple[str, int] | None = None) -> jinja2.Template:
    """The template `name`; any Jinja2 error (syntax, not found) is one paragraph naming the template
    and line (`wanted_by`: the template and line that named this one, for a missing parent)."""
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound as exc:
        where, line = wanted_by or (name, None)
        raise TemplateError(where, line, f"the template {exc.name!r} it names is not found (looked in "
                            f"{', '.join(_search(env)) or 'the study'})") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.filename or name, exc.lineno, f"syntax: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise _located_error(exc, name) from None


def _search(env: jinja2.Environment) -> list[str]:
    """The folders a study's templates are looked up in (for an error)."""
    loaders = getattr(env.loader, "loaders", [env.loader])
    return [str(p) for loader in loaders for p in getattr(loader, "searchpath", [])]


def _render(env: jinja2.Environment, name: str, ctx: Ctx) -> str:
    tmpl = load_template(env, name)
    try:
        return tmpl.render(ctx)
    except jinja2.TemplateError as exc:
        raise _located_error(exc, name) from exc


_CHAINS: weakref.WeakKeyDictionary[jinja2.Template, list[jinja2.Template]] = weakref.WeakKeyDictionary()


def chain(tmpl: jinja2.Template) -> list[jinja2.Template]:
    """`tmpl`, the template it extends, the one that one extends, and so on (read from their files:
    a template loaded through a prefix carries the name without it); worked out once a template."""
    if tmpl not in _CHAINS:
        _CHAINS[tmpl] = _chain(tmpl)
    return _CHAINS[tmpl]


def _chain(tmpl: jinja2.Template) -> list[jinja2.Template]:
    out = [tmpl]
    while tmpl.filename and Path(tmpl.filename).is_file():
        env = tmpl.environment
        extends = next(iter(env.parse(Path(tmpl.filename).read_text()).find_all(jinja2.nodes.Extends)), None)
        if extends is None or not isinstance(extends.template, jinja2.nodes.Const):
            break
        tmpl = load_template(env, str(extends.template.value), (tmpl.filename, extends.lineno))
        if any(t.filename == tmpl.filename for t in out):
            break
        out.append(tmpl)
    return out


def has_block(tmpl: jinja2.Template, block: str) -> bool:
    return any(block in t.blocks for t in chain(tmpl))


def render_block(tmpl: jinja2.Template, block: str, ctx: Ctx) -> str:
    """One block of `tmpl` rendered alone, as a full render would: a block it does not define comes
    from the template it extends, and blocks inside it are the most derived ones."""
    context = tmpl.new_context(ctx)
    for parent in chain(tmpl)[1:]:
        for name, func in parent.blocks.items():
            context.blocks.setdefault(name, []).append(func)
    if block not in context.blocks:
        raise UserError(f"{tmpl.filename}: no block {block!r}", f"Add {{% block {block} %}}...{{% endblock %}}.")
    try:
        return "".join(context.blocks[block][0](context))
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
    what = (f"the template {exc.name!r} it includes is not found" if isinstance(exc, jinja2.TemplateNotFound)
            else getattr(exc, "message", None) or str(exc))
    return TemplateError(filename, line, what)
