"""A coverage cell's counts, per test and per case, as its record's `Coverage`.

The guest script leaves, per test, `out/gcov/<test>/test/<path of the kernel's build dir>/<obj>.gcda`
(the counters of the whole test, zeroed before it) and, for a test that marks its cases (the probes),
`out/gcov/<test>/cases/<case number>.begin|end/...`: a case's counts are its end copy minus its begin
copy. Each is read with the `.gcno` the cell kept at its build (profile.keep).
"""
from __future__ import annotations

from pathlib import Path

from ..proc import Runner
from ..records import Coverage, Spot, Tally, TestOutput
from . import gcov
from .profile import FOLDER, kept

Counts = dict[str, gcov.LineCounts]  # source file -> line -> count


def read(cell_dir: Path, tests: dict[str, TestOutput], runner: Runner) -> Coverage | None:
    """The cell's coverage, or None when it kept no notes (not a coverage config)."""
    found = kept(cell_dir)
    if found is None:
        return None
    objects, spots = found
    cov = Coverage(objects=objects, spots=spots)
    root = cell_dir / "out" / "gcov"
    if not root.is_dir():
        cov.missing = ("the guest left no gcov counters (no /sys/kernel/debug/gcov in it: was the kernel "
                       "built with CONFIG_GCOV_KERNEL?)")
        return cov
    notes = cell_dir / FOLDER
    for test, output in tests.items():
        whole = root / test / "test"
        if not whole.is_dir():
            continue
        cov.tests[test] = tallies(spots, window(whole, notes, objects, runner))
        names = {c.number: c.name for c in output.cases}
        per_case = cases(root / test / "cases", notes, objects, runner)
        if per_case:
            cov.cases[test] = {names.get(n, f"case {n}"): tallies(spots, c) for n, c in sorted(per_case.items())}
    if not cov.tests:
        cov.missing = "the guest left no test's counters"
    return cov


def window(folder: Path, notes: Path, objects: list[str], runner: Runner) -> Counts:
    """The counts of every profiled object whose counters are in `folder` (found by their path's end)."""
    out: Counts = {}
    for obj in objects:
        stem = obj[:-2]
        hits = [p for p in sorted(folder.rglob(Path(stem).name + ".gcda")) if p.as_posix().endswith("/" + stem + ".gcda")]
        gcda = hits[0] if hits else None
        if gcda is not None and (notes / (stem + ".gcno")).exists():
            out[stem + ".c"] = gcov.counts(notes / (stem + ".gcno"), gcda, stem + ".c", runner)
    return out


def cases(folder: Path, notes: Path, objects: list[str], runner: Runner) -> dict[int, Counts]:
    """{case number: its counts} from the begin and end copies a test left (a case without both: none)."""
    if not folder.is_dir():
        return {}
    out: dict[int, Counts] = {}
    for end in folder.glob("*.end"):
        number = end.name.split(".")[0]
        begin = folder / f"{number}.begin"
        if not number.isdigit() or not begin.is_dir():
            continue
        after, before = window(end, notes, objects, runner), window(begin, notes, objects, runner)
        out[int(number)] = {f: gcov.minus(c, before.get(f, {})) for f, c in after.items()}
    return out


def tallies(spots: list[Spot], counts: Counts) -> list[Tally]:
    """One tally per spot: its line's count (None: no code counted there, or the file was not read) and,
    for a separable site, its decisions."""
    out = []
    for spot in spots:
        lines = counts.get(spot.file, {})
        count = lines.get(spot.line) if spot.line else None
        after = lines.get(spot.after) if spot.separable else None
        if count is not None and after is not None:
            out.append(Tally(count, shared=count - after, exclusive=after))
        else:
            out.append(Tally(count))
    return out
