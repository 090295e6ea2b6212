"""The studies' probes as C: each compiles with warnings as errors against the host's headers, is
kernel style in shape (lines of at most 100 columns, tabs counted as 8; functions of at most 60
lines), and the arithmetic the verdicts rest on is tested as C (tests/c/)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBES = sorted((ROOT / "templates").glob("*/probe/probe.c"))
COMMON = ROOT / "templates" / "probe-common" / "probe_common.h"
CFLAGS = ["-O2", "-Wall", "-Wextra", "-Werror"]
WIDTH, LONGEST = 100, 60


def gcc() -> str:
    path = shutil.which("gcc")
    assert path, "gcc is needed to compile the probes (apt-get install gcc)"
    return path


def test_there_are_probes():
    assert {p.parent.parent.name for p in PROBES} >= {"mapcount", "lazyfree"}


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.parent.parent.name)
def test_probe_compiles_with_warnings_as_errors(probe: Path, tmp_path: Path):
    out = subprocess.run([gcc(), *CFLAGS, "-o", str(tmp_path / "probe"), str(probe)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def shape(path: Path) -> list[str]:
    """Lines over WIDTH columns and functions (kernel style: `{` and `}` alone at column 0) over
    LONGEST lines, braces included."""
    bad, start = [], 0
    for i, line in enumerate(path.read_text().split("\n"), 1):
        if len(line.expandtabs(8)) > WIDTH:
            bad.append(f"{path.name}:{i}: {len(line.expandtabs(8))} columns")
        if line == "{":
            start = i
        elif line == "}" and start:
            if i - start + 1 > LONGEST:
                bad.append(f"{path.name}:{start}: a function of {i - start + 1} lines")
            start = 0
    return bad


@pytest.mark.parametrize("source", PROBES + [COMMON], ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_probe_source_is_kernel_shaped(source: Path):
    assert shape(source) == []


def test_the_shape_check_sees_a_long_line_and_a_long_function(tmp_path: Path):
    bad = tmp_path / "bad.c"
    bad.write_text("static int f(void)\n{\n" + "\tx++;\n" * 59 + "}\n\t" + "y" * 93 + "\n")
    assert shape(bad) == ["bad.c:2: a function of 61 lines", "bad.c:63: 101 columns"]


def test_the_common_helpers_exit_codes_are_kselftests():
    text = COMMON.read_text()
    for name, code in {"KSFT_PASS": 0, "KSFT_FAIL": 1, "KSFT_XFAIL": 2, "KSFT_XPASS": 3, "KSFT_SKIP": 4}.items():
        assert f"#define {name}\t{code}" in text
    for probe in PROBES:
        src = probe.read_text()
        assert "return 1;" not in src.split("int main(void)", 1)[1] and "return 4;" not in src
        assert "enum verdict" not in src and "static void set_outcome" not in src  # one copy: the header's


@pytest.mark.parametrize("source", sorted((ROOT / "tests" / "c").glob("*.c")), ids=lambda p: p.stem)
def test_the_probes_verdicts_in_c(source: Path, tmp_path: Path):
    """tests/c/*.c include a probe (its main() renamed) and check its arithmetic and verdicts."""
    binary = tmp_path / source.stem
    built = subprocess.run([gcc(), *CFLAGS, "-o", str(binary), str(source)], capture_output=True, text=True,
                           check=False)
    assert built.returncode == 0, built.stderr
    ran = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "all checks held" in ran.stdout


def test_the_probes_comments_say_what_their_code_does():
    """Issue 32.8: the header comments had drifted (a default of 1024 MiB where the code said 256,
    the parent mlocking where a locker child does); what they claim about a constant, a build line
    or who does what is checked against the code."""
    mapcount = (ROOT / "templates" / "mapcount" / "probe" / "probe.c").read_text()
    lazyfree = (ROOT / "templates" / "lazyfree" / "probe" / "probe.c").read_text()
    said = re.search(r"PROBE_COST_MB \(default (\d+)", mapcount)
    defined = re.search(r"#define DEFAULT_COST_MB\s+(\d+)", mapcount)
    assert said and defined and said.group(1) == defined.group(1)
    assert not re.search(r"parent\s+(\*\s+)?mlock", lazyfree) and "locker child" in lazyfree
    for src in (mapcount, lazyfree):
        build = re.search(r"Build: (gcc [^\n]*)", src)
        assert build and all(flag in build.group(1).split() for flag in CFLAGS)
    for readme in (ROOT / "templates").glob("*/probe/README.md"):
        for line in re.findall(r"`gcc [^`]*`", readme.read_text()):
            assert all(flag in line.split() for flag in CFLAGS), f"{readme}: {line}"


def test_the_shmem_sizes_a_kernel_lacks_are_environment_skips():
    """Issue 32.6: a shmem THP size the guest's kernel does not offer (no per-size shmem_enabled
    before v6.11, no shmem_enabled at all) skips as the environment's, naming the file it lacks."""
    from workbench.guest.tap import load_env_skips

    src = (ROOT / "templates" / "mapcount" / "probe" / "probe.c").read_text()
    assert '"no shmem mTHP of %zu kB at this kernel (no %s)"' in src
    assert '"no shmem THP at this kernel (no "' in src
    knobs = "/sys/kernel/mm/transparent_hugepage"
    patterns = load_env_skips()
    for reason in (f"no shmem mTHP of 64 kB at this kernel (no {knobs}/hugepages-64kB/shmem_enabled)",
                   f"no shmem THP at this kernel (no {knobs}/shmem_enabled)"):
        assert any(p.search(reason) for p in patterns), reason
