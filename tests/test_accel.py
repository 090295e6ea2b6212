"""The KVM answer, with a fake QEMU: KVM that hangs after the BIOS, KVM that works (fast or slow),
KVM that exits with an error, and no QEMU at all (no answer, nothing remembered)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from workbench.errors import InfraError
from workbench.guest import accel
from workbench.proc import Runner
from workbench.settings import Settings

FAKE_QEMU = """#!/usr/bin/env python3
# A fake qemu-system-x86_64: SeaBIOS, then the kernel's first line after a delay that depends on
# -accel and on the mode file beside it (seconds, "hang" or "exit").
import sys, time
argv = sys.argv[1:]
which = argv[argv.index("-accel") + 1]
mode = dict(line.split("=") for line in open(sys.argv[0] + ".mode").read().split())[which]
print("SeaBIOS (version 1.16.2-debian-1.16.2-1)", flush=True)
print("Booting from ROM...", flush=True)
if mode == "exit":
    print("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x0", flush=True)
    sys.exit(1)
time.sleep(3600 if mode == "hang" else float(mode))
print("Linux version 6.12.117 (workbench@workbench) #1 SMP", flush=True)
time.sleep(3600)
"""


def fake_qemu(tmp_path: Path, tcg: str, kvm: str) -> str:
    path = tmp_path / "qemu-system-x86_64"
    path.write_text(FAKE_QEMU)
    path.chmod(0o755)
    (tmp_path / "qemu-system-x86_64.mode").write_text(f"tcg={tcg} kvm={kvm}\n")
    return str(path)


@pytest.fixture
def kvm_device(tmp_path):
    device = tmp_path / "kvm"
    device.write_text("")
    return str(device)


def answer(tmp_path: Path, tcg: str, kvm: str, device: str) -> tuple[accel.Accel, float]:
    start = time.monotonic()
    got = accel.probe(tmp_path / "bzImage", Runner(), fake_qemu(tmp_path, tcg, kvm), tmp_path / "probe", device)
    return got, time.monotonic() - start


def test_kvm_that_never_prints_a_kernel_line_is_broken_and_known_fast(tmp_path, kvm_device):
    got, seconds = answer(tmp_path, "0.3", "hang", kvm_device)
    assert got.name == "tcg" and "no kernel line within" in got.reason and "TCG printed one after" in got.reason
    assert seconds < 10


def test_kvm_that_works_is_kvm(tmp_path, kvm_device):
    got, _ = answer(tmp_path, "0.3", "0.05", kvm_device)
    assert got.name == "kvm" and "with KVM" in got.reason


def test_a_slow_or_loaded_kvm_is_not_called_broken(tmp_path, kvm_device):
    got, _ = answer(tmp_path, "0.5", "1.4", kvm_device)  # slower than TCG, within twice TCG plus 2 s
    assert got.name == "kvm"


def test_kvm_that_exits_gives_its_error(tmp_path, kvm_device):
    got, seconds = answer(tmp_path, "0.3", "exit", kvm_device)
    assert got.name == "tcg" and "exited 1" in got.reason and "failed to set MSR" in got.reason and seconds < 5


def test_no_dev_kvm_is_tcg_without_booting(tmp_path):
    got, _ = answer(tmp_path, "hang", "hang", str(tmp_path / "no-such-device"))
    assert got.name == "tcg" and got.reason == "no /dev/kvm"


def test_a_kernel_that_prints_nothing_even_under_tcg_is_no_answer(tmp_path, kvm_device, monkeypatch):
    monkeypatch.setattr(accel, "TCG_LIMIT", 1.0)
    with pytest.raises(InfraError, match="even under TCG"):
        answer(tmp_path, "hang", "0.1", kvm_device)


def test_the_answer_is_remembered_and_a_missing_qemu_is_not(tmp_path, kvm_device, monkeypatch):
    settings = Settings(cache=tmp_path / "cache")
    qemu = fake_qemu(tmp_path, "0.2", "hang")
    monkeypatch.setattr(accel, "qemu_binary", lambda: None)
    with pytest.raises(InfraError, match="not installed.*nothing is known about KVM"):
        accel.choose(settings, tmp_path / "bzImage", Runner(), lambda m: None)
    assert not (settings.cache / "accel.json").exists() and accel.known(settings) is None
    monkeypatch.setattr(accel, "qemu_binary", lambda: qemu)
    said: list[str] = []
    got = accel.choose(settings, tmp_path / "bzImage", Runner(), said.append, device=kvm_device)
    assert got.name == "tcg" and said and "KVM does not work" in said[0]
    known = accel.known(settings)
    assert known is not None and known.name == "tcg" and not known.probed
    assert json.loads((settings.cache / "accel.json").read_text())["accel"] == "tcg"


def test_a_damaged_answer_is_asked_again(tmp_path):
    settings = Settings(cache=tmp_path)
    for content in ("[1, 2]", "{not json", '{"accel": "kvm"}', '{"key": "x", "accel": "kvm"}'):
        (tmp_path / "accel.json").write_text(content)
        assert accel.known(settings) is None
