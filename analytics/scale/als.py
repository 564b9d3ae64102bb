"""The ALS leg of the production recommender on Spark MLlib's ALS.

:func:`analytics.recommend.serving.refresh_models` fits implicit's ALS on the
cell weights named by :data:`analytics.recommend.serving.WEIGHTING` (the
``log1p`` of each customer's summed quantity of a product) with
:data:`~analytics.recommend.serving.ALS_SETTINGS`. :class:`ScaleALS` fits
MLlib's implicit-feedback ALS on the same cell weights (:func:`interaction_weights`
says each weighting in Spark's columns), with the same factors, confidence
scale and iterations. Two differences are by design of
the libraries and make the factors differ (so the parity is of rankings, to
a tolerance, not of numbers):

- MLlib's confidence is ``1 + alpha * w``, implicit's ``alpha * w``;
- MLlib multiplies the ridge penalty by each user's (item's) number of
  interactions. ``regularization`` here is implicit's fixed penalty and is
  divided by the mean number of interactions per user, so an average
  customer is penalised as in the single-machine fit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from sklearn.base import BaseEstimator

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.serving import ALS_SETTINGS, WEIGHTING

_INT_MAX = 2**31 - 1

#: The quantity weightings of :class:`analytics.recommend.Interactions` as Spark columns, from the summed
#: quantity of a (customer, product) cell.
SPARK_WEIGHTINGS: dict[str, Callable[[Column], Column]] = {"log1p": F.log1p}


def interaction_weights(lines: DataFrame, weighting: str = WEIGHTING) -> DataFrame:
    """``customer_id``, ``product_id``, ``weight``: the cell weight of the quantity the customer bought of the
    product, as the single-machine recommender weighs it (default: its production weighting, log1p)."""
    if weighting not in SPARK_WEIGHTINGS:
        raise InvalidInput(f"weighting must be one of {', '.join(SPARK_WEIGHTINGS)}, not {weighting!r}.")
    total = F.sum("quantity")
    return lines.groupBy("customer_id", "product_id").agg(SPARK_WEIGHTINGS[weighting](total).alias("weight"))


class ScaleALS(BaseEstimator):
    """Implicit-feedback ALS on Spark over order lines.

    Parameters
    ----------
    factors : int, default 64
    regularization : float, default 10.0
        implicit's (unscaled) ridge penalty; see the module docstring.
    alpha : float, default 20.0
        Confidence per unit of weight.
    iterations : int, default 15
    random_state : int, default 0
    blocks : int, optional
        User and item blocks MLlib splits the factors into (its default, 10,
        when None); a few suit small data, about the cores of the cluster
        suit large data.
    max_seen : int, default 500
        :meth:`recommend_all` ranks ``n + max_seen`` items per customer and
        drops those already bought, so a customer who bought more than
        ``max_seen`` of their top items may get fewer than ``n``.

    Attributes
    ----------
    model_ : pyspark.ml.recommendation.ALSModel
    interactions_ : pyspark.sql.DataFrame (cached)
    reg_param_ : float
        The penalty handed to MLlib.

    Examples
    --------
    >>> model = ScaleALS(factors=8, iterations=5).fit(lines)  # doctest: +SKIP
    >>> model.recommend_all(5).show()  # doctest: +SKIP
    """

    def __init__(
        self,
        factors: int = ALS_SETTINGS["factors"],
        regularization: float = ALS_SETTINGS["regularization"],
        alpha: float = ALS_SETTINGS["alpha"],
        iterations: int = 15,
        random_state: int = 0,
        blocks: Optional[int] = None,
        max_seen: int = 500,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.blocks = blocks
        self.max_seen = max_seen

    def fit(self, lines: DataFrame) -> ScaleALS:
        """Fit on checked order lines (:func:`analytics.scale.source.read_lines`)."""
        for name in ("factors", "iterations", "max_seen", "blocks"):
            value = getattr(self, name)
            if name == "blocks" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be a whole number of at least 1, not {value!r}.")
        for name in ("regularization", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InvalidInput(f"{name} must be a number of at least 0, not {value!r}.")
        cells = interaction_weights(lines).cache()
        stats = cells.agg(
            F.count(F.lit(1)).alias("cells"),
            F.countDistinct("customer_id").alias("users"),
            F.max("customer_id").alias("max_user"),
            F.max("product_id").alias("max_item"),
            F.min("customer_id").alias("min_user"),
            F.min("product_id").alias("min_item"),
        ).first()
        assert stats is not None
        if not stats["cells"]:
            cells.unpersist()
            raise InvalidInput("the order lines are empty; there is nothing to fit.")
        if max(stats["max_user"], stats["max_item"]) > _INT_MAX or min(stats["min_user"], stats["min_item"]) < 0:
            cells.unpersist()
            raise InvalidInput(
                "MLlib's ALS needs customer and product ids from 0 to 2,147,483,647; map larger ids to a dense "
                "range (e.g. pyspark.ml.feature.StringIndexer) before fitting."
            )
        self.reg_param_ = float(self.regularization) * stats["users"] / stats["cells"]
        als = ALS(
            rank=self.factors,
            maxIter=self.iterations,
            regParam=self.reg_param_,
            alpha=float(self.alpha),
            implicitPrefs=True,
            userCol="customer_id",
            itemCol="product_id",
            ratingCol="weight",
            seed=self.random_state,
            coldStartStrategy="drop",
        )
        if self.blocks is not None:
            als = als.setNumUserBlocks(self.blocks).setNumItemBlocks(self.blocks)
        self.model_: ALSModel = als.fit(cells)
        self.interactions_ = cells
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(self)

    def recommend_all(self, n: int = 10, users: Optional[DataFrame] = None) -> DataFrame:
        """The ``n`` best products each customer has not bought: ``customer_id``, ``rank`` (1 = best),
        ``product_id``, ``score``; of every fitted customer, or of the ``customer_id`` column of ``users``."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInput(f"n must be a whole number of at least 1, not {n!r}.")
        k = n + int(self.max_seen)
        ranked = (
            self.model_.recommendForAllUsers(k)
            if users is None
            else self.model_.recommendForUserSubset(users.select("customer_id"), k)
        )
        exploded = ranked.select("customer_id", F.explode("recommendations").alias("rec")).select(
            "customer_id", F.col("rec.product_id").alias("product_id"), F.col("rec.rating").alias("score")
        )
        unseen = exploded.join(
            self.interactions_.select("customer_id", "product_id"), ["customer_id", "product_id"], "left_anti"
        )
        order = Window.partitionBy("customer_id").orderBy(F.col("score").desc(), F.col("product_id"))
        return (
            unseen.withColumn("rank", F.row_number().over(order))
            .where(F.col("rank") <= n)
            .select("customer_id", "rank", "product_id", "score")
        )

    def item_factors(self) -> DataFrame:
        """``product_id`` and its ``features`` (an array of ``factors`` floats)."""
        self._check_fitted()
        return self.model_.itemFactors.withColumnRenamed("id", "product_id")

    def user_factors(self) -> DataFrame:
        """``customer_id`` and its ``features``."""
        self._check_fitted()
        return self.model_.userFactors.withColumnRenamed("id", "customer_id")
