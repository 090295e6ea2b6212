"""Running external commands: argv lists only, each one echoed and logged.

`Runner.run()` is the single way the workbench starts a process. It
- echoes the command (`$ make -C ... O=...`) unless told to be quiet,
- appends the command, its directory, exit code and duration to
  `<log_dir>/commands.log` when the runner has a log directory,
- can tee the output to a file and hand each line to a callback (progress),
- enforces a timeout and kills the whole process group when it runs out, when
  the user presses Ctrl-C, or when the workbench itself dies (PR_SET_PDEATHSIG);
  with `guard=True` the command runs under guard.py, which passes that death on to
  the whole group, so no QEMU under virtme-ng outlives the run that started it.
"""
from __future__ import annotations

import ctypes
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from .errors import CommandFailed, Interrupted, InfraError

_PR_SET_PDEATHSIG = 1
_GUARD = Path(__file__).with_name("guard.py")


def _not_installed(args: list[str]) -> InfraError:
    return InfraError(
        f"{args[0]} is not installed (needed for: {shown(args)})",
        "Run `invoke setup` to install what the workbench needs, then `invoke doctor` to check.",
    )


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        # SIGTERM, not SIGKILL: make then deletes the half-written object it was building.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


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


@dataclass
class Runner:
    """Starts processes; `log_dir` collects commands.log, `echo` prints each command."""

    log_dir: Path | None = None
    echo: bool = True
    out: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr, flush=True))
    registry: Path | None = None  # records running process groups, to kill them if we die (reap_orphans)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        quiet: bool = False,
        timeout: float | None = None,
        input: str | None = None,
        tee: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        keep_output: bool = True,
        hint: str = "",
        guard: bool = False,
    ) -> Completed:
        """Run `argv`; merge stderr into stdout; raise CommandFailed on a non-zero exit if `check`.
        `guard`: start it under guard.py, so that its grandchildren (QEMU under virtme-ng)
        die with the workbench too, even when the workbench is killed outright."""
        args = [os.fspath(a) for a in argv]
        if self.echo and not quiet:
            where = f"  (in {cwd})" if cwd else ""
            self.out(f"$ {shown(args)}{where}")
        full_env = None
        if env is not None:
            full_env = dict(os.environ)
            full_env.update(env)
        start = time.monotonic()
        if guard and shutil.which(args[0], path=(full_env or os.environ).get("PATH")) is None:
            raise _not_installed(args)
        try:
            proc = subprocess.Popen(
                [sys.executable, str(_GUARD), *args] if guard else args,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        except FileNotFoundError as exc:
            raise _not_installed(args) from exc
        tag = self._register(proc.pid)
        chunks: list[bytes] = []
        timed_out = False
        teefile = open(tee, "ab") if tee else None
        try:
            if input is not None:
                assert proc.stdin is not None
                proc.stdin.write(input.encode())
                proc.stdin.close()
            timed_out = self._pump(proc, start, timeout, chunks, teefile, on_line, keep_output)
        except KeyboardInterrupt:
            _kill_group(proc)
            raise Interrupted(
                f"interrupted while running: {shown(args)}",
                "Finished results are kept on disk; run the same command again to resume.",
            )
        finally:
            if teefile:
                teefile.close()
            if tag:
                tag.unlink(missing_ok=True)
        seconds = time.monotonic() - start
        output = b"".join(chunks).decode(errors="replace")
        rc = proc.returncode if proc.returncode is not None else -9
        self._log(args, cwd, rc, seconds, timed_out)
        done = Completed(args, rc, output, seconds, timed_out)
        if check and not done.ok:
            tail = "\n".join(output.splitlines()[-20:])
            if timed_out:
                tail = f"(timed out after {timeout:.0f} s)\n" + tail
            raise CommandFailed(args, rc, tail, hint)
        return done

    def _pump(self, proc, start, timeout, chunks, teefile, on_line, keep_output) -> bool:
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        pending = b""
        fd = proc.stdout.fileno()
        while True:
            remaining = None if timeout is None else timeout - (time.monotonic() - start)
            if remaining is not None and remaining <= 0:
                _kill_group(proc)
                proc.wait()
                return True
            events = sel.select(timeout=1.0 if remaining is None else min(1.0, remaining))
            if not events:
                if proc.poll() is not None:
                    # The leader exited; drain what is left without blocking on grandchildren.
                    data = _read_nonblocking(fd)
                    if not data:
                        break
                else:
                    continue
            else:
                data = os.read(fd, 65536)
                if not data:
                    break
            if keep_output:
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

    def _register(self, pid: int) -> Path | None:
        if self.registry is None:
            return None
        self.registry.mkdir(parents=True, exist_ok=True)
        tag = self.registry / str(pid)
        tag.write_text(f"{os.getpid()}\n")
        return tag

    def _log(self, args, cwd, rc, seconds, timed_out) -> None:
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state = "timeout" if timed_out else f"exit {rc}"
        with open(self.log_dir / "commands.log", "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} [{state}, {seconds:.1f}s] "
                     f"{'cd ' + str(cwd) + ' && ' if cwd else ''}{shown(args)}\n")


def _read_nonblocking(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    finally:
        os.set_blocking(fd, True)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the process and everything it started (it leads its own session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


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
        if _alive(owner):
            continue
        try:
            os.killpg(pgid, signal.SIGKILL)
            killed.append(pgid)
        except (ProcessLookupError, PermissionError):
            pass
        tag.unlink(missing_ok=True)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
