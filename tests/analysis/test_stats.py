"""The analysis definitions against hand calculations: curve, final return, AUC, and the
bootstrap interval against the exact bootstrap distribution (every resample enumerated)."""

import itertools
import math

import numpy as np
import pytest

from rt_avg.analysis import stats as M


def _exact_bootstrap_interval(values, level=0.95):
    """Percentile interval of the exact bootstrap distribution of the mean: all n^n
    equally likely resamples (independent of scipy)."""
    means = np.sort([np.mean(s) for s in itertools.product(values, repeat=len(values))])
    tail = (1 - level) / 2
    return np.quantile(means, tail), np.quantile(means, 1 - tail)


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    values = [3.0, 7.0, 8.0, 15.0, 40.0]
    ci = M.bootstrap_ci(values)
    low, high = _exact_bootstrap_interval(values)
    spread = max(values) - min(values)
    assert ci.mean == pytest.approx(np.mean(values))
    # Monte Carlo error of 5000 resamples on a quantile: well under 3% of the range here
    assert ci.low == pytest.approx(low, abs=0.03 * spread)
    assert ci.high == pytest.approx(high, abs=0.03 * spread)
    assert ci.low < ci.mean < ci.high
    assert M.bootstrap_ci(values) == ci  # fixed resampling seed: same runs, same interval


def test_bootstrap_edge_cases():
    ci = M.bootstrap_ci([7.0, float("nan")])  # nan is ignored; one value: no interval
    assert ci.mean == 7.0 and math.isnan(ci.low) and math.isnan(ci.high)
    assert all(math.isnan(v) for v in (M.bootstrap_ci([]).mean, M.bootstrap_ci([]).low))
    two = M.bootstrap_ci([1.0, 3.0])  # resamples (1,1) (1,3) (3,1) (3,3): means 1, 2, 2, 3
    assert (two.low, two.mean, two.high) == (1.0, 2.0, 3.0)
    same = M.bootstrap_ci([4.0, 4.0, 4.0])
    assert (same.low, same.high) == (4.0, 4.0)


def test_pointwise_band_is_the_interval_of_each_column():
    curves = np.array([[1.0, 2.0, 0.0], [3.0, 6.0, 0.5], [2.0, 9.0, 0.1], [8.0, 1.0, 0.2]])
    mean, low, high = M.pointwise_ci(curves)
    np.testing.assert_allclose(mean, curves.mean(axis=0))
    for j in range(curves.shape[1]):
        ci = M.bootstrap_ci(curves[:, j])
        assert (low[j], high[j]) == pytest.approx((ci.low, ci.high))
    one_mean, one_low, one_high = M.pointwise_ci(curves[:1])
    np.testing.assert_array_equal(one_low, one_high)


def _curve_by_hand(steps, returns, total, points=100, fraction=0.1):
    """Plain loops: at each grid step x, the mean return of the episodes ending in
    (x - w, x], w = max(fraction * total, total / points); an empty window repeats."""
    width = max(fraction * total, total / points)
    values = []
    for i in range(1, points + 1):
        x = total * i / points
        inside = [r for s, r in zip(steps, returns) if x - width < s <= x]
        values.append(sum(inside) / len(inside) if inside else None)
    first = next(v for v in values if v is not None)
    out, last = [], first
    for v in values:
        last = last if v is None else v
        out.append(last)
    return out


def test_curve_final_return_and_auc_by_hand():
    steps, returns = [10, 25, 35, 90], [1.0, 3.0, 5.0, 7.0]
    # 4 points: windows (0,25], (25,50], (50,75], (75,100]: [mean(1,3), 5, empty -> 5, 7]
    x, curve = M.learning_curve(steps, returns, 100, points=4)
    assert x.tolist() == [25, 50, 75, 100] and curve.tolist() == [2.0, 5.0, 5.0, 7.0]
    _, curve = M.learning_curve(steps, returns, 100)
    np.testing.assert_allclose(curve, _curve_by_hand(steps, returns, 100))
    assert M.area_under_curve(steps, returns, 100) == pytest.approx(
        np.mean(_curve_by_hand(steps, returns, 100)))
    assert M.final_return(steps, returns, 100) == 7.0  # nothing after step 90: last episode
    assert M.final_return(steps + [95, 100], returns + [9.0, 11.0], 100) == 10.0
    _, curve = M.learning_curve([60], [2.0], 100, points=4)  # leading empty windows
    assert curve.tolist() == [2.0] * 4
    assert math.isnan(M.final_return([], [], 100)) and math.isnan(M.area_under_curve([], [], 100))
    # episodes past the total are left out (a run scored over fewer steps than it logged)
    assert M.final_return([50, 100, 150], [1.0, 2.0, 30.0], 100) == 2.0
    assert M.learning_curve([50, 150], [1.0, 30.0], 100, points=2)[1].tolist() == [1.0, 1.0]
    rng = np.random.default_rng(0)  # a long random run, episodes in no particular order
    s = rng.choice(np.arange(1, 5000), 300, replace=False)
    r = rng.normal(size=300)
    np.testing.assert_allclose(M.learning_curve(s, r, 5000)[1], _curve_by_hand(s, r, 5000))
    assert M.final_return(s, r, 5000) == pytest.approx(r[s > 4500].mean())
