"""Forecasters on series whose right answer is obvious, the M4 metrics on hand examples and on the official Naive scores."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast import (
    AR,
    ARIMA,
    ETS,
    SARIMA,
    AutoForecaster,
    BaseForecaster,
    CalendarRegression,
    Drift,
    ExponentialMovingAverage,
    GlobalLagBoosting,
    LagBoosting,
    MovingAverage,
    Naive,
    PanelForecaster,
    SeasonalNaive,
    Theta,
    check_series,
    m4_scores,
    mase,
    owa,
    smape,
)
from analytics.forecast.seasonality import is_seasonal, seasonal_factors
from tests.conftest import ROOT

M4 = ROOT.parent / "shared" / "datasets" / "m4_hourly_weekly"
RNG = np.random.default_rng(7)
T = np.arange(96)
#: Level, trend, a season of 12 and noise: something every model can fit.
NOISY = 50 + 0.2 * T + 5 * np.sin(2 * np.pi * T / 12) + RNG.normal(0, 1, len(T))
SEASON = np.array([10.0, 14.0, 20.0, 16.0, 12.0, 8.0])
PURE_SEASONAL = np.tile(SEASON, 10)
LINE = 10.0 + 0.5 * np.arange(60)


# -- one contract for every single-series forecaster ------------------------------------------------


class ForecasterContract:
    """What every forecaster promises; subclasses only say how to build one."""

    make: Callable[[], BaseForecaster]

    def test_a_constant_series_gives_that_constant_with_zero_width_intervals(self) -> None:
        model = self.make().fit(np.full(40, 7.5))
        assert model.predict(5).tolist() == [7.5] * 5
        lower, upper = model.predict_interval(5)
        assert lower.tolist() == upper.tolist() == [7.5] * 5
        assert any("constant" in note for note in model.notes_)

    def test_forecasts_are_finite_and_intervals_contain_them_and_widen(self) -> None:
        model = self.make().fit(NOISY)
        point = model.predict(24)
        assert point.shape == (24,) and np.all(np.isfinite(point))
        lower80, upper80 = model.predict_interval(24, level=0.8)
        lower95, upper95 = model.predict_interval(24, level=0.95)
        assert np.all(lower95 <= lower80) and np.all(lower80 <= point) and np.all(point <= upper80)
        assert np.all(upper80 <= upper95)
        width = upper80 - lower80
        assert np.all(np.diff(width) >= -1e-9) and width[-1] > width[0]

    def test_using_it_before_fit_raises_not_fitted(self) -> None:
        with pytest.raises(NotFittedError, match="fit"):
            self.make().predict(3)

    def test_bad_series_and_horizons_are_refused_with_what_to_fix(self) -> None:
        with pytest.raises(InvalidInput, match="empty"):
            self.make().fit([])
        with pytest.raises(InvalidInput, match="infinite"):
            self.make().fit([1.0, np.inf, 2.0])
        with pytest.raises(InvalidInput, match="1-D"):
            self.make().fit(np.ones((4, 2)))
        with pytest.raises(InvalidInput, match="numbers"):
            self.make().fit(["a", "b"])
        model = self.make().fit(NOISY)
        with pytest.raises(InvalidInput, match="h must be"):
            model.predict(0)
        with pytest.raises(InvalidInput, match=r"0\.8"):
            model.predict_interval(3, level=80)

    def test_a_two_value_series_still_gets_a_finite_forecast(self) -> None:
        model = self.make().fit([3.0, 5.0])
        assert np.all(np.isfinite(model.predict(4)))
        assert np.all(np.isfinite(model.predict_interval(4)[1]))


class TestNaive(ForecasterContract):
    make = staticmethod(Naive)


class TestSeasonalNaive(ForecasterContract):
    make = staticmethod(lambda: SeasonalNaive(season_length=12))


class TestDrift(ForecasterContract):
    make = staticmethod(Drift)


class TestMovingAverage(ForecasterContract):
    make = staticmethod(lambda: MovingAverage(window=4))


class TestExponentialMovingAverage(ForecasterContract):
    make = staticmethod(lambda: ExponentialMovingAverage(alpha=0.3))


class TestAR(ForecasterContract):
    make = staticmethod(lambda: AR(p=2))


class TestARIMA(ForecasterContract):
    make = staticmethod(lambda: ARIMA(order=(1, 1, 0)))


class TestSARIMA(ForecasterContract):
    make = staticmethod(lambda: SARIMA(season_length=12, order=(1, 0, 0), seasonal_order=(0, 1, 0)))


class TestETS(ForecasterContract):
    make = staticmethod(lambda: ETS(season_length=12))


class TestTheta(ForecasterContract):
    make = staticmethod(lambda: Theta(season_length=12))


class TestCalendarRegression(ForecasterContract):
    make = staticmethod(lambda: CalendarRegression(season_length=12))


class TestLagBoosting(ForecasterContract):
    make = staticmethod(lambda: LagBoosting(season_length=12, max_iter=30))


class TestAutoForecaster(ForecasterContract):
    make = staticmethod(lambda: AutoForecaster([Naive(), SeasonalNaive(12), ETS(season_length=12)], horizon=12))


# -- known answers ------------------------------------------------------------------------------------


def test_seasonal_naive_is_exact_on_a_purely_seasonal_series() -> None:
    forecast = SeasonalNaive(season_length=6).fit(PURE_SEASONAL).predict(9)
    assert forecast.tolist() == SEASON.tolist() + SEASON[:3].tolist()


def test_ets_and_theta_recover_a_pure_season_after_dividing_it_out() -> None:
    assert is_seasonal(PURE_SEASONAL, 6)
    assert seasonal_factors(PURE_SEASONAL, 6, "auto").kind == "multiplicative"  # type: ignore[union-attr]
    for model in (ETS(season_length=6), Theta(season_length=6)):
        np.testing.assert_allclose(model.fit(PURE_SEASONAL).predict(6), SEASON, rtol=1e-3)


@pytest.mark.parametrize(
    "model",
    [
        AR(p=1, trend="ct"),
        ETS(trend="additive"),
        ETS(trend="auto"),
        CalendarRegression(),
        Drift(),
        ARIMA(order=(0, 1, 0), trend="t"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_a_straight_line_is_extrapolated(model: BaseForecaster) -> None:
    forecast = model.fit(LINE).predict(10)
    expected = 10.0 + 0.5 * np.arange(60, 70)
    np.testing.assert_allclose(forecast, expected, atol=0.05)


def test_damped_trend_flattens_and_theta_follows_half_the_slope_plus_level() -> None:
    damped = ETS(trend="damped").fit(LINE).predict(40)
    assert damped[-1] < 10.0 + 0.5 * 99  # bends below the line
    assert np.all(np.diff(damped) > 0)
    theta = Theta().fit(LINE).predict(3)
    assert np.all(np.diff(theta) > 0) and theta[0] > LINE[-1]


def test_ema_matches_the_recursion_by_hand() -> None:
    # s0 = 10; s1 = 0.3 * 20 + 0.7 * 10 = 13; s2 = 0.3 * 30 + 0.7 * 13 = 18.1
    model = ExponentialMovingAverage(alpha=0.3).fit([10.0, 20.0, 30.0])
    np.testing.assert_allclose(model.smoothed_, [10.0, 13.0, 18.1])
    np.testing.assert_allclose(model.predict(2), [18.1, 18.1])
    with pytest.raises(InvalidInput, match="alpha"):
        ExponentialMovingAverage(alpha=1.5).fit([1.0, 2.0])


def test_moving_average_and_naive_by_hand() -> None:
    assert MovingAverage(window=3).fit([1.0, 2.0, 3.0, 7.0]).predict(2).tolist() == [4.0, 4.0]
    assert Naive().fit([1.0, 2.0, 9.0]).predict(3).tolist() == [9.0] * 3
    assert Drift().fit([1.0, 3.0, 5.0]).predict(2).tolist() == [7.0, 9.0]


def test_calendar_regression_learns_the_weekday_pattern_of_a_dated_series() -> None:
    days = pd.date_range("2011-01-03", periods=70, freq="D")  # a Monday
    weekday = np.array([5.0, 6.0, 7.0, 8.0, 20.0, 30.0, 2.0])
    sales = pd.Series(weekday[days.dayofweek] + 0.1 * np.arange(70), index=days)
    forecast = CalendarRegression().fit(sales).predict(7)
    np.testing.assert_allclose(forecast, weekday + 0.1 * np.arange(70, 77), atol=1e-6)


def test_global_boosting_learns_a_shared_season_and_direct_needs_its_horizon() -> None:
    t = np.arange(240)
    panel = [20 + k + 3 * np.sin(2 * np.pi * (t + k) / 12) for k in range(6)]
    recursive = GlobalLagBoosting(season_length=12, max_iter=60).fit(panel)
    truth = np.array([20 + k + 3 * np.sin(2 * np.pi * (np.arange(240, 252) + k) / 12) for k in range(6)])
    assert np.abs(recursive.predict(12) - truth).mean() < 0.2
    direct = GlobalLagBoosting(season_length=12, scaling="window", strategy="direct", horizon=6, max_iter=60).fit(panel)
    assert np.abs(direct.predict(6) - truth[:, :6]).mean() < 0.2
    with pytest.raises(InvalidInput, match="horizon"):
        direct.predict(7)
    with pytest.raises(InvalidInput, match="positive"):
        GlobalLagBoosting(scaling="window").fit([np.r_[0.0, np.ones(30)]])
    with pytest.raises(InvalidInput, match="list"):
        GlobalLagBoosting().fit(np.ones(30))
    with pytest.raises(NotFittedError):
        GlobalLagBoosting().predict(2)


# -- automatic selection ------------------------------------------------------------------------------


def test_auto_forecaster_picks_seasonal_naive_on_a_seasonal_series() -> None:
    y = PURE_SEASONAL + RNG.normal(0, 0.1, len(PURE_SEASONAL))
    auto = AutoForecaster([Naive(), Drift(), SeasonalNaive(season_length=6)], n_windows=3, horizon=6).fit(y)
    assert auto.chosen_ == "SeasonalNaive(season_length=6)"
    assert auto.weights_["SeasonalNaive(season_length=6)"] == 1.0
    np.testing.assert_allclose(auto.predict(6), y[-6:])


def test_auto_forecaster_picks_drift_on_a_trend_and_the_combinations_weigh_to_one() -> None:
    y = LINE + RNG.normal(0, 0.05, len(LINE))
    named = {"naive": Naive(), "drift": Drift(), "ma": MovingAverage(3)}
    assert AutoForecaster(named, horizon=5).fit(y).chosen_ == "drift"
    inverse = AutoForecaster(named, horizon=5, combine="inverse-error").fit(y)
    assert sum(inverse.weights_.values()) == pytest.approx(1.0)
    assert max(inverse.weights_, key=inverse.weights_.__getitem__) == "drift"
    median = AutoForecaster(named, horizon=5, combine="median", interval="model").fit(y)
    lower, upper = median.predict_interval(5)
    assert np.all(lower <= median.predict(5)) and np.all(median.predict(5) <= upper)
    best_pair = AutoForecaster(named, horizon=5, combine="best-combination").fit(y)
    assert best_pair.weights_["drift"] > 0


def test_auto_forecaster_on_a_too_short_series_falls_back_to_naive_with_a_note() -> None:
    auto = AutoForecaster([Naive(), Drift()], horizon=7).fit([3.0, 4.0, 5.0])
    assert auto.fallback_ == "naive" and auto.predict(2).tolist() == [5.0, 5.0]
    assert any("naive" in note for note in auto.notes_)


def test_auto_forecaster_refuses_bad_settings() -> None:
    with pytest.raises(InvalidInput, match="combine"):
        AutoForecaster(combine="mean").fit(NOISY)
    with pytest.raises(InvalidInput, match="candidates"):
        AutoForecaster(candidates=[]).fit(NOISY)
    with pytest.raises(InvalidInput, match="forecasters"):
        AutoForecaster(candidates=["naive"]).fit(NOISY)  # type: ignore[list-item]


def test_nonnegative_clips_forecasts_and_bounds_of_falling_sales() -> None:
    falling = np.maximum(30.0 - 2.0 * np.arange(20), 0.5) + RNG.normal(0, 0.2, 20)
    auto = AutoForecaster([Drift()], horizon=4, nonnegative=True).fit(falling)
    assert np.all(auto.predict(10) >= 0) and np.all(auto.predict_interval(10)[0] >= 0)


def test_panel_forecaster_chooses_for_the_panel_or_per_series() -> None:
    panel = [PURE_SEASONAL * k + RNG.normal(0, 0.1, len(PURE_SEASONAL)) for k in (1, 2, 3)] + [LINE]
    local = {"naive": Naive(), "snaive": SeasonalNaive(6), "drift": Drift()}
    pf = PanelForecaster(local=local, horizon=6, n_windows=2, combine="best").fit(panel)
    assert pf.chosen_ == "snaive" and pf.predict(6).shape == (4, 6)
    per_series = PanelForecaster(local=local, horizon=6, n_windows=2, combine="best", select="series").fit(panel)
    assert per_series.weights_[3].tolist() == [0.0, 0.0, 1.0]  # the line gets drift
    lower, upper = per_series.predict_interval(6)
    assert np.all(lower <= per_series.predict(6)) and np.all(per_series.predict(6) <= upper)
    with pytest.raises(InvalidInput, match="horizon"):
        pf.predict(7)
    glob = PanelForecaster(global_models={"gbm": GlobalLagBoosting(season_length=6, max_iter=20)}, horizon=6).fit(panel)
    assert glob.chosen_ == "gbm" and np.all(np.isfinite(glob.predict(6)))


# -- awkward series -----------------------------------------------------------------------------------


def test_gaps_in_dated_sales_are_filled_with_zero_and_noted() -> None:
    days = pd.to_datetime(["2011-01-03", "2011-01-04", "2011-01-07", "2011-01-08"])
    data = check_series(pd.Series([5.0, 6.0, 7.0, 8.0], index=days))
    assert data.values.tolist() == [5.0, 6.0, 0.0, 0.0, 7.0, 8.0]
    assert data.notes == ["2 missing period(s) filled with 0 (a period without sales)."]
    model = Naive().fit(pd.Series([1.0, np.nan, 3.0]))
    assert "1 missing value(s) filled with 0" in model.notes_[0]


def test_bad_datetime_indexes_are_refused() -> None:
    days = pd.to_datetime(["2011-01-04", "2011-01-03", "2011-01-05"])
    with pytest.raises(InvalidInput, match="sort_index"):
        Naive().fit(pd.Series([1.0, 2.0, 3.0], index=days))
    twice = pd.to_datetime(["2011-01-03", "2011-01-03", "2011-01-05"])
    with pytest.raises(InvalidInput, match="duplicated"):
        Naive().fit(pd.Series([1.0, 2.0, 3.0], index=twice))
    off_grid = pd.to_datetime(["2011-01-03 00:00", "2011-01-04 00:00", "2011-01-05 00:00", "2011-01-06 12:00"])
    with pytest.raises(InvalidInput, match="resample"):
        Naive().fit(pd.Series([1.0, 2.0, 3.0, 4.0], index=off_grid))
    with pytest.raises(InvalidInput, match="DataFrame"):
        Naive().fit(pd.DataFrame({"a": [1.0]}))


def test_all_zeros_negative_values_and_too_short_series() -> None:
    zeros = ETS().fit(np.zeros(30))
    assert zeros.predict(3).tolist() == [0.0] * 3 and "all zeros" in zeros.notes_[-1]
    returns = np.r_[NOISY[:40], -5.0, NOISY[40:]]
    model = Theta(season_length=12).fit(returns)
    assert "1 negative value(s) kept" in model.notes_[0] and np.all(np.isfinite(model.predict(6)))
    assert model.seasonal_ is None or model.seasonal_.kind == "additive"
    short = SeasonalNaive(season_length=12).fit([4.0, 5.0, 6.0])
    assert short.fallback_ == "naive" and short.predict(2).tolist() == [6.0, 6.0]
    assert "fewer than the 12 SeasonalNaive needs" in short.notes_[-1]


def test_bad_hyperparameters_say_what_is_allowed() -> None:
    with pytest.raises(InvalidInput, match="season_length"):
        SeasonalNaive(season_length=0).fit(NOISY)
    with pytest.raises(InvalidInput, match="trend"):
        ETS(trend="multiplicative").fit(NOISY)
    with pytest.raises(InvalidInput, match="order"):
        ARIMA(order=(1, 1)).fit(NOISY)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="window"):
        MovingAverage(window=0).fit(NOISY)


# -- metrics ------------------------------------------------------------------------------------------


def test_smape_on_a_hand_example() -> None:
    # 200 * 10 / 210 = 9.5238..., 200 * 20 / 380 = 10.5263..., mean 10.0251
    assert smape([100.0, 200.0], [110.0, 180.0]) == pytest.approx(10.025062656641603)
    assert smape([0.0, 10.0], [0.0, 10.0]) == 0.0  # 0/0 counts as perfect
    assert smape([1.0], [-1.0]) == pytest.approx(200.0)
    with pytest.raises(InvalidInput, match="same shape"):
        smape([1.0, 2.0], [1.0])
    with pytest.raises(InvalidInput, match="finite"):
        smape([1.0], [np.nan])


def test_mase_on_a_hand_example() -> None:
    # MAE = (|5 - 6| + |7 - 6|) / 2 = 1; naive steps of the training part 1, 2 -> scale 1.5
    assert mase([5.0, 7.0], [6.0, 6.0], [1.0, 2.0, 4.0]) == pytest.approx(2 / 3)
    # seasonal scale, m = 2: |3 - 1|, |4 - 2| -> 2
    assert mase([5.0], [4.0], [1.0, 2.0, 3.0, 4.0], m=2) == pytest.approx(0.5)
    with pytest.raises(InvalidInput, match="undefined"):
        mase([1.0], [2.0], [3.0, 3.0, 3.0])
    assert owa(9.0, 2.0, 10.0, 2.5) == pytest.approx(0.85)


def _m4(frequency: str) -> tuple[list[np.ndarray], np.ndarray]:
    train = pd.read_csv(M4 / f"{frequency}-train.csv").drop(columns="V1").to_numpy(float)
    test = pd.read_csv(M4 / f"{frequency}-test.csv").drop(columns="V1").to_numpy(float)
    return [row[~np.isnan(row)] for row in train], test


@pytest.mark.skipif(not M4.is_dir(), reason="the shared M4 data are not beside the clone")
def test_metrics_reproduce_the_official_m4_naive_scores() -> None:
    weekly_train, weekly_test = _m4("Weekly")
    naive = [Naive().fit(y).predict(13) for y in weekly_train]
    scores = m4_scores(weekly_train, weekly_test, naive, m=1)
    assert (round(scores["smape"], 3), round(scores["mase"], 3)) == (9.161, 2.777)
    hourly_train, hourly_test = _m4("Hourly")
    snaive = [SeasonalNaive(season_length=24).fit(y).predict(48) for y in hourly_train]
    scores = m4_scores(hourly_train, hourly_test, snaive, m=24)
    assert (round(scores["smape"], 3), round(scores["mase"], 3)) == (13.912, 1.193)


def test_a_panel_series_too_short_to_backtest_still_gets_a_real_interval() -> None:
    short = np.array([5.0, 9.0, 2.0, 7.0, 1.0, 8.0])
    panel = PanelForecaster(local=[Naive()], horizon=4, n_windows=1).fit([np.arange(20.0), short])
    lower, upper = panel.predict_interval(4, 0.8)
    width = upper[1] - lower[1]
    assert np.all(width > 0) and np.all(np.diff(width) > 0)
