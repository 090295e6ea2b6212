"""`=base` by machine code, on objects compiled here: a comment or a local's name changes no byte;
code, or a line number a WARN keeps, does; no copy of the base is never the base."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from workbench.cells import machine

BASE = """int shared(int mapcount, int pages)
{
\tint n = mapcount; /* how many map it */
\tif (n != pages)
\t\treturn __LINE__;
\treturn 0;
}
"""


def build(root: Path, source: str) -> Path:
    """A build directory holding mm/madvise.o compiled from `source`, and objects made at link time."""
    (root / "mm").mkdir(parents=True)
    (root / "init").mkdir()
    (root / "mm" / "madvise.c").write_text(source)
    subprocess.run(["gcc", "-O2", "-c", "-o", str(root / "mm" / "madvise.o"), str(root / "mm" / "madvise.c")],
                   check=True)
    (root / "init" / "version.o").write_bytes(root.name.encode())  # differs every build: left out
    (root / ".tmp_vmlinux.kallsyms1.o").write_bytes(root.name.encode())
    return root


@pytest.fixture
def base(tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    snap = tmp_path / "objects" / "minimal" / "c0ffee"
    machine.snapshot(build(tmp_path / "base", BASE), snap)
    assert sorted(machine.compiled(snap)) == ["mm/madvise.o"]
    return snap


RENAMED = BASE.replace("int n = mapcount", "int users = mapcount").replace("if (n != pages)", "if (users != pages)")


@pytest.mark.parametrize("source", [BASE.replace("how many map it", "how many processes map it"), RENAMED])
def test_a_comment_or_a_locals_name_is_the_base(tmp_path, base, source):
    assert source != BASE
    same, why = machine.same_as_base(build(tmp_path / "variant", source), base)
    assert same, why
    assert "all 1 objects" in why


@pytest.mark.parametrize("source,what", [(BASE.replace("n != pages", "n != 1"), "code"),
                                         ("/* one more line */\n" + BASE, "a line number kept as data")])
def test_other_code_or_a_moved_line_is_not(tmp_path, base, source, what):
    same, why = machine.same_as_base(build(tmp_path / "variant", source), base)
    assert not same and why == "mm/madvise.o differs", what


def test_no_copy_of_the_base_or_an_object_on_one_side_only_is_not(tmp_path, base):
    variant = build(tmp_path / "variant", BASE)
    assert machine.same_as_base(variant, tmp_path / "nowhere") == (False, "no copy of the base's objects to compare with")
    (variant / "mm" / "extra.o").write_bytes(b"x")
    assert machine.same_as_base(variant, base) == (False, "1 object(s) only on one side")
