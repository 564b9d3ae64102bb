"""Reconciled demand forecasts: products, categories and the shop add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.forecast.reconcile import METHODS, HierarchyReconciler, aggregate, base_forecasts

SHOP = ("shop", "all")
CANDLES = ("category", "Candles")
A, B = ("product", "A"), ("product", "B")

#: Two candles; the shop and the category are forecast at 12, each candle at 4 (they add up to 8, not 12).
TWO_CANDLES = pd.DataFrame({"product": ["A", "B"], "category": ["Candles", "Candles"]})
INCOHERENT = pd.DataFrame({SHOP: [12.0], CANDLES: [12.0], A: [4.0], B: [4.0]})
#: Errors of equal size and no correlation between the four nodes (the columns of a 4 x 4 Hadamard matrix).
UNCORRELATED = pd.DataFrame(
    [[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]],
    columns=pd.MultiIndex.from_tuples([SHOP, CANDLES, A, B]),
)

SHOP_OF_THREE = pd.DataFrame({"product": ["A", "B", "C"], "category": ["Candles", "Candles", "Mugs"]})


def three_products_forecasts(seed: int = 0, rows: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = [SHOP, CANDLES, ("category", "Mugs"), A, B, ("product", "C")]
    return pd.DataFrame(rng.uniform(1, 50, size=(rows, len(nodes))), columns=pd.MultiIndex.from_tuples(nodes))


def test_bottom_up_sums_the_product_forecasts() -> None:
    got = HierarchyReconciler("bottom-up").fit(TWO_CANDLES).transform(INCOHERENT)
    assert got.loc[0].to_dict() == {SHOP: 8.0, CANDLES: 8.0, A: 4.0, B: 4.0}


def test_mint_with_equal_uncorrelated_errors_splits_the_gap_as_least_squares_does() -> None:
    # minimise (s-12)^2 + (c-12)^2 + (a-4)^2 + (b-4)^2 with s = c = a + b: a = b = 5.6
    model = HierarchyReconciler("mint-shrink").fit(TWO_CANDLES, UNCORRELATED)
    got = model.transform(INCOHERENT).loc[0]
    assert got.to_dict() == pytest.approx({SHOP: 11.2, CANDLES: 11.2, A: 5.6, B: 5.6})


def test_mint_trusts_the_level_whose_past_forecasts_were_closer() -> None:
    noisy_products, noisy_totals = UNCORRELATED.copy(), UNCORRELATED.copy()
    noisy_products[[A, B]] *= 10  # the candles' forecast errors are ten times larger
    noisy_totals[[SHOP, CANDLES]] *= 10
    trust_totals = HierarchyReconciler("mint-shrink").fit(TWO_CANDLES, noisy_products).transform(INCOHERENT)
    trust_products = HierarchyReconciler("mint-shrink").fit(TWO_CANDLES, noisy_totals).transform(INCOHERENT)
    assert 11.5 < trust_totals.loc[0, SHOP] < 12  # close to the shop's own 12
    assert 8 < trust_products.loc[0, SHOP] < 8.5  # close to the candles' 4 + 4


def test_coherent_forecasts_are_left_as_they_are() -> None:
    coherent = pd.DataFrame({SHOP: [9.0], CANDLES: [9.0], A: [2.0], B: [7.0]})
    for method in METHODS:
        got = HierarchyReconciler(method).fit(TWO_CANDLES, UNCORRELATED).transform(coherent)
        assert got.loc[0].to_dict() == pytest.approx(coherent.loc[0].to_dict()), method


@pytest.mark.parametrize("method", METHODS)
def test_incoherent_forecasts_add_up_after_reconciling(method: str) -> None:
    forecasts = three_products_forecasts()
    residuals = three_products_forecasts(seed=1, rows=30) - 25
    got = HierarchyReconciler(method).fit(SHOP_OF_THREE, residuals).transform(forecasts)
    products = got.xs("product", axis=1, level="level")
    assert np.allclose(got[("category", "Candles")], products["A"] + products["B"])
    assert np.allclose(got[("category", "Mugs")], products["C"])
    assert np.allclose(got[SHOP], got.xs("category", axis=1, level="level").sum(axis=1))
    assert (got.to_numpy() >= 0).all()


def test_negative_product_forecasts_become_zero_and_the_totals_still_add_up() -> None:
    forecasts = pd.DataFrame({SHOP: [1.0], CANDLES: [1.0], A: [10.0], B: [-30.0]})
    got = HierarchyReconciler("ols").fit(TWO_CANDLES).transform(forecasts).loc[0]
    assert got[B] == 0.0
    assert got[SHOP] == got[CANDLES] == got[A] > 0


def test_the_hierarchy_sums_product_histories_into_categories_and_the_shop() -> None:
    history = pd.DataFrame({"A": [1.0, 2.0], "B": [3.0, np.nan], "C": [5.0, 6.0]})
    nodes = aggregate(history, SHOP_OF_THREE)
    assert nodes[("category", "Candles")].tolist() == [4.0, 2.0]
    assert nodes[SHOP].tolist() == [9.0, 8.0]


def test_base_forecasts_give_every_node_a_forecast_and_backtest_errors() -> None:
    weeks = np.arange(30, dtype="float64")
    histories = {SHOP: 20 + weeks, CANDLES: 20 + weeks, A: 5 + weeks / 2, B: 15 + weeks / 2}
    forecasts, residuals = base_forecasts({k: pd.Series(v) for k, v in histories.items()}, "W", 1, 4)
    assert forecasts.shape == (4, 4) and set(forecasts.columns) == set(histories)
    reconciled = HierarchyReconciler().fit(TWO_CANDLES, residuals).transform(forecasts)
    assert np.allclose(reconciled[SHOP], reconciled[A] + reconciled[B])


def test_the_reconciler_follows_the_estimator_contract() -> None:
    model = HierarchyReconciler("wls", nonnegative=False)
    assert clone(model).get_params() == {"method": "wls", "nonnegative": False}
    with pytest.raises(NotFittedError):
        model.transform(INCOHERENT)


def test_a_product_without_a_category_is_refused_with_how_to_fix_it() -> None:
    hierarchy = pd.DataFrame({"product": ["A", "B"], "category": ["Candles", None]})
    with pytest.raises(InvalidInput, match=r"1 product\(s\) have no category \(B\).*'Other'"):
        HierarchyReconciler("bottom-up").fit(hierarchy)


def test_a_negative_horizon_is_refused() -> None:
    with pytest.raises(InvalidInput, match="horizon must be a whole number >= 1, not -2"):
        base_forecasts({SHOP: pd.Series(np.arange(20.0))}, "W", 1, -2)


@pytest.mark.parametrize(
    ("method", "residuals", "forecasts", "message"),
    [
        ("median", None, INCOHERENT, "method must be one of"),
        ("mint-shrink", None, INCOHERENT, "needs residuals"),
        ("mint-shrink", UNCORRELATED[[SHOP, CANDLES, B]], INCOHERENT, "no column for 1 node"),
        ("mint-shrink", UNCORRELATED.head(1), INCOHERENT, "at least 2 rows"),
        ("ols", None, INCOHERENT[[SHOP, A, B]], "forecasts has no column for 1 node.*category 'Candles'"),
        ("ols", None, INCOHERENT.replace(4.0, np.nan), "must be finite"),
    ],
)
def test_bad_input_gets_a_clear_error(
    method: str, residuals: pd.DataFrame | None, forecasts: pd.DataFrame, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        HierarchyReconciler(method).fit(TWO_CANDLES, residuals).transform(forecasts)
