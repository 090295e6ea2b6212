"""Running external commands: argv lists only, each one logged (and echoed when asked).

`Runner.run()` runs a command to its end; `Runner.spawn()` starts one in the
background (a guest boot that overlaps the next build) and `Spawned.wait()`
ends it. Both
- append the command, its directory, exit code and duration to the runner's log
  (`commands.log` of the run folder, or the task's log in the cache),
- echo it (`$ make -C ... O=...`) when the runner is verbose,
- start the command in a session of its own (no `preexec_fn`: that is unsafe with
  threads), so a timeout, Ctrl-C or the end of the run kills its whole group;
- with `guard=True` (long commands: make, compilers, virtme-ng) start it under
  guard.py, which dies with the workbench (PR_SET_PDEATHSIG, set by the guard itself)
  and takes the whole group down with it, so no QEMU outlives the run that started it.
"""
from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .errors import CommandFailed, InfraError, Interrupted, MissingTool

GUARD = Path(__file__).with_name("guard.py")
Say = Callable[[str], None]  # a line for the user (or a command's output line): the one type every stage takes
LineFn = Say


def _not_installed(args: list[str]) -> InfraError:
    return MissingTool(args[0], f"this cannot run: {shown(args)}")


@dataclass
class Completed:
    argv: list[str]
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def shown(argv: Sequence[str]) -> str:
    return shlex.join(str(a) for a in argv)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Runner:
    """Starts processes; `log` is the commands.log they are recorded in, `echo` prints each command."""

    log: Path | None = None
    echo: bool = False
    out: LineFn = field(default=_stderr)
    registry: Path | None = None  # running process groups, killed by reap_orphans if we die
    _early: list[str] = field(default_factory=list)  # lines logged before `attach`

    def __post_init__(self) -> None:
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)

    def attach(self, log: Path) -> None:
        """Log into `log` from now on, starting with what was logged before (a run's commands.log
        gets the commands that opened the tree; a refused run never attaches, and leaves nothing)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.writelines(self._early)
        self._early.clear()
        self.log = log

    def run(self, argv: Sequence[str | os.PathLike[str]], *, cwd: Path | str | None = None,
            env: Mapping[str, str] | None = None, check: bool = True, quiet: bool = False,
            timeout: float | None = None, input: str | None = None, tee: Path | None = None,
            on_line: LineFn | None = None, keep_output: bool = True, hint: str = "",
            guard: bool = False) -> Completed:
        """Run `argv`, stderr merged into stdout; raise CommandFailed on a non-zero exit if `check`."""
        args = [os.fspath(a) for a in argv]
        full_env = self._env(env)
        self._announce(args, cwd, quiet)
        start = time.monotonic()
        proc = self._popen(args, cwd, full_env, guard, stdin=subprocess.PIPE if input is not None else None,
                           stdout=subprocess.PIPE)
        tag = self._register(proc.pid)
        chunks: list[bytes] = []
        try:
            with open(tee, "ab") if tee else contextlib.nullcontext() as teefile:
                if input is not None:
                    assert proc.stdin is not None
                    proc.stdin.write(input.encode())
                    proc.stdin.close()
                timed_out = _pump(proc, start, timeout, chunks if keep_output else None, teefile, on_line)
        except KeyboardInterrupt:
            kill_group(proc)
            raise Interrupted(f"interrupted while running: {shown(args)}",
                              "Finished results are kept on disk; run the same command again to resume.") from None
        finally:
            if tag:
                tag.unlink(missing_ok=True)
        done = Completed(args, proc.returncode if proc.returncode is not None else -9,
                         b"".join(chunks).decode(errors="replace"), time.monotonic() - start, timed_out)
        self._record(args, cwd, done)
        if check and not done.ok:
            tail = "\n".join(done.output.splitlines()[-20:])
            raise CommandFailed(args, done.returncode,
                                (f"(timed out after {timeout:.0f} s)\n" if timed_out else "") + tail, hint)
        return done

    def spawn(self, argv: Sequence[str | os.PathLike[str]], *, output: Path, rc_file: Path,
              env: Mapping[str, str] | None = None) -> Spawned:
        """Start `argv` under the guard in the background, its output into `output`; the guard writes
        the exit code and the seconds it ran into `rc_file` when the command ends."""
        args = [os.fspath(a) for a in argv]
        self._announce(args, None, False)
        if shutil.which(args[0], path=self._env(env).get("PATH")) is None:
            raise _not_installed(args)
        rc_file.unlink(missing_ok=True)
        self._record(args, None, None)
        with open(output, "ab") as fh:
            proc = subprocess.Popen([sys.executable, str(GUARD), "--rc-file", str(rc_file), *args],
                                    env={**self._env(env), "WORKBENCH_GUARD_PARENT": str(os.getpid())},
                                    stdin=subprocess.DEVNULL, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return Spawned(self, args, proc, time.monotonic(), rc_file, self._register(proc.pid))

    def daemon(self, argv: Sequence[str | os.PathLike[str]], *, output: Path,
               env: Mapping[str, str] | None = None, cwd: Path | str | None = None) -> int:
        """Start a server that outlives the workbench (the local lab's daemons): in a session of its
        own, no guard, not registered for reaping; its output into `output`. Returns its pid, which
        is also its process group (what `stop_group` ends)."""
        args = [os.fspath(a) for a in argv]
        self._announce(args, cwd, False)
        full_env = self._env(env)
        if shutil.which(args[0], path=full_env.get("PATH")) is None:
            raise _not_installed(args)
        self._record(args, cwd, None)
        with open(output, "ab") as fh:
            proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return proc.pid

    # --- pieces -----------------------------------------------------------------------------------
    @staticmethod
    def _env(env: Mapping[str, str] | None) -> dict[str, str]:
        return {**os.environ, **(env or {})}

    def _announce(self, args: list[str], cwd: Path | str | None, quiet: bool) -> None:
        if self.echo and not quiet:
            self.out(f"$ {shown(args)}" + (f"  (in {cwd})" if cwd else ""))

    def _popen(self, args: list[str], cwd: Path | str | None, env: dict[str, str], guard: bool,
               stdin: int | None, stdout: int) -> subprocess.Popen[bytes]:
        if guard and shutil.which(args[0], path=env.get("PATH")) is None:
            raise _not_installed(args)
        try:
            if guard:
                env = {**env, "WORKBENCH_GUARD_PARENT": str(os.getpid())}
            return subprocess.Popen([sys.executable, str(GUARD), *args] if guard else args, cwd=cwd, env=env,
                                    stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=stdout,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except FileNotFoundError as exc:
            raise _not_installed(args) from exc

    def _register(self, pid: int) -> Path | None:
        if self.registry is None:
            return None
        self.registry.mkdir(parents=True, exist_ok=True)
        tag = self.registry / str(pid)
        tag.write_text(f"{os.getpid()}\n")
        return tag

    def _record(self, args: list[str], cwd: Path | str | None, done: Completed | None) -> None:
        state = "started" if done is None else "timeout" if done.timed_out else f"exit {done.returncode}"
        seconds = f", {done.seconds:.1f}s" if done else ""
        line = f"{time.strftime('%H:%M:%S')} [{state}{seconds}] {'cd ' + str(cwd) + ' && ' if cwd else ''}{shown(args)}\n"
        if self.log is None:
            self._early.append(line)
            return
        with open(self.log, "a") as fh:
            fh.write(line)


@dataclass
class Spawned:
    """A command started by `Runner.spawn`, until `wait` ends it."""

    runner: Runner
    argv: list[str]
    proc: subprocess.Popen[bytes]
    start: float
    rc_file: Path
    tag: Path | None

    def wait(self, timeout: float) -> Completed:
        """Wait until the command ends or `timeout` seconds after it started; then kill its group."""
        try:
            try:
                self.proc.wait(timeout=max(0.0, timeout - (time.monotonic() - self.start)))
                timed_out = False
            except subprocess.TimeoutExpired:
                kill_group(self.proc)
                timed_out = True
        except KeyboardInterrupt:
            kill_group(self.proc)
            raise Interrupted(f"interrupted while running: {shown(self.argv)}",
                              "Finished results are kept on disk; run the same command again to resume.") from None
        finally:
            if self.tag:
                self.tag.unlink(missing_ok=True)
        done = Completed(self.argv, self.proc.returncode if not timed_out else -9, "",
                         time.monotonic() - self.start, timed_out)
        self.runner._record(self.argv, None, done)
        return done

    def stop(self, force: bool = False) -> Completed:
        """End the command now, if it still runs (then `timed_out`), and record how it ended; `force`
        kills its group at once (SIGKILL), without the few seconds of SIGTERM first."""
        running = self.proc.poll() is None
        if running and force:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        elif running:
            kill_group(self.proc)
        if self.tag:
            self.tag.unlink(missing_ok=True)
        done = Completed(self.argv, -9 if running else self.proc.returncode, "", time.monotonic() - self.start,
                         running)
        self.runner._record(self.argv, None, done)
        return done


def _pump(proc: subprocess.Popen[bytes], start: float, timeout: float | None, chunks: list[bytes] | None,
          teefile: IO[bytes] | None, on_line: LineFn | None) -> bool:
    """Copy the output to `chunks`, `teefile` and `on_line` until the process ends; True if it timed out."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    pending = b""
    fd = proc.stdout.fileno()
    while True:
        remaining = None if timeout is None else timeout - (time.monotonic() - start)
        if remaining is not None and remaining <= 0:
            kill_group(proc)
            return True
        events = sel.select(timeout=1.0 if remaining is None else min(1.0, remaining))
        if events:
            data = os.read(fd, 65536)
        elif proc.poll() is not None:
            data = _read_nonblocking(fd)  # the leader exited: drain without blocking on grandchildren
        else:
            continue
        if not data:
            break
        if chunks is not None:
            chunks.append(data)
        if teefile:
            teefile.write(data)
            teefile.flush()
        if on_line:
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line.decode(errors="replace"))
    if on_line and pending:
        on_line(pending.decode(errors="replace"))
    proc.wait()
    return False


def _read_nonblocking(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    finally:
        os.set_blocking(fd, True)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process and everything it started (it leads its own session): SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=8 if sig == signal.SIGTERM else 5)
            break
        except subprocess.TimeoutExpired:
            continue
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def reap_orphans(registry: Path) -> list[int]:
    """Kill the process groups (make, QEMU) left by a workbench run that was killed outright;
    returns their ids. Groups whose owner is still alive are left alone."""
    killed = []
    for tag in registry.glob("*") if registry.exists() else []:
        try:
            pgid, owner = int(tag.name), int(tag.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            tag.unlink(missing_ok=True)
            continue
        if alive(owner):
            continue
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
        tag.unlink(missing_ok=True)
    return killed


def _reaches(send: Callable[[int, int], None], target: int) -> bool:
    """Whether signal 0 finds `target` (a process someone else owns exists too)."""
    try:
        send(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(pid: int) -> bool:
    return _reaches(os.kill, pid)


def group_alive(pgid: int) -> bool:
    """Whether any process is left in process group `pgid`."""
    return _reaches(os.killpg, pgid)


def stop_group(pgid: int, grace: float = 20.0) -> bool:
    """End the process group `pgid` (one we started with `Runner.daemon`): SIGTERM, then SIGKILL
    after `grace` seconds. True if it had to be killed."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while group_alive(pgid) and time.monotonic() < deadline:
        _reap(pgid)
        time.sleep(0.25)
    if not group_alive(pgid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status of our own child `pid`, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
