"""The mutants of a study at a base: one variant template per (site, operator), and the A/A one.

A mutant is an ordinary variant of the study (rendered, given the study's helper prototypes,
committed, built, folded into the base's cell when its machine code is the base's), whose template
writes the operator at one site (`site_at`, the site's file and line at this base) and the
original expression at every other. The templates are written content-addressed into the cache
(`mutants/<hash>.j2`), so the same mutant at the same base is the same file, commit and cell.

A site is named by its role (`pte_final`); where a base has several sites of one role they are
`pte_final-1`, `pte_final-2`, in the order of the study's targets and of the code. A column is
`<site>.<operator>` (a git branch cannot hold the `:` the report writes between them).
"""
from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UnknownName, UserError
from ..kernel.tree import Base, KernelTree
from ..study import observe
from ..study import sites as sites_mod
from ..study.model import Study
from .operators import Operators, find, load


@dataclass(frozen=True)
class Mutant:
    name: str  # the column: "<site>.<operator>" (the A/A mutant: its own name)
    site: str  # "pte_final"
    operator: str
    label: str  # what the operator does
    role: str
    file: str
    line: int
    function: str
    before: str  # the site's expression at the base
    template: str  # the generated template's path
    aa: bool = False

    @property
    def shown(self) -> str:
        """How the report names it: `pte_final:negate`."""
        return self.operator if self.aa else f"{self.site}:{self.operator}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Mutant:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def located_sites(kt: KernelTree, study: Study, base: Base) -> list[tuple[str, sites_mod.Site]]:
    """(site name, site) of every call site of the study at `base`, in target and code order (an
    optional target the base lacks has none; an unobservable one's are named, so that names stay put)."""
    where = f"{study.name} at {base.name} (mutants)"
    places, _ = sites_mod.locate_all(study, functools.partial(kt.clone.show, base.commit), where)
    found = [s for p in places for s in p.sites]
    per_role = Counter(s.role.name for s in found)
    seen: Counter[str] = Counter()
    named = []
    for s in found:
        seen[s.role.name] += 1
        named.append((s.role.name if per_role[s.role.name] == 1 else f"{s.role.name}-{seen[s.role.name]}", s))
    return named


@dataclass(frozen=True)
class Unscored:
    """A site no user space program can observe: no mutant is made there (observe.NOT_SCORED)."""

    site: str
    file: str
    line: int
    function: str
    why: str

    def __str__(self) -> str:
        return f"{self.site} ({self.file}:{self.line}, {self.function}()): {self.why}"


def unscored(named: list[tuple[str, sites_mod.Site]]) -> list[Unscored]:
    return [Unscored(n, s.file, s.line, s.function, s.target.observe.why) for n, s in named
            if not s.target.observe.scored]


def mutants(kt: KernelTree, study: Study, base: Base, out: Path, selectors: tuple[str, ...] = (),
            every: list[tuple[str, sites_mod.Site]] | None = None) -> list[Mutant]:
    """The A/A mutant, then every (site, operator) the selectors keep (none: all), templates written to `out`;
    `every`: the study's named sites at `base` when the caller has them (located_sites)."""
    ops = load(study)
    every = located_sites(kt, study, base) if every is None else every
    for u in unscored(every):
        if any(sel.replace(".", ":").partition(":")[0] == u.site for sel in selectors):
            raise UserError(f"--mutants names {u.site}, a site no program can observe ({observe.NOT_SCORED}): {u}",
                            "Name another site; study.toml marks this one observable = false, so no test could "
                            "kill a mutant there.")
    named = [(n, s) for n, s in every if s.target.observe.scored]
    if not named:
        raise UserError(f"{study.name} at {base.name}: no site a program can observe, so no mutant to make "
                        "(every site found is observable = false)", "Run without --mutants.")
    roles = sorted({r.name for t in study.targets for r in t.roles})
    chosen = select(ops, [n for n, _ in named], selectors)
    out.mkdir(parents=True, exist_ok=True)
    first = named[0][1]
    aa_text = _template(roles, None, "", ops.aa_template, f"{ops.aa_name}: every site as the base has it, a comment added")
    result = [Mutant(ops.aa_name, "*", ops.aa_name, "the original expression with a comment", "*", first.file,
                     first.line, first.function, "", str(_write(out, aa_text)), aa=True)]
    for site_name, site in named:
        for op in ops.operators:
            if (site_name, op.name) not in chosen:
                continue
            text = _template(roles, site, site.role.name, op.for_role(site.role.name),
                             f"{site_name}:{op.name}: {op.label}")
            result.append(Mutant(f"{site_name}.{op.name}", site_name, op.name, op.label, site.role.name, site.file,
                                 site.line, site.function, site.text, str(_write(out, text))))
    return result


def select(ops: Operators, site_names: list[str], selectors: tuple[str, ...]) -> set[tuple[str, str]]:
    """(site, operator) pairs a list of selectors keeps: a site, an operator, or `site:operator`."""
    every = {(s, o) for s in site_names for o in ops.names}
    if not selectors or selectors == ("all",):
        return every
    kept: set[tuple[str, str]] = set()
    for sel in selectors:
        site, _, op = sel.replace(".", ":").partition(":")
        pairs = ({p for p in every if p == (site, op)} if op else
                 {p for p in every if sel in (p[0], p[1])})
        if not pairs:
            raise UnknownName(f"--mutants {sel!r} names no site and no operator at this base",
                              [*site_names, *ops.names], "e.g. --mutants pte_final,negate or --mutants pmd:negate")
        kept |= pairs
    return kept


def _template(roles: list[str], site: sites_mod.Site | None, role: str, body: str, what: str) -> str:
    """A variant template: `body` at `site` (None: at every site) and the original elsewhere."""
    lines = [f"{{#- Mutant {what}. Generated by workbench/mutants from the study's mutants.toml. -#}}"]
    for r in roles:
        if site is None:
            block = body
        elif r == role:
            block = f'{{% if site_at == "{site.file}:{site.line}" %}}{body}{{% else %}}{{{{ original }}}}{{% endif %}}'
        else:
            block = "{{ original }}"
        lines.append(f"{{% block {r} %}}{block}{{% endblock %}}")
    shown = what.split(": ", 1)[0]
    lines.append(f"{{% block subject %}}MUTANT {shown} (a test of the tests; never apply){{% endblock %}}")
    lines.append("{% block body %}\n{% raw %}" + f"Mutation analysis: {what}." + "{% endraw %}\n{% endblock %}")
    return "\n".join(lines) + "\n"


def _write(out: Path, text: str) -> Path:
    path = out / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.j2"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


@dataclass
class MutantColumns:
    """The mutants of a matrix run: those that are columns, and those whose text is the base's."""

    mutants: list[Mutant]
    same_source: list[Mutant]
    operators: str  # the mutants.toml they came from
    unobservable: list[Unscored] = field(default_factory=list)  # sites left without mutants

    @property
    def aa(self) -> list[str]:
        return [m.name for m in self.mutants if m.aa]

    def to_json(self) -> dict[str, Any]:
        return {"operators": self.operators, "mutants": [m.to_json() for m in self.mutants],
                "same_source": [m.to_json() for m in self.same_source],
                "unobservable": [asdict(u) for u in self.unobservable]}


def as_columns(kt: KernelTree, study: Study, base: Base, out: Path, selectors: tuple[str, ...],
               names: list[str]) -> tuple[Study, list[str], MutantColumns]:
    """The study with every mutant as a variant, and the columns with the mutants after `names`."""
    every = located_sites(kt, study, base)  # read and located once: for the mutants and the unscored sites
    found = mutants(kt, study, base, out, selectors, every)
    for m in found:
        if m.name in names or m.name in study.variant_names:
            raise UserError(f"mutant {m.name!r} has the name of a column already asked for",
                            "Rename that column, or the operator in mutants.toml.")
        study = study.with_variant(m.name, Path(m.template), f"mutant {m.shown}")
    return study, names + [m.name for m in found], MutantColumns(found, [], str(find(study) or ""), unscored(every))


def without_same_source(cols: MutantColumns, same_as_base: set[str], names: list[str]) -> list[str]:
    """Mutants whose rendered text is the base's are no mutants: out of the columns, kept as said."""
    cols.same_source = [m for m in cols.mutants if m.name in same_as_base and not m.aa]
    cols.mutants = [m for m in cols.mutants if m not in cols.same_source]
    gone = {m.name for m in cols.same_source}
    return [n for n in names if n not in gone]
