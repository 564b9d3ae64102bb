"""Customer summaries drawn from the BG/NBD (and Gamma-Gamma) process, for the known-answer tests
and the benchmark."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from analytics.core.errors import InvalidInput

# --------------------------------------------------------------------------- simulation


def simulate_customers(
    n_customers: int,
    T: ArrayLike,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: Optional[float] = None,
    q: Optional[float] = None,
    v: Optional[float] = None,
    seed: Optional[int] = None,
) -> pd.DataFrame:
    """Draw customer summaries from the BG/NBD (and optionally Gamma-Gamma) process.

    For tests and benchmarks: data with known parameters. Each customer gets a
    purchase rate ``Gamma(r, alpha)`` and a dropout probability ``Beta(a, b)``;
    she makes ``N ~ Poisson(rate * T)`` purchases in ``(0, T]`` if she never
    drops out, and drops out right after her ``J``-th repeat purchase,
    ``J ~ Geometric(p)``. So ``frequency = min(J, N)`` and ``recency`` is the
    ``frequency``-th of ``N`` uniform purchase times, a ``T * Beta(x, N - x + 1)``
    draw. With ``p, q, v`` given, each repeat customer's mean spend is the
    mean of ``frequency`` ``Gamma(p, nu)`` order values, ``nu ~ Gamma(q, v)``.

    Parameters
    ----------
    n_customers : int
        Number of customers.
    T : float or array_like
        Each customer's age (one value, or one per customer).
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in the unit of ``T``).
    p, q, v : float, optional
        Gamma-Gamma parameters; all three or none.
    seed : int, optional
        Seed of the random generator.

    Returns
    -------
    pandas.DataFrame
        ``frequency`` (int64), ``recency``, ``T`` and, with ``p, q, v``,
        ``monetary_value`` (0 for customers with frequency 0).

    Examples
    --------
    >>> sim = simulate_customers(1000, 52.0, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=1)
    >>> list(sim.columns), bool((sim["recency"] <= sim["T"]).all())
    (['frequency', 'recency', 'T'], True)
    """
    rng = np.random.default_rng(seed)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n_customers,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    possible = rng.poisson(rate * age)
    # a tiny dropout probability would overflow the geometric draw; it only needs to exceed `possible`
    lasting = rng.geometric(np.clip(dropout, 1e-12, 1.0))
    x = np.minimum(lasting, possible)
    recency = np.zeros(n_customers)
    rep = x > 0
    recency[rep] = age[rep] * rng.beta(x[rep], possible[rep] - x[rep] + 1)
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": recency, "T": age})
    spend_params = (p, q, v)
    if any(value is not None for value in spend_params):
        if p is None or q is None or v is None:
            raise InvalidInput("pass all three Gamma-Gamma parameters p, q and v, or none of them.")
        nu = rng.gamma(q, 1.0 / v, n_customers)
        monetary = np.zeros(n_customers)
        # the mean of x Gamma(p, nu) values is Gamma(p x, x nu)
        monetary[rep] = rng.gamma(p * x[rep], 1.0 / (x[rep] * nu[rep]))
        frame["monetary_value"] = monetary
    return frame
