"""Customer lifetime value: BG/NBD and Gamma-Gamma against the published CDNOW figures,
a holdout test, the model's defining properties and refusals that say what to fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.clv.bgnbd import BetaGeoModel, _Histories
from analytics.customers.clv.common import check_spend
from analytics.customers.clv.gamma_gamma import GammaGammaModel
from analytics.customers.clv.simulate import simulate_customers
from analytics.customers.clv.summary import rfm_summary
from tests.conftest import ROOT

SHARED = ROOT.parent / "shared"
CDNOW = SHARED / "datasets" / "cdnow"

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", table 1 and section 5.
FHL_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FHL_LOG_LIKELIHOOD = -9582.4
# Fader & Hardie, "The Gamma-Gamma model of monetary value" (2013), on the same 2,357 customers.
FH_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def cdnow_file(name: str) -> Path:
    path = CDNOW / name
    if not path.exists():
        pytest.skip(f"{path} is not there: the CDNOW known-answer tests need the shared folder beside the clone")
    return path


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The published 39-week calibration summary, in weeks, with the mean repeat spend."""
    spend = pd.read_csv(cdnow_file("cdnow_customers_summary_with_transactions.csv"), index_col="ID")
    summary = pd.read_csv(cdnow_file("cdnow_customers_summary.csv"), index_col="ID")
    summary["monetary_value"] = spend["zbar"]
    return summary


@pytest.fixture(scope="module")
def cdnow_orders() -> pd.DataFrame:
    """The 1/10 CDNOW sample (2,357 customers, 1997-01 to 1998-06) as an ``orders`` frame.

    Eight one-off customers paid $0.00; the published summaries count those
    purchases, while an orders frame only holds positive amounts, so they get
    one cent (a first purchase never enters the monetary value anyway)."""
    raw = pd.read_csv(
        cdnow_file("CDNOW_sample.txt"),
        sep=r"\s+",
        header=None,
        names=["master_id", "sample_id", "date", "cds", "dollar_value"],
        dtype={"date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["sample_id"],
            "order_id": np.arange(1, len(raw) + 1),
            "placed_at": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].clip(lower=0.01),
        }
    )


@pytest.fixture(scope="module")
def cdnow_model(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    """20,000 customers drawn from CDNOW-like BG/NBD and Gamma-Gamma processes, ages 1-78 weeks."""
    ages = np.random.default_rng(0).uniform(1.0, 78.0, 20_000).round(2)
    data = simulate_customers(20_000, ages, **FHL_BGNBD, **FH_GAMMA_GAMMA, seed=1)
    data["recency"] = data["recency"].round(2)
    return data


@pytest.fixture(scope="module")
def model(shop: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(shop["frequency"], shop["recency"], shop["T"])


@pytest.fixture(scope="module")
def spend(shop: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(shop["frequency"], shop["monetary_value"])


# --------------------------------------------------------------------------- known answers


def test_bgnbd_on_cdnow_finds_the_parameters_of_fader_hardie_lee_2005(cdnow_model: BetaGeoModel) -> None:
    for name, published in FHL_BGNBD.items():
        assert cdnow_model.params_[name] == pytest.approx(published, rel=0.01), name
    assert cdnow_model.log_likelihood_ == pytest.approx(FHL_LOG_LIKELIHOOD, rel=0.001)
    assert cdnow_model.n_customers_ == 2357


def test_gamma_gamma_on_cdnow_finds_the_published_parameters(cdnow: pd.DataFrame) -> None:
    spend = GammaGammaModel().fit(cdnow["frequency"], cdnow["monetary_value"])
    for name, published in FH_GAMMA_GAMMA.items():
        assert spend.params_[name] == pytest.approx(published, rel=0.01), name
    assert spend.n_customers_ == 946  # the repeat customers only


def test_rfm_summary_rebuilds_the_published_cdnow_calibration_summary(
    cdnow_orders: pd.DataFrame, cdnow: pd.DataFrame
) -> None:
    summary = rfm_summary(cdnow_orders, "1998-06-30", time_unit="W", calibration_end="1997-09-30")
    assert summary.index.equals(cdnow.index)
    assert (summary["frequency"] == cdnow["frequency"]).all()
    assert int(summary["frequency"].sum()) == 2457
    # the published file rounds to two decimals
    for column in ("recency", "T", "monetary_value"):
        assert (summary[column] - cdnow[column]).abs().max() <= 0.0051, column


def test_holdout_weeks_40_to_78_predicted_total_is_close_to_the_actual_repeat_purchases(
    cdnow_orders: pd.DataFrame,
) -> None:
    summary = rfm_summary(cdnow_orders, "1998-06-30", time_unit="W", calibration_end="1997-09-30")
    model = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    assert summary["duration_holdout"].iloc[0] == 39.0

    predicted = model.conditional_expected_purchases(39.0, summary["frequency"], summary["recency"], summary["T"])
    actual = summary["frequency_holdout"]

    assert int(actual.sum()) == 1882  # distinct customer-days in weeks 40-78
    assert predicted.sum() == pytest.approx(1653.4, rel=0.03)  # what lifetimes 0.11.3 predicts
    mae = float((predicted - actual).abs().mean())
    naive = float((summary["frequency"] / summary["T"] * 39.0 - actual).abs().mean())  # "same rate as before"
    assert mae == pytest.approx(0.785, abs=0.01)
    assert mae < naive


# --------------------------------------------------------------------------- what the model says


def test_a_customer_with_no_repeat_purchase_is_alive_for_sure(model: BetaGeoModel) -> None:
    # in the BG/NBD a customer can only drop out right after a repeat purchase
    alive = model.probability_alive([0, 0, 0], [0.0, 0.0, 0.0], [1.0, 39.0, 500.0])
    assert np.array_equal(alive, [1.0, 1.0, 1.0])


def test_the_longer_a_repeat_customer_is_silent_the_less_likely_she_is_alive(model: BetaGeoModel) -> None:
    ages = np.array([10.0, 20.0, 39.0, 78.0, 200.0])
    alive = model.probability_alive(np.full(5, 2), np.full(5, 10.0), ages)
    a, b = model.params_["a"], model.params_["b"]
    assert alive[0] == pytest.approx(1 / (1 + a / (b + 1)))  # bought last just now: only the dropout odds count
    assert np.all(np.diff(alive) < 0)
    assert np.all((alive > 0) & (alive < 1))


def test_a_brand_new_customer_is_expected_to_buy_what_the_unconditional_model_says(model: BetaGeoModel) -> None:
    horizons = [1.0, 39.0, 78.0]
    new = [model.conditional_expected_purchases(t, 0, 0.0, 0.0)[0] for t in horizons]
    assert np.allclose(new, model.expected_purchases(horizons), rtol=1e-10)
    assert model.expected_purchases(0.0)[0] == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.diff(model.expected_purchases(horizons)) > 0)


def test_expected_purchases_stay_finite_for_very_frequent_buyers_and_long_horizons(model: BetaGeoModel) -> None:
    expected = model.conditional_expected_purchases(520.0, [300, 1000], [70.0, 77.0], [78.0, 78.0])
    assert np.all(np.isfinite(expected)) and np.all(expected > 0)


def test_predictions_follow_the_index_of_a_series(shop: pd.DataFrame, model: BetaGeoModel) -> None:
    head = shop.head(5)
    alive = model.probability_alive(head["frequency"], head["recency"], head["T"])
    assert isinstance(alive, pd.Series)
    assert alive.index.equals(head.index)
    as_array = model.probability_alive(head["frequency"].to_numpy(), head["recency"], head["T"])
    assert isinstance(as_array, np.ndarray)


def test_fit_recovers_the_parameters_of_simulated_customers() -> None:
    truth = {"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 2.5}
    ages = np.random.default_rng(0).uniform(20, 80, 100_000).round(1)
    data = simulate_customers(100_000, ages, **truth, seed=1)
    data["recency"] = data["recency"].round(1)
    model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.08), name


def test_parameters_do_not_depend_on_the_time_unit_but_alpha_scales_with_it(
    shop: pd.DataFrame, model: BetaGeoModel
) -> None:
    weeks = model
    days = BetaGeoModel().fit(shop["frequency"], shop["recency"] * 7, shop["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(7 * weeks.params_["alpha"], rel=1e-4)
    for name in ("r", "a", "b"):
        assert days.params_[name] == pytest.approx(weeks.params_[name], rel=1e-4)


def test_a_penalizer_shrinks_the_parameters(shop: pd.DataFrame, model: BetaGeoModel) -> None:
    penalized = BetaGeoModel(penalizer=0.1).fit(shop["frequency"], shop["recency"], shop["T"])
    assert penalized.log_likelihood_ < model.log_likelihood_
    assert penalized.params_["b"] < model.params_["b"]


@pytest.mark.slow
def test_a_million_customers_are_fitted_on_their_distinct_histories() -> None:
    # what keeps a million-customer fit fast: the likelihood runs over distinct (frequency, recency, T)
    # histories with weights, not over customers (the speed itself is measured by bench/clv_speed.py)
    rng = np.random.default_rng(3)
    data = simulate_customers(1_000_000, rng.integers(1, 547, 1_000_000), r=0.243, alpha=30.9, a=0.793, b=2.426, seed=4)
    data["recency"] = np.ceil(data["recency"])  # whole days, as rfm_summary gives them
    x, t_x, age = (data[c].to_numpy(np.float64) for c in ("frequency", "recency", "T"))

    histories = _Histories.collapse(x, t_x, age)

    assert histories.w.sum() + histories.w0.sum() == histories.total == 1_000_000
    assert histories.x.size + histories.T0.size < 1_000_000 // 3  # 265,720 with this seed
    model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert model.params_["r"] == pytest.approx(0.243, rel=0.05)


# --------------------------------------------------------------------------- spend and CLV


def test_expected_spend_shrinks_a_customers_mean_towards_the_population_mean(spend: GammaGammaModel) -> None:
    p, q, v = spend.params_["p"], spend.params_["q"], spend.params_["v"]
    population = p * v / (q - 1)
    few, many = spend.conditional_expected_average_profit([1, 20], [100.0, 100.0])
    assert population < few < many < 100.0
    (nobody,) = spend.conditional_expected_average_profit([0], [0.0])
    assert nobody == pytest.approx(population)


def test_clv_is_the_discounted_sum_of_monthly_purchases_times_expected_spend(
    shop: pd.DataFrame, model: BetaGeoModel, spend: GammaGammaModel
) -> None:
    head = shop.head(20)
    args = (model, head["frequency"], head["recency"], head["T"], head["monetary_value"])
    month = 365.25 / 12 / 7  # in weeks
    one_month = spend.customer_lifetime_value(*args, horizon_months=1, discount_rate_monthly=0.0, time_unit="W")
    purchases = model.conditional_expected_purchases(month, head["frequency"], head["recency"], head["T"])
    profit = spend.conditional_expected_average_profit(head["frequency"], head["monetary_value"])
    assert np.allclose(one_month, purchases * profit)

    undiscounted = spend.customer_lifetime_value(*args, discount_rate_monthly=0.0, time_unit="W")
    discounted = spend.customer_lifetime_value(*args, time_unit="W")
    longer = spend.customer_lifetime_value(*args, horizon_months=24, time_unit="W")
    assert isinstance(discounted, pd.Series) and discounted.index.equals(head.index)
    assert np.all(discounted < undiscounted) and np.all(longer > discounted) and np.all(discounted > 0)


def test_clv_refuses_a_horizon_or_discount_rate_that_makes_no_sense(
    model: BetaGeoModel, spend: GammaGammaModel
) -> None:
    history: dict[str, Any] = {"frequency": [1], "recency": [2.0], "T": [3.0], "monetary_value": [20.0]}
    with pytest.raises(InvalidInput, match="horizon_months must be a whole number of months >= 1"):
        spend.customer_lifetime_value(model, **history, horizon_months=0)
    with pytest.raises(InvalidInput, match=r"discount_rate_monthly must be >= 0 \(e.g. 0.01 for 1 % a month\)"):
        spend.customer_lifetime_value(model, **history, discount_rate_monthly=-0.01)
    with pytest.raises(InvalidInput, match="bgnbd_model must be a fitted BetaGeoModel"):
        spend.customer_lifetime_value(spend, **history)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rfm_summary


def orders_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": range(1, len(rows) + 1),
            "placed_at": pd.to_datetime([r[1] for r in rows]),
            "amount": [r[2] for r in rows],
        }
    )


SHOP = orders_frame(
    [
        (1, "2024-01-01 09:00", 10.0),  # first purchase: starts the history, not in the monetary value
        (1, "2024-01-15 10:00", 20.0),
        (1, "2024-01-15 18:30", 5.0),  # same day: one purchase worth 25
        (1, "2024-01-29 12:00", 35.0),
        (2, "2024-01-08 08:00", 40.0),  # a one-off customer
        (3, "2024-02-05 08:00", 12.0),  # first buys after the calibration end
        (1, "2024-02-10 08:00", 50.0),  # holdout purchase
    ]
)


def test_rfm_summary_counts_purchase_days_after_the_first_and_averages_their_value() -> None:
    summary = rfm_summary(SHOP[SHOP["placed_at"] < "2024-02-01"], "2024-01-31")
    assert summary.loc[1].to_dict() == {"frequency": 2, "recency": 28.0, "T": 30.0, "monetary_value": 30.0}
    assert summary.loc[2].to_dict() == {"frequency": 0, "recency": 0.0, "T": 23.0, "monetary_value": 0.0}
    weeks = rfm_summary(SHOP[SHOP["placed_at"] < "2024-02-01"], "2024-01-31", time_unit="W")
    assert weeks.loc[1, "recency"] == pytest.approx(4.0) and weeks.loc[1, "T"] == pytest.approx(30 / 7)


def test_rfm_summary_with_a_calibration_end_adds_the_holdout_and_keeps_the_calibration_cohort() -> None:
    summary = rfm_summary(SHOP, "2024-02-29", calibration_end="2024-01-31")
    assert list(summary.index) == [1, 2]  # customer 3 started after the calibration period
    assert summary.loc[1, "T"] == 30.0
    assert summary["frequency_holdout"].tolist() == [1, 0]
    assert summary["monetary_value_holdout"].tolist() == [50.0, 0.0]
    assert summary["duration_holdout"].tolist() == [29.0, 29.0]


# --------------------------------------------------------------------------- refusals that say what to fix

Call = Callable[[], Any]


def bgnbd_fit(frequency: Any, recency: Any, T: Any) -> Call:
    return lambda: BetaGeoModel().fit(frequency, recency, T)


def gg_fit(frequency: Any, monetary: Any) -> Call:
    return lambda: GammaGammaModel().fit(frequency, monetary)


nan = float("nan")

BAD_INPUTS: dict[str, tuple[Call, str]] = {
    "empty input": (bgnbd_fit([], [], []), "frequency is empty: pass one value per customer"),
    "NaN": (bgnbd_fit([1, nan], [2.0, 0.0], [5.0, 5.0]), "1 customer has a missing (NaN) frequency; drop or fill"),
    "negative value": (bgnbd_fit([1, 0], [-2.0, 0.0], [5.0, 5.0]), "negative recency; counts and durations cannot"),
    "recency larger than T": (
        bgnbd_fit([1, 2, 3, 0], [6.0, 7.0, 9.0, 0.0], [5.0, 5.0, 5.0, 5.0]),
        "3 customers have recency larger than T; recency is measured from the first purchase",
    ),
    "frequency not an integer": (
        bgnbd_fit([1.5, 2], [2.0, 3.0], [5.0, 5.0]),
        "non-integer frequency (e.g. 1.5); frequency counts repeat purchase days and must be a whole number",
    ),
    "frequency 0 with a recency": (
        bgnbd_fit([0, 2], [3.0, 3.0], [5.0, 5.0]),
        "frequency 0 but a non-zero recency; with no repeat purchase the first purchase is the last one, so recency "
        "must be 0",
    ),
    "mismatched lengths": (
        bgnbd_fit([1, 2, 0], [2.0, 3.0, 0.0], [5.0, 5.0]),
        "must have one value per customer, in the same order; got lengths frequency=3, recency=3, T=2",
    ),
    "a single customer": (bgnbd_fit([2], [3.0], [5.0]), "fit needs at least two customers, got one"),
    "all customers identical": (
        bgnbd_fit([2] * 5, [3.0] * 5, [5.0] * 5),
        "all 5 customers have the same history (frequency, recency, T): the likelihood then has no maximum",
    ),
    "nobody came back": (
        bgnbd_fit([0, 0, 0], [0.0, 0.0, 0.0], [3.0, 4.0, 5.0]),
        "none of the 3 customers made a repeat purchase",
    ),
    "too little data to identify the model": (
        bgnbd_fit([0, 1, 2, 0, 3], [0.0, 5.0, 20.0, 0.0, 25.0], [30.0, 30.0, 30.0, 20.0, 30.0]),
        "pass a penalizer (e.g. penalizer=0.001)",
    ),
    "negative penalizer": (
        lambda: BetaGeoModel(penalizer=-1).fit([0, 1], [0.0, 2.0], [3.0, 4.0]),
        "penalizer must be a number >= 0",
    ),
    "monetary value 0 for a repeat customer": (
        gg_fit([2, 1, 0], [0.0, 10.0, 0.0]),
        "1 repeat customer has a monetary value of 0 or less; the Gamma-Gamma model needs the positive mean value",
    ),
    "spend lengths differ": (gg_fit([2, 1], [10.0]), "got lengths frequency=2, monetary_value=1"),
    "a single repeat customer": (gg_fit([2, 0], [10.0, 0.0]), "fit needs at least two customers, got one"),
    "all spends identical": (
        gg_fit([1, 2, 3], [10.0, 10.0, 10.0]),
        "all 3 repeat customers have the same monetary value (10)",
    ),
    "orders after the reference date": (
        lambda: rfm_summary(SHOP, "2024-01-31"),
        "2 orders are placed after the reference date 2024-01-31",
    ),
    "calibration end after the reference date": (
        lambda: rfm_summary(SHOP, "2024-02-29", calibration_end="2024-03-31"),
        "pass an earlier calibration_end",
    ),
    "unknown time unit": (
        lambda: rfm_summary(SHOP, "2024-02-29", time_unit="M"),  # type: ignore[arg-type]
        "time_unit must be 'D' (days) or 'W' (weeks), not 'M'",
    ),
    "a checked spend": (lambda: check_spend([1], [-3.0]), "negative monetary_value"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_refused_with_a_message_that_says_what_to_fix(case: str) -> None:
    call, message = BAD_INPUTS[case]
    with pytest.raises(InvalidInput) as raised:
        call()
    assert message in str(raised.value)


def test_predictions_check_the_histories_they_are_given(model: BetaGeoModel) -> None:
    with pytest.raises(InvalidInput, match="1 customer has recency larger than T"):
        model.probability_alive([1], [7.0], [5.0])
    with pytest.raises(InvalidInput, match="t must be one horizon or one per customer"):
        model.conditional_expected_purchases([1.0, 2.0], [1, 2, 3], [1.0, 1.0, 1.0], [5.0, 5.0, 5.0])
    with pytest.raises(InvalidInput, match="negative t"):
        model.expected_purchases(-1.0)


def test_small_data_fit_with_the_suggested_penalizer() -> None:
    model = BetaGeoModel(penalizer=0.01).fit([0, 1, 2, 0, 3], [0.0, 5.0, 20.0, 0.0, 25.0], [30, 30, 30, 20, 30])
    assert all(0 < value < 100 for value in model.params_.values())


@pytest.mark.parametrize(
    "call",
    [
        lambda m, g: m.probability_alive([1], [2.0], [3.0]),
        lambda m, g: m.conditional_expected_purchases(10.0, [1], [2.0], [3.0]),
        lambda m, g: m.expected_purchases(10.0),
        lambda m, g: g.conditional_expected_average_profit([1], [20.0]),
        lambda m, g: g.customer_lifetime_value(m, [1], [2.0], [3.0], [20.0]),
    ],
    ids=["probability_alive", "conditional_expected_purchases", "expected_purchases", "average_profit", "clv"],
)
def test_models_refuse_to_predict_before_fit(call: Callable[[BetaGeoModel, GammaGammaModel], Any]) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet; call fit"):
        call(BetaGeoModel(), GammaGammaModel())


def test_init_only_stores_the_hyperparameters() -> None:
    model = BetaGeoModel(penalizer=0.5)
    assert vars(model) == {"penalizer": 0.5, "log_penalizer": 0.0}
    assert vars(GammaGammaModel()) == {"penalizer": 0.0}


def test_a_log_penalty_keeps_dropout_identified_when_a_sample_shows_none() -> None:
    # everybody still buying steadily: the unpenalised estimate of a runs off to 0
    rng = np.random.default_rng(3)
    n = 400
    T = rng.uniform(200, 365, n)
    frequency = rng.integers(3, 30, n).astype(float)
    recency = T - rng.uniform(0, 5, n)
    with pytest.raises(InvalidInput, match="diverge"):
        BetaGeoModel().fit(frequency, recency, T)
    model = BetaGeoModel(log_penalizer=0.01).fit(frequency, recency, T)
    assert 0 < model.params_["a"] < 1
    assert np.all(model.probability_alive(frequency, recency, T) > 0.5)
