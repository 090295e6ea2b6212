"""Cells: judging a guest's end from real captured consoles and TAP; the virtme-ng executor with a
fake `vng` (collected in this process and in a second one); cell identity; the cell cache."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.cells import judge as cell
from workbench.cells.cache import CellCache
from workbench.cells.identity import CellInputs, cell_identity
from workbench.guest import console, tap
from workbench.guest.executor import Collected, ExitState, GuestJob, Handle
from workbench.guest.vng import VngExecutor, vng_argv
from workbench.proc import Runner
from workbench.records import CellResult, Run
from workbench.settings import Settings, VmSettings
from workbench.status import Status
from workbench.testkinds import named

REAL = Path(__file__).parent / "data" / "real"
ROOT = Path(__file__).resolve().parent.parent


def test_real_base_tap_swap_worked_and_one_environment_skip():
    out = tap.parse((REAL / "v6.12.117-base-cow.tap").read_text(), "cow", exit_code=0)
    assert out.status is Status.PASS and out.complete and len(out.cases) == 761
    swapped = [c for c in out.cases if "swapped-out" in c.name]
    assert swapped and all(c.status is Status.PASS for c in swapped)  # swap was really on
    skips = [c for c in out.cases if c.status is Status.SKIP]
    assert [(c.reason, c.env_skip) for c in skips] == [("MADV_COLLAPSE failed: Invalid argument", True)]


def test_real_folio_mapcount_tap_shows_the_regression_signature():
    base = {c.key: c for c in tap.parse((REAL / "v6.12.117-base-cow.tap").read_text(), "cow", 0).cases}
    var = {c.key: c for c in tap.parse((REAL / "v6.12.117-folio_mapcount-cow.tap").read_text(), "cow", 0).cases}
    assert base.keys() == var.keys()
    changed = {k for k in base if base[k].status != var[k].status}
    assert changed and all("swapped-out, PTE-mapped THP" in k for k in changed)
    assert all(var[k].status is Status.SKIP and "MADV_PAGEOUT did not work" in var[k].reason
               and not var[k].env_skip for k in changed)
    assert len(changed) == 112  # 8 THP sizes x 14 groups


def test_real_crash_console_gives_the_oops():
    text = (REAL / "v6.12.117-bug_on-console.log").read_text()
    splat = console.find_splat(text)
    assert splat[0].startswith("kernel BUG at mm/madvise.c")
    assert any("madvise_cold_or_pageout_pte_range" in line for line in splat)
    assert console.find_splat(text, console.HANG) == []
    assert console.booted(text)


def test_real_hang_console_is_hang_evidence_not_a_crash():
    text = (REAL / "v6.12.117-hang-console.log").read_text()
    assert console.find_splat(text) == []  # an RCU stall is not a crash splat
    assert "stall" in console.find_splat(text, console.HANG)[0]


# --- judging what came back ---------------------------------------------------------------------------

BOOT = "Linux version 6.12.117 (workbench@workbench)\n"
GUEST = f"{console.START_MARK}\n"
COW3 = "TAP version 13\n1..3\nok 1 a\n"


def collected(text: str, state: ExitState, tests: dict[str, tuple[str, int | None]] | None = None,
              reached: bool = True) -> Collected:
    return Collected(console=text, tests=tests or {}, env={}, state=state, reached_guest=reached, seconds=12.0,
                     detail="vng exited 1")


def verdict(c: Collected, names: tuple[str, ...] = ("cow",)) -> tuple[Status, str]:
    return cell.judge(c, cell.parse_tests(c, named(names)), names)


def test_a_crash_is_crash_with_its_splat_even_when_the_host_timed_out():
    c = collected((REAL / "v6.12.117-bug_on-console.log").read_text(), ExitState.TIMED_OUT, {"cow": (COW3, None)})
    status, reason = verdict(c)
    assert status is Status.CRASH and reason.startswith("kernel BUG at")
    assert cell.evidence(c)[0].startswith("kernel BUG at")


def test_a_hang_while_testing_is_timeout_with_the_stall():
    status, reason = verdict(collected((REAL / "v6.12.117-hang-console.log").read_text(), ExitState.TIMED_OUT,
                                       {"cow": (COW3, None)}))
    assert status is Status.TIMEOUT and "while testing" in reason and "stall" in reason


def test_a_boot_that_hangs_is_timeout_during_boot():
    status, reason = verdict(collected(BOOT + "Freeing unused kernel image\n", ExitState.TIMED_OUT, reached=False))
    assert status is Status.TIMEOUT and "during boot" in reason


def test_a_vm_that_never_starts_and_a_lost_boot_are_infrastructure_errors():
    status, reason = verdict(collected("qemu-system-x86_64: failed to initialize kvm\n", ExitState.NOT_STARTED,
                                       reached=False))
    assert status is Status.INFRA_ERROR and not status.is_verdict and "did not start (vng exited 1)" in reason
    assert reason.endswith(": qemu-system-x86_64: failed to initialize kvm")  # QEMU's reason, not only the log's
    status, reason = verdict(collected(BOOT, ExitState.LOST))
    assert status is Status.INFRA_ERROR and "lost" in reason


def test_a_guest_that_stops_early_names_the_tests_without_a_result():
    status, reason = verdict(collected(BOOT + GUEST, ExitState.STOPPED, {"cow": (COW3, 0)}), ("cow", "probe"))
    assert status is Status.INFRA_ERROR and reason.endswith("(no result for probe)")


def test_a_clean_run_takes_the_tests_status():
    tapt = (REAL / "v6.12.117-folio_mapcount-cow.tap").read_text()
    status, reason = verdict(collected(BOOT + GUEST + console.DONE_MARK, ExitState.FINISHED, {"cow": (tapt, 0)}))
    assert status is Status.PASS and reason == ""


def test_vng_command_line_is_an_argv_list():
    argv = vng_argv("/v/vng", Path("/x/bzImage"), VmSettings(memory="4G", cpus=2), "tcg", Path("/rw"), "guest.sh a")
    assert argv[:3] == ["/v/vng", "--run", "/x/bzImage"] and "--disable-kvm" in argv
    assert argv[argv.index("--append") + 1] == "oops=panic panic=-1"
    assert argv[-2:] == ["--exec", "guest.sh a"]
    assert "--disable-kvm" not in vng_argv("vng", Path("/x"), VmSettings(), "kvm", Path("/rw"), "c")


# --- the virtme-ng executor, with a fake vng ------------------------------------------------------------

FAKE_VNG = """#!/usr/bin/env python3
# A fake vng: prints a console and, like guest.sh, leaves the test's files in the --rwdir.
import sys, time
argv = sys.argv[1:]
rwdir = argv[argv.index("--rwdir") + 1]
mode = open(sys.argv[0] + ".mode").read().strip()
print("Linux version 6.12.117 (fake)", flush=True)
print("### WORKBENCH-GUEST-START", flush=True)
if mode == "hang":
    time.sleep(60)
if mode == "console-only":
    print("### WORKBENCH-TEST-BEGIN cow\\nTAP version 13\\n1..1\\nok 1 x\\n### WORKBENCH-TEST-END cow rc=0", flush=True)
else:
    open(rwdir + "/cow.tap", "w").write("TAP version 13\\n1..2\\nok 1 a\\nnot ok 2 b\\n")
    open(rwdir + "/cow.rc", "w").write("1\\n")
open(rwdir + "/env.txt", "w").write("swap_kb=2097148\\n")
open(rwdir + "/done", "w").write("done\\n")
print("### WORKBENCH-GUEST-DONE", flush=True)
"""


def fake_vng(tmp_path: Path, mode: str = "ok") -> str:
    path = tmp_path / "bin" / "vng"
    path.parent.mkdir(exist_ok=True)
    path.write_text(FAKE_VNG)
    path.chmod(0o755)
    (tmp_path / "bin" / "vng.mode").write_text(mode)
    return str(path)


def job(tmp_path: Path, timeout: float = 30) -> GuestJob:
    workdir = tmp_path / "cells" / "c0ffee"
    workdir.mkdir(parents=True)
    return GuestJob(cell="c0ffee", workdir=workdir, image=tmp_path / "bzImage", testdir=tmp_path, tests=("cow",),
                    script=ROOT / "kbuild" / "guest.sh", vm=VmSettings(timeout=timeout))


def executor(tmp_path: Path, mode: str = "ok") -> VngExecutor:
    settings = Settings(cache=tmp_path / "cache")
    return VngExecutor(settings, Runner(log=tmp_path / "commands.log"), accel="tcg", vng=fake_vng(tmp_path, mode))


def test_vng_submit_writes_the_handle_and_collect_reads_the_guest(tmp_path):
    ex = executor(tmp_path)
    handle = ex.submit(job(tmp_path))
    saved = Handle.load(handle.workdir)
    assert saved is not None and saved.cell == "c0ffee" and saved.data["accel"] == "tcg" and saved.data["pid"]
    got = ex.collect(handle)
    assert got.state is ExitState.FINISHED and got.reached_guest and got.env == {"swap_kb": "2097148"}
    out = cell.parse_tests(got, named(("cow",)))["cow"]
    assert out.status is Status.FAIL and [c.status for c in out.cases] == [Status.PASS, Status.FAIL]
    assert "[started]" in (tmp_path / "commands.log").read_text() and "[exit 0," in (tmp_path / "commands.log").read_text()


def test_vng_collect_in_a_second_process(tmp_path):
    ex = executor(tmp_path)
    handle = ex.submit(job(tmp_path))
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from workbench.guest.executor import Handle
        from workbench.guest.vng import VngExecutor
        from workbench.proc import Runner
        from workbench.settings import Settings
        ex = VngExecutor(Settings(cache=Path({str(tmp_path / 'cache')!r})), Runner(), accel="tcg")
        got = ex.collect(Handle.load(Path({str(handle.workdir)!r})))
        print(json.dumps({{"state": got.state.value, "tests": got.tests}}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    got = json.loads(done.stdout)
    assert got["state"] == "finished" and got["tests"]["cow"][1] == 1
    ex._spawned[handle.cell].wait(10)  # reap it here too


def test_vng_reads_a_test_from_the_console_when_its_files_are_missing(tmp_path):
    ex = executor(tmp_path, "console-only")
    got = ex.collect(ex.submit(job(tmp_path)))
    assert got.tests == {"cow": ("TAP version 13\n1..1\nok 1 x", 0)}


def test_vng_out_of_time_is_timed_out_and_the_guest_is_stopped(tmp_path):
    ex = executor(tmp_path, "hang")
    handle = ex.submit(job(tmp_path, timeout=2))
    got = ex.collect(handle)
    assert got.state is ExitState.TIMED_OUT and got.seconds < 20
    with pytest.raises(ProcessLookupError):
        os.kill(handle.data["pid"], 0)


def test_a_handle_whose_boot_is_gone_is_lost(tmp_path):
    workdir = tmp_path / "cell"
    workdir.mkdir()
    handle = Handle("vng", "dead", workdir, ("cow",), 0.0, 1e12, {"pid": 2 ** 22 + 12345})
    handle.save()
    got = executor(tmp_path).collect(Handle.load(workdir))  # type: ignore[arg-type]
    assert got.state is ExitState.LOST and verdict(got)[0] is Status.INFRA_ERROR


# --- identity and cache ----------------------------------------------------------------------------------

INPUTS = CellInputs(base="a" * 40, change="base", config="c1", toolchain="gcc 12", tests=("cow", "probe"),
                    binaries="b1", guest="g1", vm=VmSettings().identity(), executor={"executor": "vng", "accel": "tcg"},
                    repeat=0)


@pytest.mark.parametrize("field,value", [
    ("base", "b" * 40), ("change", "tree0"), ("config", "c2"), ("toolchain", "gcc 13"), ("tests", ("cow",)),
    ("tests", ("probe", "cow")), ("binaries", "b2"), ("guest", "g2"), ("vm", {**VmSettings().identity(), "zram": "1G"}),
    ("executor", {"executor": "vng", "accel": "kvm"}), ("repeat", 1)])
def test_each_input_changes_the_identity(field, value):
    assert cell_identity(dataclasses.replace(INPUTS, **{field: value})) != cell_identity(INPUTS)


def test_the_identity_of_given_inputs_is_the_one_cells_cached_before_the_test_kind_seam_carry():
    # computed with the code at af1fa67 (before the seam): a field added to CellInputs must hash as
    # before at its default, or every finished cell would run again
    assert cell_identity(INPUTS) == "6c3db1df5ae8d994f06c"


def test_nothing_else_changes_the_identity():
    again = CellInputs(**dataclasses.asdict(INPUTS) | {"tests": ("cow", "probe")})
    assert cell_identity(again) == cell_identity(INPUTS) and len(cell_identity(INPUTS)) == 20
    # the timeouts are how long to wait, not what the cell is
    assert VmSettings(timeout=5, test_timeout=5).identity() == VmSettings().identity()


def test_the_cache_keeps_a_verdict_and_not_an_infrastructure_error(tmp_path):
    cache = CellCache(tmp_path)
    for identity, status in (("v1", Status.FAIL), ("v2", Status.CRASH), ("i1", Status.INFRA_ERROR)):
        cache.fresh(identity)
        cache.put(CellResult(identity=identity, base="v6.12", variant="base", commit="c", status=status))
    assert cache.get("v1").status is Status.FAIL and cache.get("v1").cached  # type: ignore[union-attr]
    assert cache.get("v2").status is Status.CRASH  # type: ignore[union-attr]
    assert cache.get("i1") is None and cache.get("never") is None
    (tmp_path / "v1" / "cell.json").write_text("{not json")
    assert cache.get("v1") is None
    assert (cache.fresh("i1") / ".").exists() and not list(cache.fresh("i1").iterdir())


def test_a_crashed_cell_does_not_lose_the_other_cells(tmp_path):
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.117",
              study="mapcount", tests=["cow"], variants=["base", "bug_on"], command="invoke matrix")
    good = CellResult(identity="a", base="v6.12", variant="base", commit="c", status=Status.PASS,
                      tests={"cow": tap.parse((REAL / "v6.12.117-base-cow.tap").read_text(), "cow", 0)})
    bad = CellResult(identity="b", base="v6.12", variant="bug_on", commit="d", status=Status.CRASH,
                     splat=["kernel BUG at mm/madvise.c:519!"])
    run.add(good)
    run.save()
    run.add(bad)
    run.save()
    again = Run.load(tmp_path)
    assert [(c.variant, c.status) for c in again.cells] == [("base", Status.PASS), ("bug_on", Status.CRASH)]
    assert len(again.cell("base").cases) == 761  # type: ignore[union-attr]


@pytest.mark.parametrize("statuses,expected", [
    ([Status.PASS, Status.SKIP], Status.PASS),
    ([Status.SKIP, Status.SKIP], Status.SKIP),
    ([Status.PASS, Status.FAIL], Status.FAIL),
    ([Status.TIMEOUT, Status.CRASH], Status.CRASH),
    ([Status.FAIL, Status.TIMEOUT], Status.TIMEOUT),
    ([], Status.NO_TESTS),
])
def test_precedence(statuses, expected):
    from workbench.status import combine
    assert combine(statuses) is expected
