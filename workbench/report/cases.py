"""What `invoke run` prints: every case of every cell, then the counts, timings and guest."""
from __future__ import annotations

from ..records import CellResult, Run


def cases_text(run: Run) -> str:
    lines = []
    for cell in run.cells:
        lines += _cell(run, cell)
    return "\n".join(lines)


def _cell(run: Run, cell: CellResult) -> list[str]:
    lines = [f"== {run.base} / {cell.label}: {cell.status.value}" + (f" ({cell.reason})" if cell.reason else "")]
    for case in cell.cases:
        reason = f"  # {case.reason}" if case.reason else ""
        env = " [environment]" if case.env_skip else ""
        lines.append(f"{case.status.value:<7} {case.key}{reason}{env}")
    lines += [f"NOT_RUN {name}: the base has no such test" for name in cell.not_run]
    if cell.splat:
        lines.append("-- splat:")
        lines.extend(f"   {s}" for s in cell.splat)
    if cell.build_errors:
        lines.append("-- build errors:")
        lines.extend(f"   {s}" for s in cell.build_errors)
    counts: dict[str, int] = {}
    for c in cell.cases:
        counts[c.status.value] = counts.get(c.status.value, 0) + 1
    env_skips = sum(1 for c in cell.cases if c.env_skip)
    lines.append("totals: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
                 + (f" ({env_skips} environment skips)" if env_skips else ""))
    lines.append("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in cell.timings.items())
                 + (" (cached result)" if cell.cached else ""))
    if cell.env:
        lines.append("guest: " + ", ".join(f"{k}={v}" for k, v in cell.env.items() if k != "cmdline"))
    return lines
