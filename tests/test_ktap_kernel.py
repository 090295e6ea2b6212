"""kunit_tool's own parser, from a cached kernel tree, beside ours on every log of tests/data/ktap
(the kernel marker: it needs a tree in the cache)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.guest import ktap
from workbench.settings import Settings

pytestmark = pytest.mark.kernel
DATA = Path(__file__).parent / "data" / "ktap"


def kunit_tool() -> Path:
    for tree in sorted(Settings.from_mapping({}).cache.glob("work/*/*/src/tools/testing/kunit")):
        if (tree / "kunit_parser.py").exists():
            return tree
    pytest.skip("no kernel tree with tools/testing/kunit in the cache: run ./wb first")


def test_both_parsers_count_the_same_on_every_log():
    logs = sorted(DATA.glob("*.log"))
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "tools" / "kunit_counts.py"), str(kunit_tool()),
                           *map(str, logs)], capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout)
    assert theirs == json.loads((DATA / "kunit_tool-counts.json").read_text())  # the copy kept here is current
    rows = []
    for log in logs:
        ours = ktap.output(log.read_text(errors="replace"), "kunit").totals
        want = {k: theirs[log.name][k] for k in ("passed", "failed", "crashed", "skipped", "errors")}
        rows.append((log.name, want, ours))
    (Path(__file__).parent.parent / "results").mkdir(exist_ok=True)
    assert all(w == o for _, w, o in rows), [r for r in rows if r[1] != r[2]]


def _trees() -> list[Path]:
    return sorted(t for t in Settings.from_mapping({}).cache.glob("work/*/*/src/tools/testing/kunit")
                  if (t / "kunit_parser.py").exists() and (t / "test_data").is_dir())


@pytest.mark.parametrize("tree", _trees() or [None], ids=lambda t: t.parents[3].name if t else "none")
def test_each_cached_trees_kunit_tool_counts_its_own_logs_as_we_do(tree):
    """6.12's kunit_tool on 6.12's test_data, 7.3's (whose parser takes a printer) on 7.3's."""
    if tree is None:
        pytest.skip("no kernel tree with tools/testing/kunit in the cache: run ./wb first")
    logs = sorted((tree / "test_data").glob("*.log"))
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "tools" / "kunit_counts.py"), str(tree),
                           *map(str, logs)], capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout)
    wrong = [(log.name, theirs[log.name], ours) for log in logs
             if (ours := ktap.output(log.read_text(errors="replace"), "kunit").totals)
             != {k: theirs[log.name][k] for k in ("passed", "failed", "crashed", "skipped", "errors")}]
    assert not wrong
