"""The cell cache: `<cache>/cells/<identity>/`, one folder per cell.

A folder holds the cell's build log, its console, the guest's files (`out/`), the executor's
handle and, once judged, `cell.json`. A cell whose `cell.json` holds a verdict is finished: it is
never run again. One that ended in an infrastructure error is not a verdict and runs again.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..records import CellResult, write_atomic

RESULT = "cell.json"


class CellCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, identity: str) -> Path:
        return self.root / identity

    def get(self, identity: str) -> CellResult | None:
        """The cell's finished result (marked `cached`), or None."""
        try:
            result = CellResult.from_json(json.loads((self.dir(identity) / RESULT).read_text()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if not result.status.is_verdict:
            return None
        result.cached = True
        return result

    def fresh(self, identity: str) -> Path:
        """An empty folder for the cell (what an earlier, unfinished attempt left is removed)."""
        path = self.dir(identity)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def put(self, result: CellResult) -> CellResult:
        path = self.dir(result.identity)
        path.mkdir(parents=True, exist_ok=True)
        result.dir = str(path)
        write_atomic(path / RESULT, json.dumps(result.to_json(), indent=1))
        return result
