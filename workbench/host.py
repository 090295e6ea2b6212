"""`invoke setup` and `invoke doctor`: what the host needs, installing it, and checking it.

The requirements are a table (`REQUIREMENTS`): one row per thing, the command or
file that proves it is there, and the Debian package that brings it.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import InfraError
from .guest import accel
from .kernel.git import Git
from .kernel.tree import debian_repo
from .proc import Runner, Say
from .settings import Settings


@dataclass(frozen=True)
class Requirement:
    name: str
    probe: str  # a command on PATH, or an absolute path that must exist
    package: str  # Debian package ("" for Python packages)
    why: str
    version_args: tuple[str, ...] = ("--version",)
    optional: bool = False


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("git", "git", "git", "trees, worktrees, patches"),
    Requirement("make", "make", "make", "kernel builds"),
    Requirement("gcc", "gcc", "gcc", "kernel and selftest builds"),
    Requirement("flex", "flex", "flex", "kconfig"),
    Requirement("bison", "bison", "bison", "kconfig"),
    Requirement("bc", "bc", "bc", "kernel build (timeconst)"),
    Requirement("libelf", "/usr/include/gelf.h", "libelf-dev", "objtool"),
    Requirement("openssl headers", "/usr/include/openssl/ssl.h", "libssl-dev", "kernel build (certs, sign-file)"),
    Requirement("cpio", "cpio", "cpio", "kernel build (kheaders)"),
    Requirement("rsync", "rsync", "rsync", "`make headers` for the selftests"),
    Requirement("perl", "perl", "perl", "checkpatch.pl, get_maintainer.pl"),
    Requirement("liburing", "/usr/include/liburing.h", "liburing-dev", "cow's io_uring cases", optional=True),
    Requirement("QEMU", "qemu-system-x86_64", "qemu-system-x86", "booting the kernels"),
    Requirement("virtme-ng", "vng", "", "running a kernel on the host's filesystem"),
    Requirement("udev", "udevadm", "udev", "vng's output channel and exit codes inside the guest"),
    Requirement("busybox", "busybox", "busybox-static", "virtme's initramfs", version_args=()),
    Requirement("mkswap", "mkswap", "util-linux", "swap on zram in the guest"),
    Requirement("stdbuf", "stdbuf", "coreutils", "line-buffered tests in the guest"),
    Requirement("dpkg-deb", "dpkg-deb", "dpkg", "`invoke tree --debian`"),
    Requirement("sparse", "sparse", "sparse", "`check-variants` C=1", optional=True),
    Requirement("ccache", "ccache", "ccache", "faster rebuilds", optional=True),
    Requirement("b4", "b4", "", "`invoke series --b4`", optional=True),
    Requirement("chromium", "chromium", "chromium", "the HTML report's browser test", optional=True),
)
# Debian packages `invoke setup` installs (besides those in the table).
EXTRA_PACKAGES = ("qemu-utils", "kmod", "zstd", "pkg-config", "libcap-dev", "libnuma-dev", "xz-utils",
                  "procps", "python3-venv")


@dataclass
class Row:
    name: str
    state: str  # "ok" | "missing" | "optional, missing"
    detail: str


def _where(probe: str) -> str | None:
    if probe.startswith("/"):
        return probe if os.path.exists(probe) else None
    beside = Path(sys.executable).parent / probe  # tools installed into the venv (vng, b4)
    return str(beside) if beside.exists() else shutil.which(probe)


def _version(path: str, args: tuple[str, ...], runner: Runner) -> str:
    if path.startswith("/usr/include"):
        return path
    done = runner.run([path, *args], check=False, quiet=True, timeout=20)
    first = done.output.strip().splitlines()
    return first[0][:80] if first else path


def doctor(settings: Settings, runner: Runner, kvm: bool = True) -> list[Row]:
    rows = []
    for req in REQUIREMENTS:
        found = _where(req.probe)
        if found:
            rows.append(Row(req.name, "ok", _version(found, req.version_args, runner)))
        else:
            fix = f"apt-get install {req.package}" if req.package else "invoke setup"
            rows.append(Row(req.name, "optional, missing" if req.optional else "missing",
                            f"needed for {req.why}; {fix}"))
    if kvm:
        rows.append(kvm_row(settings, runner))
    return rows


def kvm_row(settings: Settings, runner: Runner) -> Row:
    """Whether KVM really works, learnt by trying it: a boot to a marker when a kernel has been
    built, else starting QEMU with -accel kvm (an openable /dev/kvm proves nothing)."""
    if not os.path.exists("/dev/kvm"):
        return Row("KVM", "missing", "no /dev/kvm: guests run under TCG (slower)")
    image = _any_image(settings)
    qemu = accel.qemu_binary()
    if not qemu:
        return Row("KVM", "missing", "QEMU is not installed, so nothing is known about KVM; invoke setup")
    if image:
        try:
            answer = accel.probe(image, runner, qemu, settings.cache / "tmp" / "kvm-probe")
        except InfraError as exc:
            return Row("KVM", "missing", f"cannot tell: {exc.message}")
        how = f"timed {image.name}'s first kernel line with KVM against TCG"
    else:
        answer = accel.quick_check(runner)
        how = "started QEMU with -accel kvm (no kernel built yet for a full boot)"
    if answer.name == "kvm":
        return Row("KVM", "ok", f"works: {answer.reason} ({how})")
    return Row("KVM", "optional, missing", f"/dev/kvm exists but does not work: {answer.reason} ({how}); "
                                            "the workbench falls back to TCG by itself")


def _any_image(settings: Settings) -> Path | None:
    for image in sorted(settings.cache.glob("work/*/*/builds/*/arch/x86/boot/bzImage")):
        return image
    return None


def setup(runner: Runner, say: Say, browser: bool = True) -> None:
    """Install the Debian packages and virtme-ng (into the running Python's environment)."""
    packages = sorted({r.package for r in REQUIREMENTS if r.package and (browser or r.name != "chromium")}
                      | set(EXTRA_PACKAGES))
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    say(f"setup: installing {len(packages)} Debian packages and virtme-ng (apt-get, pip; about a minute)")
    runner.run([*sudo, "apt-get", "update", "-q"])
    runner.run([*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
               env={"DEBIAN_FRONTEND": "noninteractive"})
    runner.run([sys.executable, "-m", "pip", "install", "-q", "virtme-ng>=1.30", "b4"])
    say("installed; `invoke doctor` checks the result")


def table(rows: list[Row]) -> str:
    width = max(len(r.name) for r in rows)
    return "\n".join(f"{r.name:<{width}}  {r.state:<17}  {r.detail}" for r in rows)


def make_ready(settings: Settings, base: str, say: Say) -> None:
    """For `invoke main`: install what is missing, and import Debian's tree for `base` when no tree
    is configured and the cache has none."""
    from .kernel import debian

    runner = Runner(log=settings.task_log("main"), echo=settings.verbose)
    missing = [r.name for r in doctor(settings, runner, kvm=False) if r.state == "missing"]
    if missing:
        say(f"setup: missing {', '.join(missing)}")
        setup(runner, say)
    repo = debian_repo(settings)
    if settings.tree is None and not ((repo / "HEAD").exists() and Git(repo, runner).rev(base)):
        say(f"tree: no kernel tree configured; importing Debian's linux-source-{base.lstrip('v')}")
        debian.import_debian(base.lstrip("v"), settings, runner, say)
