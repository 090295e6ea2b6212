"""Numbers with error bars: a measurement's samples (one per boot) summarised, and a column's
samples compared with the base's.

- `summarize`: median, IQR and a 95% bootstrap interval of the median (scipy.stats.bootstrap,
  percentile method, fixed seed so a report reads the same twice); no interval below MIN_N boots.
- `compare`: the column's median as `%change` against the base's, its 95% bootstrap interval,
  and the two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu; exact for small samples
  without ties): it assumes no shape of the distribution, which suits timings with outliers.
- `compare_rows`: every row of one column against base, the p values corrected for the number of
  rows compared with Holm's step-down method; only a corrected p below ALPHA is significant.
  Holm is eight lines (below, unit-tested); scipy has only Benjamini-Hochberg/Yekutieli, and
  statsmodels (which has it) would bring pandas and patsy for those eight lines.

With 5 boots a side the smallest two-sided Mann-Whitney p is 2/252 = 0.008: a family of more
than six rows cannot reach significance, whatever the difference. `min_p` says what can be had.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np
from scipy import stats as sp

MIN_N = 3
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 4999
SEED = 20231


@dataclass(frozen=True)
class Summary:
    """One measurement over the boots of one column."""

    n: int
    median: float
    q1: float
    q3: float
    low: float | None = None  # the median's 95% interval; None below MIN_N samples
    high: float | None = None


@dataclass(frozen=True)
class Comparison:
    """A column's measurement against the base's."""

    change_pct: float | None  # median change in %, None when the base's median is 0
    low_pct: float | None = None  # its 95% interval
    high_pct: float | None = None
    p: float | None = None  # Mann-Whitney U, two-sided
    p_adjusted: float | None = None  # Holm over the rows compared
    significant: bool = False
    why_not: str = ""  # why there is no test (too few boots, ...)


def summarize(samples: Sequence[float]) -> Summary:
    xs = sorted(float(x) for x in samples)
    if not xs:
        raise ValueError("no samples")
    q1, q3 = (float(q) for q in np.percentile(xs, [25, 75]))
    if len(xs) < MIN_N:
        return Summary(len(xs), median(xs), q1, q3)
    if xs[0] == xs[-1]:
        return Summary(len(xs), xs[0], q1, q3, xs[0], xs[0])
    ci = sp.bootstrap((np.array(xs),), np.median, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                      method="percentile", rng=np.random.default_rng(SEED)).confidence_interval
    return Summary(len(xs), median(xs), q1, q3, float(ci.low), float(ci.high))


def _change(base: np.ndarray, other: np.ndarray, axis: int = -1) -> np.ndarray:
    b = np.median(base, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((np.median(other, axis=axis) - b) / b * 100.0)


def compare(base: Sequence[float], other: Sequence[float]) -> Comparison:
    """`other` against `base`, not yet corrected for the other rows."""
    b, o = np.array(base, dtype=float), np.array(other, dtype=float)
    if not len(b) or not len(o):
        return Comparison(None, why_not="no samples")
    mb = float(np.median(b))
    change = None if mb == 0 else float((np.median(o) - mb) / mb * 100.0)
    if min(len(b), len(o)) < MIN_N:
        return Comparison(change, why_not=f"fewer than {MIN_N} boots")
    low = high = None
    constant = bool(np.all(b == b[0]) and np.all(o == o[0]))
    if change is not None and not constant:
        ci = sp.bootstrap((b, o), _change, confidence_level=CONFIDENCE, n_resamples=RESAMPLES, method="percentile",
                          vectorized=True, rng=np.random.default_rng(SEED)).confidence_interval
        if math.isfinite(ci.low) and math.isfinite(ci.high):
            low, high = float(ci.low), float(ci.high)
    elif change is not None:
        low = high = change
    if constant and b[0] == o[0]:
        return Comparison(change, low, high, 1.0)
    p = float(sp.mannwhitneyu(b, o, alternative="two-sided").pvalue)
    return Comparison(change, low, high, p)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p values (None stays None and does not count as a test)."""
    ranked = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(ranked)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


def compare_rows(rows: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                 alpha: float = ALPHA) -> dict[str, Comparison]:
    """{row: (base samples, column samples)} -> {row: comparison}, Holm-corrected over the rows."""
    raw = {label: compare(b, o) for label, (b, o) in rows.items()}
    labels = list(raw)
    adjusted = holm([raw[label].p for label in labels])
    out = {}
    for label, padj in zip(labels, adjusted):
        c = raw[label]
        out[label] = Comparison(c.change_pct, c.low_pct, c.high_pct, c.p, padj,
                                padj is not None and padj < alpha, c.why_not)
    return out


def min_p(n_base: int, n_other: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney test can give for these sample sizes."""
    return min(1.0, 2.0 / math.comb(n_base + n_other, n_base))
