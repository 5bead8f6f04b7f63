"""The analysis definitions against hand calculations (curve, final return, AUC) and the
rliable statistics against rliable called directly."""

import math

import numpy as np
import pytest

from final_return_by_hand import curve as curve_by_hand
from rt_avg.analysis import aggregate as A
from rt_avg.analysis import stats as M


def test_curve_final_return_and_auc_by_hand():
    steps, returns = [10, 25, 35, 90], [1.0, 3.0, 5.0, 7.0]
    # 4 points, w = 25: (0,25]: 10 steps of 1, 15 of 3; (25,50]: 10 of 5 (35), 15 of 7 ...
    x, curve = M.learning_curve(steps, returns, 100, points=4)
    assert x.tolist() == [25, 50, 75, 100]
    assert curve.tolist() == pytest.approx([(10 + 45) / 25, (50 + 105) / 25, 7.0, 7.0])
    np.testing.assert_allclose(M.learning_curve(steps, returns, 100)[1],
                               curve_by_hand(steps, returns, 100))
    assert M.area_under_curve(steps, returns, 100) == pytest.approx(
        np.mean(curve_by_hand(steps, returns, 100)))
    assert math.isnan(M.final_return([], [], 100)) and math.isnan(M.area_under_curve([], [], 100))
    # episodes past the total are left out (a run scored over fewer steps than it logged)
    assert M.final_return([50, 100, 150], [1.0, 2.0, 30.0], 100) == 2.0
    rng = np.random.default_rng(0)  # a long random run, episodes in no particular order
    s = rng.choice(np.arange(1, 5000), 300, replace=False)
    r = rng.normal(size=300)
    np.testing.assert_allclose(M.learning_curve(s, r, 5000)[1], curve_by_hand(s, r, 5000))


def test_a_long_last_episode_is_not_outvoted_by_short_failures():
    # 85 failures of 10 steps, then one episode of 150 steps through the last 10%
    ends = [10 * (i + 1) for i in range(85)] + [1000]
    returns = [10.0] * 85 + [150.0]
    assert M.final_return(ends, returns, 1000) == 150.0
    # the run stopped inside a long episode: scored up to the last completed one
    ends2, returns2 = ends[:-1] + [950], returns[:-1] + [100.0]
    assert M.final_return(ends2, returns2, 1000) == pytest.approx((100 * 100) / 100)
    # steps weigh, not episodes: window (855, 950]: 45 steps of a 100-return episode, 50
    # steps of five 10-return failures
    assert M.final_return([850, 900, 910, 920, 930, 940, 950], [1.0, 100.0] + [10.0] * 5,
                          950) == pytest.approx((45 * 100 + 50 * 10) / 95)


def test_interval_estimates_are_rliables_on_the_same_scores():
    from rliable import library as rly
    from rliable import metrics

    scores = [3.0, 7.0, 8.0, 15.0, 40.0, 2.0]
    got = A.interval_estimates(scores)
    np.random.seed(A.BOOTSTRAP_SEED)
    point, ci = rly.get_interval_estimates(
        {"x": np.array(scores).reshape(-1, 1)},
        lambda x: np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)]),
        reps=A.REPS)
    assert got["iqm"] == M.Interval(point["x"][0], ci["x"][0, 0], ci["x"][1, 0])
    assert got["mean"] == M.Interval(point["x"][1], ci["x"][0, 1], ci["x"][1, 1])
    assert got["mean"].mean == pytest.approx(np.mean(scores))
    state = np.random.get_state()[1].copy()
    assert A.interval_estimates(scores) == got  # seeded: same runs, same interval
    assert (np.random.get_state()[1] == state).all()  # the caller's generator is untouched


def test_improvement_and_edge_cases():
    better, worse = [10.0, 11.0, 12.0], [1.0, 2.0, 3.0]
    poi = A.improvement(better, worse)
    assert poi.mean == 1.0 and poi.low == poi.high == 1.0
    assert A.improvement(worse, better).mean == 0.0
    assert A.improvement([1.0, 2.0], [1.0, 2.0]).mean == 0.5
    unequal = A.improvement(better, [1.0, 2.0])
    assert unequal.mean == 1.0 and math.isnan(unequal.low)  # no stratified bootstrap
    one = A.interval_estimates([7.0, float("nan")])  # nan ignored; one value: no interval
    assert one["mean"].mean == 7.0 and math.isnan(one["mean"].low)
    assert math.isnan(A.interval_estimates([])["iqm"].mean)
    assert A.few_seeds(3) and not A.few_seeds(5) and not A.few_seeds(1)


def test_pointwise_band_is_the_interval_of_each_column():
    curves = np.array([[1.0, 2.0, 0.0], [3.0, 6.0, 0.5], [2.0, 9.0, 0.1], [8.0, 1.0, 0.2]])
    mean, low, high = M.pointwise_ci(curves)
    np.testing.assert_allclose(mean, curves.mean(axis=0))
    for j in range(curves.shape[1]):
        ci = M.bootstrap_ci(curves[:, j])
        assert (low[j], high[j]) == pytest.approx((ci.low, ci.high))
