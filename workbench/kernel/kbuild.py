"""Configuring and building the kernel in a base's one `O=` build directory.

The config is `allnoconfig` plus the project's fragments (`kbuild/*.config`),
made once per base and remade only when the fragments change. Builds use all
cores (and ccache when it is installed; always the same `CC`, so turning the
cache off with CCACHE_DISABLE=1 changes nothing that make sees). Switching
variants rewrites one `.c` file, so make recompiles that object, the version
object and the link: `recompiled` lists what a build really compiled.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import UserError
from .proc import Runner
from .settings import Settings
from .tree import Worktree

_STEP = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC|HOSTLD|OBJCOPY|GZIP|ZSTD|XZKERN|BUILD|LDS|VDSO\w*|GEN|UPD|CHK)\s+(\S+)")
_ERROR = re.compile(r"(\berror:|undefined reference|\*\*\* \[|Error \d+|fatal error|No rule to make target)")
_OPTION = re.compile(r"^(?:(CONFIG_\w+)=(.*)|# (CONFIG_\w+) is not set)$")
IMAGE = "arch/x86/boot/bzImage"


@dataclass
class ConfigInfo:
    fragments: tuple[str, ...]
    fragment_hash: str
    config_hash: str  # of the resulting .config (comments dropped): part of every cell's identity
    unmet: list[str] = field(default_factory=list)  # fragment lines the base could not honour


@dataclass
class BuildResult:
    ok: bool
    seconds: float
    log: Path
    image: Path | None = None
    first_errors: list[str] = field(default_factory=list)
    recompiled: list[str] = field(default_factory=list)


def make_argv(wt: Worktree, settings: Settings, *targets: str) -> list[str]:
    argv = ["make", "-C", str(wt.src), f"O={wt.build}", f"-j{settings.make_jobs}", "LOCALVERSION=",
            "KBUILD_BUILD_USER=workbench", "KBUILD_BUILD_HOST=workbench",
            "KBUILD_BUILD_TIMESTAMP=Thu Jan  1 00:00:00 UTC 2026"]
    if shutil.which("ccache"):
        argv.append("CC=ccache gcc")
    return argv + list(targets)


def fragment_text(settings: Settings, names: tuple[str, ...] | None = None) -> str:
    parts = []
    for name in names or settings.fragments:
        path = settings.kbuild_dir / f"{name}.config"
        if not path.exists():
            known = sorted(p.stem for p in settings.kbuild_dir.glob("*.config"))
            raise UserError(f"no config fragment {name!r} ({path})", f"Fragments: {', '.join(known)}.")
        parts.append(f"# --- kbuild/{name}.config\n{path.read_text()}")
    return "\n".join(parts)


def configure(wt: Worktree, settings: Settings, runner: Runner, log: Path | None = None) -> ConfigInfo:
    """Make `.config` from allnoconfig + the fragments, unless it already is exactly that."""
    text = fragment_text(settings)
    fhash = hashlib.sha256(text.encode()).hexdigest()[:16]
    wt.build.mkdir(parents=True, exist_ok=True)
    stamp = wt.build / ".workbench-fragment"
    config = wt.build / ".config"
    if not (config.exists() and stamp.exists() and stamp.read_text().strip() == fhash):
        frag = wt.build / "workbench.fragment"
        frag.write_text(text)
        done = runner.run(make_argv(wt, settings, f"KCONFIG_ALLCONFIG={frag}", "allnoconfig"), tee=log, check=False)
        if not done.ok:
            raise UserError(f"could not configure {wt.base.name}: `make allnoconfig` failed",
                            "Its output:\n" + "\n".join(done.output.splitlines()[-15:]))
        stamp.write_text(fhash + "\n")
    return ConfigInfo(settings.fragments, fhash, config_hash(config), unmet_options(text, config.read_text()))


def config_hash(config: Path) -> str:
    lines = [line for line in config.read_text().splitlines() if line and not line.startswith("# ")
             or _OPTION.match(line)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def unmet_options(fragment: str, config: str) -> list[str]:
    """Fragment lines that did not come true in `.config` (their dependencies are missing)."""
    have: dict[str, str] = {}
    for line in config.splitlines():
        m = _OPTION.match(line)
        if m:
            have[m.group(1) or m.group(3)] = m.group(2) if m.group(1) else "n"
    unmet = []
    for line in fragment.splitlines():
        m = _OPTION.match(line.strip())
        if not m:
            continue
        name, want = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), "n")
        if have.get(name, "n") != want:
            unmet.append(f"{line.strip()} (got {have.get(name, 'not set')})")
    return unmet


def build(wt: Worktree, settings: Settings, runner: Runner, log: Path,
          progress: Callable[[str], None] | None = None, env: dict[str, str] | None = None) -> BuildResult:
    """`make bzImage` in the base's build directory; never raises for a compile error."""
    recompiled: list[str] = []
    expected = _expected_steps(wt)
    start = time.monotonic()
    last = [0.0]

    def on_line(line: str) -> None:
        m = _STEP.match(line)
        if m:
            recompiled.append(m.group(2) if m.group(1) in ("CC", "AS", "LD", "AR") else f"{m.group(1)} {m.group(2)}")
            now = time.monotonic()
            if progress and now - last[0] > 2:
                last[0] = now
                share = f"/~{expected}" if expected else ""
                progress(f"{len(recompiled)}{share} steps, {now - start:.0f}s: {m.group(2)}")

    log.parent.mkdir(parents=True, exist_ok=True)
    done = runner.run(make_argv(wt, settings, "bzImage"), tee=log, on_line=on_line, check=False,
                      keep_output=False, env=env, guard=True)
    image = wt.build / IMAGE
    if done.ok and image.exists():
        if len(recompiled) > 200:
            (wt.build / ".workbench-steps").write_text(str(len(recompiled)))
        return BuildResult(True, done.seconds, log, image=image, recompiled=recompiled)
    return BuildResult(False, done.seconds, log, first_errors=first_errors(log), recompiled=recompiled)


def first_errors(log: Path, limit: int = 12) -> list[str]:
    try:
        return first_errors_in(log.read_text(errors="replace"), limit)
    except OSError:
        return []


def first_errors_in(text: str, limit: int = 12) -> list[str]:
    """The first compiler/make error lines (with a line of context) of a build's output."""
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if _ERROR.search(line)]
    if not hits:
        return lines[-limit:]
    out: list[str] = []
    for i in hits:
        for line in lines[max(0, i - 1):i + 2]:
            if line not in out:
                out.append(line)
        if len(out) >= limit:
            break
    return out[:limit]


def compile_object(wt: Worktree, settings: Settings, runner: Runner, obj: str, extra: list[str],
                   log: Path | None = None):
    """Compile one object (e.g. `mm/madvise.o` with W=1 C=1); the `.c` is touched so it really recompiles."""
    source = wt.src / (obj[:-2] + ".c")
    if source.exists():
        source.touch()
    return runner.run(make_argv(wt, settings, *extra, obj), tee=log, check=False)


def _expected_steps(wt: Worktree) -> int:
    try:
        return int((wt.build / ".workbench-steps").read_text())
    except (OSError, ValueError):
        return 0
