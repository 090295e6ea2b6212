"""What a variant computes under a kernel config, where a helper prototype's C depends on one.

Variants are rendered once per base; configs are a build axis. So a prototype whose answer depends
on an option says so in its C (`#ifdef CONFIG_NO_PAGE_MAPCOUNT` ... a stated approximation, or
`#error` with the reason) and in the study's data (`[[helpers.<name>.configs]]`: the option, and
the accuracy and label then, or `refused`). Here the two are checked against each other when a
variant is rendered, and the column's label is read from the built `.config`: nothing is keyed on
a version or on a config's name.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import UserError
from .model import Accuracy, ConfigCase, Prototype

_CONDITIONAL = re.compile(r"^[ \t]*#[ \t]*(?:if|ifdef|ifndef|elif)\b(.*)$", re.MULTILINE)
_ERROR = re.compile(r"^[ \t]*#[ \t]*error\b", re.MULTILINE)
_SETTING = re.compile(r"^(CONFIG_\w+)=(.*)$", re.MULTILINE)


def conditional_options(text: str) -> list[str]:
    """The Kconfig options the preprocessor conditionals of `text` test, in order."""
    return list(dict.fromkeys(o for m in _CONDITIONAL.finditer(text) for o in re.findall(r"\bCONFIG_\w+", m.group(1))))


def applicable(proto: Prototype, text: str, where: str, study_file: str) -> tuple[ConfigCase, ...]:
    """The config cases of `proto` its rendered C (`text`) really depends on at this base; an option
    the C tests that the study does not describe, or a refusal without an `#error`, is refused."""
    tested = conditional_options(text)
    described = {c.option: c for c in proto.configs}
    unknown = [o for o in tested if o not in described]
    if unknown:
        raise UserError(f"{where}: the prototype of {proto.helper}() ({proto.template}) depends on "
                        f"{', '.join(unknown)}, and {study_file} does not say what it computes then",
                        f"Add a [[helpers.{proto.helper}.configs]] entry with option = \"{unknown[0]}\" and "
                        "accuracy and label (or refused = \"why\") after that prototype.")
    cases = tuple(described[o] for o in tested)
    if any(c.refused for c in cases) and not _ERROR.search(text):
        raise UserError(f"{where}: {study_file} says the prototype of {proto.helper}() refuses "
                        f"{', '.join(c.option for c in cases if c.refused)}, but its C has no #error",
                        f"Make {proto.template} stop with `#error \"...\"` under that option, or drop the refusal.")
    return cases


def options_of(dotconfig: str) -> dict[str, str]:
    """{CONFIG_X: value} of a `.config` (options that are not set are absent)."""
    return {m.group(1): m.group(2) for m in _SETTING.finditer(dotconfig)}


@dataclass(frozen=True)
class Computes:
    """What a column computes under one config."""

    accuracy: Accuracy | None  # None: refused there
    label: str  # what the reports say of it ("" when exact and nothing to say)

    @property
    def refused(self) -> bool:
        return self.accuracy is None

    def to_json(self) -> dict[str, str]:
        return {"accuracy": self.accuracy.value if self.accuracy else "refused", "label": self.label}


class Prototyped(Protocol):
    """What `under()` needs of a used prototype (render.UsedPrototype has it)."""

    @property
    def name(self) -> str: ...
    @property
    def accuracy(self) -> Accuracy: ...
    @property
    def label(self) -> str: ...
    @property
    def configs(self) -> tuple[ConfigCase, ...]: ...


def under(prototypes: Iterable[Prototyped], options: Mapping[str, str]) -> Computes:
    """The column's accuracy and label with the built config's `options`: a case whose option is set
    wins over the prototype's own accuracy; a refusal names the option."""
    accuracy: Accuracy | None = Accuracy.EXACT
    labels: list[str] = []
    for p in prototypes:
        case = next((c for c in p.configs if options.get(c.option, "n") not in ("n", "")), None)
        if case and case.refused:
            return Computes(None, f"{p.name}() cannot be computed with {case.option}=y: {case.label}")
        mine = case.accuracy if case else p.accuracy
        text = (case.label if case else p.label)
        if mine is Accuracy.APPROXIMATE:
            accuracy = Accuracy.APPROXIMATE
        if text:
            labels.append(text + (f" ({case.option}=y)" if case else ""))
    return Computes(accuracy, "; ".join(labels))


def by_config(prototypes: Mapping[str, Iterable[Prototyped]], dotconfigs: Mapping[str, str]
              ) -> dict[str, dict[str, Computes]]:
    """{config: {variant: what it computes there}}, for the variants (by name, with their prototypes)
    whose prototypes depend on an option, under every config's built `.config`."""
    out: dict[str, dict[str, Computes]] = {}
    for config, text in dotconfigs.items():
        options = options_of(text)
        for variant, protos in prototypes.items():
            protos = list(protos)
            if any(p.configs for p in protos):
                out.setdefault(config, {})[variant] = under(protos, options)
    return out
