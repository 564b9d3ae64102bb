"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model.

The two models of Fader, Hardie and Lee, written on numpy/scipy:

- :class:`BetaGeoModel` (BG/NBD, "Counting your customers the easy way",
  Marketing Science 2005): while alive, a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after each repeat purchase she
  drops out for good with probability ``p ~ Beta(a, b)``. It predicts how
  many purchases each customer will make and how likely she is still active.
- :class:`GammaGammaModel` ("RFM and CLV: using iso-value curves", Journal of
  Marketing Research 2005, and Fader & Hardie's note "The Gamma-Gamma model of
  monetary value", 2013): a customer's order values are ``Gamma(p, nu)`` with
  ``nu ~ Gamma(q, v)``, independent of her purchase rate. It predicts her
  mean order value, shrinking her observed mean towards the population's.

Both take the per-customer summary that :func:`rfm_summary` builds from the
``orders`` frame (:mod:`analytics.store.frames`):

``frequency``
    repeat purchase days: distinct days with an order, minus one;
``recency``
    time from the first to the last purchase day (0 when frequency is 0);
``T``
    time from the first purchase day to the reference date;
``monetary_value``
    mean value of the repeat purchase days (the first day is left out;
    0 when frequency is 0).

These are the definitions of the BG/NBD literature (and of the ``lifetimes``
package's ``summary_data_from_transaction_data`` with its default daily
grouping). Times are in days or weeks (``time_unit``); a model predicts in
the unit it was fitted with.

Fitting maximises the log-likelihood over the logarithms of the parameters
(L-BFGS-B with an analytic gradient). Customers with the same history give
the same likelihood term, so the BG/NBD fit first collapses identical
``(frequency, recency, T)`` rows into one row with a weight. Histories
measured in whole days repeat a lot (every one-off customer of a given day
shares one), so a million customers become a few hundred thousand rows and
fit in well under a second; ``bench/clv_speed.py`` compares with ``lifetimes``.

Degenerate data are refused with :class:`~analytics.core.errors.InvalidInput`
rather than "fitted": a single customer, customers who all share one history
(or, for Gamma-Gamma, one mean order value), and data with no repeat
purchase at all. In each case the likelihood has no maximum (the estimates
run off to zero or infinity), so there is nothing meaningful to return. When
a data set is merely small or odd and the estimates still diverge, the fit
says so and suggests a ``penalizer`` (an L2 penalty on the parameters).

Modules: :mod:`~analytics.customers.clv.summary` (``rfm_summary``), :mod:`~analytics.customers.clv.bgnbd`
(``BetaGeoModel``), :mod:`~analytics.customers.clv.gamma_gamma` (``GammaGammaModel``, whose
``customer_lifetime_value`` combines the two), :mod:`~analytics.customers.clv.common` (time units, input
checks, the optimiser) and :mod:`~analytics.customers.clv.simulate` (``simulate_customers``).
"""
