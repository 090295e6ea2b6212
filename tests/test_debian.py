"""`invoke tree --debian`: a fake linux-source package imported as an orphan commit with tags."""
from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from kernelfake import git

from workbench.errors import UserError
from workbench.kernel import debian
from workbench.kernel.tree import KernelTree
from workbench.proc import Runner
from workbench.settings import Settings

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb (Debian)")


def fake_deb(root: Path, series: str, version: str, sublevel: int) -> Path:
    """A linux-source-<series> .deb holding usr/src/linux-source-<series>.tar.xz of a tiny tree."""
    top = root / f"linux-source-{series}"
    for rel, text in {
        "Makefile": f"VERSION = {series.split('.')[0]}\nPATCHLEVEL = {series.split('.')[1]}\n"
                    f"SUBLEVEL = {sublevel}\nEXTRAVERSION =\n",
        "Kconfig": "mainmenu \"x\"\n", "init/main.c": "\n", "include/linux/kernel.h": "\n",
        "mm/Makefile": "obj-y += madvise.o\n", "mm/madvise.c": "/* */\n",
        ".gitignore": "*.o\nmodules.order\n",
        "scripts/generated.o": "ignored by the kernel's own .gitignore, tracked upstream\n",
        "modules.order": "also ignored\n",
    }.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(text)
    pkg = root / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        f"Package: linux-source-{series}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: t <t@t>\nDescription: fake\n")
    (pkg / "usr" / "src").mkdir(parents=True)
    with tarfile.open(pkg / "usr" / "src" / f"linux-source-{series}.tar.xz", "w:xz") as tf:
        tf.add(top, arcname=top.name)
    deb = root / f"linux-source-{series}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)], check=True,
                   capture_output=True)
    return deb


def install(settings: Settings, deb: Path, version: str, monkeypatch) -> None:
    (settings.cache / "debs").mkdir(parents=True, exist_ok=True)
    shutil.copy(deb, settings.cache / "debs" / deb.name)
    monkeypatch.setattr(debian, "_candidate_version", lambda series, settings, runner, progress: (version, "sid"))


def test_import_is_an_orphan_commit_with_every_file_and_three_tags(tmp_path, settings, monkeypatch):
    deb = fake_deb(tmp_path / "a", "9.9", "9.9.3-1~deb12u1", 3)
    install(settings, deb, "9.9.3-1~deb12u1", monkeypatch)
    said: list[str] = []
    imported = debian.import_debian("9.9", settings, Runner(echo=False), said.append)
    repo = settings.cache / "debian.git"
    assert imported.tags == ("v9.9", "v9.9.3", "debian/9.9.3-1_deb12u1")
    assert imported.kernelversion == "9.9.3" and not imported.already_there
    files = git(repo, "ls-tree", "-r", "--name-only", "v9.9").split()
    assert "scripts/generated.o" in files and "modules.order" in files and ".gitignore" in files
    assert git(repo, "rev-list", "--parents", "-n1", "v9.9").split() == [imported.commit]  # orphan
    assert "Kernel Patch Workbench" in git(repo, "log", "-1", "--format=%an %cn", "v9.9")
    assert any("extracting" in s for s in said)
    # idempotent: same package version, same commit, nothing redone
    again = debian.import_debian("9.9", settings, Runner(echo=False), said.append)
    assert again.already_there and again.commit == imported.commit
    # and it is the default tree
    kt = KernelTree.open(settings, Runner(echo=False))
    assert kt.resolve("v9.9").commit == imported.commit


def test_each_import_is_another_orphan_commit_in_the_same_repository(tmp_path, settings, monkeypatch):
    install(settings, fake_deb(tmp_path / "a", "9.9", "9.9.3-1", 3), "9.9.3-1", monkeypatch)
    first = debian.import_debian("9.9", settings, Runner(echo=False), lambda s: None)
    install(settings, fake_deb(tmp_path / "b", "8.1", "8.1.20-2", 20), "8.1.20-2", monkeypatch)
    second = debian.import_debian("8.1", settings, Runner(echo=False), lambda s: None)
    repo = settings.cache / "debian.git"
    assert first.commit != second.commit
    assert git(repo, "rev-parse", "v9.9").strip() == first.commit
    assert git(repo, "rev-parse", "v8.1.20").strip() == second.commit


def test_bad_series_is_a_user_error(settings):
    with pytest.raises(UserError, match="--debian wants a kernel series"):
        debian.import_debian("latest", settings, Runner(echo=False), lambda s: None)
