"""The series' checkpatch in a tree with no history (a Debian import, from the cache), with the
tree's own checkpatch.pl: a cited commit's form is checked, its existence cannot be (kernel marker:
it needs a cached tree)."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench.kernel.git import Git
from workbench.proc import Runner
from workbench.series.checks import checkpatch
from workbench.settings import Settings

pytestmark = pytest.mark.kernel

PATCH = """From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: A U Thor <author@example.org>
Date: Thu, 1 Jan 2026 00:00:00 +0000
Subject: [PATCH] mm/madvise: say where the check came from

The final check is written as
{cite}
wrote the others.

Signed-off-by: A U Thor <author@example.org>
---
 mm/madvise.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/mm/madvise.c b/mm/madvise.c
index 1111111..2222222 100644
--- a/mm/madvise.c
+++ b/mm/madvise.c
@@ -1,3 +1,4 @@
 // SPDX-License-Identifier: GPL-2.0
+/* The sharing check. */
 /*
  *	linux/mm/madvise.c
"""
TITLED = ('commit 2f406263e3e9 ("madvise:madvise_cold_or_pageout_pte_range():\n'
          'don\'t use mapcount() against large folio for sharing check")')  # checkpatch reads two lines


def _tree_without_history() -> Path:
    runner = Runner()
    for src in sorted(Settings.from_mapping({}).cache.glob("work/*/*/src")):
        if (src / "scripts" / "checkpatch.pl").exists() and not Git(src, runner).has_history("HEAD"):
            return src
    pytest.skip("no Debian tree in the cache: run ./wb first")


@pytest.mark.parametrize("cite,errors", [("commit 2f406263e3e9", 1), (TITLED, 0)], ids=["bare", "titled"])
def test_a_cited_commit_needs_its_title_where_it_cannot_be_looked_up(tmp_path, cite, errors):
    src = _tree_without_history()
    patch = tmp_path / "0001.patch"
    patch.write_text(PATCH.format(cite=cite))
    found = checkpatch(src, patch, Runner(), history=False)
    assert (found.errors, found.warnings, found.checks) == (errors, 0, 0), found.findings
    assert all("GIT_COMMIT_ID" in f for f in found.findings)  # UNKNOWN_COMMIT_ID is not said: it cannot be known
    plain = checkpatch(src, patch, Runner())  # as checkpatch runs in the tree: git cannot find it, so no error
    assert plain.errors == 0 and any("UNKNOWN_COMMIT_ID" in f for f in plain.findings)
