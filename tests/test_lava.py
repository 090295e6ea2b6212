"""The LAVA executor without a LAVA server: job definitions rendered (and checked against LAVA's
own schema where LAVA is installed), real job logs captured from the local lab (tests/data/lava/)
read back into the records a local cell gives, a fake REST server for submit, follow, collect,
the retry and the errors, the token kept out of every file, and the initramfs."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import fake_lab
import pytest
from fake_lava import FakeLava, captured

from workbench.cells import driver as driver_mod
from workbench.cells import judge
from workbench.cells.cache import CellCache
from workbench.errors import InfraError, UserError
from workbench.guest import initramfs, lava, script, tap
from workbench.guest.executor import ExitState, Handle
from workbench.kernel.selftests import TestBinaries
from workbench.lab import jobdef, joblog
from workbench.lab.api import Job
from workbench.proc import Runner
from workbench.settings import LabSettings, Settings, VmSettings
from workbench.status import Status
from workbench.testkinds import named

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "wb-test-token-3f9c0d1e2b7a"


def a_lab(url: str = "http://127.0.0.1:9/", **kw: object) -> LabSettings:
    return LabSettings(name="fake", url=url, token_env="FAKE_LAVA_TOKEN", **kw)  # type: ignore[arg-type]


def spec(tests: tuple[str, ...] = ("cow", "probe")) -> jobdef.JobSpec:
    return jobdef.JobSpec(cell="c0ffee" * 3, label="minimal/folio_mapcount", tests=tests,
                          kernel_url="file:///a/bzImage", ramdisk_url="file:///a/initramfs.cpio.gz",
                          metadata={"workbench.variant": "folio_mapcount", "workbench.config_hash": "6743f4"})


# --- the job definition ---------------------------------------------------------------------------------

def test_the_job_boots_our_initramfs_with_the_local_vm_and_watches_the_markers():
    text = jobdef.render(ROOT / "templates", spec(), a_lab(), VmSettings(memory="4G", cpus=2))
    assert "memory: 4096" in text and '"-smp 2"' in text and '"-cpu max"' in text and '"-accel tcg"' in text
    assert '"-machine q35"' in text and '"-no-reboot"' in text
    assert 'console=ttyS0,115200 printk.time=1 oops=panic panic=-1' in text
    assert '"### WORKBENCH-TEST-BEGIN cow"' in text and '"### WORKBENCH-TEST-END probe"' in text
    assert '"workbench.variant": "folio_mapcount"' in text and '"workbench.cell": "c0ffeec0ffeec0ffee"' in text
    assert "monitors:" in text and "to: tmpfs" in text
    assert "definitions" not in text and "auto_login" not in text  # no test shell, no login, no overlay
    assert "job: {seconds: 1380}" in text  # deploy 120 + boot 300 + the cell's 900 + 60


def test_the_captured_definition_is_what_the_template_renders_today():
    """tests/data/lava/job-definition-cow.yaml is the job the local lab ran (job 1)."""
    kept = (ROOT / "tests" / "data" / "lava" / "job-definition-cow.yaml").read_text()
    urls = [line.split('"')[1] for line in kept.splitlines() if "url:" in line]
    cow = jobdef.JobSpec(cell="6ed5464a74f220fed1a2", label="base", tests=("cow",), kernel_url=urls[0],
                         ramdisk_url=urls[1], metadata={f"workbench.{k}": v for k, v in (
                             ("base", "v6.12"), ("variant", "base"), ("commit", "a5fd56901eff23869c5add1feb13a62edddf8d10"),
                             ("config", "minimal"), ("config_hash", "6743f40db28c7543"))})
    now = jobdef.render(ROOT / "templates", cow, a_lab(), VmSettings())
    assert now.replace(" printk.time=1", "") == kept


@pytest.mark.skipif(not Path("/usr/lib/python3/dist-packages/lava_common/schemas").is_dir(),
                    reason="LAVA is not installed here (`invoke lab up` installs it)")
def test_lava_itself_accepts_the_job():
    text = jobdef.render(ROOT / "templates", spec(), a_lab(), VmSettings())
    check = ("import sys, yaml; from lava_common.schemas import validate; "
             "validate(yaml.safe_load(sys.stdin.read()), strict=True); print('valid')")
    done = subprocess.run(["/usr/bin/python3", "-c", check], input=text, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "valid", done.stderr[-2000:]


@pytest.mark.skipif(not Path("/usr/lib/python3/dist-packages/lava_common/schemas").is_dir(),
                    reason="LAVA is not installed here (`invoke lab up` installs it)")
def test_lava_accepts_a_job_of_run_vmtests_categories_and_kunit_suites():
    """`mm:mremap` as a monitor name was refused by the real lab ("Invalid character")."""
    text = jobdef.render(ROOT / "templates", spec(("mm:mremap", "kunit:damon")), a_lab(), VmSettings())
    assert '"workbench-mm-mremap"' in text and '"### WORKBENCH-TEST-BEGIN mm:mremap"' in text
    check = ("import sys, yaml; from lava_common.schemas import validate; "
             "validate(yaml.safe_load(sys.stdin.read()), strict=True); print('valid')")
    done = subprocess.run(["/usr/bin/python3", "-c", check], input=text, capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "valid", done.stderr[-2000:]


def test_a_kvm_lab_gets_the_device_templates_cpu_and_sizes_are_read():
    assert jobdef.qemu_options(a_lab(accel="kvm"), VmSettings(cpus=4)) == ["-machine q35", "-smp 4", "-no-reboot"]
    assert [jobdef.memory_mib(m) for m in ("4G", "512M", "2048", "1g")] == [4096, 512, 2048, 1024]
    with pytest.raises(UserError, match="double quote"):
        jobdef.append(VmSettings(append='init="/bin/sh"'))


# --- real job logs from the local lab -------------------------------------------------------------------

def job(health: str, number: int = 1) -> Job:
    return Job(id=number, state="Finished", health=health, device="qemu-01")


def read_back(name: str, health: str, tests: tuple[str, ...] = ("cow",)) -> tuple[Status, str, ExitState, str]:
    entries = joblog.parse(captured(name))
    con = joblog.console(entries)
    state, detail = lava.exit_state(job(health), joblog.failure(entries) if health != "Complete" else None, con)
    got = lava_collected(con, state, detail, tests)
    status, reason = judge.judge(got, judge.parse_tests(got, named(tests)), tests)
    return status, reason, state, detail


def lava_collected(con: str, state: ExitState, detail: str, tests: tuple[str, ...]):  # type: ignore[no-untyped-def]
    from workbench.guest.executor import Collected
    return Collected(console=con, tests={k: v for k, v in script.sections(con).items() if k in tests},
                     env=initramfs.env_from(con), state=state, reached_guest="### WORKBENCH-GUEST-START" in con,
                     seconds=20.0, detail=detail)


def test_a_real_complete_job_gives_what_a_local_cell_gives():
    entries = joblog.parse(captured("complete-cow"))
    con = joblog.console(entries)
    out = tap.parse(script.sections(con)["cow"][0], "cow", exit_code=script.sections(con)["cow"][1])
    assert out.status is Status.PASS and out.complete and len(out.cases) == 761
    assert [c.reason for c in out.cases if c.status is Status.SKIP] == ["MADV_COLLAPSE failed: Invalid argument"]
    assert initramfs.env_from(con)["swap_kb"] == "2097148" and joblog.failure(entries) is None
    status, reason, state, detail = read_back("complete-cow", "Complete")
    assert (status, reason, state, detail) == (Status.PASS, "", ExitState.FINISHED, "LAVA job 1 Complete on qemu-01")


def test_a_real_crash_is_crash_with_the_oops_though_lava_calls_it_incomplete():
    status, reason, state, detail = read_back("crash-bug_on", "Incomplete")
    assert status is Status.CRASH and reason == "kernel BUG at ../../src/mm/madvise.c:519!"
    assert state is ExitState.LOST and "Connection closed" in detail
    oops = judge.evidence(lava_collected(joblog.console(joblog.parse(captured("crash-bug_on"))), state, detail, ()))
    assert any("madvise_cold_or_pageout_pte_range" in line for line in oops)


def test_a_real_hang_is_timeout_with_the_stall_when_lavas_monitor_times_out():
    status, reason, state, detail = read_back("hang", "Incomplete")
    assert status is Status.TIMEOUT and state is ExitState.TIMED_OUT
    assert reason == "no answer from the guest while testing; the kernel reported: rcu: INFO: rcu_sched self-detected stall on CPU"
    assert "lava-test-monitor timed out after 120 seconds" in detail


def test_a_job_cancelled_from_lavas_side_is_an_infrastructure_error_in_lavas_words():
    status, reason, state, _ = read_back("canceled", "Canceled")
    assert status is Status.INFRA_ERROR and not status.is_verdict and state is ExitState.LOST
    assert "The job was canceled" in reason and "LAVA job 1 Canceled" in reason


def test_an_artifact_the_worker_cannot_fetch_is_said_as_such():
    status, _, state, detail = read_back("fetch-failed", "Incomplete")
    assert status is Status.INFRA_ERROR and state is ExitState.NOT_STARTED
    assert detail.startswith("the lab's worker could not fetch the cell's kernel or initramfs: LAVA job 1")
    assert "/srv/nowhere/" in detail and "does not exist or is not readable" in detail


def test_lines_in_yaml_only_forms_are_read():
    text = ('- {"dt": "x", "lvl": "target", "msg": "a\\ttab \\e[0m \\x41 \\N done"}\n'
            '- {"dt": "x", "lvl": "results", "msg": {"case": "file-download", "extra": {"size": ! "3568640"}}}\n'
            "not a record\n")
    target, result = joblog.parse(text)
    assert target.msg == "a\ttab \x1b[0m A \x85 done" and result.msg["extra"]["size"] == "3568640"


def test_kernel_lines_that_land_inside_a_guest_line_are_taken_out():
    lines = ["Booting from ROM..c[?7l[2J[    0.000000] Linux version 6.12.117", "### WORKBENCH-GUEST-START",
             "# [RUN] R/O GUP pin ... with si[   19.936155] clocksource: Long readout interval",
             "[   19.936170] clocksource: second line", "ngle PTE of THP (16 kB)", "ok 3 a"]
    assert joblog.untangle(lines) == [
        "Booting from ROM..c[?7l[2J", "Linux version 6.12.117", "### WORKBENCH-GUEST-START",
        "clocksource: Long readout interval", "clocksource: second line",
        "# [RUN] R/O GUP pin ... with single PTE of THP (16 kB)", "ok 3 a"]


# --- the executor against a fake LAVA -------------------------------------------------------------------

def settings_for(tmp_path: Path, url: str, **lab: object) -> Settings:
    return Settings(cache=tmp_path / "cache", lab="fake", labs={"fake": a_lab(url, **lab)})


def executor(tmp_path: Path, url: str) -> lava.LavaExecutor:
    s = settings_for(tmp_path, url)
    assert s.lab_settings is not None
    return lava.LavaExecutor(s, s.lab_settings, Runner(), poll=0.01)


def test_check_says_what_is_wrong_before_anything_is_built(tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_LAVA_TOKEN", raising=False)
    with FakeLava(TOKEN, []) as lab:
        with pytest.raises(UserError, match="FAKE_LAVA_TOKEN is not set"):
            executor(tmp_path, lab.url).check()
        monkeypatch.setenv("FAKE_LAVA_TOKEN", "not-the-token")
        with pytest.raises(UserError, match=r"refused the token in FAKE_LAVA_TOKEN \(HTTP 403.*Invalid token"):
            executor(tmp_path, lab.url).check()
        monkeypatch.setenv("FAKE_LAVA_TOKEN", TOKEN)
        executor(tmp_path, lab.url).check()
        lab.devices = [{"hostname": "bbb-01", "device_type": "beaglebone-black", "state": "Idle", "health": "Good"}]
        with pytest.raises(InfraError, match="no usable device of type 'qemu'"):
            executor(tmp_path, lab.url).check()
        url = lab.url
    with pytest.raises(InfraError, match=r"does not answer.*\n.*invoke lab up"):
        executor(tmp_path, url).check()


def fast_initramfs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def build(out, *args, **kw):  # type: ignore[no-untyped-def]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"initramfs")
        return out
    monkeypatch.setattr(initramfs, "build", build)


def drive(tmp_path: Path, ex: lava.LavaExecutor) -> list:  # type: ignore[type-arg]
    driver_mod.build_cell = fake_lab.fake_build([])  # type: ignore[assignment]
    return driver_mod.Driver(fake_lab.prepared(tmp_path), ex, CellCache(tmp_path / "cache" / "cells"), ex.settings,
                             Runner(), fake_lab.View(), record=lambda c: None, fold=False).run(fake_lab.specs()[:1])


def test_a_cancelled_job_is_submitted_once_more_and_the_token_is_in_no_file(tmp_path, monkeypatch):
    fast_initramfs(monkeypatch)
    monkeypatch.setenv("FAKE_LAVA_TOKEN", TOKEN)
    with FakeLava(TOKEN, [("Canceled", captured("canceled")), ("Complete", captured("complete-cow"))]) as lab:
        ex = executor(tmp_path, lab.url)
        ex.check()
        (base,) = drive(tmp_path, ex)
    assert base.status is Status.PASS and base.executor == "lab fake (qemu)" and base.accel == "tcg"
    assert len(base.earlier) == 1 and "LAVA job 1 Canceled on qemu-01" in base.earlier[0]
    assert base.detail == "LAVA job 2 Complete on qemu-01" and len(base.tests["cow"].cases) == 761
    cell = Path(base.dir)
    assert json.loads((cell / "handle.json").read_text())["data"]["job"] == 2
    assert {p.name for p in cell.iterdir()} >= {"job.yaml", "lava-job-1.yaml", "lava-job-2.yaml", "console.log"}
    assert '"workbench.base": "v6.12"' in lab.jobs[1]["definition"]
    assert all(auth == f"Token {TOKEN}" for _, _, auth in lab.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and not [p for p in files if TOKEN.encode() in p.read_bytes()]
    assert TOKEN not in json.dumps(ex.settings.to_mapping()) + json.dumps(base.to_json())


def test_a_killed_workbench_follows_the_submitted_job_instead_of_submitting_it_again(tmp_path, monkeypatch):
    fast_initramfs(monkeypatch)
    monkeypatch.setenv("FAKE_LAVA_TOKEN", TOKEN)
    with FakeLava(TOKEN, [("Complete", captured("complete-cow"))]) as lab:
        first = executor(tmp_path, lab.url)

        def killed(handle: Handle, number: int) -> None:
            raise KeyboardInterrupt
        monkeypatch.setattr(first, "_follow", killed)
        with pytest.raises(KeyboardInterrupt):
            drive(tmp_path, first)
        assert len(lab.jobs) == 1
        (base,) = drive(tmp_path, executor(tmp_path, lab.url))  # the same command again
        posts = [r for r in lab.requests if r[0] == "POST"]
    assert len(posts) == 1 and base.status is Status.PASS and base.detail.startswith("LAVA job 1 Complete")


def test_the_lab_waits_for_the_builds_only_where_its_guests_share_this_hosts_few_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert executor(tmp_path, "http://127.0.0.1:8000/").waits_for_builds()
    s = Settings(cache=tmp_path, lab="far", labs={"far": LabSettings("far", "https://lava.example.org/", "T",
                                                                     artifacts="http://10.0.0.5:8080")})
    assert s.lab_settings is not None and not lava.LavaExecutor(s, s.lab_settings, Runner()).waits_for_builds()
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert not executor(tmp_path, "http://127.0.0.1:8000/").waits_for_builds()


# --- settings -------------------------------------------------------------------------------------------

def test_labs_come_from_invoke_yaml_and_name_the_token_variable_never_the_token():
    s = Settings.from_mapping({"labs": {"mine": {"url": "http://lava.example.org/", "token_env": "MY_LAVA_TOKEN",
                                                 "timeouts": {"boot": 600}}}}, lab="mine")
    assert s.lab_settings == LabSettings("mine", "http://lava.example.org/", "MY_LAVA_TOKEN", boot_timeout=600)
    assert Settings.from_mapping(json.loads(json.dumps(s.to_mapping()))) == s
    with pytest.raises(UserError, match="no lab 'nosuch' is declared"):
        Settings.from_mapping({}, lab="nosuch")
    with pytest.raises(UserError, match="artifacts must be"):
        Settings.from_mapping({"labs": {"x": {"url": "http://a/", "token_env": "T", "artifacts": "ftp://a"}}})


def test_the_commands_a_run_records_say_which_lab():
    from workbench.bisect import BisectRequest
    from workbench.matrix import MatrixRequest
    assert MatrixRequest(base="v6.12", flags=(("--lab", "local"),)).command() == "invoke matrix --base v6.12 --tests cow --lab local"
    assert BisectRequest("v6.1", "v6.2", ("cow",), ("THP",), lab="local").command().endswith(" --lab local")


# --- the initramfs --------------------------------------------------------------------------------------

def newc(data: bytes) -> dict[str, tuple[int, bytes]]:
    """{path: (mode, data)} of a cpio "newc" archive."""
    out, i = {}, 0
    while True:
        fields = [int(data[i + 6 + 8 * k:i + 14 + 8 * k], 16) for k in range(13)]
        size, namesize = fields[6], fields[11]
        name = data[i + 110:i + 110 + namesize - 1].decode()
        i += 110 + namesize
        i += -i % 4
        if name == "TRAILER!!!":
            return out
        out[name] = (fields[1], data[i:i + size])
        i += size + (-size % 4)


@pytest.mark.skipif(not Path(initramfs.BUSYBOX).exists() or not shutil.which("ldd"), reason="needs busybox and ldd")
def test_the_initramfs_holds_the_guest_script_the_tests_their_libraries_and_an_init(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy("/usr/bin/true", tests / "cow")
    one, two = tmp_path / "a.cpio.gz", tmp_path / "b.cpio.gz"
    for out in (one, two):
        initramfs.build(out, tests, ("cow", "probe"), ROOT / "kbuild" / "guest.sh", VmSettings(), Runner())
    assert one.read_bytes() == two.read_bytes()  # the same inputs, the same bytes, the same name
    files = newc(gzip.decompress(one.read_bytes()))
    init = files["init"][1].decode()
    assert "/workbench/guest.sh /workbench/out /workbench/tests 2G always 16 600 cow probe" in init
    assert "mount -o bind /dev/null /dev/kmsg" in init and "poweroff -f" in init
    assert files["workbench/guest.sh"][1] == (ROOT / "kbuild" / "guest.sh").read_bytes()
    assert files["workbench/tests/cow"][1] == Path("/usr/bin/true").read_bytes() and "workbench/tests/probe" not in files
    assert files["bin/sh"][1] == b"busybox" and files["bin/bash"][1] == b"/usr/bin/bash"
    assert {"usr/bin/bash", "usr/bin/timeout", "usr/bin/stdbuf", "usr/sbin/mkswap", "lib64/ld-linux-x86-64.so.2",
            "lib/x86_64-linux-gnu/libc.so.6", "usr/libexec/coreutils/libstdbuf.so", "dev/console"} <= set(files)
    assert "lib/x86_64-linux-gnu/libgcc_s.so.1" in files  # glibc's pthread_cancel() dlopen()s it: ldd does not say


def test_a_run_vmtests_category_gets_the_whole_tests_folder(tmp_path):
    from dataclasses import replace

    from workbench.testkinds import named
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy("/usr/bin/true", tests / "cow")
    (tests / "run_vmtests.sh").write_text("#!/bin/bash\n")
    (tests / "check_config.sh").write_text("#!/bin/sh\n")
    ready = replace(fake_lab.prepared(tmp_path), sources=named(("mm:cow", "kunit:damon")),
                    binaries=TestBinaries(tests, (), "bin0"))
    assert ready.guest_files == ("check_config.sh", "cow", "run_vmtests.sh")  # the kind says: the whole folder
    assert replace(ready, sources=named(("cow", "kunit:damon"))).guest_files == ("cow",)  # at boot: no file
    out = tmp_path / "a.cpio.gz"
    initramfs.build(out, tests, ("mm:cow",), ROOT / "kbuild" / "guest.sh", VmSettings(), Runner(), ready.guest_files)
    files = newc(gzip.decompress(out.read_bytes()))
    assert {"workbench/tests/cow", "workbench/tests/run_vmtests.sh", "workbench/tests/check_config.sh"} <= set(files)
    assert not any("kunit" in f for f in files)


def carried(files: dict[str, bytes]) -> list[str]:
    """What the /init prints for `files`: a gzip'd tar in base64 between the markers, and its sha256."""
    import base64
    import hashlib
    import io
    import tarfile
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = gzip.compress(raw.getvalue())
    text = base64.b64encode(blob).decode()
    return [initramfs.FILES_BEGIN, *[text[i:i + 76] for i in range(0, len(text), 76)],
            f"{initramfs.FILES_END} {hashlib.sha256(blob).hexdigest()}  /tmp/out.tar.gz"]


def test_the_guest_scripts_files_come_back_whole_or_not_at_all():
    tapt = (ROOT / "tests" / "data" / "real" / "v6.12.117-base-cow.tap").read_bytes()
    lines = carried({"cow.tap": tapt, "cow.rc": b"0\n", "done": b"done\n"})
    got = initramfs.files_from("\n".join(["### WORKBENCH-GUEST-DONE", *lines, "reboot: Power down"]))
    assert got == {"cow.tap": tapt, "cow.rc": b"0\n", "done": b"done\n"}
    damaged = [*lines[:3], lines[3][:30] + lines[3][48:], *lines[4:]]  # what QEMU drops when LAVA's reader lags
    assert initramfs.files_from("\n".join(damaged)) is None
    assert initramfs.files_from("\n".join(lines[:-1])) is None  # cut short


def test_the_coverage_counters_come_back_in_their_folders_and_nothing_leaves_out():
    """A coverage kernel's .gcda files are in gcov/<test>/test/... of the guest's out/ folder: a lab
    cell read no counters while only top-level files came back (seen on the local lab)."""
    gcda = b"adcg*204\x00\x01"
    real = "gcov/cow/test/root/.cache/kernel-workbench/work/t/v6.12/builds/minimal_coverage-87b3d81e/mm/madvise.gcda"
    lines = carried({"cow.tap": b"1..0\n", real: gcda, "../escape": b"x", "gcov/../../up": b"x", "a//b": b"x"})
    got = initramfs.files_from("\n".join(lines))
    assert got == {"cow.tap": b"1..0\n", real: gcda}


def test_quotes_come_back_as_the_guest_printed_them():
    entries = joblog.parse('- {"dt": "x", "lvl": "target", "msg": "use \\\\\\"pci=nocrs\\\\\\" and report"}\n')
    assert joblog.console(entries) == 'use "pci=nocrs" and report\n'


def test_a_real_job_brings_the_guests_files_back_and_they_say_what_the_console_says():
    """Job 29 of the local lab: folio_mapcount's cow, with the /init's checksummed copy of out/."""
    con = joblog.console(joblog.parse(captured("complete-folio_mapcount-files")))
    files = initramfs.files_from(con)
    assert files is not None and set(files) == {"cow.tap", "cow.rc", "env.txt", "done"}
    from_files = tap.parse(files["cow.tap"].decode(), "cow", exit_code=int(files["cow.rc"]))
    text, rc = script.sections(con)["cow"]
    from_console = tap.parse(text, "cow", exit_code=rc)
    assert [(c.key, c.status) for c in from_files.cases] == [(c.key, c.status) for c in from_console.cases]
    swapped_thp = [c for c in from_files.cases if "swapped-out, PTE-mapped THP" in c.name]
    assert len(swapped_thp) == 112 and all(c.status is Status.SKIP for c in swapped_thp)  # the variant's regression
