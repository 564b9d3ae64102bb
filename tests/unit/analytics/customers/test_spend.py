"""Next-quarter spend: targets without leakage, linear and polynomial regression, tuned on the past only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput
from analytics.customers.spend import MODELS, SpendModel, SpendSplit, compare_spend_models, future_spend, spend_split
from tests.unit.analytics.customers.test_churn import CUTOFF, orders_frame, synthetic_shop

SMALL_GRIDS = {"linear": ({"alpha": 0.0}, {"alpha": 10.0}), "polynomial": ({"degree": 2, "alpha": 10.0},)}


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return synthetic_shop()


@pytest.fixture(scope="module")
def split(shop: pd.DataFrame) -> SpendSplit:
    return spend_split(shop, CUTOFF)


def test_future_spend_is_what_each_customer_spends_in_the_horizon_after_the_cutoff() -> None:
    orders = orders_frame(
        [
            (1, "2011-01-01", 10.0),
            (1, "2011-02-01", 30.0),  # inside (cutoff, cutoff + 90 days]
            (1, "2011-02-15", 12.5),
            (2, "2011-01-05", 5.0),  # never comes back: 0
            (1, "2011-05-01", 99.0),  # after the horizon: not counted
            (3, "2011-02-01", 7.0),  # first order after the cutoff: no row
        ]
    )
    assert future_spend(orders, "2011-01-10", horizon_days=90).to_dict() == {1: 42.5, 2: 0.0}
    with pytest.raises(InvalidInput, match="orders end on 2011-05-01, before cutoff"):
        future_spend(orders, "2011-03-01", horizon_days=90)


def test_the_split_learns_from_the_past_quarter_and_is_tested_on_the_next(split: SpendSplit) -> None:
    assert (split.train_cutoff, split.test_cutoff) == (CUTOFF - pd.Timedelta(days=90), CUTOFF)
    assert split.X_train.index.equals(split.y_train.index) and split.X_test.index.equals(split.y_test.index)
    assert split.y_test.loc[range(1, 31)].gt(0).all()  # regulars keep buying
    assert split.y_test.loc[range(101, 121)].eq(0).all()  # lapsed customers spend nothing


@pytest.mark.parametrize(
    ("name", "settings"), [("linear", {}), ("linear", {"alpha": 1.0}), ("polynomial", {"alpha": 10.0})]
)
def test_each_model_predicts_who_spends_and_roughly_how_much(name: str, settings: dict, split: SpendSplit) -> None:
    model = SpendModel(name, **settings).fit(split.X_train, split.y_train)
    predicted = model.predict(split.X_test)
    assert predicted.shape == (len(split.X_test),) and (predicted >= 0).all()
    mean_error = np.mean((predicted - split.y_test.to_numpy()) ** 2)
    naive_error = np.mean((split.y_train.mean() - split.y_test.to_numpy()) ** 2)
    assert mean_error < 0.2 * naive_error
    regulars, lapsed = predicted[split.X_test.index <= 30], predicted[split.X_test.index > 100]
    assert regulars.min() > lapsed.max()


def test_columns_are_matched_by_name(split: SpendSplit) -> None:
    model = SpendModel("linear").fit(split.X_train, split.y_train)
    reordered = split.X_test[list(reversed(split.X_test.columns))]
    np.testing.assert_allclose(model.predict(reordered), model.predict(split.X_test))


def test_the_comparison_tunes_on_the_past_and_beats_the_naive_baselines(shop: pd.DataFrame) -> None:
    table = compare_spend_models(shop, CUTOFF, grids=SMALL_GRIDS)
    assert list(table.index) == [*MODELS, "last quarter's spend", "training mean"]
    assert list(table.columns) == ["settings", "val_mse", "mse", "rmse", "mae", "r2"]
    np.testing.assert_allclose(table["rmse"] ** 2, table["mse"])
    assert table.loc["linear", "settings"] in {"alpha=0.0", "alpha=10.0"}
    assert table.loc["polynomial", "settings"] == "degree=2, alpha=10.0"
    for model in MODELS:
        assert table.loc[model, "mse"] < table.loc["training mean", "mse"]
        assert table.loc[model, "r2"] > 0.8
    assert abs(table.loc["training mean", "r2"]) < 0.1  # a constant explains nothing
    info = table.attrs
    assert (info["fit_cutoff"], info["validation_cutoff"]) == (
        CUTOFF - pd.Timedelta(days=180),
        CUTOFF - pd.Timedelta(days=90),
    )
    assert [t["settings"] for t in info["tuning"]] == ["alpha=0.0", "alpha=10.0", "degree=2, alpha=10.0"]


def test_the_choices_never_see_the_test_quarter(shop: pd.DataFrame) -> None:
    after = shop["placed_at"] > CUTOFF
    doubled = pd.concat([shop[~after], shop[after].assign(amount=lambda f: f["amount"] * 2)])
    one = compare_spend_models(shop, CUTOFF, grids=SMALL_GRIDS)
    two = compare_spend_models(doubled, CUTOFF, grids=SMALL_GRIDS)
    pd.testing.assert_frame_equal(one[["settings", "val_mse"]], two[["settings", "val_mse"]])
    assert one.attrs["tuning"] == two.attrs["tuning"]
    assert not one["mse"].equals(two["mse"])


def test_bad_settings_and_data_are_refused_with_a_fix(split: SpendSplit, shop: pd.DataFrame) -> None:
    X, y = split.X_train, split.y_train
    with pytest.raises(InvalidInput, match="model must be one of linear, polynomial"):
        SpendModel("cubic").fit(X, y)
    with pytest.raises(InvalidInput, match="alpha must be a number >= 0"):
        SpendModel(alpha=-1.0).fit(X, y)
    with pytest.raises(InvalidInput, match="degree must be a whole number >= 2"):
        SpendModel("polynomial", degree=1).fit(X, y)
    with pytest.raises(InvalidInput, match="one spend per row of X"):
        SpendModel().fit(X, y.to_numpy()[:-1])
    with pytest.raises(InvalidInput, match="missing or infinite values in monetary"):
        SpendModel().fit(X.assign(monetary=np.nan), y)
    with pytest.raises(InvalidInput, match="lacks feature"):
        SpendModel().fit(X, y).predict(X.drop(columns="recency_days"))
    with pytest.raises(InvalidInput, match="unknown model"):
        compare_spend_models(shop, CUTOFF, grids={"forest": ({},)})
