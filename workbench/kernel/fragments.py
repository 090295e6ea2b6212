"""Config fragment lines against a base: which options a fragment asks for, which its base's Kconfig
declares, which did not come true in the resulting `.config`, and which apply only where the base
has them (kbuild.py configures and judges with these)."""
from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from .git import Git

OPTION = re.compile(r"^(?:(CONFIG_\w+)=(.*)|# (CONFIG_\w+) is not set)$")


def declared(git: Git, commit: str, names: set[str]) -> set[str]:
    """Which of `names` (without CONFIG_) the Kconfig files at `commit` declare (`config X`)."""
    if not names:
        return set()
    pattern = r"^\s*(menu)?config\s+(" + "|".join(sorted(names)) + r")\s*$"
    done = git.run("grep", "-h", "-E", pattern, commit, "--", "*Kconfig*", check=False, quiet=True)
    return {m.group(2) for m in re.finditer(pattern, done.output, re.MULTILINE)}


def values(dotconfig: str) -> dict[str, str]:
    have: dict[str, str] = {}
    for line in dotconfig.splitlines():
        m = OPTION.match(line)
        if m:
            have[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
    return have


WHERE_DECLARED = "# workbench: where the base has it"


def optional(fragment: str) -> set[str]:
    """The options of a fragment that apply only at bases whose Kconfig declares them: those whose
    line comes after a `# workbench: where the base has it` line (other comments may come between),
    so that one fragment serves bases from before and after an option was added (NUMA_MIGRATION,
    new in 7.x). Every other line of a config's added fragment must come true (unmet_options)."""
    names: set[str] = set()
    marked = False
    for raw in fragment.splitlines():
        line = raw.strip()
        m = OPTION.match(line)
        if line == WHERE_DECLARED:
            marked = True
        elif m:
            if marked:
                names.add(m.group(1) or m.group(3))
            marked = False
    return names


def unmet_options(fragment: str, config: str, absent: AbstractSet[str] = frozenset()) -> list[str]:
    """Fragment lines that did not come true in `.config` (their dependencies are missing); those of
    `absent` (optional options the base does not declare) are left out."""
    have = values(config)
    want: dict[str, tuple[str, str]] = {}  # the last line for an option wins, as in Kconfig
    for line in fragment.splitlines():
        m = OPTION.match(line.strip())
        if m:
            name = m.group(1) or m.group(3)
            want[name] = (line.strip(), m.group(2) if m.group(1) else "n")
    return [f"{line} (got {have.get(name, 'not set')})" for name, (line, value) in want.items()
            if have.get(name, "n") != value and name not in absent]
