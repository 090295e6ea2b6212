"""Which cells a matrix needs: every column (base and the variants) under every config, repeated.

A variant that is the same as base at this base gets no cell of its own (its column shows
`=base` and reuses the base's cell, so the base runs even when it is not a column). Repeats are
the outer loop, so that drift over time hits every column alike; within a repeat each config's
cells follow one another, so its build directory rebuilds only what a variant changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel.git import Git
from ..kernel.tree import Base
from ..records import BASE
from ..study.commits import PatchSet


@dataclass(frozen=True)
class CellSpec:
    base: Base
    variant: str
    commit: str  # what to build: the base commit, or the variant's commit
    change: str  # identity of the change: "base", or the variant commit's tree id
    config: str = "minimal"
    repeat: int = 0
    label: str = ""  # how progress lines and the report name it

    @property
    def name(self) -> str:
        return self.label or self.variant + (f" #{self.repeat + 1}" if self.repeat else "")


@dataclass
class Plan:
    base: Base
    columns: list[str]  # "base" first when it is a column
    configs: list[str]
    specs: list[CellSpec]
    same_as_base: list[str]
    patchset: PatchSet | None = None
    approximate: list[str] = field(default_factory=list)


def label(variant: str, config: str, repeat: int, configs: list[str]) -> str:
    return (f"{config}/" if len(configs) > 1 else "") + variant + (f" #{repeat + 1}" if repeat else "")


def plan(git: Git, ps: PatchSet, names: list[str], include_base: bool, configs: list[str], repeat: int) -> Plan:
    """The cells for `names` (study variants, rendered and committed in `ps`) at `ps.base`."""
    base = ps.base
    columns = ([BASE] if include_base or BASE in names else []) + [n for n in names if n != BASE]
    same = [v.variant for v in ps.variants if v.same_as_base and v.variant in columns]
    own = [c for c in columns if c not in same]
    if same and BASE not in own:
        own.insert(0, BASE)  # the same-as-base columns reuse the base's cell
    commits = {c: ps.commit_of(c) for c in own}
    trees = tree_ids(git, [commits[c] for c in own if c != BASE])
    specs = [CellSpec(base=base, variant=c, commit=commits[c], change=BASE if c == BASE else trees[commits[c]],
                      config=config, repeat=r, label=label(c, config, r, configs))
             for r in range(repeat) for config in configs for c in own]
    approximate = [v.variant for v in ps.variants if v.approximate and v.variant in columns]
    return Plan(base, columns, configs, specs, same, ps, approximate)


def tree_ids(git: Git, commits: list[str]) -> dict[str, str]:
    """{commit: its tree id}, in one git call."""
    unique = list(dict.fromkeys(commits))
    if not unique:
        return {}
    out = git.out("rev-parse", *[f"{c}^{{tree}}" for c in unique]).split()
    return dict(zip(unique, out))
