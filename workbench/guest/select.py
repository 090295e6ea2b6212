"""Which executor boots the cells: a LAVA lab when one is chosen (`--lab NAME`, or `lab:` in
invoke.yaml), else virtme-ng on this host."""
from __future__ import annotations

from ..proc import Runner
from ..settings import Settings
from .executor import Executor
from .lava import LavaExecutor
from .vng import VngExecutor


def executor_for(settings: Settings, runner: Runner) -> Executor:
    lab = settings.lab_settings
    if lab is not None:
        return LavaExecutor(settings, lab, runner)
    return VngExecutor(settings, runner)
