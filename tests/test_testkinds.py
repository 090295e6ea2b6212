"""The test-kind seam: each name is claimed by exactly one kind, which says where its test is at a
base and how its output is read; nothing else looks at the name."""
from __future__ import annotations

from pathlib import Path

import kernelfake
import pytest

from workbench.errors import UserError
from workbench.kernel import selftests
from workbench.kernel.git import Git
from workbench.proc import Runner
from workbench.testkinds import KINDS, kind_of
from workbench.testkinds.cgroup import Cgroup
from workbench.testkinds.kunit import Kunit
from workbench.testkinds.probe import Probe
from workbench.testkinds.selftest import Selftest
from workbench.testkinds.vmtests import Vmtests

CGROUP = "tools/testing/selftests/cgroup"
MM = "tools/testing/selftests/mm"


@pytest.fixture
def tree(tmp_path: Path) -> Git:
    repo = kernelfake.make_tree(tmp_path, "v6.10", tag="v6.12")
    for folder, files in ((CGROUP, ("test_memcontrol.c", "cgroup_util.c")), (MM, ("cow.c",))):
        (repo / folder).mkdir(parents=True, exist_ok=True)
        for name in files:
            (repo / folder / name).write_text("int main(void) { return 0; }\n")
    (repo / MM / "run_vmtests.sh").write_text('CATEGORY="cow" run_test ./cow\nCATEGORY="gup_test" run_test ./gup\n')
    (repo / "mm" / "damon").mkdir()
    (repo / "mm" / "damon" / ".kunitconfig").write_text("CONFIG_DAMON=y\n")
    kernelfake.git(repo, "add", "-A")
    kernelfake.git(repo, "commit", "-q", "-m", "tests")
    kernelfake.git(repo, "tag", "-f", "v6.12")
    return Git(repo, Runner())


def test_every_name_has_exactly_the_kind_that_claims_it_first():
    probes = {"probe": Path("probe.c")}
    assert [type(kind_of(n, probes)) for n in ("probe", "kunit:damon", "mm:cow", "cgroup:test_memcontrol", "cow")] \
        == [Probe, Kunit, Vmtests, Cgroup, Selftest]
    assert type(KINDS[-1]) is Selftest  # the claim of last resort comes last


def test_each_kind_finds_its_tests_at_a_base_and_says_what_is_missing(tree):
    names = ("cow", "cgroup:test_memcontrol", "mm:gup_test", "kunit:damon", "cgroup:test_nosuch", "mm:nosuch")
    sources = selftests.plan(tree, "v6.12", names, {})
    got = {s.name: (s.kind.name, s.path, s.available) for s in sources}
    assert got["cow"] == ("selftest", MM, True)
    assert got["cgroup:test_memcontrol"] == ("cgroup", CGROUP, True)
    assert got["mm:gup_test"] == ("vmtests", MM, True)
    assert got["kunit:damon"] == ("kunit", "mm/damon/.kunitconfig", True)
    assert not got["cgroup:test_nosuch"][2] and not got["mm:nosuch"][2]
    assert selftests.unknown(tree, sources) == ["mm:nosuch", "cgroup:test_nosuch"]  # asked of each kind, in KINDS order
    assert "cgroup:test_memcontrol" in selftests.known_at(tree, "v6.12") and "cgroup:cgroup_util" not in \
        selftests.known_at(tree, "v6.12")


def test_only_a_kind_that_brings_config_brings_it(tree):
    from workbench.cells.prepare import test_config

    sources = selftests.plan(tree, "v6.12", ("cow", "kunit:damon", "cgroup:test_memcontrol"), {})
    brought = test_config(tree, "v6.12", sources)
    assert brought.texts == (("kunit:damon", "CONFIG_DAMON=y\n"),) and brought.fragments == ("kunit",)


def test_a_selftest_name_that_cannot_be_a_file_is_refused(tree):
    with pytest.raises(UserError, match="is not a test name"):
        selftests.plan(tree, "v6.12", ("../cow",), {})


def test_a_kind_is_its_class():
    assert Cgroup() == Cgroup() and Cgroup() != Selftest() and len({Cgroup(), Cgroup()}) == 1
