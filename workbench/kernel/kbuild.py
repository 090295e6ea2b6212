"""Configuring and building the kernel: one `O=` build directory per (base, config).

A config is a list of fragments (`minimal+debug`: `kbuild/minimal.config` then
`kbuild/debug.config`) merged on top of `allnoconfig`; a study may bring
fragments of its own in its folder. Each config of a base has its own build
directory (`builds/<name>-<hash of the fragments>/`), so switching configs
never rebuilds another config's tree. Builds use all cores and ccache when it is
installed, always with the same `CC`, and with ccache's `base_dir` over the
workbench's work directory: a second worktree of an already-built source (the
bisect slot, a series, another clone of the same tree) compiles from the cache.
Switching variants rewrites one `.c` file, so make recompiles that object, the
version object and the link: `recompiled` lists what a build really compiled.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadFragmentLine, MissingTool, UnknownName, UserError
from ..proc import Completed, Runner
from .fragments import OPTION as _OPTION
from .fragments import declared, unmet_options
from .fragments import values as _values
from .tree import Worktree, slug

_STEP = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC|HOSTLD|OBJCOPY|GZIP|ZSTD|XZKERN|BUILD|LDS|VDSO\w*|GEN|UPD|CHK)\s+(\S+)")
_ERROR = re.compile(r"(\berror:|undefined reference|\*\*\* \[|Error \d+|fatal error|No rule to make target)")
IMAGE = "arch/x86/boot/bzImage"
TOOLS = ("make", "gcc", "flex", "bison", "bc", "perl")


def check_tools() -> None:
    """Before anything is built: what every kernel build needs is installed."""
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise MissingTool(", ".join(missing), "no kernel can be built")


@dataclass(frozen=True)
class Config:
    """A named config: its fragments, in order, and their merged text."""

    name: str  # "minimal", "minimal+debug", "minimal+kunit:damon"
    fragments: tuple[Path, ...]
    text: str
    own: tuple[tuple[str, str], ...] = ()  # (label, text) of fragments a test brings (a KUnit suite's)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    @property
    def slug(self) -> str:
        return f"{slug(self.name)}-{self.hash[:8]}"


def load_config(name: str, search: list[Path], extra: tuple[str, ...] = (),
                texts: tuple[tuple[str, str], ...] = ()) -> Config:
    """The config `name` ("a+b": fragment a, then b), each fragment looked up in `search` in order;
    `extra` fragments (a study's own) come next, and last the `texts` tests bring (label, text)."""
    parts = [p.strip() for p in name.split("+") if p.strip()] + list(extra)
    if not parts:
        raise UserError(f"{name!r} names no config fragment", "e.g. --configs minimal,minimal+debug.")
    paths = []
    for part in parts:
        path = next((d / f"{part}.config" for d in search if (d / f"{part}.config").exists()), None)
        if path is None:
            known = sorted({p.stem for d in search for p in d.glob("*.config")})
            raise UnknownName(f"no config fragment {part!r} (in {', '.join(str(d) for d in search)})", known,
                              "A config joins fragments with '+', e.g. minimal+debug.")
        paths.append(path)
    text = "\n".join([f"# --- {p.parent.name}/{p.name}\n{p.read_text()}" for p in paths]
                     + [f"# --- {label}\n{body}" for label, body in texts])
    plain = "+".join(p.strip() for p in name.split("+") if p.strip())
    return Config(name=plain + "".join(f"+{label}" for label, _ in texts), fragments=tuple(paths), text=text,
                  own=texts)


def axis(config: Config) -> tuple[tuple[str, str], ...]:
    """(label, text) of the fragments a config's name adds to its first (`minimal+no_page_mapcount`:
    no_page_mapcount's): what its column group is about, so every line of them must come true."""
    named = [p.strip() for p in config.name.split("+") if p.strip() and ":" not in p][1:]
    paths = {p.stem: p for p in config.fragments}
    return tuple((f"{paths[n].parent.name}/{paths[n].name}", paths[n].read_text()) for n in named if n in paths)


@dataclass(frozen=True)
class Configured:
    """A base's build directory for one config, configured."""

    config: Config
    build: Path
    config_hash: str  # of the resulting .config (comments dropped): part of every cell's identity
    unmet: tuple[str, ...] = ()  # fragment lines the base could not honour


@dataclass
class BuildResult:
    ok: bool
    seconds: float
    log: Path
    image: Path | None = None
    first_errors: list[str] = field(default_factory=list)
    recompiled: list[str] = field(default_factory=list)


def ccache_env(work_root: Path) -> dict[str, str]:
    """What makes ccache hit across worktrees: paths below `work_root` hashed relative to the
    compile's directory, the directory itself not hashed, and the cache in the workbench's cache
    unless the user has chosen one."""
    env = {"CCACHE_BASEDIR": str(work_root), "CCACHE_NOHASHDIR": "1"}
    if "CCACHE_DIR" not in os.environ:
        env["CCACHE_DIR"] = str(work_root.parent / "ccache")
    return env


def make_argv(src: Path, build: Path, jobs: int, *targets: str, variables: tuple[str, ...] = ()) -> list[str]:
    """make's argv; `variables` are command-line assignments (`GCOV_PROFILE_madvise.o=y`), which win
    over the kernel's Makefiles without touching the tree."""
    argv = ["make", "-C", str(src), f"O={build}", f"-j{jobs}", "LOCALVERSION=",
            "KBUILD_BUILD_USER=workbench", "KBUILD_BUILD_HOST=workbench",
            "KBUILD_BUILD_TIMESTAMP=Thu Jan  1 00:00:00 UTC 2026"]
    if shutil.which("ccache"):
        argv.append("CC=ccache gcc")
    return argv + list(variables) + list(targets)


@dataclass(frozen=True)
class Make:
    """`make` in one worktree's build directory, with the environment every build gets."""

    wt: Worktree
    build: Path
    jobs: int
    runner: Runner
    work_root: Path  # ccache's base_dir
    variables: tuple[str, ...] = ()  # make's command-line assignments for every build here (coverage's)

    def run(self, *targets: str, log: Path | None = None, on_line: Callable[[str], None] | None = None,
            keep_output: bool = True) -> Completed:
        argv = make_argv(self.wt.src, self.build, self.jobs, *targets, variables=self.variables)
        return self.runner.run(argv, tee=log, check=False,
                               on_line=on_line, keep_output=keep_output, env=ccache_env(self.work_root), guard=True)


def configure(make: Make, config: Config, log: Path | None = None) -> Configured:
    """Make `.config` from allnoconfig + the fragments, unless it already is exactly that at this base
    (the stamp names the base's commit too: the series slot's build directory serves every base)."""
    new = not make.build.exists()
    make.build.mkdir(parents=True, exist_ok=True)
    stamp = make.build / ".workbench-fragment"
    dotconfig = make.build / ".config"
    mark = f"{config.hash} {make.wt.base.commit}"
    if not (dotconfig.exists() and stamp.exists() and stamp.read_text().strip() == mark):
        frag = make.build / "workbench.fragment"
        frag.write_text(config.text)
        done = make.run(f"KCONFIG_ALLCONFIG={frag}", "allnoconfig", log=log)
        if not done.ok:
            raise UserError(f"could not configure {make.wt.base.name} with {config.name}: `make allnoconfig` failed",
                            "Its output:\n" + "\n".join(done.output.splitlines()[-15:]))
        said = done.output
        stamp.write_text(mark + "\n")
    else:
        said = ""  # configured before (an earlier run): what Kconfig said then is in that run's config log
    try:  # every time: a build directory configured before this check existed is checked too
        absent = check_fragments(config, dotconfig.read_text(), said,
                                 lambda names: declared(make.wt.git, make.wt.base.commit, names))
    except BadFragmentLine:
        if new:  # a refused config leaves no build directory behind
            shutil.rmtree(make.build, ignore_errors=True)
        raise
    text = dotconfig.read_text()
    own = unmet_options("\n".join(t for _, t in config.own), text)
    return Configured(config, make.build, config_hash(text), tuple(absent + own))


def config_hash(text: str) -> str:
    lines = [line for line in text.splitlines() if line and not line.startswith("# ") or _OPTION.match(line)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def check_fragments(config: Config, dotconfig: str, output: str,
                    defined: Callable[[set[str]], set[str]] = set) -> list[str]:
    """Every line of the config's fragment files is in `.config` as written: a line Kconfig cannot
    read (`CONFIG_DEBUG_VM y`) or an option the base has that Kconfig set otherwise (a missing
    dependency, a bad value) is an error that names the fragment, the line and what Kconfig made of
    it. An option the base does not have at all (`defined`: which of these names the base's Kconfig
    files declare; PROC_SYSCTL is gone in 7.x) is not an error, since one fragment serves every
    base: it is returned, to be said. (What a test brings, a .kunitconfig, is checked by its own
    caller.) The last line for an option wins, as in Kconfig."""
    have = _values(dotconfig)
    own = {label for label, _ in config.own}
    fragment, winner, problems = "", {}, []
    for number, raw in enumerate(config.text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("# --- "):
            fragment = line[len("# --- "):]
            continue
        if not line or fragment in own:
            continue
        m = _OPTION.match(line)
        if m:
            winner[m.group(1) or m.group(3)] = (fragment, line, m.group(2) if m.group(1) else "n")
        elif not line.startswith("#"):
            said = re.search(rf"workbench\.fragment:{number}:\s*(.*)", output)
            problems.append((fragment, line, "Kconfig " + (f"said: {said.group(1)}" if said else "cannot read it")
                             + f"; {_got(line, have)}"))
    unmet = {name: w for name, w in winner.items() if have.get(name, "n") != w[2].strip()}
    known = defined({n.removeprefix("CONFIG_") for n, _ in unmet.items() if n not in have}) if unmet else set()
    absent = [f"{line} ({frag}: the base has no option {name})" for name, (frag, line, _) in unmet.items()
              if name not in have and name.removeprefix("CONFIG_") not in known]
    problems += [(frag, line, f"Kconfig made it {_shown(name, have)}") for name, (frag, line, _) in unmet.items()
                 if name in have or name.removeprefix("CONFIG_") in known]
    if problems:
        frag, line, got = problems[0]
        error = BadFragmentLine(frag, line, got)
        if len(problems) > 1:
            error.message += f"; and {len(problems) - 1} more line(s): " + ", ".join(f"`{p[1]}`" for p in problems[1:4])
        raise error
    return absent


def _shown(name: str, have: dict[str, str]) -> str:
    value = have.get(name)
    return f"{name}={value}" if value not in (None, "n") else f"{name} not set" + (
        "" if value else " (the base has it, but its dependencies are missing)")


def _got(line: str, have: dict[str, str]) -> str:
    m = re.match(r"(CONFIG_\w+)", line)
    return f"so {_shown(m.group(1), have)}" if m else "so it has no effect"


def build(make: Make, log: Path, progress: Callable[[str], None] | None = None) -> BuildResult:
    """`make bzImage` in the config's build directory; never raises for a compile error."""
    recompiled: list[str] = []
    expected = _expected_steps(make.build)
    start = time.monotonic()
    last = [0.0]

    def on_line(line: str) -> None:
        m = _STEP.match(line)
        if m:
            # compiled objects by their path, every other step (LD, AR, GEN, ...) with its kind
            recompiled.append(m.group(2) if m.group(1) in ("CC", "AS") else f"{m.group(1)} {m.group(2)}")
            now = time.monotonic()
            if progress and now - last[0] > 2:
                last[0] = now
                share = f"/~{expected}" if expected else ""
                progress(f"{len(recompiled)}{share} steps, {now - start:.0f}s: {m.group(2)}")

    log.parent.mkdir(parents=True, exist_ok=True)
    done = make.run("bzImage", log=log, on_line=on_line, keep_output=False)
    image = make.build / IMAGE
    if done.ok and image.exists():
        if len(recompiled) > 200:
            (make.build / ".workbench-steps").write_text(str(len(recompiled)))
        return BuildResult(True, done.seconds, log, image=image, recompiled=recompiled)
    return BuildResult(False, done.seconds, log, first_errors=first_errors(log), recompiled=recompiled)


def drop_stale(build: Path) -> list[str]:
    """Remove from `build` every object whose source the checked-out tree no longer has (a change that
    deleted or renamed a `.c` or `.S`, or an earlier tree that added one), with its `.cmd`: make would
    otherwise keep the old object and link it, and a tree without `mm/madvise.c` would build. kbuild
    names each object's source in its `.cmd` file (`source_mm/madvise.o := ../src/mm/madvise.c`,
    relative to the build directory or absolute); `tools/` (objtool) has a build of its own, whose
    `.cmd` files name sources otherwise, and is left alone. Returns the objects removed."""
    removed = []
    for root, _dirs, files in os.walk(build):
        for name in files:
            if not (name.startswith(".") and name.endswith(".o.cmd")):
                continue
            cmd = Path(root) / name
            if os.path.relpath(root, build).split(os.sep)[0] == "tools":
                continue  # objtool and its libraries: tools/build's own .cmd files, not part of the image
            source = _source_of(cmd)
            if source is None or (build / source).exists():  # an absolute path stays absolute
                continue
            obj = cmd.with_name(name[1:-len(".cmd")])
            for path in (obj, cmd, cmd.with_name(name[:-len(".cmd")] + ".d")):
                path.unlink(missing_ok=True)
            removed.append(os.path.relpath(obj, build))
    return removed


def _source_of(cmd: Path) -> str | None:
    """The `source_X := PATH` of a kbuild `.cmd` file (its first lines), None when it has none."""
    try:
        with open(cmd, errors="replace") as fh:
            for _, line in zip(range(8), fh):
                if line.startswith("source_") and ":=" in line:
                    return line.split(":=", 1)[1].strip() or None
    except OSError:
        return None
    return None


def first_errors(log: Path, limit: int = 12) -> list[str]:
    try:
        return first_errors_in(log.read_text(errors="replace"), limit)
    except OSError:
        return []


def first_error(lines: list[str]) -> str:
    """The first line that is an error itself (`mm/madvise.c:519:3: error: ...`), not its context."""
    hits = [line.strip() for line in lines if _ERROR.search(line)]
    compiler = [line for line in hits if re.search(r":\d+(:\d+)?: (fatal )?error:", line)]
    return (compiler or hits or [""])[0]


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


def compile_object(make: Make, obj: str, extra: list[str], log: Path | None = None) -> Completed:
    """Compile one object (e.g. `mm/madvise.o` with W=1 C=1); the `.c` is touched so it really recompiles."""
    source = make.wt.src / (obj[:-2] + ".c")
    if source.exists():
        source.touch()
    return make.run(*extra, obj, log=log)


def _expected_steps(build: Path) -> int:
    try:
        return int((build / ".workbench-steps").read_text())
    except (OSError, ValueError):
        return 0
