"""The BG/NBD purchase model (Fader, Hardie & Lee, "Counting your customers the easy way", 2005):
how many purchases each customer will make, and how likely she is still active."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import digamma, expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput
from analytics.customers.clv.common import (
    TIME_SCALE_TARGET,
    FloatArray,
    Values,
    check_fitted,
    check_history,
    check_horizon,
    check_penalizer,
    like,
    maximise,
    refuse_degenerate,
)

# --------------------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class _Histories:
    """Distinct histories with weights, split the way the likelihood uses them."""

    x_levels: FloatArray  # distinct frequencies
    x_weights: FloatArray  # customers per distinct frequency
    T0: FloatArray  # T of the histories with frequency 0
    w0: FloatArray
    x: FloatArray  # histories with frequency > 0
    t_x: FloatArray
    T: FloatArray
    w: FloatArray
    total: float  # number of customers

    @classmethod
    def collapse(cls, x: FloatArray, t_x: FloatArray, T: FloatArray) -> _Histories:
        counts = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts(sort=False)
        keys = counts.index.to_frame(index=False)
        ux, ut_x, uT = (keys[c].to_numpy(np.float64) for c in ("x", "t_x", "T"))
        w = counts.to_numpy(np.float64)
        per_x = pd.Series(w).groupby(ux).sum()
        zero = ux == 0
        return cls(
            x_levels=per_x.index.to_numpy(np.float64),
            x_weights=per_x.to_numpy(np.float64),
            T0=uT[zero],
            w0=w[zero],
            x=ux[~zero],
            t_x=ut_x[~zero],
            T=uT[~zero],
            w=w[~zero],
            total=float(w.sum()),
        )

    def rescaled(self, scale: float) -> _Histories:
        return _Histories(
            self.x_levels, self.x_weights, self.T0 / scale, self.w0, self.x, self.t_x / scale, self.T / scale, self.w,
            self.total,
        )  # fmt: skip


def _bgnbd_loglik(params: FloatArray, h: _Histories, gradient: bool = True) -> tuple[float, FloatArray]:
    """Total log-likelihood of the BG/NBD model and its gradient in (r, alpha, a, b).

    Per customer (Fader, Hardie & Lee 2005, eq. 6, in logs)::

        ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b)
        + ln[ (α+T)^-(r+x) + [x>0] a/(b+x-1) (α+t_x)^-(r+x) ]

    The first line depends on x only and is summed over the distinct
    frequencies; the bracket is a log-sum of two exponentials, taken stably.
    """
    r, alpha, a, b = params
    xl, wl = h.x_levels, h.x_weights
    per_x = gammaln(r + xl) - gammaln(r) + gammaln(a + b) + gammaln(b + xl) - gammaln(b) - gammaln(a + b + xl)
    ll = float(wl @ per_x) + h.total * r * np.log(alpha)

    log_age0 = np.log(alpha + h.T0)
    ll -= r * float(h.w0 @ log_age0)

    rx = r + h.x
    log_age = np.log(alpha + h.T)
    log_last = np.log(alpha + h.t_x)
    gone = -rx * log_age  # still alive and silent since the last purchase
    dropped = np.log(a) - np.log(b + h.x - 1) - rx * log_last  # dropped out right after the last purchase
    both = np.logaddexp(gone, dropped)
    ll += float(h.w @ both)
    if not gradient:
        return ll, np.empty(0)

    share = np.exp(dropped - both)  # posterior weight of "dropped out"
    stay = 1.0 - share
    ww = h.w
    d_r = float(wl @ (digamma(r + xl) - digamma(r))) + h.total * np.log(alpha)
    d_r -= float(h.w0 @ log_age0) + float(ww @ (stay * log_age + share * log_last))
    d_alpha = h.total * r / alpha - r * float(h.w0 @ (1.0 / (alpha + h.T0)))
    d_alpha -= float(ww @ (rx * (stay / (alpha + h.T) + share / (alpha + h.t_x))))
    common = digamma(a + b) - digamma(a + b + xl)
    d_a = float(wl @ common) + float(ww @ share) / a
    d_b = float(wl @ (common + digamma(b + xl) - digamma(b))) - float(ww @ (share / (b + h.x - 1)))
    return ll, np.array([d_r, d_alpha, d_a, d_b])


class BetaGeoModel(BaseEstimator):
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005).

    While active, a customer buys as a Poisson process with rate
    ``lambda ~ Gamma(r, alpha)``; right after each repeat purchase she becomes
    inactive for good with probability ``p ~ Beta(a, b)``. A customer with no
    repeat purchase is active by definition.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood. The parameters are penalised with time rescaled so that
        the oldest customer's T is 10, so its effect does not depend on the time
        unit. Use a small value (0.001 to 0.1) when the fit diverges on little data.
    log_penalizer : float, default 0.0
        L2 penalty on the log-parameters (a log-normal prior centred on 1, same
        rescaled time). It keeps every estimate away from both 0 and infinity,
        e.g. ``a`` when a biased sample shows no dropout; 0.01 is light.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha`` (in the time unit of the data), ``a``, ``b``.
    log_likelihood_ : float
        Log-likelihood of the data at ``params_``, in the data's time unit
        (without the penalty).
    n_customers_ : int
        Number of customers fitted on.

    Examples
    --------
    On 5,000 customers drawn from the model, each observed for 52 weeks:

    >>> from analytics.customers.clv.simulate import simulate_customers
    >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
    >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    >>> {name: round(value, 2) for name, value in model.params_.items()}
    {'r': 0.26, 'alpha': 4.25, 'a': 0.76, 'b': 2.34}
    >>> BetaGeoModel().expected_purchases(10)
    Traceback (most recent call last):
    ...
    analytics.core.errors.NotFittedError: This BetaGeoModel is not fitted yet; call fit(...) first.
    """

    PARAMS = ("r", "alpha", "a", "b")

    def __init__(self, penalizer: float = 0.0, log_penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.log_penalizer = log_penalizer

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeoModel:
        """Estimate ``r, alpha, a, b`` by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array_like
            One value per customer (see :func:`rfm_summary`).

        Returns
        -------
        BetaGeoModel
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad inputs (see :func:`check_history`), a negative penalizer, a
            single customer, customers who all share one history, no repeat
            purchase at all, or estimates that diverge (the message suggests a
            penalizer).
        """
        x, t_x, age = check_history(frequency, recency, T)
        penalizer = check_penalizer(self.penalizer)
        log_penalizer = check_penalizer(self.log_penalizer)
        histories = _Histories.collapse(x, t_x, age)
        n_distinct = histories.x.size + histories.T0.size
        refuse_degenerate(x.size, n_distinct, "history (frequency, recency, T)")
        if histories.x.size == 0:
            raise InvalidInput(
                f"none of the {x.size} customers made a repeat purchase (every frequency is 0), so the dropout "
                "process (a, b) cannot be estimated. Fit on a longer period, in which customers come back."
            )

        scale = float(age.max()) / TIME_SCALE_TARGET
        scaled = histories.rescaled(scale)
        total = scaled.total

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            params = np.exp(log_params)
            ll, grad = _bgnbd_loglik(params, scaled)
            # log_penalizer: a log-normal prior centred on 1 (time-rescaled units); unlike the plain L2
            # penalty it also keeps a parameter from running off to 0 (e.g. a -> 0 when no dropout shows)
            value = -ll / total + penalizer * float(params @ params) + log_penalizer * float(log_params @ log_params)
            gradient = (-grad / total + 2.0 * penalizer * params) * params + 2.0 * log_penalizer * log_params
            return value, gradient

        start = _bgnbd_start(scaled)
        log_params = maximise(objective, start, self.PARAMS, "BG/NBD")
        r, alpha_scaled, a, b = np.exp(log_params)
        params = np.array([r, alpha_scaled * scale, a, b])
        self.params_ = dict(zip(self.PARAMS, (float(v) for v in params)))
        self.log_likelihood_ = _bgnbd_loglik(params, histories, gradient=False)[0]
        self.n_customers_ = int(x.size)
        return self

    def _unpack(self) -> tuple[float, float, float, float]:
        p = check_fitted(self)
        return p["r"], p["alpha"], p["a"], p["b"]

    def _log_dropout_odds(
        self, x: FloatArray, t_x: FloatArray, age: FloatArray, r: float, alpha: float, a: float, b: float
    ) -> FloatArray:
        """ln of P(dropped out after the last purchase) / P(still active), 0 odds for x = 0."""
        odds = np.full(x.shape, -np.inf)
        rep = x > 0
        xr = x[rep]
        odds[rep] = np.log(a) - np.log(b + xr - 1) + (r + xr) * (np.log(alpha + age[rep]) - np.log(alpha + t_x[rep]))
        return odds

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Values:
        """Probability that each customer is still active at T.

        ``1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``: exactly 1
        for a customer with no repeat purchase (in the BG/NBD a customer can
        only drop out right after a repeat purchase), and for a fixed history
        it falls as T grows, the longer she has been silent.

        Parameters
        ----------
        frequency, recency, T : array_like
            One value per customer, in the time unit of the fit.

        Returns
        -------
        numpy.ndarray or pandas.Series
            One probability per customer; a Series indexed like ``frequency``
            when that is a Series.

        Examples
        --------
        >>> from analytics.customers.clv.simulate import simulate_customers
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.probability_alive([0, 2, 2], [0.0, 30.0, 30.0], [39.0, 39.0, 78.0]).round(2)
        array([1.  , 0.72, 0.38])
        """
        r, alpha, a, b = self._unpack()
        x, t_x, age = check_history(frequency, recency, T)
        return like(expit(-self._log_dropout_odds(x, t_x, age, r, alpha, a, b)), frequency, "probability_alive")

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Values:
        """Expected number of purchases in the next ``t`` time units, given each customer's history.

        Fader, Hardie & Lee (2005), eq. 10::

            (a+b+x-1)/(a-1) * [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))] * P(alive)

        Parameters
        ----------
        t : float or array_like
            Horizon, in the time unit of the fit (one value, or one per customer).
        frequency, recency, T : array_like
            One value per customer.

        Returns
        -------
        numpy.ndarray or pandas.Series
            Expected purchases per customer.

        Examples
        --------
        >>> from analytics.customers.clv.simulate import simulate_customers
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.conditional_expected_purchases(39.0, [0, 2], [0.0, 30.0], [39.0, 39.0]).round(2)
        array([0.21, 1.23])
        """
        r, alpha, a, b = self._unpack()
        x, t_x, age = check_history(frequency, recency, T)
        horizon = check_horizon(t)
        if horizon.size not in (1, x.size):
            raise InvalidInput(f"t must be one horizon or one per customer ({x.size}); got {horizon.size} values.")
        alive = expit(-self._log_dropout_odds(x, t_x, age, r, alpha, a, b))
        expected = (a + b + x - 1) / (a - 1) * (1.0 - _bgnbd_tail(r, alpha, a, b, x, age, horizon)) * alive
        return like(expected, frequency, "expected_purchases")

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected number of repeat purchases of a new customer within ``t`` time units of her first purchase.

        ``(a+b-1)/(a-1) * [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]`` (FHL 2005, eq. 9).

        Examples
        --------
        >>> from analytics.customers.clv.simulate import simulate_customers
        >>> data = simulate_customers(5000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=0)
        >>> model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
        >>> model.expected_purchases([39.0, 78.0]).round(2)
        array([1.31, 2.03])
        """
        r, alpha, a, b = self._unpack()
        horizon = check_horizon(t)
        tail = _bgnbd_tail(r, alpha, a, b, np.zeros(1), np.zeros(1), horizon)
        return np.asarray((a + b - 1) / (a - 1) * (1.0 - tail), dtype=np.float64)


def _bgnbd_tail(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, horizon: FloatArray
) -> FloatArray:
    """``((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)`` with ``z = t/(α+T+t)``, the bracket of FHL eq. 9/10.

    Evaluated after Euler's transformation ``2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z)``, which turns
    it into ``(1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z)``: the direct form multiplies a vanishing power by a
    hypergeometric value that overflows for frequent buyers and long horizons (0 * inf); this one stays finite.
    """
    log_stay = np.log(alpha + age) - np.log(alpha + age + horizon)  # ln(1 - z)
    z = horizon / (alpha + age + horizon)
    return np.asarray(np.exp((a - 1) * log_stay) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z), dtype=np.float64)


def _bgnbd_start(h: _Histories) -> FloatArray:
    """A start near the usual optimum: r = 1 with alpha from the mean purchase rate; a = 1, b = 3."""
    repeats = float(h.w @ h.x)
    exposure = float(h.w @ h.T) + float(h.w0 @ h.T0)
    alpha = max(exposure / max(repeats, 1.0), 1e-3)
    return np.log(np.array([1.0, alpha, 1.0, 3.0]))
