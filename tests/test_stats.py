"""The statistics of cost rows on known data: a real difference is found, a null one is not,
Holm is applied over the rows, and too few boots give no interval and no mark."""
from __future__ import annotations

import random

import pytest

from workbench.report import stats


def noisy(centre: float, n: int, seed: int, sd: float = 3.0) -> list[float]:
    r = random.Random(seed)
    return [centre + r.gauss(0, sd) for _ in range(n)]


def test_a_known_difference_is_found_with_its_interval():
    base, other = noisy(100, 5, 1), noisy(130, 5, 2)
    [c] = stats.compare_rows({"x": (base, other)}).values()
    assert c.significant
    assert c.p == pytest.approx(2 / 252)  # the exact test: every "other" above every "base"
    assert c.low_pct is not None and c.high_pct is not None
    assert c.low_pct < c.change_pct < c.high_pct
    assert 15 < c.low_pct and c.high_pct < 45  # the truth, 30%, is inside


def test_a_null_difference_is_not_marked():
    marked = 0
    for seed in range(40):
        [c] = stats.compare_rows({"x": (noisy(100, 5, seed), noisy(100, 5, 1000 + seed))}).values()
        marked += c.significant
    assert marked <= 4  # 5% of 40 is 2; allow the luck of a fixed seed range


def test_holm_adjusts_step_down_and_keeps_order():
    assert stats.holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None], abs=1e-12)
    assert stats.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])
    assert stats.holm([]) == []


def test_holm_can_take_a_mark_away():
    # alone p = 0.0079 is significant; in a family of seven rows it cannot be (7 * 0.0079 > 0.05)
    base, other = noisy(100, 5, 1), noisy(130, 5, 2)
    alone = stats.compare_rows({"x": (base, other)})["x"]
    rows = {"x": (base, other)} | {f"null{i}": (noisy(100, 5, 10 + i), noisy(100, 5, 20 + i)) for i in range(6)}
    family = stats.compare_rows(rows)
    assert alone.significant and not family["x"].significant
    assert family["x"].p == alone.p and family["x"].p_adjusted == pytest.approx(7 * alone.p)


def test_fewer_than_three_boots_give_no_interval_and_no_mark():
    s = stats.summarize([10.0, 30.0])
    assert (s.median, s.low, s.high) == (20.0, None, None)
    c = stats.compare_rows({"x": ([1.0, 2.0], [30.0, 40.0])})["x"]
    assert c.change_pct == pytest.approx((35 - 1.5) / 1.5 * 100)
    assert (c.p, c.low_pct, c.significant) == (None, None, False) and "fewer than 3" in c.why_not


def test_summary_interval_holds_the_median():
    s = stats.summarize(noisy(863, 5, 3, sd=15))
    assert s.low is not None and s.high is not None
    assert s.low <= s.median <= s.high and s.q1 <= s.median <= s.q3


def test_identical_samples_are_no_difference():
    c = stats.compare_rows({"x": ([5.0] * 5, [5.0] * 5)})["x"]
    assert c.change_pct == 0 and not c.significant and c.p == 1.0


def test_a_zero_base_has_no_percentage():
    c = stats.compare([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    assert c.change_pct is None and c.p is not None


def test_min_p_says_what_five_boots_can_reach():
    assert stats.min_p(5, 5) == pytest.approx(2 / 252)
    assert stats.min_p(3, 3) == pytest.approx(0.1)  # three boots a side can never be significant
