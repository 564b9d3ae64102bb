"""Churn: features without leakage, out-of-time splits, five models with one contract, tuned on the past."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.churn.compare import best_f1_threshold, compare_models, recency_rule
from analytics.customers.churn.features import (
    CATEGORY_FEATURE,
    FEATURES,
    TimeSplit,
    customer_features,
    purchase_labels,
    time_split,
)
from analytics.customers.churn.model import MODELS, ChurnModel, describe
from analytics.customers.wording import ago

CUTOFF = pd.Timestamp("2011-09-01")
DATA_END = pd.Timestamp("2011-12-31")


def orders_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_id": range(1, len(rows) + 1),
            "placed_at": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
            "amount": [r[2] for r in rows],
        }
    )


def synthetic_shop(seed: int = 0) -> pd.DataFrame:
    """An obvious world: regulars buy about monthly and keep buying; lapsed
    regulars bought the same way but stopped by early 2011; one-time buyers
    came once in 2010 and never again. Start dates, lengths of history and
    spend overlap between the groups: only the recent past tells them apart."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, pd.Timestamp, float]] = []

    def monthly(customer: int, start: str, spread: int, stop: pd.Timestamp) -> None:
        day = pd.Timestamp(start) + pd.Timedelta(days=int(rng.integers(0, spread)))
        while day <= stop:
            rows.append((customer, day, float(rng.uniform(30, 80))))
            day += pd.Timedelta(days=int(rng.integers(25, 36)))

    for customer in range(1, 31):  # regulars, through the end of the data
        monthly(customer, "2010-01-01", 420, DATA_END)
    for customer in range(101, 121):  # lapsed regulars
        monthly(customer, "2010-01-01", 180, pd.Timestamp("2010-10-01") + pd.Timedelta(days=int(rng.integers(0, 120))))
    for customer in range(201, 231):  # one-time buyers
        day = pd.Timestamp("2010-01-01") + pd.Timedelta(days=int(rng.integers(0, 300)))
        rows.append((customer, day, float(rng.uniform(20, 200))))
    frame = pd.DataFrame(rows, columns=["customer_id", "placed_at", "amount"])
    frame.insert(1, "order_id", np.arange(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return synthetic_shop()


@pytest.fixture(scope="module")
def split(shop: pd.DataFrame) -> TimeSplit:
    return time_split(shop, CUTOFF, horizon_days=90)


@pytest.fixture(scope="module")
def fitted(split: TimeSplit) -> dict[str, ChurnModel]:
    return {name: ChurnModel(name).fit(split.X_train, split.y_train) for name in MODELS}


# --------------------------------------------------------------------------- features


def test_features_have_the_documented_values() -> None:
    orders = orders_frame(
        [
            (1, "2011-01-01", 10.0),
            (1, "2011-05-01", 20.0),  # 123 days before the cutoff: in 180d, not in 90d
            (1, "2011-08-02", 30.0),  # 30 days before: in 90d, not in 30d
            (1, "2011-08-22", 40.0),  # 10 days before: in every window
            (2, "2011-06-01", 5.0),  # a one-order customer
            (1, "2011-09-02", 999.0),  # after the cutoff: ignored
        ]
    )
    lines = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 1],
            "placed_at": pd.to_datetime(["2011-01-01", "2011-05-01", "2011-08-22", "2011-06-01", "2011-09-02"]),
            "category": ["Candles", "Candles", "Bags", "Toys", "Garden"],
        }
    )
    features = customer_features(orders, "2011-09-01", lines=lines)
    assert list(features.columns) == [*FEATURES, CATEGORY_FEATURE]
    assert list(features.index) == [1, 2]
    one = features.loc[1]
    assert one["recency_days"] == 10
    assert one["frequency"] == 4
    assert one["monetary"] == 100
    assert one["avg_order_value"] == 25
    assert one["tenure_days"] == 233  # 2011-01-01 to 2011-08-22
    assert one["days_since_first_order"] == 243
    assert one["gap_mean_days"] == pytest.approx(233 / 3)
    assert one["gap_std_days"] == pytest.approx(np.std([120, 93, 20]))
    assert (one["orders_30d"], one["orders_90d"], one["orders_180d"]) == (1, 2, 3)
    assert (one["spend_30d"], one["spend_90d"], one["spend_180d"]) == (40, 70, 90)
    assert one["spend_trend"] == pytest.approx((70 - 20) / (70 + 20))
    assert one[CATEGORY_FEATURE] == 2  # Garden is bought after the cutoff
    two = features.loc[2]
    assert two["gap_mean_days"] == two["recency_days"] == 92  # the open gap
    assert two["gap_std_days"] == 0
    assert two["spend_trend"] == -1  # spent only 91–180 days before the cutoff


def test_orders_after_the_cutoff_do_not_change_the_features(shop: pd.DataFrame) -> None:
    before = shop[shop["placed_at"] <= CUTOFF]
    later = orders_frame([(1, "2011-09-01 00:00:01", 1e6), (999, "2011-10-01", 50.0), (201, "2011-12-01", 70.0)])
    later["order_id"] += 10**6
    assert before.shape[0] < shop.shape[0]
    expected = customer_features(before, CUTOFF)
    pd.testing.assert_frame_equal(customer_features(shop, CUTOFF), expected)
    pd.testing.assert_frame_equal(customer_features(pd.concat([shop, later]), CUTOFF), expected)


def test_labels_mark_an_order_in_the_horizon_for_customers_with_history() -> None:
    orders = orders_frame(
        [
            (1, "2011-01-01", 10.0),
            (1, "2011-03-01", 10.0),  # inside (Jan 10, Apr 10]
            (2, "2011-01-05", 10.0),
            (2, "2011-04-11", 10.0),  # one day after the horizon
            (3, "2011-02-01", 10.0),  # no history before the cutoff: not labelled
        ]
    )
    labels = purchase_labels(orders, "2011-01-10", horizon_days=90)
    assert labels.to_dict() == {1: 1, 2: 0}


def test_the_split_trains_on_the_past_and_tests_on_the_future(shop: pd.DataFrame, split: TimeSplit) -> None:
    assert split.train_cutoff == CUTOFF - pd.Timedelta(days=90)
    assert split.test_cutoff == CUTOFF
    pd.testing.assert_frame_equal(split.X_train, customer_features(shop, split.train_cutoff))
    pd.testing.assert_series_equal(split.y_train, purchase_labels(shop, split.train_cutoff, 90))
    pd.testing.assert_series_equal(split.y_test, purchase_labels(shop, CUTOFF, 90))
    assert split.y_test.loc[list(range(1, 31))].eq(1).all()
    assert split.y_test.loc[list(range(101, 121)) + list(range(201, 231))].eq(0).all()


def test_the_split_refuses_data_that_stop_before_the_horizon_ends(shop: pd.DataFrame) -> None:
    short = shop[shop["placed_at"] <= pd.Timestamp("2011-11-15")]
    with pytest.raises(InvalidInput, match=r"before cutoff \+ horizon \(2011-11-30\).*Use a cutoff on or before"):
        time_split(short, CUTOFF, horizon_days=90)
    with pytest.raises(InvalidInput, match="horizon"):
        purchase_labels(short, CUTOFF, horizon_days=90)


def test_the_split_refuses_a_single_class(shop: pd.DataFrame) -> None:
    regulars = shop[shop["customer_id"] <= 30]
    with pytest.raises(InvalidInput, match="one class only: every customer buys again"):
        time_split(regulars, CUTOFF)


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", MODELS)
def test_every_model_separates_regulars_from_lapsed_customers(
    name: str, split: TimeSplit, fitted: dict[str, ChurnModel]
) -> None:
    model = fitted[name]
    proba = model.predict_proba(split.X_test)
    assert proba.shape == (len(split.X_test),)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert (model.predict(split.X_test) == split.y_test.to_numpy()).mean() >= 0.95
    risk = model.churn_risk(split.X_test)
    assert risk.index.equals(split.X_test.index)
    np.testing.assert_allclose(risk.to_numpy(), 1 - proba)
    assert risk.loc[range(101, 121)].min() > risk.loc[range(1, 31)].max() - 1e-9


RECENT_ACTIVITY = {"recency_days", *(f"{kind}_{w}d" for kind in ("orders", "spend") for w in (30, 90, 180))}


@pytest.mark.parametrize("name", MODELS)
def test_the_explanation_for_a_lapsed_customer_names_recency(
    name: str, split: TimeSplit, fitted: dict[str, ChurnModel]
) -> None:
    model = fitted[name]
    why = model.explain(split.X_test.loc[[105, 1]], top=3)
    assert list(why.columns) == [
        "customer_id", "rank", "feature", "value", "median", "contribution", "effect", "reason"
    ]  # fmt: skip
    lapsed, regular = why[why["customer_id"] == 105], why[why["customer_id"] == 1]
    assert 1 <= len(lapsed) <= 3
    assert lapsed["rank"].tolist() == list(range(1, len(lapsed) + 1))
    assert lapsed["contribution"].abs().is_monotonic_decreasing
    assert (lapsed["contribution"] > 0).all() and (lapsed["effect"] == "raises churn risk").all()
    assert lapsed["feature"].iloc[0] in RECENT_ACTIVITY
    assert (regular["contribution"] < 0).all() and len(regular) >= 1
    assert (regular["effect"] == "lowers churn risk").all()


def test_asked_why_a_customer_is_at_risk_it_lists_only_what_raises_the_risk(fitted: dict[str, ChurnModel]) -> None:
    model = fitted["forest"]
    X = time_split(synthetic_shop(), CUTOFF).X_test.loc[[105, 1]]
    everything = model.explain(X, top=len(FEATURES))
    raising = model.explain(X, top=len(FEATURES), raising_only=True)
    assert (raising["contribution"] > 0).all() and (raising["effect"] == "raises churn risk").all()
    assert len(raising) < len(everything)
    assert raising[raising["customer_id"] == 1].empty  # a loyal regular has nothing putting them at risk
    assert set(raising.loc[raising["customer_id"] == 105, "feature"]) == set(
        everything.loc[(everything["customer_id"] == 105) & (everything["contribution"] >= 1e-3), "feature"]
    )


def test_contributions_add_up_to_the_risk_above_the_reference(split: TimeSplit, fitted: dict[str, ChurnModel]) -> None:
    model = fitted["forest"]
    X = split.X_test.loc[[1, 105, 205]]
    parts = model.contributions(X)
    np.testing.assert_allclose(parts.sum(axis=1), model.churn_risk(X) - parts.attrs["reference_risk"], atol=1e-9)
    pd.testing.assert_frame_equal(model.contributions(X), parts)  # seeded: the same every time
    days = round(split.X_test.loc[105, "recency_days"])
    reasons = model.explain(X.loc[[105]], top=len(FEATURES))["reason"].tolist()
    assert f"last order {ago(days)}" in reasons


def test_the_fit_follows_the_estimator_contract(split: TimeSplit) -> None:
    model = ChurnModel("forest", horizon_days=90, random_state=3)
    assert vars(model) == {
        "model": "forest", "horizon_days": 90, "random_state": 3, "model_params": None, "threshold": 0.5
    }  # fmt: skip
    for method in (model.predict_proba, model.predict, model.churn_risk, model.contributions, model.explain):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(split.X_test)
    assert model.fit(split.X_train, split.y_train) is model
    assert list(model.feature_names_in_) == list(FEATURES)
    assert model.medians_.index.tolist() == list(FEATURES)
    reordered = split.X_test[list(reversed(FEATURES))]
    np.testing.assert_allclose(model.predict_proba(reordered), model.predict_proba(split.X_test))


#: one or two settings per model keep the comparison fast on the synthetic shop
SMALL_GRIDS = {
    "logistic": ({"C": 1.0}, {"C": 0.01}),
    "tree": ({"max_depth": 3},),
    "forest": ({"n_estimators": 20},),
    "boosting": ({"max_iter": 20},),
    "svm": ({"kernel": "rbf", "C": 1.0}, {"kernel": "linear", "C": 0.1}),
}


def test_the_comparison_tunes_on_the_past_and_scores_models_and_baselines_on_the_future(shop: pd.DataFrame) -> None:
    seen: list[pd.Timestamp] = []

    def always_half(X: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
        seen.append(at)
        return np.full(len(X), 0.5)

    table = compare_models(shop, CUTOFF, baselines={"coin": always_half}, grids=SMALL_GRIDS)
    assert list(table.index) == [*MODELS, "recency rule", "coin"]
    assert {"settings", "threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc"} <= set(table.columns)
    assert (table.loc[list(MODELS), ["accuracy", "f1", "roc_auc", "pr_auc"]] >= 0.95).all().all()
    assert table.loc["recency rule", "accuracy"] >= 0.95  # its number of days is chosen on validation too
    assert table.loc["coin", "roc_auc"] == 0.5
    assert table.loc["coin", "recall"] == 1.0  # 0.5 counts as "buys again"
    assert np.isnan(table.loc["coin", "fit_seconds"])
    # the baseline saw the validation cutoff (to choose its threshold), then the test cutoff, once each
    assert seen == [CUTOFF - pd.Timedelta(days=90), CUTOFF]
    info = table.attrs
    assert (info["fit_cutoff"], info["validation_cutoff"], info["test_cutoff"]) == (
        CUTOFF - pd.Timedelta(days=180), CUTOFF - pd.Timedelta(days=90), CUTOFF
    )  # fmt: skip
    assert info["n_test"] == 80
    assert len(info["tuning"]) == sum(len(grid) for grid in SMALL_GRIDS.values())
    assert table.loc["svm", "settings"] in {"kernel=rbf, C=1.0", "kernel=linear, C=0.1"}

    with pytest.raises(InvalidInput, match="baseline 'broken' must return one probability"):
        compare_models(shop, CUTOFF, baselines={"broken": lambda X, at: np.full(len(X), 2.0)}, grids=SMALL_GRIDS)
    with pytest.raises(InvalidInput, match="unknown model"):
        compare_models(shop, CUTOFF, grids={"neural-net": ({},)})


def test_the_choices_never_see_the_test_quarter(shop: pd.DataFrame) -> None:
    """Settings and thresholds are chosen before the cutoff: rewriting every order after it changes neither."""
    after = shop["placed_at"] > CUTOFF
    # after the cutoff, lapsed customers 101..120 come back and regulars 1..20 leave
    future = shop[after & (shop["customer_id"] <= 20)].assign(customer_id=lambda f: f["customer_id"] + 100)
    future_flipped = pd.concat([shop[~after], shop[after & (shop["customer_id"] > 20)], future])
    grids = {"logistic": ({"C": 1.0}, {"C": 0.001}), "svm": ({"C": 1.0}, {"C": 0.01})}
    one = compare_models(shop, CUTOFF, grids=grids)
    two = compare_models(future_flipped, CUTOFF, grids=grids)
    pd.testing.assert_frame_equal(
        one[["settings", "val_roc_auc", "threshold"]], two[["settings", "val_roc_auc", "threshold"]]
    )
    assert one.attrs["tuning"] == two.attrs["tuning"]
    assert not one[["roc_auc", "f1"]].equals(two[["roc_auc", "f1"]])  # the test scores did change


def test_the_threshold_is_the_one_with_the_best_f1() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([0.1, 0.2, 0.7, 0.3, 0.8, 0.9])
    # at 0.3: 3 true positives, 1 false positive (F1 6/7); at 0.8: 2 and 0 (F1 4/5); at 0.7: 2 and 1 (F1 2/3)
    assert best_f1_threshold(y, proba) == 0.3
    model = ChurnModel("logistic", threshold=0.9)
    assert model.threshold == 0.9


def test_the_recency_rule_is_half_at_the_horizon() -> None:
    X = pd.DataFrame({"recency_days": [0.0, 90.0, 180.0]})
    np.testing.assert_allclose(recency_rule(90)(X), [1.0, 0.5, 0.25])


# --------------------------------------------------------------------------- explanations in words


@pytest.mark.parametrize(
    ("feature", "value", "sentence"),
    [
        ("orders_180d", 0.0, "no orders in the last 6 months"),
        ("orders_90d", 1.0, "1 order in the last 3 months"),
        ("orders_30d", 2.0, "2 orders in the last month"),
        ("spend_90d", 0.0, "£0 spent in the last 3 months"),
        ("spend_180d", 1234.5, "£1,234.50 spent in the last 6 months"),
        ("monetary", 25000.0, "£25,000 spent in total"),
        ("avg_order_value", 80.0, "£80 per order on average"),
        ("recency_days", 281.4, "last order 281 days ago"),
        ("recency_days", 210.0, "last order 7 months ago"),
        ("recency_days", 14.0, "last order 2 weeks ago"),
        ("recency_days", 1.0, "last order yesterday"),
        ("frequency", 1.0, "1 order so far"),
        ("frequency", 1500.0, "1,500 orders so far"),
        ("tenure_days", 0.0, "all orders on one day"),
        ("days_since_first_order", 365.0, "first order 1 year ago"),
        ("gap_mean_days", 21.0, "3 weeks between orders on average"),
        ("gap_std_days", 10.2, "gaps between orders varying by 10 days"),
        ("spend_trend", 0.4, "spent more in the last 3 months than in the 3 months before"),
        ("spend_trend", -1.0, "spent less in the last 3 months than in the 3 months before"),
        (CATEGORY_FEATURE, 1.0, "bought from 1 category"),
        (CATEGORY_FEATURE, 4.0, "bought from 4 categories"),
    ],
)
def test_each_reason_reads_like_a_person_wrote_it(feature: str, value: float, sentence: str) -> None:
    assert describe(feature, value) == sentence


def test_a_lapsed_customers_reasons_are_plain_sentences(split: TimeSplit, fitted: dict[str, ChurnModel]) -> None:
    reasons = fitted["logistic"].explain(split.X_test.loc[[105]], top=len(FEATURES))["reason"].tolist()
    assert "no orders in the last 6 months" in reasons
    assert not [r for r in reasons if "(s)" in r or "churn risk" in r or ".00" in r]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        (orders_frame([]), "empty"),
        (orders_frame([(1, "2011-01-01", 10.0)]).assign(amount=[np.nan]), "missing values in amount"),
        (orders_frame([(1, "2011-01-01", 10.0)]).drop(columns="amount"), "lacks column"),
        (orders_frame([(1, "2011-01-01", -5.0)]), "negative"),
        (orders_frame([(1, "2011-01-01", 10.0), (1, "2099-01-01", 10.0)]), "dated in the future"),
        ("not a frame", "must be a pandas DataFrame"),
    ],
)
def test_bad_orders_are_refused_with_a_fix(orders: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        customer_features(orders, "2011-06-01")


def test_bad_arguments_are_refused_with_a_fix(shop: pd.DataFrame, split: TimeSplit) -> None:
    with pytest.raises(InvalidInput, match="no order is placed at or before"):
        customer_features(shop, "2009-01-01")
    with pytest.raises(InvalidInput, match="is not a date"):
        customer_features(shop, "next tuesday")
    with pytest.raises(InvalidInput, match="horizon_days must be"):
        time_split(shop, CUTOFF, horizon_days=0)
    with pytest.raises(InvalidInput, match="lines frame lacks column"):
        customer_features(shop, CUTOFF, lines=pd.DataFrame({"customer_id": [1]}))
    with pytest.raises(InvalidInput, match="model must be one of"):
        ChurnModel("neural-net").fit(split.X_train, split.y_train)
    with pytest.raises(InvalidInput, match=r"model_params \{'C': -1.0\} do not suit the svm model"):
        ChurnModel("svm", model_params={"C": -1.0}).fit(split.X_train, split.y_train)
    with pytest.raises(InvalidInput, match=r"model_params .* do not suit the forest model"):
        ChurnModel("forest", model_params={"kernel": "rbf"}).fit(split.X_train, split.y_train)
    with pytest.raises(InvalidInput, match="threshold must be a probability"):
        ChurnModel("logistic", threshold=1.5).fit(split.X_train, split.y_train)


def test_bad_training_data_is_refused_with_a_fix(split: TimeSplit, fitted: dict[str, ChurnModel]) -> None:
    model = ChurnModel("logistic")
    with pytest.raises(InvalidInput, match="one class only"):
        model.fit(split.X_train, pd.Series(1, index=split.X_train.index))
    with pytest.raises(InvalidInput, match="missing or infinite values in recency_days"):
        model.fit(split.X_train.assign(recency_days=np.nan), split.y_train)
    with pytest.raises(InvalidInput, match="X is empty"):
        model.fit(split.X_train.iloc[:0], split.y_train.iloc[:0])
    with pytest.raises(InvalidInput, match=r"0 .* or 1"):
        model.fit(split.X_train, split.y_train * 2)
    with pytest.raises(InvalidInput, match="one label per row"):
        model.fit(split.X_train, split.y_train.to_numpy()[:-1])
    with pytest.raises(InvalidInput, match="lacks feature"):
        fitted["logistic"].predict_proba(split.X_test.drop(columns="recency_days"))
    with pytest.raises(InvalidInput, match="top must be"):
        fitted["logistic"].explain(split.X_test, top=0)
