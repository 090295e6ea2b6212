"""What every fast test gets (the test doubles live in tests/fakes/, importable by name): a HOME and a cache of its own, no INVOKE_WORKBENCH_* variables of the
machine's, and a `settings` fixture whose cache and outputs are in the test's own folder.

Tests marked `kernel` keep the real HOME: they use the real Debian trees and builds in the cache.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from workbench.settings import Settings

FAKES = Path(__file__).parent / "fakes"  # test doubles only: a fake kernel tree, lab, LAVA, bisect step
sys.path.insert(0, str(FAKES))


@pytest.fixture(autouse=True)
def _isolated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("kernel"):
        return
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))  # no identity of the machine's leaks in
    for name in [n for n in os.environ if n.startswith("INVOKE_WORKBENCH_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose cache is `tmp_path/cache` and whose patches/ and results/ go to `tmp_path/out`."""
    return Settings.from_mapping({"cache": str(tmp_path / "cache"), "outputs": str(tmp_path / "out")})
