"""Test binaries: a test that does not build is its own failure, and the others are built and run."""
from __future__ import annotations

from workbench.kernel import selftests
from workbench.kernel.kbuild import Make
from workbench.kernel.tree import Base, Worktree
from workbench.proc import Runner
from workbench.testkinds import TestSource
from workbench.testkinds.probe import Probe


def test_a_test_that_does_not_build_does_not_stop_the_others(tmp_path):
    build = tmp_path / "build"
    (build / "usr" / "include" / "linux").mkdir(parents=True)
    (build / "usr" / "include" / "linux" / "mman.h").write_text("/* headers are installed */\n")
    good, bad = tmp_path / "good.c", tmp_path / "bad.c"
    good.write_text("int main(void) { return 0; }\n")
    bad.write_text("int main(void) { return KSFT_SKIP; }\n")
    wt = Worktree(root=tmp_path, git=None, base=Base("v6.12", "c" * 40))  # type: ignore[arg-type]
    make = Make(wt, build, 1, Runner(), tmp_path)
    sources = [TestSource("good", Probe(), str(good)), TestSource("bad", Probe(), str(bad))]
    got = selftests.build(make, tmp_path / "tests", sources, Runner(), tmp_path / "selftests.log")
    assert got.names == ("good",) and list(got.failed) == ["bad"]
    assert any("KSFT_SKIP" in line and "error" in line for line in got.failed["bad"])
    again = selftests.build(make, tmp_path / "tests", sources, Runner(log=tmp_path / "again.log"),
                            tmp_path / "selftests.log")
    assert again == got and not (tmp_path / "again.log").exists()  # the stamp knows: nothing is run again


def test_a_probe_is_its_source_and_the_headers_it_includes_in_quotes(tmp_path):
    from workbench.kernel.selftests import probe_files

    (tmp_path / "common").mkdir()
    (tmp_path / "study" / "probe").mkdir(parents=True)
    src = tmp_path / "study" / "probe" / "probe.c"
    src.write_text('#include <stdio.h>\n#include "../../common/lib.h"\n  # include "missing.h"\nint main(void) {}\n')
    (tmp_path / "common" / "lib.h").write_text('#include "more.h"\n#include "lib.h"\n')
    (tmp_path / "common" / "more.h").write_text("static int x;\n")
    assert [p.name for p in probe_files(src)] == ["probe.c", "lib.h", "more.h"]  # system, missing, cycle: left out
