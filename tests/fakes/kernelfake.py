"""A tiny fake kernel git repository for fast tests (never used outside tests).

It has the files `tree.check_kernel_repo` looks for, a Makefile with a version,
`mm/madvise.c` from one of the shapes in tests/data/madvise/, and an
`include/linux/mm.h` that declares the helpers the test asks for.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

DATA = Path(__file__).parent.parent / "data"
SHAPES = DATA / "madvise"

# Helpers (and what the prototypes require) present in each shape's headers.
HEADERS = {
    "v6.1": ["page_mapcount", "folio_mapcount", "folio_estimated_sharers", "folio_entire_mapcount",
             "folio_nr_pages", "page_folio", "folio_page"],
    "v6.3": ["page_mapcount", "folio_mapcount", "folio_estimated_sharers", "folio_entire_mapcount",
             "folio_nr_pages", "page_folio", "folio_page"],
    "v6.10": ["page_mapcount", "folio_mapcount", "folio_likely_mapped_shared", "folio_entire_mapcount",
              "folio_large_mapcount", "folio_nr_pages", "page_folio", "folio_page"],
    "v6.12": ["folio_mapcount", "folio_likely_mapped_shared", "folio_entire_mapcount", "folio_large_mapcount",
              "page_mapcount_is_type", "folio_nr_pages", "page_folio", "folio_page"],
    "v6.15": ["folio_mapcount", "folio_maybe_mapped_shared", "folio_test_large_maybe_mapped_shared",
              "folio_entire_mapcount", "folio_large_mapcount", "page_mapcount_is_type", "folio_nr_pages",
              "page_folio", "folio_page"],
    # Kconfig options count as names too (`has.CONFIG_X`: the base's Kconfig declares it)
    "v7.3": ["folio_mapcount", "folio_maybe_mapped_shared", "folio_test_large_maybe_mapped_shared",
             "folio_entire_mapcount", "folio_large_mapcount", "page_mapcount_is_type", "folio_nr_pages",
             "page_folio", "folio_page", "CONFIG_MM_ID", "CONFIG_NO_PAGE_MAPCOUNT", "CONFIG_PAGE_MAPCOUNT"],
}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    full = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@t", **(env or {})}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=full).stdout


def header_text(names: list[str]) -> str:
    lines = ["/* SPDX-License-Identifier: GPL-2.0 */", "#ifndef _LINUX_MM_H", "#define _LINUX_MM_H"]
    for name in names:
        if name.startswith("CONFIG_"):  # an option: in Kconfig (make_tree), not in a header
            continue
        if name in ("page_folio", "folio_page"):
            lines.append(f"#define {name}(p, ...)\t((void *)(p))")
        elif name == "folio_mapcount":
            lines.append("int folio_mapcount(struct folio *folio);  /* out of line, like Debian 6.1 */")
        else:
            lines.append(f"static inline int {name}(void *x)\n{{\n\treturn 0;\n}}")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def make_tree(root: Path, shape: str = "v6.10", headers: str | None = None, tag: str | None = None,
              version: tuple[int, int, int] = (6, 10, 0)) -> Path:
    """A git repository that looks like a kernel tree at `shape`, tagged `tag` (default: shape)."""
    repo = root / "linux"
    (repo / "mm").mkdir(parents=True)
    (repo / "init").mkdir()
    (repo / "include" / "linux").mkdir(parents=True)
    (repo / "Makefile").write_text(f"VERSION = {version[0]}\nPATCHLEVEL = {version[1]}\n"
                                   f"SUBLEVEL = {version[2]}\nEXTRAVERSION =\n")
    (repo / "Kconfig").write_text("mainmenu \"Fake\"\n")
    (repo / "init" / "main.c").write_text("int main(void) { return 0; }\n")
    (repo / "include" / "linux" / "kernel.h").write_text("/* fake */\n")
    (repo / "mm" / "Makefile").write_text("obj-y += madvise.o\n")
    (repo / "mm" / "Kconfig").write_text("".join(f"config {n.removeprefix('CONFIG_')}\n\tbool \"{n}\"\n\n"
                                                 for n in HEADERS[headers or shape] if n.startswith("CONFIG_")))
    (repo / "mm" / "madvise.c").write_text((SHAPES / f"{shape}.c").read_text())
    (repo / "include" / "linux" / "mm.h").write_text(header_text(HEADERS[headers or shape]))
    (repo / "README").write_text("user's file\n")
    tests = repo / "tools" / "testing" / "selftests" / "mm"
    tests.mkdir(parents=True)
    (tests / "cow.c").write_text("int main(void)\n{\n\treturn 0;\n}\n")  # a test (a program)
    (tests / "vm_util.c").write_text("int pagemap_fd;\n")  # a piece several tests link in: not a test
    subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fake kernel")
    git(repo, "tag", tag or shape)
    return repo
