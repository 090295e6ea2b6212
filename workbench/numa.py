"""The guest's NUMA topology (`vm.numa`, `--numa`): read once, and said from here to virtme-ng, to a
LAVA job's QEMU and on the kernel command line, so the executors never hold copies of it.

`vm.numa` is `NODESxSIZE`: NODES nodes of SIZE memory each (`2x2G`), SIZE with its unit (M, G or
T). Empty (the default) is a guest without NUMA, as before: no option, no identity field. The
nodes' memory must add up to `vm.memory` (QEMU gives a guest with memory nodes no memory outside
them, and virtme-ng passes `--memory` on as QEMU's `-m` beside them), and each node gets vCPUs of
its own (`vm.cpus` split into equal ranges in order: 2 nodes of 2 vCPUs are cpus 0 and 1), each
node a socket of QEMU's (`-smp N,sockets=NODES`), so vm.cpus must be a multiple of the node count:
a node without a CPU runs no task there (NUMA balancing's hinting faults need a task on each node
to move a page), and CPUs of two nodes in one socket make the kernel WARN at boot. A guest with more than one node
boots with `numa_balancing=enable`, which the kernel takes only with `CONFIG_NUMA_BALANCING`
(`kbuild/numa.config`; without it the word is handed to init and changes nothing).

virtme-ng's `--numa MEM,cpus=FIRST-LAST` (one per node) becomes QEMU's
`-object memory-backend-memfd,id=memN,size=MEM,share=on -numa node,memdev=memN,cpus=...` and turns
its microvm machine off; the LAVA job says the same nodes with `memory-backend-ram` (the worker's
QEMU shares no folder with the guest).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .errors import BadSetting


class VmSettings(Protocol):
    """What of settings.VmSettings this module reads (settings imports this module, not the reverse)."""

    @property
    def numa(self) -> str: ...
    @property
    def memory(self) -> str: ...
    @property
    def cpus(self) -> int: ...
    @property
    def append(self) -> str: ...

NUMA_FORMAT = "NODESxSIZE, e.g. 2x2G (2 nodes of 2G each), or nothing for a guest without NUMA"
_SPEC = re.compile(r"([1-9]\d*)\s*[xX]\s*([1-9]\d*[MGT])", re.IGNORECASE)
_SIZE = re.compile(r"([1-9]\d*)([KMGT]?)", re.IGNORECASE)
_MIB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}  # QEMU's -m: no unit is MiB
NONE = ("", "none", "off", "no")


@dataclass(frozen=True)
class Node:
    memory: str  # QEMU's size, with its unit: 2G
    first_cpu: int
    last_cpu: int

    @property
    def cpus(self) -> str:
        return str(self.first_cpu) if self.first_cpu == self.last_cpu else f"{self.first_cpu}-{self.last_cpu}"


@dataclass(frozen=True)
class Topology:
    nodes: tuple[Node, ...]

    @property
    def smp(self) -> str:
        """QEMU's -smp with a socket per node: with QEMU's default (all vCPUs cores of one socket, one
        last-level cache) a kernel whose CPUs sit on two nodes WARNs in topology_sane() at boot
        ("llc-sibling CPU #0 is not on the same node"), which reads as a crash. QEMU merges it with
        the -smp N before it."""
        return f"-smp {self.nodes[-1].last_cpu + 1},sockets={len(self.nodes)}"

    @property
    def spec(self) -> str:
        return f"{len(self.nodes)}x{self.nodes[0].memory}"

    def vng_args(self) -> list[str]:
        """virtme-ng's options: `--numa MEM,cpus=FIRST-LAST` per node."""
        return [arg for node in self.nodes for arg in ("--numa", f"{node.memory},cpus={node.cpus}")] + [
            "--qemu-opts", self.smp]

    def qemu_options(self) -> list[str]:
        """QEMU's options for the same nodes (a LAVA job's `extra_options`: one option and its value each)."""
        return [self.smp] + [option for i, node in enumerate(self.nodes) for option in (
            f"-object memory-backend-ram,id=mem{i},size={node.memory}",
            f"-numa node,nodeid={i},cpus={node.cpus},memdev=mem{i}")]

    def kernel_args(self) -> list[str]:
        """NUMA balancing on (its hinting faults and prot_numa sites) where there is somewhere to move to."""
        return ["numa_balancing=enable"] if len(self.nodes) > 1 else []


def mib(size: str) -> float:
    """'4G' -> 4096, '4096' -> 4096 (MiB, as QEMU's -m reads a size without a unit)."""
    m = _SIZE.fullmatch(size.strip())
    if not m:
        raise ValueError(size)
    return int(m.group(1)) * _MIB[m.group(2).upper()]


def parse(text: object, memory: str, cpus: int, what: str, fix: str) -> Topology | None:
    """`vm.numa` checked against `vm.memory` and `vm.cpus`: the topology, or None for no NUMA.
    `what` and `fix` say where the value came from and how to fix it (settings.where, fix_of)."""
    value = str(text or "").strip()
    if value.lower() in NONE:
        return None
    m = _SPEC.fullmatch(value)
    if not m:
        raise BadSetting(what, text, NUMA_FORMAT, fix)
    count, size = int(m.group(1)), m.group(2).upper()
    if count * mib(size) != mib(memory):
        even = mib(memory) / count
        fits = (f"{int(even // 1024)}G" if even % 1024 == 0 else f"{int(even)}M") if even == int(even) else ""
        raise BadSetting(what, text, f"nodes whose memory adds up to vm.memory, {memory} (QEMU gives a guest with "
                         f"NUMA nodes no memory outside them)" + (f", e.g. {count}x{fits}" if fits else ""),
                         fix + " Or change vm.memory.")
    if count > cpus or cpus % count:
        raise BadSetting(what, text, f"as many vCPUs on each node (vm.cpus is {cpus}; each node is a socket of its "
                         f"own, with at least one vCPU to run tasks on it)",
                         fix + f" Or set vm.cpus to a multiple of {count}.")
    nodes = tuple(Node(size, i * cpus // count, (i + 1) * cpus // count - 1) for i in range(count))
    return Topology(nodes)


def spec(text: object, memory: str, cpus: int, what: str, fix: str) -> str:
    """The setting as it is kept and hashed: `2x2G`, or '' for no NUMA."""
    topology = parse(text, memory, cpus, what, fix)
    return topology.spec if topology else ""


def topology(vm: VmSettings) -> Topology | None:
    """The topology of settings already checked (VmSettings.from_mapping parsed them)."""
    return parse(vm.numa, vm.memory, vm.cpus, "vm.numa", "Fix vm.numa.")


def identity(vm: VmSettings) -> dict[str, str]:
    """The topology in a cell's identity, as QEMU is told it (so a change to how the nodes are said,
    such as their sockets, is another cell); nothing without NUMA: the identity hashes as before."""
    found = topology(vm)
    return {"numa": vm.numa, "numa_qemu": " ".join(found.qemu_options())} if found else {}


def vng_args(vm: VmSettings) -> list[str]:
    found = topology(vm)
    return found.vng_args() if found else []


def qemu_options(vm: VmSettings) -> list[str]:
    found = topology(vm)
    return found.qemu_options() if found else []


def append(vm: VmSettings) -> str:
    """The guest's kernel command line as the settings make it: `vm.append`, then what the topology adds."""
    found = topology(vm)
    return " ".join([vm.append, *(found.kernel_args() if found else [])]).strip()


def machine(vm: VmSettings, name: str) -> dict[str, str]:
    """The machine type, for an executor's identity when the guest has NUMA nodes (virtme-ng's
    `--numa` turns its microvm machine off); without NUMA, nothing: the identity hashes as before."""
    return {"machine": name} if vm.numa else {}


def kernel_lacks(vm: VmSettings, dotconfig: str) -> str:
    """What to say when the guest has nodes and the config's kernel cannot see them (its guests see
    one node and the NUMA tests skip): a note, not a refusal, since a NUMA kernel beside one without
    on the same guest is a comparison one may want."""
    if not vm.numa or "CONFIG_NUMA=y" in dotconfig.splitlines():
        return ""
    return (f"the guest has NUMA nodes ({vm.numa}) but this kernel has no CONFIG_NUMA: it sees one node "
            "(add the numa fragment, e.g. --configs minimal+numa)")
