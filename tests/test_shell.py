"""`invoke shell`: the vng command line of an interactive guest, the guest's shell script (run here
with a stand-in for guest.sh: the real one would set up this host's swap and THP), and what is
refused before anything is built."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from workbench import shell
from workbench.errors import MissingTool, UserError
from workbench.settings import PROJECT_ROOT, Settings, VmSettings

KBUILD = PROJECT_ROOT / "kbuild"


def test_the_guest_is_interactive_with_the_wrapper_as_its_shell(tmp_path):
    argv = shell.shell_argv("/v/vng", Path("/x/bzImage"), VmSettings(), "tcg", Path("/s/out"), Path("/s/guest-shell"))
    assert argv[:3] == ["/v/vng", "--run", "/x/bzImage"] and "--exec" not in argv
    assert argv[argv.index("--shell") + 1] == "/s/guest-shell" and argv[argv.index("--rwdir") + 1] == "/s/out"
    assert "--disable-kvm" in argv and "--debug" not in argv
    gdb = shell.shell_argv("vng", Path("/x"), VmSettings(), "kvm", Path("/o"), Path("/w"), gdb=True)
    assert "--debug" in gdb and "--disable-kvm" not in gdb


def test_piped_commands_boot_as_an_exec_script_whose_exit_code_vng_hands_back():
    argv = shell.shell_argv("vng", Path("/x"), VmSettings(), "tcg", Path("/o"), Path("/s/guest-shell"), scripted=True)
    assert argv[argv.index("--exec") + 1] == "/s/guest-shell" and "--shell" not in argv


def test_the_wrapper_runs_shell_sh_with_the_cells_guest_settings(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "done").write_text("done\n")  # the last session's
    vm = VmSettings(zram="1G", thp="madvise", hugetlb_2m=8)
    wrapper = shell.write_wrapper(tmp_path, KBUILD / "shell.sh", Path("/t/tests"), vm)
    assert wrapper.read_text() == (f"#!/bin/bash\nexec {KBUILD / 'shell.sh'} {tmp_path / 'out'} /t/tests 1G madvise 8 "
                                   f"{int(vm.test_timeout)}\n")
    assert wrapper.stat().st_mode & 0o111 and not (tmp_path / "out" / "done").exists()


def test_shell_sh_sets_up_with_guest_sh_and_leaves_the_user_in_the_tests_folder(tmp_path):
    """shell.sh as the guest runs it, beside a stand-in guest.sh that records its arguments and
    makes the tests' folder the way the real one does (env.txt's test_dir)."""
    here = tmp_path / "kbuild"
    here.mkdir()
    shutil.copy(KBUILD / "shell.sh", here / "shell.sh")
    work = tmp_path / "work"
    (here / "guest.sh").write_text(f'#!/bin/bash\necho "$@" > {tmp_path}/args\nmkdir -p {work}\n'
                                   f'printf "swap_kb=2097148\\nthp_enabled=[always]\\ntest_dir={work}\\n" > "$1/env.txt"\n')
    (here / "guest.sh").chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([str(here / "shell.sh"), str(out), "/t", "2G", "always", "16", "600"], input="pwd\necho $PATH\n",
                          capture_output=True, text=True, timeout=30, check=False)
    assert (tmp_path / "args").read_text().split() == [str(out), "/t", "2G", "always", "16", "600"]  # no test: set-up only
    lines = done.stdout.splitlines()
    assert lines[0].startswith("workbench shell: Linux") and "swap 2097148 kB on zram; THP [always]" in lines[0]
    assert str(work) in lines and any(line.startswith(f"{work}:{work}/.workbench-bin:") for line in lines)


def test_piped_commands_become_the_guests_script_and_its_exit_code_ends_the_guest(tmp_path):
    """`echo ... | invoke shell`: the wrapper names the commands' script; shell.sh sets up as for an
    interactive session (guest.sh gets the same six arguments), runs the script in the tests' folder
    and exits with its code, without reading the terminal."""
    wrapper = shell.write_wrapper(tmp_path, KBUILD / "shell.sh", Path("/t/tests"), VmSettings(), "pwd\nexit 3")
    assert (tmp_path / "commands.sh").read_text() == "pwd\nexit 3\n"
    assert wrapper.read_text().rstrip().endswith(f" {tmp_path / 'commands.sh'}")
    here, work, out = tmp_path / "kbuild", tmp_path / "work", tmp_path / "out"
    here.mkdir()
    shutil.copy(KBUILD / "shell.sh", here / "shell.sh")
    (here / "guest.sh").write_text(f'#!/bin/bash\necho "$@" > {tmp_path}/args\nmkdir -p {work}\n'
                                   f'printf "test_dir={work}\\n" > "$1/env.txt"\n')
    (here / "guest.sh").chmod(0o755)
    done = subprocess.run([str(here / "shell.sh"), str(out), "/t", "2G", "always", "16", "600",
                           str(tmp_path / "commands.sh")], input="echo not-read\n",
                          capture_output=True, text=True, timeout=30, check=False)
    assert (tmp_path / "args").read_text().split() == [str(out), "/t", "2G", "always", "16", "600"]
    assert done.returncode == 3 and str(work) in done.stdout.splitlines() and "not-read" not in done.stdout


def test_gdb_needs_a_config_with_debug_information(tmp_path):
    config = tmp_path / ".config"
    config.write_text("CONFIG_64BIT=y\n# CONFIG_DEBUG_KERNEL is not set\n")
    with pytest.raises(UserError, match=r"(?s)no debug information .* --config minimal\+gdb"):
        shell.check_debug_info(config, "minimal")
    config.write_text("CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_INFO=y\n")
    shell.check_debug_info(config, "minimal+gdb")
    fragment = (KBUILD / "gdb.config").read_text().splitlines()
    assert "CONFIG_DEBUG_KERNEL=y" in fragment and "CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y" in fragment


def test_refused_before_anything_is_built(settings: Settings, monkeypatch):
    on_lab = Settings.from_mapping({"cache": str(settings.cache), "lab": "local",
                                    "labs": {"local": {"url": "http://127.0.0.1:8000/", "token_env": "T"}}})
    with pytest.raises(UserError, match="boots on this host"):
        shell.prepare(shell.ShellRequest(base="v6.12"), on_lab, print)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(MissingTool, match="gdb is not installed"):
        shell.prepare(shell.ShellRequest(base="v6.12", gdb=True), settings, print)
    assert not (settings.cache / "shells").exists()


def test_guest_sh_is_not_changed_for_the_shell():
    """Its bytes are part of every cell's identity: the shell's set-up goes through it unchanged."""
    assert "shell" not in (KBUILD / "guest.sh").read_text()


def test_the_gdb_hint_puts_the_venv_first_for_vng_and_names_the_build():
    hint = shell.gdb_hint(Path("/b/minimal_gdb-1"), Path("/w/.venv/bin/vng"))
    assert "cd /b/minimal_gdb-1 && PATH=/w/.venv/bin:$PATH vng --gdb" in hint
    assert "-ex 'target remote localhost:1234' /b/minimal_gdb-1/vmlinux" in hint
