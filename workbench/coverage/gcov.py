"""Line counts from a `.gcno` and a `.gcda`, read by gcc's own `gcov --json-format`.

gcov is gcc's tool for its own files (the notes file the compiler wrote, the counters the kernel
kept): it is installed with gcc, always of the compiler's version, and its JSON output
(`--json-format --stdout`, one object per data file: `files[].lines[]` with `line_number`,
`count` and, with `--branch-counts`, `branches`) is documented in gcov's manual. A library over
it (gcovr) would add a dependency for what one call and `json.loads` do here.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..errors import InfraError, MissingTool
from ..proc import Runner

LineCounts = dict[int, int]  # line number -> executions


def counts(gcno: Path, gcda: Path, source: str, runner: Runner) -> LineCounts:
    """How often each line of `source` (e.g. "mm/madvise.c") ran, by the counters in `gcda`; lines
    gcov counts no code on are absent. Counts of a helper inlined from a header are the header's."""
    tool = shutil.which("gcov")
    if tool is None:
        raise MissingTool("gcov", "a coverage cell's counts cannot be read (it comes with gcc)")
    with tempfile.TemporaryDirectory(prefix="workbench-gcov-") as tmp:
        stem = Path(tmp) / gcno.stem
        shutil.copyfile(gcno, stem.with_suffix(".gcno"))
        shutil.copyfile(gcda, stem.with_suffix(".gcda"))
        done = runner.run([tool, "--json-format", "--stdout", "--branch-counts", stem.with_suffix(".gcda").name],
                          cwd=tmp, check=False, quiet=True)
    text = next((line for line in done.output.splitlines() if line.startswith("{")), "")
    if not done.ok or not text:
        raise InfraError(f"gcov could not read {gcda} with {gcno}: {done.output.strip()[:300]}",
                         "The notes file must be the one built with the kernel that ran: `invoke clean --cells` "
                         "and run the same command again.")
    return lines_of(json.loads(text), source)


def lines_of(data: dict[str, object], source: str) -> LineCounts:
    """{line: count} of the entry of gcov's JSON whose file is `source` (a line listed under several
    functions is summed)."""
    out: LineCounts = {}
    files = data.get("files", [])
    assert isinstance(files, list)
    for entry in files:
        name = str(entry.get("file", ""))
        if name != source and not name.endswith("/" + source):
            continue
        for line in entry.get("lines", []):
            number = int(line["line_number"])
            out[number] = out.get(number, 0) + int(line["count"])
    return out


def minus(end: LineCounts, begin: LineCounts) -> LineCounts:
    """The counts between two copies of the same counters (a case's window)."""
    return {line: count - begin.get(line, 0) for line, count in end.items()}
