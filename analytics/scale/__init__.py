"""The customer-scores refresh and the recommendation fit on Apache Spark, for shops past one machine.

The single-machine path (:mod:`analytics.customers.refresh`,
:mod:`analytics.recommend.serving`) holds every order line in one process's
memory. These jobs compute the same tables with Spark DataFrames from order
lines in Parquet or CSV, so they run unchanged in local mode here and on a
cluster (YARN, Kubernetes, a managed Spark service) with hundreds of millions
of lines:

- :mod:`.session`: a Spark session configured for these jobs (UTC, quiet).
- :mod:`.source`: read and check the order lines; orders from lines.
- :mod:`.rfm`: recency, frequency, monetary value, their 1..5 scores and the
  RFM segment, exactly as :class:`analytics.customers.rfm.RFM`.
- :mod:`.loyalty`: 12-month spend, points, tier, next tier and lifecycle
  stage, exactly as :class:`analytics.customers.loyalty.LoyaltyProgram`.
- :mod:`.clv_summary`: the per-customer summary the CLV models fit on,
  as :func:`analytics.customers.clv.summary.rfm_summary`.
- :mod:`.refresh`: the three above as one scores table, written to Parquet.
- :mod:`.als`: the ALS leg of the production recommender on Spark MLlib's ALS.

pyspark comes with the ``scale`` extra (``pip install -e ".[scale]"``) and
needs a Java 17 runtime.
"""
