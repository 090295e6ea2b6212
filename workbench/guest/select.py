"""Which executor boots the cells: virtme-ng on this host (a lab is the next one)."""
from __future__ import annotations

from ..proc import Runner
from ..settings import Settings
from .vng import VngExecutor


def executor_for(settings: Settings, runner: Runner) -> VngExecutor:
    return VngExecutor(settings, runner)
