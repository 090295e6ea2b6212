"""What runs in the guest, one kind at a time (base.py is the protocol).

`KINDS` is the order in which kinds are asked to claim a name: a study's probe first (its name
is the study's to choose), then the kinds with a prefix, then the mm selftest binary, which
claims whatever is left. Adding a kind is a module here and a line in `KINDS`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import SETUP, BuildContext, TestKind, TestSource
from .cgroup import Cgroup
from .kunit import Kunit
from .probe import Probe
from .selftest import Selftest
from .vmtests import Vmtests

KINDS: tuple[TestKind, ...] = (Probe(), Kunit(), Vmtests(), Cgroup(), Selftest())

__all__ = ["KINDS", "SETUP", "BuildContext", "TestKind", "TestSource", "kind_of", "named"]


def kind_of(name: str, probes: Mapping[str, Path]) -> TestKind:
    """The kind that owns a test name (the selftest kind takes whatever no other claims)."""
    return next(kind for kind in KINDS if kind.claims(name, probes))


def named(names: tuple[str, ...], probes: Mapping[str, Path] | None = None) -> tuple[TestSource, ...]:
    """The tests of these names as their kinds claim them, with no base to look in (to read output
    that is already there)."""
    return tuple(TestSource(n, kind_of(n, probes or {}), "") for n in names)
