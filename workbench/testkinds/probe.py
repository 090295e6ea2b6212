"""A study's probe: a C program kept with the study (`[probes.<name>]` in study.toml), compiled on
the host with gcc against the base's exported headers, run by the guest script, printing
kselftest TAP with a verdict token per case (the study's words say what each token reads as)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..kernel.git import Git
from .base import BuildContext, TestKind, TestSource

_QUOTED = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


class Probe(TestKind):
    name = "probe"
    needs = frozenset({"swap", "thp", "cgroup2"})

    def claims(self, name: str, probes: Mapping[str, Path]) -> bool:
        return name in probes

    def locate(self, git: Git, commit: str, name: str, probes: Mapping[str, Path]) -> str | None:
        return str(probes[name])  # kept with the study: every base has it

    def build(self, ctx: BuildContext, sources: list[TestSource]) -> dict[str, list[str]]:
        failed: dict[str, list[str]] = {}
        for src in sources:
            binary = ctx.outdir / src.name
            binary.unlink(missing_ok=True)
            done = ctx.runner.run(["gcc", "-O2", "-Wall", "-o", str(binary), "-isystem", str(ctx.headers), src.path],
                                  tee=ctx.log, check=False, guard=True)
            if not done.ok or not binary.exists():
                failed[src.name] = ctx.compile_error(done.output)
        return failed

    def stamp_files(self, source: TestSource) -> list[Path]:
        return probe_files(Path(source.path))


def probe_files(source: Path) -> list[Path]:
    """A probe's source and every file it includes with `#include "..."` (found beside the file
    that includes it, as gcc looks first), so that a change to a shared header rebuilds it."""
    seen: list[Path] = []
    todo = [source.resolve()]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.append(path)
        todo += [(path.parent / name).resolve() for name in _QUOTED.findall(path.read_text(errors="replace"))]
    return seen
