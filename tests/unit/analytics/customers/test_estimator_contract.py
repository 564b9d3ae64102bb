"""Every customer estimator follows scikit-learn's contract: parameters in, fitted attributes out.

One table of cases, one set of checks: ``get_params``/``set_params``/``clone``
work, ``clone`` gives an unfitted twin, and using an estimator before ``fit``
raises scikit-learn's ``NotFittedError`` (ours subclasses it) saying to call fit.
The checks of ``sklearn.utils.estimator_checks`` that do not need array inputs
run on each one (these estimators take frames of orders or features).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

from analytics.core.errors import CRMError, NotFittedError
from analytics.customers.churn.features import time_split
from analytics.customers.churn.model import ChurnModel
from analytics.customers.clv.bgnbd import BetaGeoModel
from analytics.customers.clv.gamma_gamma import GammaGammaModel
from analytics.customers.clv.simulate import simulate_customers
from analytics.customers.loyalty import LoyaltyProgram, LoyaltyRules
from analytics.customers.rfm import RFM
from analytics.customers.segment import CustomerSegmenter
from analytics.customers.spend import SpendModel, spend_split
from tests.unit.analytics.customers.test_churn import CUTOFF, synthetic_shop

SHOP = synthetic_shop()
SPLIT = time_split(SHOP, CUTOFF)
SPEND = spend_split(SHOP, CUTOFF)
HISTORY = simulate_customers(300, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)


@dataclass(frozen=True)
class Case:
    """An estimator with non-default parameters, how to fit it, and one way to use it afterwards."""

    make: Callable[[], BaseEstimator]
    fit: Callable[[Any], Any]
    use: Callable[[Any], Any]
    fitted_attribute: str


CASES = {
    "RFM": Case(
        lambda: RFM(reference_date="2012-01-01", n_bins=4), lambda e: e.fit(SHOP), lambda e: e.segment_of(1), "table_"
    ),
    "CustomerSegmenter": Case(
        lambda: CustomerSegmenter("agglomerative", k_range=(2, 3), random_state=1),
        lambda e: e.fit(SHOP),
        lambda e: e.predict(SHOP),
        "labels_",
    ),
    "ChurnModel": Case(
        lambda: ChurnModel("svm", horizon_days=90, random_state=1, model_params={"C": 2.0}, threshold=0.4),
        lambda e: e.fit(SPLIT.X_train, SPLIT.y_train),
        lambda e: e.predict_proba(SPLIT.X_test),
        "pipeline_",
    ),
    "BetaGeoModel": Case(
        lambda: BetaGeoModel(penalizer=0.001, log_penalizer=0.01),
        lambda e: e.fit(HISTORY["frequency"], HISTORY["recency"], HISTORY["T"]),
        lambda e: e.expected_purchases(10.0),
        "params_",
    ),
    "GammaGammaModel": Case(
        lambda: GammaGammaModel(penalizer=0.01),
        lambda e: e.fit(HISTORY["frequency"], HISTORY["monetary_value"]),
        lambda e: e.conditional_expected_average_profit(HISTORY["frequency"], HISTORY["monetary_value"]),
        "params_",
    ),
    "LoyaltyProgram": Case(
        lambda: LoyaltyProgram(LoyaltyRules(tiers=[("Member", 0), ("VIP", 1000)])),
        lambda e: e.fit(SHOP),
        lambda e: e.status_of(1),
        "status_",
    ),
    "SpendModel": Case(
        lambda: SpendModel("polynomial", degree=2, alpha=10.0),
        lambda e: e.fit(SPEND.X_train, SPEND.y_train),
        lambda e: e.predict(SPEND.X_test),
        "pipeline_",
    ),
}


@pytest.fixture(params=sorted(CASES), ids=str)
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_it_is_a_scikit_learn_estimator_whose_params_round_trip(case: Case) -> None:
    estimator = case.make()
    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params()
    twin = type(estimator)().set_params(**params)
    assert twin.get_params() == params


def test_clone_of_a_fitted_estimator_is_an_unfitted_twin(case: Case) -> None:
    estimator = case.make()
    case.fit(estimator)
    copy = clone(estimator)
    assert copy is not estimator
    assert copy.get_params() == estimator.get_params()
    assert not hasattr(copy, case.fitted_attribute)
    assert not [name for name in vars(copy) if name.endswith("_")]
    with pytest.raises(SklearnNotFittedError):
        case.use(copy)
    case.fit(copy)
    assert hasattr(copy, case.fitted_attribute)


def test_using_it_before_fit_says_to_call_fit(case: Case) -> None:
    estimator = case.make()
    with pytest.raises(SklearnNotFittedError, match=r"not fitted yet; call fit") as caught:
        case.use(estimator)
    assert isinstance(caught.value, NotFittedError) and isinstance(caught.value, CRMError)
    assert type(estimator).__name__ in str(caught.value)


@pytest.mark.parametrize(
    "check",
    [
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_parameters_default_constructible,
    ],
    ids=lambda check: check.__name__,
)
def test_it_passes_scikit_learns_parameter_checks(case: Case, check: Callable[[str, Any], None]) -> None:
    estimator = case.make()
    check(type(estimator).__name__, estimator)


def test_fitting_leaves_the_parameters_as_given(case: Case) -> None:
    estimator = case.make()
    before = {
        k: (v.copy() if isinstance(v, (dict, np.ndarray, pd.Series)) else v) for k, v in estimator.get_params().items()
    }
    case.fit(estimator)
    assert estimator.get_params() == before


def test_our_not_fitted_error_is_caught_as_scikit_learns_and_as_a_value_error() -> None:
    error = NotFittedError(RFM())
    assert isinstance(error, SklearnNotFittedError) and isinstance(error, ValueError)
    assert isinstance(error, AttributeError)  # hasattr-style probes treat it as "not there yet"
    assert str(error) == "This RFM is not fitted yet; call fit(...) first."
