"""check-variants: diagnostics keep their line numbers for the reader, and are compared without them."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from workbench import check

SRC = Path("/cache/work/tree/v6.12/src")
BUILD = Path("/cache/work/tree/v6.12/builds/minimal-1234")


def test_diagnostics_keep_the_line_and_resolve_ccache_relative_paths():
    out = "\n".join([
        f"{SRC}/mm/madvise.c:519:3: warning: unused variable 'x' [-Wunused-variable]",
        "../../src/mm/madvise.c:401:9: error: implicit declaration of function 'folio_foo'",
        "  CC      mm/madvise.o",
        "mm/madvise.c:12: warning: symbol 'y' was not declared. Should it be static?",  # sparse, relative to src?
    ])
    diags = check.diagnostics(out, SRC, BUILD)
    assert [str(d) for d in diags[:2]] == ["mm/madvise.c:519: warning: unused variable 'x' [-Wunused-variable]",
                                           "mm/madvise.c:401: error: implicit declaration of function 'folio_foo'"]
    assert diags[0].key == "mm/madvise.c: warning: unused variable 'x' [-Wunused-variable]"


def test_a_warning_that_only_moved_is_not_new_and_a_new_one_is_shown_with_its_line():
    base = check.diagnostics(f"{SRC}/mm/madvise.c:500:1: warning: w1\n", SRC, BUILD)
    variant = check.diagnostics(f"{SRC}/mm/madvise.c:530:1: warning: w1\n{SRC}/mm/madvise.c:531:2: warning: w2\n"
                                f"{SRC}/mm/madvise.c:560:2: warning: w2\n", SRC, BUILD)
    assert check._new(variant, Counter(d.key for d in base)) == ["mm/madvise.c:531: warning: w2",
                                                                 "mm/madvise.c:560: warning: w2"]
