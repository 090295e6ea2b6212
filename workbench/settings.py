"""The settings every stage reads, from invoke.yaml (key `workbench`) and the command line.

Defaults live in `DEFAULTS` (declared once, also given to Invoke's collection),
so `invoke.yaml`, `INVOKE_WORKBENCH_*` variables and flags can override any of them.
`Settings.to_mapping()` is what a run records and what a process of our own (a
bisect step) is given, so both see exactly what the command line and invoke.yaml said.
"""
from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import numa as numa_mod
from .errors import BadSetting, DuplicateName, UnknownKey, UserError

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
            raise BadSetting(where("overlap", "--overlap"), value, "auto, on, off or force",
                             fix_of("overlap", "--overlap")) from None


def parse_guests(value: object) -> int:
    """`guests`: how many cells boot at once on this host; `auto` (0) lets workbench/guest/room.py decide."""
    text = str(value).strip().lower()
    if text in ("auto", "0", ""):
        return 0
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 1:
        raise BadSetting(where("guests", "--guests"), value, "auto or a whole number of at least 1",
                         fix_of("guests", "--guests"))
    return number


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
    numa: str = ""  # NODESxSIZE (2x2G), '': no NUMA (workbench/numa.py)

    def identity(self) -> dict[str, Any]:
        """What of the VM settings can change a result (the accelerator is the executor's); the NUMA
        topology only when there is one, so a cell without it hashes as before it existed."""
        return {"memory": self.memory, "cpus": self.cpus, "zram": self.zram, "thp": self.thp,
                "hugetlb_2m": self.hugetlb_2m, "append": self.append} | numa_mod.identity(self)

    def to_mapping(self) -> dict[str, Any]:
        d = asdict(self)
        d["accel"] = self.accel.value
        return d

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> VmSettings:
        check_keys(raw, DEFAULTS["vm"], "vm")
        vm = {**DEFAULTS["vm"], **{k: v for k, v in raw.items() if v is not None}}
        try:
            accel = AccelMode(str(vm["accel"]).lower())
        except ValueError:
            raise BadSetting(where("vm.accel"), vm["accel"], "auto, kvm or tcg", fix_of("vm.accel")) from None
        out = cls(memory=size(vm, "memory"), cpus=_number(int, vm, "cpus", 1, "vm."),
                  zram=size(vm, "zram"), thp=str(vm["thp"]),
                  hugetlb_2m=_number(int, vm, "hugetlb_2m", 0, "vm."), accel=accel,
                  timeout=_number(float, vm, "timeout", 0, "vm.", flag="--timeout"),
                  test_timeout=_number(float, vm, "test_timeout", 0, "vm."), append=str(vm["append"]),
                  numa=numa_mod.spec(vm["numa"], size(vm, "memory"), _number(int, vm, "cpus", 1, "vm."),
                                     where("vm.numa", "--numa"), fix_of("vm.numa", "--numa")))
        if out.thp not in ("always", "madvise", "never"):
            raise BadSetting(where("vm.thp"), out.thp, "always, madvise or never", fix_of("vm.thp"))
        return out


_SIZE = re.compile(r"[1-9]\d*[KMGT]?", re.IGNORECASE)


def size(raw: Mapping[str, Any], key: str) -> str:
    """A size QEMU and zramctl take (`4G`, `4096M`): checked before anything is built."""
    value = str(raw[key]).strip()
    if not _SIZE.fullmatch(value):
        raise BadSetting(where(f"vm.{key}"), raw[key], "a size such as 4G or 4096M", fix_of(f"vm.{key}"))
    return value


def env_name(key: str) -> str:
    """The variable Invoke reads `workbench.<key>` from (`vm.memory`: INVOKE_WORKBENCH_VM_MEMORY)."""
    return "INVOKE_WORKBENCH_" + key.upper().replace(".", "_")


def where(key: str, flag: str | None = None) -> str:
    """Where a setting's value came from, as far as can be told: the environment, else invoke.yaml (or a flag)."""
    if env_name(key) in os.environ:
        return f"{env_name(key)} (in the environment)"
    return f"`{key}` (invoke.yaml" + (f" or {flag})" if flag else ")")


def fix_of(key: str, flag: str | None = None) -> str:
    if env_name(key) in os.environ:
        return f"Fix or unset {env_name(key)}."
    return f"Fix `{key}` in invoke.yaml" + (f" or the {flag} flag." if flag else ".")


def check_keys(raw: Mapping[str, Any], known: Mapping[str, Any] | tuple[str, ...], where_: str) -> None:
    """An unknown key (a typo: `memroy`) is an error that names the nearest known one."""
    names = tuple(known)
    for key in raw.keys() if hasattr(raw, "keys") else ():
        if key not in names:
            raise UnknownKey(str(key), f"invoke.yaml (workbench.{where_})" if where_ else "invoke.yaml (workbench)",
                             names, "Fix or remove it there.")


def _number(kind: type[int | float], raw: Mapping[str, Any], key: str, least: float | None = None,
            prefix: str = "", flag: str | None = None) -> Any:
    """raw[key] as `kind`, at least `least` (0 with a float: more than 0); the error says where it came from."""
    what = "a whole number" if kind is int else "a number"
    bound = "" if least is None else (f" of at least {least}" if kind is int else f" over {least:g}")
    try:
        value = kind(raw[key])
    except (TypeError, ValueError):
        raise BadSetting(where(prefix + key, flag), raw[key], what + bound, fix_of(prefix + key, flag)) from None
    if not math.isfinite(value) or least is not None and (
            value < least or (kind is float and value <= least)):
        raise BadSetting(where(prefix + key, flag), raw[key], what + bound, fix_of(prefix + key, flag))
    return value


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
        check_keys(raw, LAB_KEYS, where)
        check_keys(times, ("deploy", "boot", "queue"), f"{where}.timeouts")
        d = cls(name=name, url="", token_env="")  # the defaults, said once (in the fields above)
        vals = {k: v for k, v in (("jobs", d.jobs), ("devices", d.devices)) if raw.get(k) is None}
        vals |= {k: raw[k] for k in ("jobs", "devices") if raw.get(k) is not None}
        vals |= {k: times[k] if times.get(k) is not None else getattr(d, f"{k}_timeout")
                 for k in ("deploy", "boot", "queue")}
        p, t = f"{where}.", f"{where}.timeouts."
        lab = cls(name=name, url=str(raw["url"]), token_env=str(raw["token_env"]),
                  device_type=str(raw.get("device_type") or d.device_type),
                  accel=str(raw.get("accel") or d.accel).lower(), artifacts=str(raw.get("artifacts") or d.artifacts),
                  jobs=_number(int, vals, "jobs", 1, p), devices=_number(int, vals, "devices", 1, p),
                  deploy_timeout=_number(float, vals, "deploy", 0, t), boot_timeout=_number(float, vals, "boot", 0, t),
                  queue_timeout=_number(float, vals, "queue", 0, t))
        if lab.accel not in ("tcg", "kvm"):
            raise UserError(f"{where}.accel must be tcg or kvm, not {lab.accel!r}", f"Fix {where} in invoke.yaml.")
        if not lab.url.startswith(("http://", "https://")):
            raise UserError(f"{where}.url must be an http:// or https:// URL, not {lab.url!r}",
                            f"Fix {where} in invoke.yaml, e.g. url: http://127.0.0.1:8000/.")
        if not (lab.artifacts == "file" or lab.artifacts.startswith(("file:///", "http://"))):
            raise UserError(f"{where}.artifacts must be file, file:///PATH or http://ADDR:PORT, not {lab.artifacts!r}",
                            f"Fix {where} in invoke.yaml.")
        return lab


LAB_KEYS = ("url", "token_env", "device_type", "accel", "artifacts", "jobs", "devices", "timeouts")


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
    guests: int = 0  # cells booted at once on this host; 0: auto (workbench/guest/room.py)
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
        check_keys(raw, DEFAULTS, "")
        merged: dict[str, Any] = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
        for key, value in overrides.items():
            if value is not None:
                merged[key] = value
        vm = VmSettings.from_mapping(dict(raw.get("vm") or {}) | ({"numa": overrides["numa"]}
                                                                  if overrides.get("numa") is not None else {}))
        if overrides.get("timeout") is not None:
            vm = VmSettings(**{**asdict(vm), "timeout": _number(float, overrides, "timeout", 0, flag="--timeout")})
        for key in ("tests", "configs"):
            twice = sorted({v for v in split_list(merged[key]) if split_list(merged[key]).count(v) > 1})
            if twice and overrides.get(key) is None:
                raise DuplicateName(where(key), twice, fix_of(key))
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
            jobs=_number(int, merged, "jobs", 0),
            configs=configs or ("minimal",),
            vm=vm,
            overlap=Overlap.parse(merged["overlap"]),
            guests=parse_guests(merged["guests"]),
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
                "vm": self.vm.to_mapping(), "overlap": self.overlap.value,
                "guests": str(self.guests or "auto"), "lab": self.lab,
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


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def check_environment(environ: Mapping[str, str]) -> None:
    """The INVOKE_WORKBENCH_* variables, checked where the program starts (before Invoke reads them
    and fails with a traceback on `INVOKE_WORKBENCH_JOBS=many`): a name no setting has, or a value a
    numeric setting cannot take, is an error naming the variable."""
    known = {env_name(key): (key, default) for key, default in _leaves(DEFAULTS)}
    for var in sorted(v for v in environ if v.startswith("INVOKE_WORKBENCH_")):
        if var.startswith("INVOKE_WORKBENCH_LABS_") and var not in known:
            continue  # a lab declared in invoke.yaml: its keys are checked with the lab
        if var not in known:
            raise UnknownKey(var, "the environment", sorted(known), f"Rename or unset {var}.")
        key, default = known[var]
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        try:  # Invoke casts the variable to the default's type; its range is checked with the setting
            _number(type(default), {key: environ[var]}, key)
        except BadSetting:
            wants = "a whole number" if isinstance(default, int) else "a number"
            raise BadSetting(f"{var} (in the environment)", environ[var], wants, f"Fix or unset {var}.") from None
