"""The settings every stage reads, from invoke.yaml (key `workbench`) and the command line.

Defaults live in `DEFAULTS` (declared once, also given to Invoke's collection),
so `invoke.yaml`, `INVOKE_WORKBENCH_*` variables and flags can override any of them.
`Settings.to_mapping()` is what a run records and what a process of our own (a
bisect step) is given, so both see exactly what the command line and invoke.yaml said.
"""
from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    "tree": None,  # your kernel git tree; None: the Debian import repository in the cache
    "cache": "~/.cache/kernel-workbench",
    "study": "mapcount",
    "tests": "cow,probe",
    "jobs": 0,  # 0: all cores
    # the configs to build, comma-separated; each is kbuild/<name>.config fragments joined by "+"
    "configs": "minimal",
    "fragments": None,  # first-wave spelling of one config: "minimal,debug" = configs "minimal+debug"
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
    "overlap": "auto",  # boot cell k while building k+1: auto (only with KVM or > 2 cores) | on | off | force
    "outputs": None,  # where patches/ and results/ go; None: the project's own folders
    "templates": None,  # studies and report templates; None: the project's templates/
    "verbose": False,  # echo every external command on the terminal (they are always logged)
}


class Overlap(str, enum.Enum):
    AUTO = "auto"  # only where the machine has room (KVM, or more than 2 cores)
    ON = "on"
    OFF = "off"
    FORCE = "force"  # even under TCG on 2 cores (to measure what it does)

    @classmethod
    def parse(cls, value: object) -> Overlap:
        text = str(value).strip().lower()
        aliases = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
        try:
            return cls(aliases.get(text, text))
        except ValueError:
            raise UserError(f"overlap must be auto, on, off or force, not {value!r}",
                            "Fix `overlap` in invoke.yaml or the --overlap flag.") from None


class AccelMode(str, enum.Enum):
    AUTO = "auto"  # probe KVM once per host, fall back to TCG
    KVM = "kvm"
    TCG = "tcg"


@dataclass(frozen=True)
class VmSettings:
    memory: str = "4G"
    cpus: int = 2
    zram: str = "2G"
    thp: str = "always"
    hugetlb_2m: int = 16
    accel: AccelMode = AccelMode.AUTO
    timeout: float = 900
    test_timeout: float = 600
    append: str = "oops=panic panic=-1"

    def identity(self) -> dict[str, Any]:
        """What of the VM settings can change a result (the accelerator is the executor's)."""
        return {"memory": self.memory, "cpus": self.cpus, "zram": self.zram, "thp": self.thp,
                "hugetlb_2m": self.hugetlb_2m, "append": self.append}

    def to_mapping(self) -> dict[str, Any]:
        d = asdict(self)
        d["accel"] = self.accel.value
        return d

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> VmSettings:
        vm = {**DEFAULTS["vm"], **{k: v for k, v in raw.items() if v is not None}}
        try:
            accel = AccelMode(str(vm["accel"]).lower())
        except ValueError:
            raise UserError(f"vm.accel must be auto, kvm or tcg, not {vm['accel']!r}",
                            "Fix it in invoke.yaml.") from None
        out = cls(memory=str(vm["memory"]), cpus=_number(int, vm, "cpus"), zram=str(vm["zram"]), thp=str(vm["thp"]),
                  hugetlb_2m=_number(int, vm, "hugetlb_2m"), accel=accel, timeout=_number(float, vm, "timeout"),
                  test_timeout=_number(float, vm, "test_timeout"), append=str(vm["append"]))
        if out.timeout <= 0 or out.test_timeout <= 0 or out.cpus < 1:
            raise UserError("vm.timeout, vm.test_timeout and vm.cpus must be positive",
                            "Fix them in invoke.yaml or the --timeout flag.")
        return out


def _number(kind: type[int | float], raw: Mapping[str, Any], key: str) -> Any:
    try:
        return kind(raw[key])
    except (TypeError, ValueError):
        raise UserError(f"setting {key} must be a number, not {raw[key]!r}",
                        f"Fix `{key}` in invoke.yaml or on the command line.") from None


@dataclass(frozen=True)
class Settings:
    cache: Path
    tree: Path | None = None
    study: str = "mapcount"
    tests: tuple[str, ...] = ("cow", "probe")
    jobs: int = 0
    configs: tuple[str, ...] = ("minimal",)
    vm: VmSettings = field(default_factory=VmSettings)
    overlap: Overlap = Overlap.AUTO
    project: Path = PROJECT_ROOT
    outputs: Path = PROJECT_ROOT
    templates: Path = PROJECT_ROOT / "templates"
    verbose: bool = False

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
        return self.templates

    @property
    def kbuild_dir(self) -> Path:
        return self.project / "kbuild"

    def task_log(self, task: str) -> Path:
        """Where a task without a run folder (tree, patches, series, setup) logs its commands."""
        return self.cache / "logs" / f"{task}.log"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], **overrides: Any) -> Settings:
        """Build settings from invoke's config mapping; `overrides` (from flags) win when not None."""
        merged: dict[str, Any] = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
        for key, value in overrides.items():
            if value is not None:
                merged[key] = value
        vm = VmSettings.from_mapping(dict(raw.get("vm") or {}))
        if overrides.get("timeout") is not None:
            vm = VmSettings(**{**asdict(vm), "timeout": _number(float, overrides, "timeout")})
            if vm.timeout <= 0:
                raise UserError("--timeout must be positive", "e.g. --timeout 900.")
        configs = split_list(merged["configs"])
        if merged.get("fragments") and "configs" not in raw and overrides.get("configs") is None:
            configs = ("+".join(split_list(merged["fragments"])),)
        tree, outputs, templates = merged.get("tree"), merged.get("outputs"), merged.get("templates")
        return cls(
            cache=_path(merged["cache"]),
            tree=_path(tree).resolve() if tree else None,
            study=str(merged["study"]),
            tests=split_list(merged["tests"]),
            jobs=_number(int, merged, "jobs"),
            configs=configs or ("minimal",),
            vm=vm,
            overlap=Overlap.parse(merged["overlap"]),
            outputs=_path(outputs) if outputs else PROJECT_ROOT,
            templates=_path(templates) if templates else PROJECT_ROOT / "templates",
            verbose=_flag(merged.get("verbose")),
        )

    def to_mapping(self) -> dict[str, Any]:
        """The mapping `from_mapping` turns back into these settings."""
        return {"tree": str(self.tree) if self.tree else None, "cache": str(self.cache), "study": self.study,
                "tests": ",".join(self.tests), "jobs": self.jobs, "configs": ",".join(self.configs),
                "vm": self.vm.to_mapping(), "overlap": self.overlap.value, "outputs": str(self.outputs),
                "templates": str(self.templates), "verbose": self.verbose}


def split_list(value: Any) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> ('a', 'b')."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(i.strip() for i in items if i.strip())


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(str(value)))


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")
