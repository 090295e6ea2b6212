"""A cell's identity: the hash of everything that can change its result, and nothing else.

Two cells with the same inputs are the same cell (one result, cached); change any input and it
is another cell. The inputs: the base commit, the change on it (the variant commit's tree id, or
"base"), the resulting .config, the compiler, the tests and the bytes of their binaries, the
guest script, the guest's settings, the executor (what boots it, with its accelerator or device
type and its emulator), the repeat index and, with a coverage config, the objects it profiles. Where the cell's files are, how it is labelled or
which run asked for it are not inputs.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CellInputs:
    base: str  # commit id
    change: str  # "base", or the tree id of the variant's commit
    config: str  # hash of the .config it was built with
    toolchain: str  # compiler version
    tests: tuple[str, ...]  # the tests run, in order
    binaries: str  # hash of the test binaries
    guest: str  # hash of the guest script
    vm: dict[str, Any] = field(default_factory=dict)  # VmSettings.identity()
    executor: dict[str, str] = field(default_factory=dict)  # Executor.identity()
    repeat: int = 0
    profiled: tuple[str, ...] = ()  # the objects a coverage config profiles (none: not in the hash)


def cell_identity(inputs: CellInputs) -> str:
    parts = asdict(inputs)
    parts["tests"] = list(inputs.tests)
    if inputs.profiled:
        parts["profiled"] = list(inputs.profiled)
    else:  # a field added after cells were cached hashes as before at its default
        del parts["profiled"]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
