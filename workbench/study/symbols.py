"""Which functions and macros a base has, read from the base itself.

A name counts as present when a header the study's file can include declares
it, defines it (inline or not), or `#define`s it as a macro, or when the
study's file defines it itself. Out-of-line definitions declared in a header
count (Debian's 6.1 declares `folio_mapcount()` in mm.h and defines it in
mm/util.c). Names only visible to other directories (fs/proc/internal.h) do
not. All of it comes from one `git grep` at the base commit: no checkout, no
version numbers. Names that headers generate by token pasting
(`FOLIO_TYPE_OPS(hugetlb, hugetlb)` makes `folio_test_hugetlb`) are invisible
to this reading; a study should not ask about them.

A name `CONFIG_X` asks about a Kconfig option instead: present when a Kconfig file
of the base declares `config X` (so a prototype can say what it computes under an
option only at bases where the option exists).
"""
from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from pathlib import Path

from ..kernel.git import Git
from ..records import write_atomic

# Headers a file under mm/ (or any directory) can reach: the global include trees,
# the x86 ones, and the private headers of the file's own directory.
_GLOBAL_HEADERS = ("include/", "arch/x86/include/")
MEMO_VERSION = 1  # bump when what counts as "present" changes: older answers are then asked again


def present(git: Git, commit: str, names: Iterable[str], file: str, memo: Path | None = None) -> dict[str, bool]:
    """{name: True if the base at `commit` provides it to `file`}. A commit's answers never change,
    so with `memo` (a folder) they are kept in `<memo>/<commit>.json` and grep runs only for new names."""
    wanted = sorted(set(names))
    if memo is None:
        return _grep(git, commit, wanted, file)
    path = memo / f"{commit}.v{MEMO_VERSION}.json"
    try:
        everything = json.loads(path.read_text())
    except (OSError, ValueError):
        everything = {}
    everything = everything if isinstance(everything, dict) else {}
    known = everything.setdefault(file, {})
    missing = [n for n in wanted if n not in known]
    if missing:
        known.update(_grep(git, commit, missing, file))
        memo.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(everything, indent=1, sort_keys=True))
    return {n: bool(known[n]) for n in wanted}


def _grep(git: Git, commit: str, wanted: list[str], file: str) -> dict[str, bool]:
    options = [n for n in wanted if n.startswith("CONFIG_")]
    found = {n: False for n in wanted} | _kconfig(git, commit, options)
    wanted = [n for n in wanted if n not in options]
    if not wanted:
        return found
    local_dir = posixpath.dirname(file)
    pathspecs = [*_GLOBAL_HEADERS, f"{local_dir}/*.h" if local_dir else "*.h", file]
    alternatives = "|".join(re.escape(n) for n in wanted)
    pattern = rf"\b({alternatives})\b"
    done = git.run("grep", "-h", "-E", "-e", pattern, commit, "--", *pathspecs, check=False, quiet=True)
    for line in done.output.splitlines():
        line = line.split(":", 1)[1] if line.startswith(commit) else line
        for name in wanted:
            if not found[name] and declares(line, name):
                found[name] = True
    return found


def _kconfig(git: Git, commit: str, options: list[str]) -> dict[str, bool]:
    """{CONFIG_X: whether a Kconfig file at `commit` declares `config X` (or `menuconfig X`)}."""
    if not options:
        return {}
    names = "|".join(re.escape(o.removeprefix("CONFIG_")) for o in options)
    done = git.run("grep", "-h", "-E", "-e", rf"^\s*(menu)?config\s+({names})\s*$", commit, "--", "*Kconfig*",
                   check=False, quiet=True)
    declared = {line.split()[-1] for line in done.output.splitlines() if line.strip()}
    return {o: o.removeprefix("CONFIG_") in declared for o in options}


def declares(line: str, name: str) -> bool:
    """Whether `line` declares or defines function `name`, or defines it as a macro.

    Kernel style puts file-scope declarations in column 0, with the name either
    after its type on the same line (`static inline int folio_mapcount(...)`) or
    alone at the start of the line after a type on the line before.
    """
    if re.match(rf"\s*#\s*define\s+{re.escape(name)}\b", line):
        return True
    if not line or line[0] in " \t":
        return False
    if re.match(r"(return|if|else|while|for|do|case|goto|switch)\b", line):
        return False
    return re.match(rf"(?:[A-Za-z_][\w \t\*]*[ \t\*])?{re.escape(name)}\s*\(", line) is not None
