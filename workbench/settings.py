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
    """The guest's settings (`vm` in invoke.yaml); the defaults are said here, once."""

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
class LabSettings:
    """A LAVA lab the cells can run on (`labs.<name>` in invoke.yaml).

    The API token is never a setting: `token_env` names the environment variable that holds it.
    `artifacts` says how the lab's workers fetch a cell's kernel and initramfs: `file` (the
    workers are on this host and read the workbench's artifact folder), `file:///PATH` (they see
    that folder at PATH), or `http://ADDR:PORT` (the workbench serves it there while it runs).
    """

    name: str
    url: str
    token_env: str
    device_type: str = "qemu"
    accel: str = "tcg"  # what the devices' QEMU runs the guest with: tcg or kvm
    artifacts: str = "file"
    jobs: int = 8  # jobs submitted and not yet collected, at most
    devices: int = 2  # `invoke lab up` only: how many devices the local lab gets
    deploy_timeout: float = 120  # seconds for the worker to fetch the artifacts
    boot_timeout: float = 300  # seconds from QEMU's start to the guest script's start marker
    queue_timeout: float = 3600  # seconds a job may wait for a device before the workbench gives up on it

    @property
    def api(self) -> str:
        return self.url.rstrip("/") + "/api/v0.2/"

    def to_mapping(self) -> dict[str, Any]:
        return {"url": self.url, "token_env": self.token_env, "device_type": self.device_type, "accel": self.accel,
                "artifacts": self.artifacts, "jobs": self.jobs, "devices": self.devices,
                "timeouts": {"deploy": self.deploy_timeout, "boot": self.boot_timeout, "queue": self.queue_timeout}}

    @classmethod
    def from_mapping(cls, name: str, raw: Mapping[str, Any]) -> LabSettings:
        where = f"labs.{name}"
        raw = dict(raw) if hasattr(raw, "items") else {}  # Invoke hands nested settings over as its own proxies
        if not raw.get("url") or not raw.get("token_env"):
            raise UserError(f"lab {name!r} needs at least `url` and `token_env` (the name of the variable holding "
                            "its API token)", f"Fix {where} in invoke.yaml (the README's lab section shows one).")
        times = dict(raw.get("timeouts") or {})
        d = cls(name=name, url="", token_env="")  # the defaults, said once (in the fields above)
        try:
            lab = cls(name=name, url=str(raw["url"]), token_env=str(raw["token_env"]),
                      device_type=str(raw.get("device_type") or d.device_type),
                      accel=str(raw.get("accel") or d.accel).lower(), artifacts=str(raw.get("artifacts") or d.artifacts),
                      jobs=int(raw.get("jobs") or d.jobs), devices=int(raw.get("devices") or d.devices),
                      deploy_timeout=float(times.get("deploy") or d.deploy_timeout),
                      boot_timeout=float(times.get("boot") or d.boot_timeout),
                      queue_timeout=float(times.get("queue") or d.queue_timeout))
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}: {exc}", f"Fix {where} in invoke.yaml: jobs, devices and timeouts are numbers."
                            ) from None
        if lab.accel not in ("tcg", "kvm"):
            raise UserError(f"{where}.accel must be tcg or kvm, not {lab.accel!r}", f"Fix {where} in invoke.yaml.")
        if not lab.url.startswith(("http://", "https://")):
            raise UserError(f"{where}.url must be an http:// or https:// URL, not {lab.url!r}",
                            f"Fix {where} in invoke.yaml, e.g. url: http://127.0.0.1:8000/.")
        if not (lab.artifacts == "file" or lab.artifacts.startswith(("file:///", "http://"))):
            raise UserError(f"{where}.artifacts must be file, file:///PATH or http://ADDR:PORT, not {lab.artifacts!r}",
                            f"Fix {where} in invoke.yaml.")
        return lab


def parse_labs(raw: Any) -> dict[str, LabSettings]:
    if not raw:
        return {}
    if not hasattr(raw, "items"):
        raise UserError("`labs` must map lab names to their declarations", "Fix `labs` in invoke.yaml.")
    return {str(name): LabSettings.from_mapping(str(name), decl) for name, decl in raw.items()}


@dataclass(frozen=True)
class Settings:
    """Every setting; the defaults are said here (and in VmSettings, LabSettings), once: `DEFAULTS`,
    what Invoke's collection is given, is made from them."""

    cache: Path  # DEFAULT_CACHE
    tree: Path | None = None  # your kernel git tree; None: the Debian import repository in the cache
    study: str = "mapcount"
    tests: tuple[str, ...] = ("cow", "probe")
    jobs: int = 0  # make -j; 0: all cores
    configs: tuple[str, ...] = ("minimal",)  # each is kbuild/<name>.config fragments joined by "+"
    vm: VmSettings = field(default_factory=VmSettings)
    overlap: Overlap = Overlap.AUTO  # boot cell k while building k+1
    lab: str | None = None  # the lab the cells run on (a key of `labs`), None: this host
    labs: dict[str, LabSettings] = field(default_factory=dict)
    project: Path = PROJECT_ROOT
    outputs: Path = PROJECT_ROOT
    templates: Path = PROJECT_ROOT / "templates"
    verbose: bool = False  # echo every external command on the terminal (they are always logged)

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

    @property
    def lab_settings(self) -> LabSettings | None:
        return self.labs[self.lab] if self.lab else None

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
        labs = parse_labs(merged.get("labs"))
        lab = str(merged["lab"]).strip() if merged.get("lab") not in (None, "", "none", "host") else None
        if lab is not None and lab not in labs:
            raise UserError(f"no lab {lab!r} is declared", f"Labs in invoke.yaml: {', '.join(labs) or 'none'}; "
                            "declare it under `labs` (see the README), or leave --lab out to boot on this host.")
        return cls(
            cache=_path(merged["cache"]),
            tree=_path(tree).resolve() if tree else None,
            study=str(merged["study"]),
            tests=split_list(merged["tests"]),
            jobs=_number(int, merged, "jobs"),
            configs=configs or ("minimal",),
            vm=vm,
            overlap=Overlap.parse(merged["overlap"]),
            lab=lab,
            labs=labs,
            outputs=_path(outputs) if outputs else PROJECT_ROOT,
            templates=_path(templates) if templates else PROJECT_ROOT / "templates",
            verbose=_flag(merged.get("verbose")),
        )

    def to_mapping(self) -> dict[str, Any]:
        """The mapping `from_mapping` turns back into these settings."""
        return {"tree": str(self.tree) if self.tree else None, "cache": str(self.cache), "study": self.study,
                "tests": ",".join(self.tests), "jobs": self.jobs, "configs": ",".join(self.configs),
                "vm": self.vm.to_mapping(), "overlap": self.overlap.value, "lab": self.lab,
                "labs": {name: lab.to_mapping() for name, lab in self.labs.items()}, "outputs": str(self.outputs),
                "templates": str(self.templates), "verbose": self.verbose}


def split_list(value: Any) -> tuple[str, ...]:
    """'a,b' or ['a', 'b'] -> ('a', 'b')."""
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(i.strip() for i in items if i.strip())


def _path(value: Any) -> Path:
    return Path(os.path.expanduser(str(value)))


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


DEFAULT_CACHE = "~/.cache/kernel-workbench"
LOCAL_LAB = LabSettings("local", "http://127.0.0.1:8000/", "WORKBENCH_LAVA_TOKEN")  # `invoke lab up` makes it


def _defaults() -> dict[str, Any]:
    """The defaults as invoke.yaml spells them: what the dataclasses above say, plus the settings
    that are None unless set (the tree, where outputs and templates go, the first wave's
    `fragments`) and the local lab's declaration."""
    d = Settings(cache=Path(DEFAULT_CACHE)).to_mapping()
    return d | {"cache": DEFAULT_CACHE, "tree": None, "outputs": None, "templates": None, "fragments": None,
                "labs": {LOCAL_LAB.name: LOCAL_LAB.to_mapping()}}


DEFAULTS: dict[str, Any] = _defaults()
