"""Judging a cell from how the guest ended: real captured consoles and TAP, and a fake runner
that plays a crash, a hang, a hung boot and a VM that never starts."""
from __future__ import annotations

from pathlib import Path

import pytest

from workbench import cell, tap, vm
from workbench.proc import Completed
from workbench.results import Run
from workbench.settings import VmSettings
from workbench.status import Status

REAL = Path(__file__).parent / "data" / "real"


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
    splat = vm.find_splat(text)
    assert splat[0].startswith("kernel BUG at mm/madvise.c")
    assert any("madvise_cold_or_pageout_pte_range" in line for line in splat)
    assert vm.find_splat(text, vm.HANG) == []
    assert vm.BOOT_LINE.search(text)


def test_real_hang_console_is_hang_evidence_not_a_crash():
    text = (REAL / "v6.12.117-hang-console.log").read_text()
    assert vm.find_splat(text) == []  # an RCU stall is not a crash splat
    assert "stall" in vm.find_splat(text, vm.HANG)[0]


class FakeRunner:
    """Plays what vng would do: writes the console and the guest's files, then 'exits'."""

    def __init__(self, console: str, files: dict[str, str], rc: int = 0, timed_out: bool = False):
        self.console, self.files, self.rc, self.timed_out = console, files, rc, timed_out
        self.argv: list[str] = []

    def run(self, argv, *, tee=None, timeout=None, **_kw) -> Completed:
        self.argv = list(argv)
        rwdir = Path(argv[argv.index("--rwdir") + 1])
        for name, text in self.files.items():
            (rwdir / name).write_text(text)
        if tee:
            Path(tee).write_text(self.console)
        return Completed(self.argv, -9 if self.timed_out else self.rc, self.console,
                         float(timeout or 1) if self.timed_out else 12.0, self.timed_out)


BOOT = "Linux version 6.12.117 (workbench@workbench)\n"
GUEST = f"{vm.START_MARK}\n"


def play(tmp_path: Path, console: str, files: dict[str, str], **kw) -> tuple[vm.Boot, FakeRunner]:
    rwdir = tmp_path / "out"
    rwdir.mkdir()
    runner = FakeRunner(console, files, **kw)
    boot = vm.boot(Path("/boot/bzImage"), "guest.sh", rwdir, tmp_path / "console.log", VmSettings(), "tcg",
                   runner, timeout=60)
    return boot, runner


def judge(boot: vm.Boot, rwdir: Path, names=("cow",)):
    tests = {}
    for n in names:
        if (rwdir / f"{n}.tap").exists():
            rc = (rwdir / f"{n}.rc").read_text().strip() if (rwdir / f"{n}.rc").exists() else None
            tests[n] = tap.parse((rwdir / f"{n}.tap").read_text(), n, int(rc) if rc else None)
    return cell.judge(boot, tests, list(names))


def test_fake_crash_is_crash_with_its_splat_even_when_the_host_timed_out(tmp_path):
    console = (REAL / "v6.12.117-bug_on-console.log").read_text()
    boot, runner = play(tmp_path, console, {"env.txt": "swap_kb=1\n", "cow.tap": "TAP version 13\n1..3\nok 1 a\n"},
                        timed_out=True)
    assert "--disable-kvm" in runner.argv and boot.crashed
    status, reason = judge(boot, tmp_path / "out")
    assert status is Status.CRASH and reason.startswith("kernel BUG at")


def test_fake_hang_while_testing_is_timeout_with_the_stall(tmp_path):
    console = (REAL / "v6.12.117-hang-console.log").read_text()
    boot, _ = play(tmp_path, console, {"env.txt": "x=1\n", "cow.tap": "TAP version 13\n1..3\nok 1 a\n"},
                   timed_out=True)
    status, reason = judge(boot, tmp_path / "out")
    assert status is Status.TIMEOUT and "while testing" in reason and "stall" in reason


def test_fake_boot_that_hangs_is_timeout_during_boot(tmp_path):
    boot, _ = play(tmp_path, BOOT + "Freeing unused kernel image\n", {}, timed_out=True)
    status, reason = judge(boot, tmp_path / "out")
    assert boot.hung_at_boot and status is Status.TIMEOUT and "during boot" in reason


def test_fake_vm_that_never_starts_is_an_infrastructure_error(tmp_path):
    boot, _ = play(tmp_path, "qemu-system-x86_64: failed to initialize kvm\n", {}, rc=1)
    status, _ = judge(boot, tmp_path / "out")
    assert status is Status.INFRA_ERROR and not status.is_verdict


def test_fake_clean_run_takes_the_tests_status(tmp_path):
    tapt = (REAL / "v6.12.117-folio_mapcount-cow.tap").read_text()
    boot, _ = play(tmp_path, BOOT + GUEST + vm.DONE_MARK + "\n",
                   {"env.txt": "swap_kb=2097148\n", "cow.tap": tapt, "cow.rc": "0\n", "done": "done\n"})
    status, reason = judge(boot, tmp_path / "out")
    assert status is Status.PASS and reason == "" and boot.booted and boot.finished


def test_a_crashed_cell_does_not_lose_the_other_cells(tmp_path):
    run = Run(dir=tmp_path, kind="matrix", base="v6.12", commit="c" * 40, kernelversion="6.12.117",
              study="mapcount", tests=["cow"], variants=["base", "bug_on"], command="invoke matrix")
    good = cell.CellResult(identity="a", base="v6.12", variant="base", commit="c", status=Status.PASS,
                           tests={"cow": tap.parse((REAL / "v6.12.117-base-cow.tap").read_text(), "cow", 0)})
    bad = cell.CellResult(identity="b", base="v6.12", variant="bug_on", commit="d", status=Status.CRASH,
                          splat=["kernel BUG at mm/madvise.c:519!"])
    run.add(good)
    run.add(bad)
    again = Run.load(tmp_path)
    assert [(c.variant, c.status) for c in again.cells] == [("base", Status.PASS), ("bug_on", Status.CRASH)]
    assert len(again.cell("base").cases) == 761


def test_vng_command_line_is_an_argv_list():
    argv = vm.vng_argv(Path("/x/bzImage"), VmSettings(memory="4G", cpus=2), "tcg", Path("/rw"), "guest.sh a b")
    assert argv[1:3] == ["--run", "/x/bzImage"] and "--disable-kvm" in argv
    assert argv[argv.index("--append") + 1] == "oops=panic panic=-1"
    assert argv[-2:] == ["--exec", "guest.sh a b"]
    assert "--disable-kvm" not in vm.vng_argv(Path("/x"), VmSettings(), "kvm", Path("/rw"), "c")


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
