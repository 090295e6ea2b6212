"""Real-kernel tests: Debian's 6.12 and 6.1 trees, make, QEMU. Slow (minutes each); run them with
`invoke test --kernel`. They use the real cache (~/.cache/kernel-workbench) so that builds are
reused, and write their runs and patches under a temporary outputs folder.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.kernel.tree import debian_repo
from workbench.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.kernel

SETTINGS = Settings.from_mapping({})
SWAP_CASE = "swapped-out, PTE-mapped THP"


def need_tree(tag: str) -> None:
    repo = debian_repo(SETTINGS)
    if not (repo / "HEAD").exists() or subprocess.run(["git", "-C", str(repo), "rev-parse", "-q", "--verify", tag],
                                                      capture_output=True, check=False).returncode:
        pytest.skip(f"no Debian tree {tag} in the cache: run `invoke tree --debian {tag[1:]}`")


def invoke(tmp_path: Path, *args: str, timeout: float = 3600, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "INVOKE_WORKBENCH_OUTPUTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def latest_run(tmp_path: Path) -> dict:
    runs = sorted((tmp_path / "results").glob("*/run.json"))
    return json.loads(runs[-1].read_text())


def cases(run: dict, variant: str) -> dict[str, tuple[str, str, bool]]:
    cell = next(c for c in run["cells"] if c["variant"] == variant)
    return {f"{t}: {c['name']}": (c["status"], c["reason"], c["env_skip"])
            for t, out in cell["tests"].items() for c in out["cases"]}


@pytest.mark.parametrize("tag,same", [("v6.12", []), ("v6.1", ["page_mapcount"])])
def test_patches_apply_and_compile_without_new_warnings(tmp_path, tag, same):
    need_tree(tag)
    out = invoke(tmp_path, "patches", "--base", tag).stdout
    for variant in ("folio_mapcount", "page_mapcount", "folio_estimated_sharers", "folio_maybe_mapped_shared"):
        patch = tmp_path / "patches" / "mapcount" / tag / f"{variant}.patch"
        if variant in same:
            assert f"{variant}: same as base" in out and not patch.exists()
            continue
        work = tmp_path / f"apply-{variant}"
        subprocess.run(["git", "-C", str(debian_repo(SETTINGS)), "worktree", "add", "-q", "--detach", str(work), tag],
                       check=True)
        try:
            subprocess.run(["git", "-C", str(work), "apply", "--check", str(patch)], check=True)
        finally:
            subprocess.run(["git", "-C", str(debian_repo(SETTINGS)), "worktree", "remove", "--force", str(work)], check=False)
    checked = invoke(tmp_path, "check-variants", "--base", tag).stdout
    assert "FAILED" not in checked and "new warning(s)" not in checked.replace("no new warnings", "")


def test_base_and_the_regression_at_6_12(tmp_path):
    need_tree("v6.12")
    invoke(tmp_path, "run", "--base", "v6.12", "--variant", "base", "--tests", "cow")
    base = cases(latest_run(tmp_path), "base")
    swapped = {k: v for k, v in base.items() if SWAP_CASE in k}
    assert swapped and all(v[0] == "PASS" for v in swapped.values())  # swap was really on
    assert not [k for k, v in base.items() if v[0] == "SKIP" and ("gup_test" in v[1] or "swap" in v[1])]
    invoke(tmp_path, "run", "--base", "v6.12", "--variant", "folio_mapcount", "--tests", "cow")
    var = cases(latest_run(tmp_path), "folio_mapcount")
    for k in swapped:
        assert var[k][0] == "SKIP" and "MADV_PAGEOUT did not work" in var[k][1]
    others = [k for k, v in base.items() if v[0] == "PASS" and SWAP_CASE not in k]
    assert all(var[k][0] == "PASS" for k in others)


def test_cow_is_not_run_at_6_1(tmp_path):
    need_tree("v6.1")
    done = invoke(tmp_path, "run", "--base", "v6.1", "--variant", "base", "--tests", "cow")
    assert "NOT_RUN" in done.stderr + done.stdout
    assert latest_run(tmp_path)["not_run"] == ["cow"]


@pytest.mark.parametrize("variant,status", [("bug_on", "CRASH"), ("hang", "TIMEOUT")])
def test_crash_and_hang_are_caught(tmp_path, variant, status):
    need_tree("v6.12")
    invoke(tmp_path, "run", "--base", "v6.12", "--study", "tests/data/studies/broken", "--variant", variant,
           "--timeout", "120")
    cell = next(c for c in latest_run(tmp_path)["cells"] if c["variant"] == variant)
    assert cell["status"] == status and cell["splat"]


def test_matrix_resumes_after_sigint_and_sigkill(tmp_path):
    """Interrupt a matrix with SIGINT and with SIGKILL, during a build and during a boot: no QEMU
    is left, the lock is recovered, and the next run only does the missing cells."""
    need_tree("v6.12")
    env = {**os.environ, "INVOKE_WORKBENCH_OUTPUTS": str(tmp_path)}
    # a new cell identity, so that nothing comes from the cache: a guest setting that changes no result
    env["INVOKE_WORKBENCH_VM_HUGETLB_2M"] = str(20 + int(time.time()) % 50)
    argv = [sys.executable, "-m", "invoke", "matrix", "--base", "v6.12", "--tests", "cow", "--verbose"]
    finished: set[str] = set()
    transcript: list[str] = []
    done_line = re.compile(r"^(\S+): (PASS|SKIP|FAIL|CRASH|TIMEOUT)\b")
    for i, (sig, stage) in enumerate(((signal.SIGINT, "build"), (signal.SIGKILL, "boot"), (signal.SIGKILL, "build"),
                                      (signal.SIGINT, "boot"))):
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        armed = i == 0  # the first run is stopped in its first build; later ones after a new cell finished
        for line in proc.stdout:
            m = done_line.match(line)
            if m:
                finished.add(m.group(1))
                armed = True
            started = ("$ make" in line and "bzImage" in line) if stage == "build" else \
                ("vng --run" in line and "--exec" in line and "WORKBENCH-KVM" not in line)
            if armed and started:
                time.sleep(4)
                proc.send_signal(sig)
                break
            transcript.append(line)
        proc.wait(timeout=120)
        transcript.append(f"--- sent {sig.name} during the {stage}; exit {proc.returncode}\n")
        deadline = time.monotonic() + 10  # the guard gives QEMU 5 s to stop on SIGTERM, then kills it
        while (left := subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True,
                                      text=True, check=False).stdout.strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"QEMU left running after {sig!r} during the {stage}: {left}"
    assert finished
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    (tmp_path / "transcript.txt").write_text("".join(transcript) + "--- resumed\n" + done.stderr + done.stdout)
    assert done.returncode == 0, done.stderr[-2000:]  # the lock was recovered
    run = latest_run(tmp_path)
    reused = {c["variant"] for c in run["cells"] if c["cached"]}
    assert reused == finished and len(run["cells"]) == 5


def qemus() -> str:
    return subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True,
                          check=False).stdout.strip()


def test_a_sigkill_with_several_guests_booting_leaves_no_qemu_and_the_same_command_resumes(tmp_path):
    """Two guests at once (every cell built first under TCG on 2 cores, then booted two at a time):
    SIGKILL the workbench once both QEMUs run; each guest's guard takes its own QEMU down, and the
    same command then boots what did not finish and reuses what did."""
    need_tree("v6.12")
    env = {**os.environ, "INVOKE_WORKBENCH_OUTPUTS": str(tmp_path),
           "INVOKE_WORKBENCH_VM_HUGETLB_2M": str(20 + int(time.time()) % 50)}  # identities of its own
    argv = [sys.executable, "-m", "invoke", "matrix", "--base", "v6.12", "--tests", "cow", "--guests", "2",
            "--verbose"]
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    booting, transcript = 0, []
    for line in proc.stdout:
        transcript.append(line)
        booting += "vng --run" in line and "--exec" in line and "WORKBENCH-KVM" not in line
        if booting == 2:
            time.sleep(6)
            break
    running = qemus().split()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 10  # the guard gives QEMU 5 s to stop on SIGTERM, then kills it
    while qemus() and time.monotonic() < deadline:
        time.sleep(0.2)
    (tmp_path / "transcript.txt").write_text("".join(transcript))
    assert booting == 2 and len(running) >= 2, "".join(transcript[-20:])
    assert not qemus(), f"QEMU left running after SIGKILL with two guests: {qemus()}"
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    run = latest_run(tmp_path)
    assert len(run["cells"]) == 5 and not {c["status"] for c in run["cells"]} & {"INFRA_ERROR", "CRASH", "TIMEOUT"}
    assert max(c["guests"] for c in run["cells"]) == 2


# --- bisect on a real tree with a planted regression ------------------------------------------------

HARMLESS = ["mm/memory.c", "mm/swap.c", "mm/rmap.c", "mm/vmscan.c", "mm/huge_memory.c", "mm/page_alloc.c",
            "kernel/fork.c", "mm/mmap.c", "Documentation/admin-guide/mm/transhuge.rst", "mm/shmem.c",
            "mm/util.c", "mm/swapfile.c", "mm/zswap.c", "fs/proc/task_mmu.c", "mm/mprotect.c", "mm/gup.c",
            "mm/ksm.c", "mm/khugepaged.c", "mm/filemap.c", "mm/migrate.c"]
PLANTED = 13


def _commit(repo: Path, i: int, message: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bisect Test", "GIT_AUTHOR_EMAIL": "bisect@test",
           "GIT_COMMITTER_NAME": "Bisect Test", "GIT_COMMITTER_EMAIL": "bisect@test",
           "GIT_AUTHOR_DATE": f"2026-01-01T00:{i:02d}:00Z", "GIT_COMMITTER_DATE": f"2026-01-01T00:{i:02d}:00Z"}
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-a", "-m", message], env=env, check=True)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


def _history(repo: Path, branch: str, broken: tuple[int, int] | None) -> list[str]:
    """20 small harmless real edits on top of v6.12; commit PLANTED brings back the v6.3 shape of the
    final sharing check; with `broken`, commit broken[0] breaks the build and broken[1] fixes it."""
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-f", "-B", branch, "v6.12"], check=True)
    commits = [subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()]
    for i in range(1, 21):
        if i == PLANTED:
            path = repo / "mm" / "madvise.c"
            text = path.read_text()
            assert "folio_mapcount(folio) != folio_nr_pages(folio)" in text
            path.write_text(text.replace("folio_mapcount(folio) != folio_nr_pages(folio)", "folio_mapcount(folio) != 1"))
            commits.append(_commit(repo, i, "mm/madvise: check folio_mapcount() != 1 before deactivating or paging out"))
            continue
        path = repo / HARMLESS[i - 1]
        note = "/* workbench bisect test: harmless change %d */\n" if path.suffix == ".c" else ".. harmless change %d\n"
        path.write_text(path.read_text() + note % i)
        message = f"{HARMLESS[i - 1].split('/')[0]}: harmless change {i}"
        if broken and i == broken[0]:
            (repo / "mm" / "rmap.c").write_text((repo / "mm" / "rmap.c").read_text() + "#error broken on purpose\n")
            message += " (and a build break)"
        if broken and i == broken[1]:
            rmap = repo / "mm" / "rmap.c"
            rmap.write_text(rmap.read_text().replace("#error broken on purpose\n", ""))
            message += " (and the build fix)"
        commits.append(_commit(repo, i, message))
    return commits


@pytest.fixture(scope="module")
def bisect_repo() -> Path:
    """A clone of the Debian 6.12 import with two planted histories; commits are deterministic, so
    the repository (and the workbench's cells for it) can be reused from one session to the next."""
    need_tree("v6.12")
    repo = SETTINGS.cache / "test-bisect" / "linux"
    if not (repo / ".git").exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(debian_repo(SETTINGS)), str(repo)],
                       check=True)
    return repo


@pytest.mark.parametrize("branch,broken", [("planted", None), ("planted-with-build-break", (8, 11))])
def test_bisect_names_the_planted_commit(tmp_path, bisect_repo, branch, broken):
    commits = _history(bisect_repo, branch, broken)
    done = invoke(tmp_path, "bisect", "--tree", str(bisect_repo), "--good", commits[0], "--bad", commits[-1],
                  "--test", "cow", "--case", SWAP_CASE, timeout=7200)
    assert f"first bad commit: {commits[PLANTED]}" in done.stdout, done.stdout
    log = next((tmp_path / "results").glob("*-bisect/bisect.log")).read_text()
    if broken:
        assert "git bisect skip" in log
    steps = [line for line in done.stdout.splitlines() if re.match(r"\s+\d+\. [0-9a-f]{12} ", line)]
    assert 3 <= len(steps) <= 8


# --- an RFC series at 6.12 --------------------------------------------------------------------------

@pytest.mark.parametrize("variant,flags", [("folio_estimated_sharers", ["--rfc"]),
                                           ("folio_maybe_mapped_shared", ["--rfc", "--force"])])
def test_series_applies_builds_boots_and_passes_checkpatch(tmp_path, variant, flags):
    need_tree("v6.12")
    invoke(tmp_path, "matrix", "--base", "v6.12", "--tests", "cow")  # the table for the cover letter
    done = invoke(tmp_path, "series", "--base", "v6.12", "--variant", variant, "--boot", *flags)
    assert "same results as" in done.stdout, done.stdout
    assert re.findall(r"checkpatch --strict \S+: (\d+) errors", done.stdout) == ["0", "0"]
    outdir = tmp_path / "patches" / "mapcount" / "series" / f"v6.12-{variant}-v1"
    cover = (outdir / "0000-cover-letter.patch").read_text()
    assert "Results (workbench run" in cover and "SKIP*" in cover
    work = tmp_path / "am"
    repo = debian_repo(SETTINGS)
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(work), "v6.12"], check=True)
    try:
        patches = sorted(p for p in outdir.glob("*.patch") if "0000-cover-letter" not in p.name)
        env = {**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        subprocess.run(["git", "-C", str(work), "am", "-q", *map(str, patches)], check=True, env=env)
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(work)], check=False)
