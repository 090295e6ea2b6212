"""The LAVA executor: a lab's workers boot and test the cells; the builds stay on this host.

- `check` (before anything is built): the token is in its environment variable, the lab answers
  and takes it, and has a device of the declared type.
- `submit` publishes the cell's bzImage and an initramfs (guest/initramfs.py) under
  content-addressed names, renders the job (lab/jobdef.py), writes it to the cell's folder
  (`job.yaml`), POSTs it and saves the handle with the job's id before it returns, so a
  workbench killed at any point after that follows the job instead of submitting it again.
- `collect` follows the job (the progress view shows its id, state, device and URL) until LAVA
  says Finished, fetches its log, rebuilds the console from the log's target lines
  (`console.log` in the cell's folder, the raw log of every attempt as `lava-job-N.yaml`), puts
  the guest script's files the console carried (checksummed) into the cell's `out/`, as a local
  guest leaves them, and reads the tests there, or from their markers on the console when those
  files did not come back whole: the same parser, splat and hang detection and judge as a local
  cell. How the job ended becomes an ExitState: the guest script's done marker -> FINISHED;
  LAVA's timeout after the kernel booted -> TIMED_OUT; an artifact the worker could not fetch,
  or no kernel line at all -> NOT_STARTED; Incomplete or Canceled otherwise -> LOST; LAVA's own
  error text is the detail. A kernel that crashes makes the job Incomplete, and the judge makes it CRASH from the
  splat in the console, as locally; LAVA's health alone never decides a verdict.
- Under TCG on a host with 2 cores or fewer, a lab whose workers are on this host (artifacts over
  `file`, or a loopback URL) gets the cells only once every cell is built (`waits_for_builds`);
  otherwise up to `jobs` cells are submitted while the next ones build.
"""
from __future__ import annotations

import shutil
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .. import numa
from ..errors import InfraError
from ..lab import jobdef, joblog
from ..lab.api import LOOPBACK, Client, Job, local_token
from ..lab.artifacts import FOLDER, Publisher
from ..proc import Runner, Say
from ..records import write_atomic
from ..settings import LabSettings, Settings
from . import console, initramfs, script
from .executor import Collected, ExitState, GuestJob, Handle, Tell
from .vng import overlap_allowed

CONSOLE = "console.log"
JOB = "job.yaml"
LOG = "lava-job-{}.yaml"  # the job's raw log, one per attempt


def _quiet(label: str, stage: str, detail: str = "") -> None:
    return None


@dataclass
class LavaExecutor:
    settings: Settings
    lab: LabSettings
    runner: Runner
    name: str = "lava"
    fragments: tuple[str, ...] = ()  # minimal.config has what the initramfs boot needs (initrd, gzip, 8250)
    retries: int = 1  # a job that ends Incomplete or Canceled runs once more in the same run
    poll: float = 2.0  # seconds between two looks at a job
    client: Client | None = None
    publisher: Publisher | None = None
    _tell: Tell = field(default=_quiet, repr=False)
    _ramdisks: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.publisher is None:
            self.publisher = Publisher(self.settings.cache / FOLDER, self.lab.artifacts)

    @property
    def api(self) -> Client:
        if self.client is None:
            self.client = Client(self.lab, local_token(self.settings.cache / "lab" / "token", self.lab))
        return self.client

    @property
    def ready(self) -> bool:
        return True

    def check(self) -> None:
        initramfs.check()
        jobdef.append(self.settings.vm)  # refuses what a job's kernel argument cannot hold
        jobdef.memory_mib(self.settings.vm.memory)
        self.api.whoami()  # a wrong token fails here
        devices = [d for d in self.api.devices() if d.get("device_type") == self.lab.device_type]
        usable = [d for d in devices if d.get("health") not in ("Retired", "Maintenance", "Bad")]
        if not usable:
            held = ", ".join(f"{d.get('hostname')} ({d.get('health')})" for d in devices) or "none"
            raise InfraError(f"lab {self.lab.name!r} has no usable device of type {self.lab.device_type!r} "
                             f"(devices of that type: {held})",
                             "Add one (`invoke lab up` for the local lab), or fix device_type in the lab's declaration.")

    def prepare(self, image: Path, say: Say) -> None:
        return None

    def identity(self) -> dict[str, str]:
        return {"executor": self.name, "lab": self.lab.name, "device_type": self.lab.device_type,
                "accel": self.lab.accel, "job": jobdef.digest(self.settings.templates_dir),
                "kernel_args": jobdef.CONSOLE, "image": initramfs.digest(),
                **numa.machine(self.settings.vm, jobdef.MACHINE)}

    def describe(self) -> str:
        return f"lab {self.lab.name} ({self.lab.device_type})"

    def notes(self) -> list[str]:
        return []

    def in_flight(self) -> int:
        return max(self.lab.jobs, 1)

    def waits_for_builds(self) -> bool:
        return self.same_host() and not overlap_allowed(self.settings, self.lab.accel)

    def finished(self, handle: Handle) -> bool | None:
        return None  # asking the lab costs a request: the oldest job is collected first

    def same_host(self) -> bool:
        return self.lab.artifacts == "file" or urllib.parse.urlsplit(self.lab.url).hostname in LOOPBACK

    def attach(self, tell: Tell) -> None:
        self._tell = tell

    # --- submit ------------------------------------------------------------------------------------
    def submit(self, job: GuestJob) -> Handle:
        assert self.publisher is not None
        spec = jobdef.JobSpec(cell=job.cell, label=job.label, tests=job.tests,
                              kernel_url=self.publisher.publish(job.image, "bzImage"), ramdisk_url=self._ramdisk(job),
                              metadata={f"workbench.{k}": v for k, v in job.meta.items()})
        definition = jobdef.render(self.settings.templates_dir, spec, self.lab, job.vm)
        (job.workdir / CONSOLE).unlink(missing_ok=True)
        write_atomic(job.workdir / JOB, definition)
        number = self.api.submit(definition)
        url = self.api.job_url(number)
        handle = Handle.new(self.name, job, {"job": number, "url": url, "label": job.label, "lab": self.lab.name})
        handle.save()
        self._tell(job.label, f"job {number} submitted", url)
        return handle

    def _ramdisk(self, job: GuestJob) -> str:
        """The initramfs for the job's tests and settings: built once per process, published by content."""
        key = (str(job.testdir), *job.tests, script.digest(job.script), repr(job.vm))
        if key not in self._ramdisks:
            assert self.publisher is not None
            tmp = self.settings.cache / FOLDER / f".initramfs-{job.cell}.cpio.gz"
            initramfs.build(tmp, job.testdir, job.tests, job.script, job.vm, self.runner, job.files)
            try:
                self._ramdisks[key] = self.publisher.publish(tmp, "initramfs.cpio.gz")
            finally:
                tmp.unlink(missing_ok=True)
        return self._ramdisks[key]

    # --- collect -----------------------------------------------------------------------------------
    def collect(self, handle: Handle) -> Collected:
        assert self.publisher is not None
        self.publisher.serve()  # a job an earlier process submitted may not have fetched its files yet
        number = int(handle.data["job"])
        job, note = self._follow(handle, number)
        text = self.api.log(number)
        write_atomic(handle.workdir / LOG.format(number), text)
        entries = joblog.parse(text)
        con = joblog.console(entries)
        write_atomic(handle.workdir / CONSOLE, con)
        state, detail = exit_state(job, joblog.failure(entries) if job.health != "Complete" else None, con, note)
        guest = script.read(self._files(handle.workdir / "out", con), handle.tests, con)
        if initramfs.FILES_BEGIN in con and not guest.finished:
            detail += "; the guest's files came back damaged (the serial line lost characters): TAP from the console"
        self._tell(str(handle.data.get("label", "")), f"job {number} {job.health.lower()}", self.api.job_url(number))
        return Collected(console=con, tests=guest.tests, env=guest.env or initramfs.env_from(con), state=state,
                         reached_guest=console.START_MARK in con, seconds=_seconds(job, handle), detail=detail)

    @staticmethod
    def _files(out: Path, con: str) -> Path:
        """The guest script's files, as the console carried them, into the cell's `out/` (as a local
        guest leaves them); left empty when they did not come back whole."""
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name, data in (initramfs.files_from(con) or {}).items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
        return out

    def _follow(self, handle: Handle, number: int) -> tuple[Job, str]:
        """Poll the job until LAVA says it is Finished; cancel it (and say why) when it waits for a device
        longer than the lab's queue timeout or runs past its own job timeout."""
        label, url = str(handle.data.get("label", "")), self.api.job_url(number)
        seen, note = ("", ""), ""
        overrun = jobdef.timeouts(self.lab, self.settings.vm)["job"] + 120
        while True:
            job = self.api.job(number)
            if (job.state, job.device) != seen:
                seen = (job.state, job.device)
                self._tell(label, f"job {number} {job.state.lower()}", f"{job.device + ' ' if job.device else ''}{url}")
            if job.finished:
                return job, note
            if not note and not job.started and time.time() - handle.submitted > self.lab.queue_timeout:
                note = f"no device took it within {self.lab.queue_timeout:.0f} s (queue timeout): canceled"
                self.api.cancel(number)
            elif not note and job.started and time.time() - _epoch(job.start_time, handle.submitted) > overrun:
                note = f"still running {overrun} s after it started, past its job timeout: canceled"
                self.api.cancel(number)
            time.sleep(self.poll)


def exit_state(job: Job, failure: joblog.Failure | None, con: str, note: str = "") -> tuple[ExitState, str]:
    """How a finished job ended, as the judge needs it, and the words that say so (LAVA's own)."""
    where = f"LAVA job {job.id} {job.health}" + (f" on {job.device}" if job.device else "")
    said = note or (failure.text if failure else "") or job.failure_comment
    detail = f"{where}: {said}" if said else where
    booted = console.booted(con)
    if console.DONE_MARK in con:
        return ExitState.FINISHED, detail
    if failure is not None and failure.kind == "fetch":
        return ExitState.NOT_STARTED, f"the lab's worker could not fetch the cell's kernel or initramfs: {detail}"
    if failure is not None and failure.kind == "timeout" and booted:
        return ExitState.TIMED_OUT, detail
    if not booted:
        return ExitState.NOT_STARTED, detail
    if job.health == "Complete":
        return ExitState.STOPPED, detail
    return ExitState.LOST, detail


def _epoch(stamp: str, default: float) -> float:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return default


def _seconds(job: Job, handle: Handle) -> float:
    start = _epoch(job.start_time, handle.submitted)
    end = _epoch(job.end_time, time.time())
    return max(0.0, end - start)
