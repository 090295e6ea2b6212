"""NUMA guests (`vm.numa`, `--numa`): the setting read and refused in one paragraph, the one topology
said to virtme-ng, to a LAVA job's QEMU and on the kernel command line, the config fragment, and a
cell without NUMA hashing exactly as before the setting existed."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from workbench import numa
from workbench.cells.identity import CellInputs, cell_identity
from workbench.errors import BadSetting
from workbench.guest import vng
from workbench.guest.vng import VngExecutor, vng_argv
from workbench.kernel import kbuild
from workbench.lab import jobdef
from workbench.proc import Runner
from workbench.settings import DEFAULTS, PROJECT_ROOT, LabSettings, Settings, VmSettings
from workbench.shell import shell_argv

TWO = VmSettings(numa="2x2G")


def test_nodes_x_size_gives_each_node_its_memory_and_a_range_of_the_vcpus():
    two = numa.parse("2x2G", "4G", 2, "w", "f")
    assert two is not None and two.spec == "2x2G"
    assert [(n.memory, n.cpus) for n in two.nodes] == [("2G", "0"), ("2G", "1")]
    four = numa.parse(" 2X2048m ", "4096", 4, "w", "f")
    assert four is not None and [(n.memory, n.cpus) for n in four.nodes] == [("2048M", "0-1"), ("2048M", "2-3")]
    assert four.smp == "-smp 4,sockets=2" and two.smp == "-smp 2,sockets=2"
    one = numa.parse("1x4G", "4G", 2, "w", "f")
    assert one is not None and one.kernel_args() == [] and two.kernel_args() == ["numa_balancing=enable"]
    assert all(numa.parse(off, "4G", 2, "w", "f") is None for off in ("", None, "none", " off "))


def test_the_setting_is_kept_as_its_spec_and_comes_back_from_the_runs_settings():
    s = Settings.from_mapping({"vm": {"numa": "2x2g"}})
    assert s.vm.numa == "2x2G" and Settings.from_mapping(s.to_mapping()).vm.numa == "2x2G"
    assert Settings.from_mapping({}).vm.numa == "" and DEFAULTS["vm"]["numa"] == ""
    assert Settings.from_mapping({"vm": {"numa": "none"}}).vm.numa == ""
    flag = Settings.from_mapping({"vm": {"numa": "1x4G"}}, numa="2x2G")  # --numa wins over invoke.yaml
    assert flag.vm.numa == "2x2G"
    assert Settings.from_mapping({"vm": {"memory": "8G", "cpus": 4}}, numa="4x2G").vm.numa == "4x2G"


@pytest.mark.parametrize("vm,flag,wants", [
    ({"numa": "two nodes"}, None, "`vm.numa` (invoke.yaml or --numa) wants NODESxSIZE, e.g. 2x2G"),
    ({"numa": "2x2"}, None, "wants NODESxSIZE"),  # a node's size needs its unit
    ({}, "0x4G", "wants NODESxSIZE"),
    ({}, "2x1G", ("wants nodes whose memory adds up to vm.memory, 4G (QEMU gives a guest with NUMA nodes no memory "
                 "outside them), e.g. 2x2G, not '2x1G'")),
    ({"memory": "3G"}, "2x2G", "e.g. 2x1536M"),
    ({"cpus": 1, "memory": "4G"}, "2x2G", "wants as many vCPUs on each node (vm.cpus is 1; each node is a socket"),
    ({"cpus": 3, "memory": "4G"}, "2x2G", "wants as many vCPUs on each node (vm.cpus is 3;"),
])
def test_a_bad_topology_is_one_paragraph_naming_where_it_came_from(vm, flag, wants):
    with pytest.raises(BadSetting) as err:
        Settings.from_mapping({"vm": vm}, numa=flag)
    assert wants in str(err.value), str(err.value)
    assert err.value.hint.startswith("Fix `vm.numa` in invoke.yaml or the --numa flag.")


def test_too_many_nodes_for_the_vcpus_says_how_many_vcpus_it_needs():
    with pytest.raises(BadSetting) as err:
        Settings.from_mapping({"vm": {"memory": "4G"}}, numa="4x1G")
    assert "vm.cpus is 2" in str(err.value) and err.value.hint.endswith("Or set vm.cpus to a multiple of 4.")


def test_the_variable_is_named_when_the_topology_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("INVOKE_WORKBENCH_VM_NUMA", "3x1G")
    with pytest.raises(BadSetting) as err:
        Settings.from_mapping({"vm": {"numa": "3x1G"}})
    assert str(err.value).startswith("INVOKE_WORKBENCH_VM_NUMA (in the environment) wants")


def test_virtme_ng_gets_one_numa_option_per_node_and_numa_balancing_on_the_command_line():
    argv = vng_argv("vng", Path("/x"), TWO, "tcg", Path("/rw"), "c")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--numa"] == ["2G,cpus=0", "2G,cpus=1"]
    assert argv[argv.index("--qemu-opts") + 1] == "-smp 2,sockets=2"
    assert argv[argv.index("--memory") + 1] == "4G" and argv[argv.index("--cpus") + 1] == "2"
    assert argv[argv.index("--append") + 1] == "oops=panic panic=-1 numa_balancing=enable"
    plain = vng_argv("vng", Path("/x"), VmSettings(), "tcg", Path("/rw"), "c")
    assert "--numa" not in plain and "--qemu-opts" not in plain and plain[plain.index("--append") + 1] == "oops=panic panic=-1"
    shell = shell_argv("vng", Path("/x"), TWO, "tcg", Path("/o"), Path("/w"))
    assert shell.count("--numa") == 2 and shell[shell.index("--append") + 1].endswith("numa_balancing=enable")


def test_a_lava_job_gets_the_same_nodes_as_qemu_options():
    lab = LabSettings(name="fake", url="http://127.0.0.1:9/", token_env="T")
    assert jobdef.qemu_options(lab, TWO) == [
        "-machine q35", "-cpu max", "-accel tcg", "-smp 2", "-smp 2,sockets=2",
        "-object memory-backend-ram,id=mem0,size=2G", "-numa node,nodeid=0,cpus=0,memdev=mem0",
        "-object memory-backend-ram,id=mem1,size=2G", "-numa node,nodeid=1,cpus=1,memdev=mem1", "-no-reboot"]
    assert jobdef.append(TWO) == "console=ttyS0,115200 printk.time=1 oops=panic panic=-1 numa_balancing=enable"
    spec = jobdef.JobSpec(cell="c" * 20, label="minimal+numa/base", tests=("mm:migration",),
                          kernel_url="file:///a/bzImage", ramdisk_url="file:///a/i.cpio.gz")
    text = jobdef.render(PROJECT_ROOT / "templates", spec, lab, TWO)
    assert '"-numa node,nodeid=1,cpus=1,memdev=mem1"' in text and "memory: 4096" in text
    assert "panic=-1 numa_balancing=enable" in text
    assert "-numa" not in jobdef.render(PROJECT_ROOT / "templates", spec, lab, VmSettings())


# The identity of a cell without NUMA, as it was before `vm.numa` existed (computed on main at 3bcff8f):
# a new identity field hashes as before at its default (as `profiled` in test_coverage.py).
BEFORE_VM = {"memory": "4G", "cpus": 2, "zram": "2G", "thp": "always", "hugetlb_2m": 16,
             "append": "oops=panic panic=-1"}
INPUTS = CellInputs(base="a" * 40, change="base", config="c1", toolchain="gcc 12", tests=("cow", "probe"),
                    binaries="b1", guest="g1", vm=BEFORE_VM,
                    executor={"executor": "vng", "accel": "tcg", "qemu": "7.2.22"})


def test_without_numa_a_cell_hashes_as_before_and_with_it_the_topology_and_machine_are_inputs(monkeypatch):
    assert VmSettings().identity() == BEFORE_VM
    assert cell_identity(dataclasses.replace(INPUTS, vm=VmSettings().identity())) == "a6915d193e3ef679323b"
    with_numa = TWO.identity()
    assert with_numa == BEFORE_VM | {"numa": "2x2G", "numa_qemu": " ".join(jobdef.qemu_options(
        LabSettings(name="x", url="http://a/", token_env="T", accel="kvm"), TWO)[2:-1])}
    assert cell_identity(dataclasses.replace(INPUTS, vm=with_numa)) != "a6915d193e3ef679323b"
    assert cell_identity(dataclasses.replace(INPUTS, vm=VmSettings(numa="1x4G").identity())) != cell_identity(
        dataclasses.replace(INPUTS, vm=with_numa))
    monkeypatch.setattr(vng.accel_mod, "qemu_version", lambda runner: "7.2.22")
    plain = VngExecutor(Settings(cache=Path("/c")), Runner(), accel="tcg")
    assert plain.identity() == INPUTS.executor
    numa_tcg = VngExecutor(Settings(cache=Path("/c"), vm=TWO), Runner(), accel="tcg")
    assert numa_tcg.identity() == INPUTS.executor | {"machine": "q35"}
    assert VngExecutor(Settings(cache=Path("/c"), vm=TWO), Runner(), accel="kvm").identity()["machine"] == "pc"
    assert numa.machine(TWO, jobdef.MACHINE) == {"machine": "q35"} and numa.machine(VmSettings(), "q35") == {}


def test_the_numa_fragment_brings_numa_its_acpi_detection_migration_and_balancing():
    config = kbuild.load_config("minimal+numa", [PROJECT_ROOT / "kbuild"], ())
    text = (PROJECT_ROOT / "kbuild" / "numa.config").read_text()
    for option in ("CONFIG_NUMA=y", "CONFIG_X86_64_ACPI_NUMA=y", "CONFIG_MIGRATION=y", "CONFIG_NUMA_BALANCING=y"):
        assert option in text.splitlines()
    assert config.name == "minimal+numa"


def test_a_report_of_a_numa_run_says_its_nodes_and_a_run_without_says_nothing_new():
    from workbench.records import Run, RunKind
    from workbench.report.common import header_line

    run = Run(dir=Path("/r/20261205-100000-v6.12"), kind=RunKind.MATRIX, base="v6.12", commit="c", kernelversion="6.12",
              study="mapcount", tests=["mm:migration"], variants=["base"], command="x", executor="vng (tcg)",
              vm=TWO.to_mapping())
    assert "executor: vng (tcg); NUMA nodes 2x2G; run " in header_line(run)
    plain = dataclasses.replace(run, vm=VmSettings().to_mapping())
    assert "NUMA" not in header_line(plain) and "executor: vng (tcg); run " in header_line(plain)


def test_a_numa_guest_with_a_kernel_without_numa_is_said():
    assert "this kernel has no CONFIG_NUMA: it sees one node" in numa.kernel_lacks(TWO, "CONFIG_MMU=y\n")
    assert numa.kernel_lacks(TWO, "CONFIG_MMU=y\nCONFIG_NUMA=y\n") == ""
    assert numa.kernel_lacks(VmSettings(), "CONFIG_MMU=y\n") == ""


def test_a_lab_cell_with_numa_names_its_machine_and_one_without_hashes_as_before(tmp_path):
    from workbench.guest.lava import LavaExecutor

    lab = LabSettings(name="fake", url="http://127.0.0.1:9/", token_env="T")
    plain = LavaExecutor(Settings(cache=tmp_path, lab="fake", labs={"fake": lab}), lab, Runner()).identity()
    assert "machine" not in plain
    two = LavaExecutor(Settings(cache=tmp_path, lab="fake", labs={"fake": lab}, vm=TWO), lab, Runner()).identity()
    assert two == plain | {"machine": "q35"}
