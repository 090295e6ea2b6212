"""Rendering runs: the per-case listing of `invoke run` and the matrix table in every format."""
from __future__ import annotations

from .results import Run


def cases_text(run: Run) -> str:
    """Every case of every cell, then the counts and timings (what `invoke run` prints)."""
    lines = []
    for cell in run.cells:
        lines.append(f"== {run.base} / {cell.variant}: {cell.status.value}"
                     + (f" ({cell.reason})" if cell.reason else ""))
        for case in cell.cases:
            reason = f"  # {case.reason}" if case.reason else ""
            env = " [environment]" if case.env_skip else ""
            lines.append(f"{case.status.value:<7} {case.key}{reason}{env}")
        for name in cell.not_run:
            lines.append(f"NOT_RUN {name}: the base has no such test")
        if cell.splat:
            lines.append("-- splat:")
            lines.extend(f"   {s}" for s in cell.splat)
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
    return "\n".join(lines)
