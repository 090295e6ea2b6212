"""The guest image a lab boots: an initramfs built on this host, so a worker needs no root
filesystem and no libguestfs (LAVA's `deploy: to: tmpfs` with a kernel and a ramdisk).

It holds busybox (the shell and the small tools), the host's own copies of what the guest script
relies on beyond busybox (bash, coreutils' timeout and stdbuf, util-linux's mountpoint, mkswap
and swapon: the programs a virtme-ng guest gets from the host's root filesystem), the test
binaries, every shared library those need (read with `ldd`), the guest script, and an /init that
runs the guest script with the cell's settings, prints what it recorded (`env.txt`) on the
console between markers, then every file the guest script left (`out/`: the tests' TAP and exit
codes, env.txt, done) as a checksummed gzip'd tar in base64, and powers the guest off.
Everything reaches the host through the serial console, so a lab's job log alone gives the
results: `files_from()` gets the guest's files back byte for byte, as virtme-ng's shared folder
gives them locally; when the serial line lost characters on the way (QEMU drops them when the
lab's reader falls behind, on a loaded host), the checksum says so and the TAP is read from the
console instead (guest/script.py reads either).

The archive is written here (cpio "newc", gzip), sorted, owned by root, with time 0: the same
inputs give the same bytes, hence the same content-addressed name.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import os
import re
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError
from ..proc import Runner
from ..settings import VmSettings
from . import script

BUSYBOX = "/bin/busybox"
HOST_PROGRAMS = ("bash", "timeout", "stdbuf", "mountpoint", "mkswap", "swapon")
HOST_FILES = ("/usr/libexec/coreutils/libstdbuf.so",)  # stdbuf preloads it from this path
# Libraries a library loads with dlopen(), which ldd cannot list: glibc's pthread_cancel() and
# pthread_exit() unwind through libgcc_s (without it the migration selftest's threads die:
# "libgcc_s.so.1 must be installed for pthread_cancel to work").
DLOPENED = {"libc.so.6": ("libgcc_s.so.1",)}
ROOT = "/workbench"
ENV_BEGIN, ENV_END = "### WORKBENCH-ENV-BEGIN", "### WORKBENCH-ENV-END"
FILES_BEGIN, FILES_END = "### WORKBENCH-FILES-BEGIN", "### WORKBENCH-FILES-END"
INIT = f"""#!/bin/sh
# /init of the workbench's initramfs (workbench/guest/initramfs.py): mount what the guest script
# needs, run it with the cell's settings, print what it recorded, power the guest off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# The kernel writes to the serial console at once while the script's own output waits in the
# tty's buffer, so a marker written to /dev/kmsg lands inside a line of TAP still being sent.
# The console carries the script's own markers; here its /dev/kmsg writes go nowhere.
mount -o bind /dev/null /dev/kmsg
mkdir -p {ROOT}/out
@COMMAND@
echo "{ENV_BEGIN}"
cat {ROOT}/out/env.txt
echo "{ENV_END}"
tar -C {ROOT}/out -cf /tmp/out.tar . && gzip -9 /tmp/out.tar
echo "{FILES_BEGIN}"
base64 /tmp/out.tar.gz
echo "{FILES_END} $(sha256sum /tmp/out.tar.gz)"
sync
sleep 1  # let the tty send what it holds: poweroff stops the VM at once
poweroff -f
while :; do sleep 60; done
"""
_LDD = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


def digest() -> str:
    """What of the image's making can change a result (part of a lab cell's identity)."""
    return hashlib.sha256((INIT + " ".join(HOST_PROGRAMS)).encode()).hexdigest()[:16]


def check() -> None:
    missing = [p for p in (BUSYBOX,) if not Path(p).exists()]
    missing += [p for p in HOST_PROGRAMS if not shutil.which(p, path="/usr/sbin:/usr/bin:/sbin:/bin")]
    if missing:
        raise InfraError(f"the lab's initramfs needs {', '.join(missing)} on this host",
                         "Install them: apt-get install busybox-static coreutils util-linux bash.")


@dataclass
class Image:
    """The files of the initramfs: its path inside -> (the host file, or None for a folder, or a
    link's target in `links`)."""

    files: dict[str, Path]
    links: dict[str, str]
    texts: dict[str, str]


def build(out: Path, testdir: Path, tests: tuple[str, ...], guest: Path, vm: VmSettings, runner: Runner,
          files: tuple[str, ...] | None = None) -> Path:
    """Write the initramfs for these tests and settings to `out` (gzip-compressed cpio), with the
    files of the tests folder they need (`files`, by default the tests' own binaries)."""
    check()
    image = Image(files={}, links={}, texts={})
    command = script.command(Path(f"{ROOT}/{script.NAME}"), Path(f"{ROOT}/out"), Path(f"{ROOT}/tests"), vm, tests)
    image.texts["init"] = INIT.replace("@COMMAND@", command)
    image.files[f"{ROOT[1:]}/{script.NAME}"] = guest
    elves = [Path(BUSYBOX)]
    for name in [f for f in (tests if files is None else files) if (testdir / f).is_file()]:
        image.files[f"{ROOT[1:]}/tests/{name}"] = testdir / name
        with open(testdir / name, "rb") as binary:
            elf = binary.read(4) == b"\x7fELF"
        if elf:
            elves.append(testdir / name)
    for prog in HOST_PROGRAMS:
        real = Path(os.path.realpath(shutil.which(prog, path="/usr/sbin:/usr/bin:/sbin:/bin") or prog))
        image.files[str(real)[1:]] = real
        elves.append(real)
    for extra in HOST_FILES:
        if Path(extra).exists():
            image.files[extra[1:]] = Path(extra)
            elves.append(Path(extra))
    for lib in libraries(elves, runner):
        image.files.setdefault(lib[1:], Path(os.path.realpath(lib)))
    image.files["bin/busybox"] = Path(BUSYBOX)
    for applet in applets(runner):
        if applet != "busybox" and f"bin/{applet}" not in image.files:
            image.links.setdefault(f"bin/{applet}", "busybox")
    image.links["bin/bash"] = "/usr/bin/bash"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh, gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(archive(image))
    return out


def libraries(elves: list[Path], runner: Runner) -> list[str]:
    """Every shared library (and the loader) the programs need, as `ldd` resolves them here, and
    those they load themselves (DLOPENED), from the same folder."""
    found: dict[str, None] = {}
    for elf in elves:
        done = runner.run(["ldd", str(elf)], check=False, quiet=True)
        for line in done.output.splitlines():
            m = _LDD.search(line)
            if m and not m.group(1).startswith("linux-vdso"):
                found[m.group(1)] = None
    for lib in list(found):
        for name in DLOPENED.get(os.path.basename(lib), ()):
            extra = os.path.join(os.path.dirname(lib), name)
            if os.path.exists(extra):
                found[extra] = None
    return list(found)


def applets(runner: Runner) -> list[str]:
    done = runner.run([BUSYBOX, "--list"], check=False, quiet=True)
    return [a for a in done.output.split() if re.fullmatch(r"[\w.\[-]+", a)]


def archive(image: Image) -> bytes:
    """A cpio "newc" archive of the image: folders, files, links and texts, sorted; /dev/console
    is a device node (the kernel gives /init its stdio from it before devtmpfs is mounted)."""
    entries: dict[str, tuple[int, bytes, int]] = {}  # path -> (mode, data, rdev)
    for path, host in image.files.items():
        mode = 0o755 if os.access(host, os.X_OK) else 0o644
        entries[path] = (stat.S_IFREG | mode, host.read_bytes(), 0)
    for path, text in image.texts.items():
        entries[path] = (stat.S_IFREG | 0o755, text.encode(), 0)
    for path, target in image.links.items():
        entries[path] = (stat.S_IFLNK | 0o777, target.encode(), 0)
    entries["dev/console"] = (stat.S_IFCHR | 0o600, b"", os.makedev(5, 1))
    folders = {"proc", "sys", "dev", "tmp", "root", "sbin", f"{ROOT[1:]}/out"}
    for path in list(entries):
        parts = path.split("/")[:-1]
        folders |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    for folder in folders:
        entries.setdefault(folder, (stat.S_IFDIR | 0o755, b"", 0))
    buf = io.BytesIO()
    for ino, path in enumerate(sorted(entries), start=1):
        mode, data, rdev = entries[path]
        _entry(buf, ino, path, mode, data, rdev)
    _entry(buf, 0, "TRAILER!!!", 0, b"", 0)
    return buf.getvalue()


def _entry(buf: io.BytesIO, ino: int, name: str, mode: int, data: bytes, rdev: int) -> None:
    fields = [ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0, os.major(rdev), os.minor(rdev),
              len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    buf.write(header + b"\0" * (-len(header) % 4))
    buf.write(data + b"\0" * (-len(data) % 4))


def env_from(console: str) -> dict[str, str]:
    """What the guest script recorded (`env.txt`), from the /init's section of the console."""
    env: dict[str, str] = {}
    inside = False
    for line in console.splitlines():
        line = line.rstrip("\r")
        if line.endswith(ENV_BEGIN):
            inside, env = True, {}
        elif line.endswith(ENV_END):
            inside = False
        elif inside and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def files_from(console: str) -> dict[str, bytes] | None:
    """The guest script's files (`out/`), from the /init's checksummed section of the console;
    None when the section is missing (the guest did not get there) or damaged on the way."""
    lines = [line.strip() for line in console.splitlines()]
    try:
        begin = lines.index(FILES_BEGIN)
    except ValueError:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].startswith(FILES_END)), None)
    if end is None:
        return None
    want = lines[end][len(FILES_END):].split()[:1]
    try:
        blob = base64.b64decode("".join(lines[begin + 1:end]), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not want or hashlib.sha256(blob).hexdigest() != want[0]:
        return None
    files = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tar:
            for member in tar.getmembers():
                name = member.name.removeprefix("./")
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None and _inside(name):  # the coverage counters are in gcov/<test>/...
                    files[name] = extracted.read()
    except (OSError, EOFError, tarfile.TarError):
        return None
    return files


def _inside(name: str) -> bool:
    """A relative path that stays inside the cell's `out/` folder (gcov names the counters by the
    build directory's own path: gcov/<test>/test/root/.cache/.../mm/madvise.gcda)."""
    return bool(name) and all(p not in ("", ".", "..") for p in name.split("/"))
