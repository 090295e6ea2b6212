"""The settings every stage reads, from invoke.yaml (key `workbench`) and the command line.

Defaults live in `DEFAULTS` (declared once, also given to Invoke's collection),
so `invoke.yaml`, `INVOKE_WORKBENCH_*` variables and flags can override any of them.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    "tree": None,  # your kernel git tree; None: the Debian import repository in the cache
    "cache": "~/.cache/kernel-workbench",
    "study": "mapcount",
    "tests": "cow,probe",
    "jobs": 0,  # 0: all cores
    "fragments": "minimal",  # kbuild/<name>.config, comma-separated; add "debug" for DEBUG_VM
    "vm": {
        "memory": "4G",
        "cpus": 2,
        "zram": "2G",
        "thp": "always",
        "hugetlb_2m": 16,
        "accel": "auto",  # auto | kvm | tcg
        "timeout": 900,  # seconds for one cell (boot + all tests)
        "test_timeout": 600,  # seconds for one test binary inside the guest
        "append": "oops=panic panic=-1",
    },
    "overlap": "auto",  # boot cell k while building k+1: auto (only with KVM or > 2 cores) | on | off
    "outputs": None,  # where patches/ and results/ go; None: the project's own folders
}


@dataclass(frozen=True)
class VmSettings:
    memory: str = "4G"
    cpus: int = 2
    zram: str = "2G"
    thp: str = "always"
    hugetlb_2m: int = 16
    accel: str = "auto"
    timeout: float = 900
    test_timeout: float = 600
    append: str = "oops=panic panic=-1"

    def identity(self) -> dict[str, Any]:
        """What of the VM settings can change a result (the accelerator is added per cell)."""
        return {"memory": self.memory, "cpus": self.cpus, "zram": self.zram, "thp": self.thp,
                "hugetlb_2m": self.hugetlb_2m, "append": self.append}


@dataclass(frozen=True)
class Settings:
    cache: Path
    tree: Path | None = None
    study: str = "mapcount"
    tests: tuple[str, ...] = ("cow", "probe")
    jobs: int = 0
    fragments: tuple[str, ...] = ("minimal",)
    vm: VmSettings = field(default_factory=VmSettings)
    overlap: str = "auto"
    project: Path = PROJECT_ROOT
    outputs: Path = PROJECT_ROOT

    @property
    def make_jobs(self) -> int:
        return self.jobs or os.cpu_count() or 1

    @property
    def results_dir(self) -> Path:
        return self.outputs / "results"

    @property
    def patches_dir(self) -> Path:
        return self.outputs / "patches"

    @property
    def templates_dir(self) -> Path:
        return self.project / "templates"

    @property
    def kbuild_dir(self) -> Path:
        return self.project / "kbuild"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], **overrides: Any) -> "Settings":
        """Build settings from invoke's config mapping; `overrides` (from flags) win when not None."""
        merged: dict[str, Any] = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
        vm_raw = {**DEFAULTS["vm"], **dict(raw.get("vm") or {})}
        for key, value in overrides.items():
            if value is not None:
                merged[key] = value
        try:
            vm = VmSettings(
                memory=str(vm_raw["memory"]), cpus=int(vm_raw["cpus"]), zram=str(vm_raw["zram"]),
                thp=str(vm_raw["thp"]), hugetlb_2m=int(vm_raw["hugetlb_2m"]),
                accel=str(vm_raw["accel"]), timeout=float(vm_raw["timeout"]),
                test_timeout=float(vm_raw["test_timeout"]), append=str(vm_raw["append"]),
            )
            jobs = int(merged["jobs"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"bad setting in invoke.yaml: {exc}",
                            "Compare your invoke.yaml with the defaults in workbench/settings.py.") from exc
        if vm.accel not in ("auto", "kvm", "tcg"):
            raise UserError(f"vm.accel must be auto, kvm or tcg, not {vm.accel!r}",
                            "Fix it in invoke.yaml or pass --accel.")
        tree = merged.get("tree")
        return cls(
            cache=Path(os.path.expanduser(str(merged["cache"]))),
            tree=Path(os.path.expanduser(str(tree))).resolve() if tree else None,
            study=str(merged["study"]),
            tests=split_list(merged["tests"]),
            jobs=jobs,
            fragments=split_list(merged["fragments"]),
            vm=vm,
            overlap=str(merged["overlap"]).lower(),
            outputs=Path(os.path.expanduser(str(merged["outputs"]))) if merged.get("outputs") else PROJECT_ROOT,
        )

    def to_mapping(self) -> dict[str, Any]:
        """The mapping `from_mapping` turns back into these settings (for a process of our own,
        such as a bisect step, that must see exactly what the command line and invoke.yaml said)."""
        return {"tree": str(self.tree) if self.tree else None, "cache": str(self.cache), "study": self.study,
                "tests": ",".join(self.tests), "jobs": self.jobs, "fragments": ",".join(self.fragments),
                "vm": asdict(self.vm), "overlap": self.overlap, "outputs": str(self.outputs)}


def split_list(value: Any) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> ('a', 'b')."""
    if isinstance(value, str):
        items = value.split(",")
    else:
        items = [str(v) for v in value]
    return tuple(i.strip() for i in items if i.strip())
