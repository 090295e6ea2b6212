"""`invoke shell`: a shell in a column's kernel, in the guest a cell gets.

The column (the base or a study variant, at one config) is built the way a cell is built: its
commit checked out in the base's worktree and made in the config's build directory, so a kernel
the last run left there costs a relink check, not a build. It boots under virtme-ng with the VM
settings a cell has, and `kbuild/shell.sh` is the guest's shell: it runs the cells' own guest
script with no test (swap on zram, THP, hugetlb pages, debugfs, the test binaries copied to a
tmpfs, all recorded in `env.txt`), then starts an interactive bash in that folder with the test
binaries on the PATH. Commands given on a standard input that is not a terminal
(`echo cow | invoke shell ...`, `invoke shell ... < steps.sh`) run there instead, as a bash script,
and the guest ends with the script's exit code: the same guest, for scripts and for tests of
this command. guest.sh is not changed for this: its bytes are part of every cell's
identity, and a set-up-only mode would be a change of every cached cell; with no test named it
already does only the set-up.

`--gdb` boots with virtme-ng's `--debug` (QEMU's gdb server on localhost:1234, QMP); gdb attaches
from another terminal with `vng --gdb` run in the build directory (or the gdb command printed).
gdb needs a kernel with debug information: a config with `kbuild/gdb.config` (`minimal+gdb`);
any other is refused before anything is built.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cells import setup
from .cells.build import build_cell
from .cells.plan import plan
from .errors import MissingTool, UserError
from .guest import vng as vng_mod
from .kernel import kbuild
from .kernel.tree import KernelTree
from .proc import Runner, Say
from .records import BASE
from .settings import Settings, VmSettings
from .study import commits
from .study.model import load as load_study

SCRIPT = "shell.sh"
GDB_PORT = 1234  # virtme-ng's --debug: QEMU's gdb server (virtme-run --gdb-server's default)
DEBUG_INFO = "CONFIG_DEBUG_INFO=y"


@dataclass(frozen=True)
class ShellRequest:
    base: str
    variant: str = BASE
    config: str | None = None  # one config (default: the settings' first)
    tests: tuple[str, ...] | None = None  # the test binaries on the PATH (default: the settings')
    tree: str | None = None
    gdb: bool = False
    commands: str | None = None  # a script to run in the guest instead of the interactive bash


@dataclass(frozen=True)
class Booted:
    """What the shell boots: the kernel copied out of the build directory, and where it came from."""

    image: Path
    build: Path  # the config's build directory (its vmlinux is the booted kernel's, for gdb)
    testdir: Path
    folder: Path  # the session's folder: the image, the guest's out/, the wrapper
    accel: str
    label: str


def shell(req: ShellRequest, settings: Settings, say: Say) -> int:
    """Build (or find built) the column's kernel, boot it and hand the terminal to the guest's
    shell; the guest's exit ends it. Returns vng's exit code."""
    booted = prepare(req, settings, say)
    vng = vng_mod.vng_path()
    wrapper = write_wrapper(booted.folder, settings.kbuild_dir / SCRIPT, booted.testdir, settings.vm, req.commands)
    argv = shell_argv(vng, booted.image, settings.vm, booted.accel, booted.folder / "out", wrapper, req.gdb,
                      scripted=req.commands is not None)
    say(f"booting {booted.label} ({booted.accel}); "
        + ("the given commands run, then the guest ends" if req.commands is not None
           else "`exit` or Ctrl-D in the guest ends it"))
    if req.gdb:
        say(gdb_hint(booted.build, Path(vng)))
    log = settings.task_log("shell")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:  # the terminal is the user's: vng runs in the foreground, not under the Runner
        f.write("$ " + shlex.join(argv) + "\n")
    stdin = subprocess.DEVNULL if req.commands is not None else None  # the script is in the wrapper
    return subprocess.call(argv, env={**os.environ, **vng_mod.vng_env(vng)}, stdin=stdin)


def prepare(req: ShellRequest, settings: Settings, say: Say) -> Booted:
    """Everything that can refuse first, then the column built in the base's worktree (locked)."""
    if settings.lab is not None:
        raise UserError(f"`invoke shell` boots on this host; the lab {settings.lab!r} gives no terminal",
                        "Leave --lab (or `lab:` in invoke.yaml) out for the shell.")
    if req.gdb and not shutil.which("gdb"):
        raise MissingTool("gdb", "nothing can attach to the guest (Debian: apt-get install gdb)")
    runner = Runner(log=settings.task_log("shell"), echo=settings.verbose, out=say)
    study = load_study(settings.templates_dir, settings.study)
    if req.variant != BASE:
        study.variant(req.variant)  # an unknown variant is refused here
    executor = vng_mod.VngExecutor(settings, runner)
    executor.check()
    kt = KernelTree.open(settings, runner, Path(req.tree).expanduser() if req.tree else None)
    base = kt.resolve(req.base)
    tests = setup.tests(kt, base, req.tests, study, settings, say)
    configs = setup.configs(settings, (req.config,) if req.config else None, study, executor, tests.config)
    if len(configs) > 1:
        raise UserError(f"--config {req.config}: one config for a shell, not {len(configs)}",
                        "e.g. --config minimal+gdb.")
    kbuild.check_tools()
    ps = commits.render_all(kt, study, base, [req.variant])  # [base]: no variant
    folder = settings.cache / "shells" / f"{base.slug}-{req.variant}-{configs[0].name}"
    folder.mkdir(parents=True, exist_ok=True)
    with kt.worktree(base, "shell") as wt:
        ps = commits.commit_all(kt, study, ps, settings.patches_dir)
        spec = next(s for s in plan(kt.clone, ps, [req.variant], False, [configs[0].name], 1).specs
                    if s.variant in (req.variant, BASE))
        ready = setup.prepared(kt, wt, configs, tests, executor, settings, runner, folder, say)
        build = ready.configs[configs[0].name].build
        if req.gdb:
            check_debug_info(build / ".config", configs[0].name)
        say(f"building {spec.variant} at {base.name} ({configs[0].name}): a kernel built before costs a relink check")
        built = build_cell(ready, spec, runner, folder)
        if not req.gdb:  # gdb lists the worktree's sources: they stay the column's until the next run
            wt.checkout(base.commit)
    if built.image is None:
        raise UserError(f"{spec.variant} at {base.name} does not build ({configs[0].name}): "
                        + "; ".join(e.strip() for e in built.result.first_errors[:2]), f"See {folder / 'build.log'}.")
    executor.prepare(built.image, say)
    same = " (same code as base: the base's kernel)" if spec.variant != req.variant else ""
    return Booted(built.image, build, ready.binaries.dir, folder, executor.accel or "tcg",
                  f"{req.variant} at {base.name}, {configs[0].name}{same}")


def check_debug_info(config: Path, name: str) -> None:
    """gdb needs DWARF: the configured .config must say CONFIG_DEBUG_INFO=y."""
    try:
        lines = config.read_text().splitlines()
    except OSError:
        lines = []
    if DEBUG_INFO not in lines:
        raise UserError(f"--gdb: the config {name} has no debug information (no {DEBUG_INFO} in its .config), so "
                        "gdb would see no symbols or lines",
                        f"Add the gdb fragment: --config {name}+gdb (kbuild/gdb.config; its own build directory, "
                        "a full build the first time).")


def write_wrapper(folder: Path, script: Path, testdir: Path, vm: VmSettings, commands: str | None = None) -> Path:
    """The guest's shell (virtme-ng's --shell takes a program, not a command line): a two-line
    script that runs shell.sh with the cell's guest settings (and the given commands' script)."""
    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # the last session's env.txt and done
        if old.is_file():
            old.unlink()
    args = [str(script), str(out), str(testdir), vm.zram, vm.thp, str(vm.hugetlb_2m), str(int(vm.test_timeout))]
    if commands is not None:
        steps = folder / "commands.sh"
        steps.write_text(commands if commands.endswith("\n") else commands + "\n")
        args.append(str(steps))
    wrapper = folder / "guest-shell"
    wrapper.write_text("#!/bin/bash\nexec " + shlex.join(args) + "\n")
    wrapper.chmod(0o755)
    return wrapper


def shell_argv(vng: str, image: Path, vm: VmSettings, accel: str, rwdir: Path, wrapper: Path,
               gdb: bool = False, scripted: bool = False) -> list[str]:
    """vng as a cell runs it, but interactive: the wrapper as the guest's shell, no --exec. Piped
    commands (`scripted`) run as --exec instead: virtme-ng hands an --exec script's exit code back
    through its own serial port and ends with it, where a --shell session always ends with 0."""
    argv = [vng, "--run", str(image), "--force-9p", *vng_mod.guest_args(vm), "--rwdir", str(rwdir),
            "--exec" if scripted else "--shell", str(wrapper)]
    if accel == "tcg":
        argv.append("--disable-kvm")
    return argv + (["--debug"] if gdb else [])


def gdb_hint(build: Path, vng: Path) -> str:
    """How to attach: virtme-ng's own `vng --gdb` in the build directory (it runs its helpers from
    the PATH, so the venv's bin goes first), or the gdb command it runs."""
    return (f"gdb: in another terminal, `cd {build} && PATH={vng.parent}:$PATH {vng.name} --gdb` (virtme-ng's), "
            "or\n"
            f"  gdb -q -iex {shlex.quote('add-auto-load-safe-path ' + str(build))} "
            f"-ex {shlex.quote(f'target remote localhost:{GDB_PORT}')} {build / 'vmlinux'}\n"
            "  then e.g. `break madvise_cold_or_pageout_pte_range`, `continue`, and in the guest: cow")

