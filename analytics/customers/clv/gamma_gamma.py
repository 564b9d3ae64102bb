"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013): each customer's mean
order value, and with a fitted BG/NBD model her discounted lifetime value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput
from analytics.customers.clv.bgnbd import BetaGeoModel
from analytics.customers.clv.common import (
    DAYS_PER_MONTH,
    DAYS_PER_UNIT,
    FloatArray,
    TimeUnit,
    Values,
    check_fitted,
    check_history,
    check_penalizer,
    check_spend,
    like,
    maximise,
    refuse_degenerate,
)

# --------------------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class _Spends:
    """Repeat customers' frequencies and mean spends, with what the likelihood reuses."""

    x: FloatArray
    m: FloatArray
    log_m: FloatArray
    log_x: FloatArray
    x_levels: FloatArray  # distinct frequencies
    x_counts: FloatArray  # customers per distinct frequency

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray) -> _Spends:
        levels, counts = np.unique(x, return_counts=True)
        return cls(x, m, np.log(m), np.log(x), levels, counts.astype(np.float64))


def _gg_loglik(params: FloatArray, s: _Spends, gradient: bool = True) -> tuple[float, FloatArray]:
    """Log-likelihood of the mean spends ``m`` of ``x`` repeat purchases, and its gradient in (p, q, v).

    Per customer (Fader & Hardie's Gamma-Gamma note, eq. 3, in logs)::

        ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v + x m)

    The gamma functions depend on x only and are evaluated once per distinct frequency.
    """
    p, q, v = params
    n = float(s.x.size)
    pl = p * s.x_levels
    px = p * s.x
    pool = v + s.x * s.m
    log_pool = np.log(pool)
    total = float(s.x_counts @ (gammaln(pl + q) - gammaln(pl))) + n * (q * np.log(v) - gammaln(q))
    total += float(((px - 1) * s.log_m + px * s.log_x - (px + q) * log_pool).sum())
    if not gradient:
        return total, np.empty(0)
    psi_all = digamma(pl + q)
    d_p = float((s.x_counts * s.x_levels) @ (psi_all - digamma(pl))) + float(s.x @ (s.log_m + s.log_x - log_pool))
    d_q = float(s.x_counts @ psi_all) + n * (np.log(v) - digamma(q)) - float(log_pool.sum())
    d_v = n * q / v - float(((px + q) / pool).sum())
    return total, np.array([d_p, d_q, d_v])


class GammaGammaModel(BaseEstimator):
    """Gamma-Gamma model of the mean order value of repeat customers.

    Each order of a customer is worth ``Gamma(p, nu)``; across customers
    ``nu ~ Gamma(q, v)``. Order values are assumed independent of how often a
    customer buys (check that frequency and monetary value are barely
    correlated before using it for CLV).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood, with money rescaled so the median monetary value is 1.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v`` (``v`` in the currency of the data).
    log_likelihood_ : float
        Log-likelihood of the repeat customers' mean spends at ``params_``.
    n_customers_ : int
        Number of repeat customers fitted on.

    Examples
    --------
    >>> from analytics.customers.clv.simulate import simulate_customers
    >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
    >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
    >>> {name: round(value, 2) for name, value in spend.params_.items()}
    {'p': 6.36, 'q': 4.04, 'v': 14.15}
    """

    PARAMS = ("p", "q", "v")

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaModel:
        """Estimate ``p, q, v`` by maximum likelihood on the repeat customers.

        Customers with frequency 0 are ignored (they have no repeat purchase to
        average), so the whole :func:`rfm_summary` can be passed.

        Returns
        -------
        GammaGammaModel
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_spend`), a negative penalizer, fewer
            than two repeat customers, repeat customers who all share one
            monetary value and frequency, or estimates that diverge.
        """
        x_all, m_all = check_spend(frequency, monetary_value)
        penalizer = check_penalizer(self.penalizer)
        repeat = x_all > 0
        x, m = x_all[repeat], m_all[repeat]
        if x.size == 0:
            raise InvalidInput(
                f"none of the {x_all.size} customers made a repeat purchase (every frequency is 0); the Gamma-Gamma "
                "model learns from the mean value of repeat purchases. Fit on a longer period."
            )
        n_distinct = len(pd.DataFrame({"x": x, "m": m}).drop_duplicates())
        refuse_degenerate(x.size, n_distinct, "frequency and monetary value")
        if np.unique(m).size == 1:
            raise InvalidInput(
                f"all {x.size} repeat customers have the same monetary value ({m[0]:g}): with no spread in spend "
                "the Gamma-Gamma estimates run off to infinity. Fit on customers with varied order values."
            )

        scale = float(np.median(m))
        scaled = _Spends.of(x, m / scale)
        n = float(x.size)

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _gg_loglik(params, scaled)
            value = -ll / n + penalizer * float(params @ params)
            return value, (-grad / n + 2.0 * penalizer * params) * params

        log_params = maximise(objective, np.zeros(3), self.PARAMS, "Gamma-Gamma")
        p, q, v_scaled = np.exp(log_params)
        params = np.array([p, q, v_scaled * scale])
        self.params_ = dict(zip(self.PARAMS, (float(val) for val in params)))
        self.log_likelihood_ = _gg_loglik(params, _Spends.of(x, m), gradient=False)[0]
        self.n_customers_ = int(x.size)
        return self

    def conditional_expected_average_profit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> Values:
        """Expected mean order value of each customer, given her repeat purchases.

        ``p (v + x m) / (p x + q - 1)``: a weighted average of the population
        mean ``p v / (q - 1)`` and her own mean ``m``, leaning on ``m`` the more
        repeat purchases she made. Customers with frequency 0 get the
        population mean.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_spend`), or when the fitted ``q``
            is 1 or less for a customer with no repeat purchase: the population
            mean spend is then infinite.

        Examples
        --------
        >>> from analytics.customers.clv.simulate import simulate_customers
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
        >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
        >>> spend.conditional_expected_average_profit([0, 1, 10], [0.0, 60.0, 60.0]).round(2)
        array([29.61, 50.17, 58.61])
        """
        params = check_fitted(self)
        p, q, v = params["p"], params["q"], params["v"]
        x, m = check_spend(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        shape = p * x + q - 1
        if (shape <= 0).any():
            raise InvalidInput(
                f"the fitted q = {q:.3g} is 1 or less: the Gamma-Gamma model then has an infinite mean spend for "
                "customers with no (or few) repeat purchases. Refit with a penalizer or on more repeat customers."
            )
        return like(p * (v + x * m) / shape, frequency, "expected_average_profit")

    def customer_lifetime_value(
        self,
        bgnbd_model: BetaGeoModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        *,
        horizon_months: int = 12,
        discount_rate_monthly: float = 0.01,
        time_unit: TimeUnit = "D",
    ) -> Values:
        """Discounted expected value of each customer's purchases over the next months.

        ``sum over months i = 1..H of E[purchases in month i] * E[order value] / (1 + d)^i``,
        where a month is 365.25 / 12 days, the purchases come from ``bgnbd_model``
        (conditional on the history) and the order value from this model.
        (lifetimes counts a month as 30 days, or 4.345 weeks, so its figures
        differ slightly.)

        Parameters
        ----------
        bgnbd_model : BetaGeoModel
            A fitted purchase model, fitted with times in ``time_unit``.
        frequency, recency, T, monetary_value : array_like
            One value per customer, as :func:`rfm_summary` returns them.
        horizon_months : int, default 12
            Number of months ahead.
        discount_rate_monthly : float, default 0.01
            Monthly discount rate (0.01 is about 12.7 % a year); 0 for none.
        time_unit : {"D", "W"}, default "D"
            Unit of ``recency`` and ``T`` (and of the BG/NBD fit).

        Returns
        -------
        numpy.ndarray or pandas.Series
            CLV per customer, in the currency of ``monetary_value``.

        Examples
        --------
        >>> from analytics.customers.clv.simulate import simulate_customers
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0, seed=0)
        >>> purchases = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> spend = GammaGammaModel().fit(data["frequency"], data["monetary_value"])
        >>> history = dict(frequency=[0, 2], recency=[0.0, 30.0], T=[39.0, 39.0], monetary_value=[0.0, 60.0])
        >>> clv = spend.customer_lifetime_value(purchases, **history, time_unit="W")
        >>> clv.round(2)  # the next 12 months of a one-off buyer and of a regular
        array([ 7.48, 80.17])
        """
        if not isinstance(bgnbd_model, BetaGeoModel):
            raise InvalidInput(f"bgnbd_model must be a fitted BetaGeoModel, not {type(bgnbd_model).__name__}.")
        bgnbd_model._unpack()
        check_fitted(self)
        if time_unit not in DAYS_PER_UNIT:
            raise InvalidInput(f"time_unit must be 'D' (days) or 'W' (weeks), not {time_unit!r}.")
        if isinstance(horizon_months, bool) or not isinstance(horizon_months, (int, np.integer)) or horizon_months < 1:
            raise InvalidInput(f"horizon_months must be a whole number of months >= 1, not {horizon_months!r}.")
        rate = float(discount_rate_monthly)
        if not np.isfinite(rate) or rate < 0:
            raise InvalidInput(f"discount_rate_monthly must be >= 0 (e.g. 0.01 for 1 % a month), not {rate!r}.")
        x, t_x, age = check_history(frequency, recency, T)
        xm, m = check_spend(frequency, monetary_value)
        spend = np.asarray(self.conditional_expected_average_profit(xm, m), dtype=np.float64)

        month = DAYS_PER_MONTH / DAYS_PER_UNIT[time_unit]
        value: FloatArray = np.zeros(x.size)
        previous: FloatArray = np.zeros(x.size)
        for i in range(1, int(horizon_months) + 1):
            cumulative = np.asarray(bgnbd_model.conditional_expected_purchases(i * month, x, t_x, age), np.float64)
            value += (cumulative - previous) * spend / (1.0 + rate) ** i
            previous = cumulative
        return like(value, frequency, "clv")
