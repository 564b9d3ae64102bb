"""Behavioural customer segmentation by clustering.

Features
--------
:func:`customer_features` turns the ``orders`` frame (and the ``lines``
frame, when given) into one row per customer:

=================  ==========================================================  =========
column             meaning                                                     transform
=================  ==========================================================  =========
recency_days       whole days from the last order to the reference date        log1p
frequency          number of orders                                            log1p
monetary           total spend                                                 log1p
avg_basket         monetary / frequency                                        log1p
tenure_days        whole days from the first order to the reference date       -
mean_gap_days      mean days between orders; for one-order customers, their    log1p
                   tenure (the gap is at least that long)
n_categories       distinct categories bought (lines only)                     log1p
share_<category>   share of the customer's spend in the category (lines only)  -
=================  ==========================================================  =========

Money and counts are heavily right-skewed (a few wholesale buyers spend a
hundred times the median), so those columns are log1p-transformed before
every column is standardised (:class:`~sklearn.preprocessing.StandardScaler`).
The category shares are then scaled down so that the whole block of shares
weighs as much as :data:`CATEGORY_BLOCK_WEIGHT` behavioural features: with
fourteen categories at full weight the clusters would be about what people
buy, not how they buy.

Methods
-------
``kmeans``
    k-means for every k in ``k_range`` (inclusive); the k with the best
    silhouette wins. Above ``large_n`` customers it uses MiniBatchKMeans;
    above ``sample_size`` the silhouette is computed on a seeded sample.
``dbscan``
    Density clusters. ``min_samples = max(5, min(2 x d, n // 20))`` with d
    the number of behavioural features plus one for the category block (the
    usual 2 x dimension rule, but no more than a twentieth of the customers
    and no less than scikit-learn's default of 5); ``eps`` is the
    knee of the sorted distances to each customer's ``min_samples``-th
    nearest neighbour (the "k-distance plot" heuristic of Ester et al.
    1996): the point of the curve farthest below the chord joining its ends,
    both axes scaled to [0, 1], but at least the curve's 90th percentile.
    That floor matters when clusters differ in density: the curve is then a
    staircase and its knee the end of the densest cluster, which would make
    the others noise. Customers in no dense region are noise,
    label -1, reported as their own group. Above ``large_n`` customers it
    runs on a seeded sample of ``sample_size`` and the others join the
    cluster of their nearest core customer within ``eps`` (else noise).
``agglomerative``
    Ward linkage, the tree cut at the k of ``k_range`` with the best
    silhouette. Ward needs memory quadratic in n, so above ``sample_size``
    customers it runs on a seeded sample and the others are assigned to the
    nearest cluster centroid.

Why one long module: one estimator (:class:`CustomerSegmenter`) with its features and cluster
diagnostics.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Optional

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist
from sklearn.base import BaseEstimator
from sklearn.cluster import DBSCAN, KMeans, MiniBatchKMeans
from sklearn.metrics import davies_bouldin_score, silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.customers.rfm import resolve_reference_date, rfm_values
from analytics.store import frames
from analytics.store.frames import ORDER_COLUMNS, check_orders

METHODS = ("kmeans", "dbscan", "agglomerative")
ORDER_FEATURES = ("recency_days", "frequency", "monetary", "avg_basket", "tenure_days", "mean_gap_days")
LOG_FEATURES = frozenset({"recency_days", "frequency", "monetary", "avg_basket", "mean_gap_days", "n_categories"})
SHARE_PREFIX = "share_"
#: The block of category-share columns counts as this many behavioural features in distances.
CATEGORY_BLOCK_WEIGHT = 1.0
NOISE = -1
METRIC_COLUMNS = (
    "n_clusters",
    "silhouette",
    "davies_bouldin",
    "mean_intra_distance",
    "mean_inter_centroid_distance",
    "noise_share",
)


def check_lines(lines: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """Validate a ``lines`` frame against its checked ``orders`` frame.

    Only ``customer_id``, ``category`` and ``amount`` are used. Raises
    :class:`InvalidInput` for what :func:`analytics.store.frames.check_lines`
    refuses, or lines of customers that have no order (frames loaded with
    different filters).
    """
    frame = frames.check_lines(
        lines, ("customer_id", "category", "amount"), empty_hint="pass lines=None to segment on orders alone."
    )
    strangers = set(frame["customer_id"].unique()) - set(orders["customer_id"].unique())
    if strangers:
        example = sorted(strangers)[:3]
        raise InvalidInput(
            f"lines mention {len(strangers)} customer(s) with no order (e.g. {example}); "
            "load orders and lines with the same filters."
        )
    return frame


def _category_order(lines: pd.DataFrame) -> tuple[str, ...]:
    spend = lines.groupby("category")["amount"].sum().sort_values(ascending=False, kind="stable")
    return tuple(str(c) for c in spend.index)


def customer_features(
    orders: pd.DataFrame,
    lines: Optional[pd.DataFrame] = None,
    *,
    reference_date: Optional[object] = None,
    categories: Optional[Sequence[str]] = None,
) -> pd.DataFrame:
    """Raw behavioural features per customer (see the module docstring).

    Parameters
    ----------
    orders : pandas.DataFrame
        The ``orders`` frame of :mod:`analytics.store.frames`.
    lines : pandas.DataFrame, optional
        The ``lines`` frame; adds ``n_categories`` and one ``share_<category>``
        column per category.
    reference_date : datetime-like, optional
        Default: the day after the newest order.
    categories : sequence of str, optional
        The share columns to make, in order (a fitted segmenter passes its
        own); default: every category in ``lines``, biggest spend first.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``, untransformed.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1], "order_id": [1, 2],
    ...                        "placed_at": pd.to_datetime(["2011-01-01", "2011-01-11"]),
    ...                        "amount": [10.0, 30.0]})
    >>> customer_features(orders).loc[1, ["frequency", "avg_basket", "mean_gap_days"]].tolist()
    [2.0, 20.0, 10.0]
    """
    frame = check_orders(orders)
    reference = resolve_reference_date(frame, reference_date)
    rfm = rfm_values(frame, reference)
    span = frame.groupby("customer_id")["placed_at"].agg(["min", "max"])
    day = reference.normalize()
    tenure = (day - span["min"].dt.normalize()).dt.days
    active_span = (span["max"].dt.normalize() - span["min"].dt.normalize()).dt.days
    freq = rfm["frequency"].astype("float64")
    gap = np.where(freq > 1, active_span / (freq - 1).clip(lower=1), tenure)
    features = pd.DataFrame(
        {
            "recency_days": rfm["recency_days"].astype("float64"),
            "frequency": freq,
            "monetary": rfm["monetary"],
            "avg_basket": rfm["monetary"] / freq,
            "tenure_days": tenure.astype("float64"),
            "mean_gap_days": gap.astype("float64"),
        },
        index=rfm.index,
    )
    if lines is not None:
        checked = check_lines(lines, frame)
        cats = tuple(categories) if categories is not None else _category_order(checked)
        spend = checked.pivot_table(index="customer_id", columns="category", values="amount", aggfunc="sum")
        spend = spend.reindex(index=features.index).fillna(0.0)
        total = spend.sum(axis=1).replace(0.0, np.nan)
        features["n_categories"] = (spend > 0).sum(axis=1).astype("float64")
        shares = spend.reindex(columns=list(cats), fill_value=0.0).div(total, axis=0).fillna(0.0)
        for cat in cats:
            features[SHARE_PREFIX + cat] = shares[cat]
    features.index.name = "customer_id"
    return features


def _nearest(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest centre of each point, in chunks to bound memory."""
    idx = np.empty(len(points), dtype="int64")
    dist = np.empty(len(points), dtype="float64")
    for start in range(0, len(points), 4096):
        block = points[start : start + 4096]
        d2 = ((block[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        idx[start : start + 4096] = d2.argmin(axis=1)
        dist[start : start + 4096] = np.sqrt(d2.min(axis=1))
    return idx, dist


def _centroids(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clusters = np.array(sorted(set(labels.tolist()) - {NOISE}), dtype="int64")
    return clusters, np.array([X[labels == c].mean(axis=0) for c in clusters]).reshape(len(clusters), X.shape[1])


def cluster_metrics(
    X: np.ndarray, labels: np.ndarray, *, sample_size: int = 10_000, random_state: Optional[int] = 0
) -> dict[str, float]:
    """Quality of a clustering of the scaled features ``X``; noise (-1) is left out of every
    metric but ``noise_share``. Metrics that need two clusters are NaN with fewer."""
    kept = labels != NOISE
    Xc, lc = X[kept], labels[kept]
    clusters, centres = _centroids(Xc, lc)
    n_clusters = len(clusters)
    result = {
        "n_clusters": float(n_clusters),
        "silhouette": float("nan"),
        "davies_bouldin": float("nan"),
        "mean_intra_distance": float("nan"),
        "mean_inter_centroid_distance": float("nan"),
        "noise_share": float(1.0 - kept.mean()),
    }
    if n_clusters >= 1:
        pos = np.searchsorted(clusters, lc)
        result["mean_intra_distance"] = float(np.linalg.norm(Xc - centres[pos], axis=1).mean())
    if 2 <= n_clusters <= len(Xc) - 1:
        sample = sample_size if len(Xc) > sample_size else None
        result["silhouette"] = float(silhouette_score(Xc, lc, sample_size=sample, random_state=random_state))
        result["davies_bouldin"] = float(davies_bouldin_score(Xc, lc))
        result["mean_inter_centroid_distance"] = float(pdist(centres).mean())
    return result


def _k_distance_eps(X: np.ndarray, min_samples: int) -> float:
    """The knee of the sorted k-distance curve (see the module docstring)."""
    nn = NearestNeighbors(n_neighbors=min(min_samples, len(X))).fit(X)
    kdist = np.sort(nn.kneighbors(X)[0][:, -1])
    span = kdist[-1] - kdist[0]
    if span <= 0:
        return float(kdist[-1]) if kdist[-1] > 0 else 1e-6
    x = np.linspace(0.0, 1.0, len(kdist))
    y = (kdist - kdist[0]) / span
    knee = int(np.argmax(x - y))  # the chord is y = x; the curve is convex, so it lies below
    eps = max(float(kdist[knee]), float(np.quantile(kdist, 0.9)))
    return eps if eps > 0 else float(kdist[kdist > 0][0])


def _describe(cluster: pd.DataFrame, population: pd.DataFrame) -> str:
    """A short label from a cluster's medians against the population's terciles."""
    q = population[["recency_days", "frequency", "monetary"]].quantile([1 / 3, 2 / 3])
    rec, freq, mon = (float(cluster[c].median()) for c in ("recency_days", "frequency", "monetary"))
    if rec <= q.at[1 / 3, "recency_days"]:
        when = "recent "
    elif rec >= q.at[2 / 3, "recency_days"]:
        when = "lapsed "
    else:
        when = ""
    big = mon >= q.at[2 / 3, "monetary"]
    if freq <= 1:
        who = "big one-off buyers" if big else "one-timers"
    elif big:
        who = "big spenders"
    elif freq >= q.at[2 / 3, "frequency"]:
        who = "regulars"
    elif mon <= q.at[1 / 3, "monetary"]:
        who = "small spenders"
    else:
        who = "occasional buyers"
    return when + who


class CustomerSegmenter(BaseEstimator):
    """Cluster customers on behavioural features.

    Parameters
    ----------
    method : {"kmeans", "dbscan", "agglomerative"}, default "kmeans"
    k_range : (int, int), default (2, 8)
        Smallest and largest number of clusters tried (inclusive) by kmeans
        and agglomerative.
    random_state : int or None, default 0
        Seed of k-means and of every sample.
    large_n : int, default 20_000
        Above this many customers kmeans uses MiniBatchKMeans and dbscan runs
        on a sample.
    sample_size : int, default 10_000
        Size of the samples (silhouette, dbscan, agglomerative).

    Attributes
    ----------
    labels_ : pandas.Series
        Cluster of each customer (index ``customer_id``); clusters are
        numbered by size, 0 the largest; -1 is dbscan's noise.
    metrics_ : dict
        ``n_clusters`` (noise excluded), ``silhouette``, ``davies_bouldin``,
        ``mean_intra_distance`` (to the own centroid), ``mean_inter_centroid_distance``,
        ``noise_share``, all on the scaled features.
    profiles_ : pandas.DataFrame
        One row per cluster: ``size``, ``share``, mean ``recency_days``,
        ``frequency``, ``monetary``, ``top_categories`` (the three with most
        spend, when lines were given) and ``label`` ("recent big spenders").
    k_scores_ : pandas.Series
        Silhouette per k tried (kmeans and agglomerative; empty for dbscan).
    n_clusters_ : int
    features_ : pandas.DataFrame
        The raw features the model was fitted on.
    feature_names_ : list of str
    categories_ : tuple of str
        The categories of the share features (empty without lines).
    reference_date_ : pandas.Timestamp
    scaler_ : sklearn.preprocessing.StandardScaler
    centroids_ : numpy.ndarray
        Cluster centres in the scaled space, row i for cluster i.
    eps_, min_samples_, core_points_, core_labels_ : float, int, numpy.ndarray, numpy.ndarray
        dbscan only: its parameters, and the core customers (scaled) with
        their clusters, which ``predict`` uses.

    Examples
    --------
    >>> days = pd.to_datetime(["2011-12-01", "2011-12-05", "2011-12-08"])
    >>> rows = [(c, 10 * c + i, d, 500.0) for c in range(1, 6) for i, d in enumerate(days)]
    >>> rows += [(c, 10 * c, pd.Timestamp("2011-01-10"), 12.0) for c in range(6, 11)]
    >>> orders = pd.DataFrame(rows, columns=["customer_id", "order_id", "placed_at", "amount"])
    >>> seg = CustomerSegmenter(k_range=(2, 4)).fit(orders)
    >>> seg.n_clusters_, sorted(seg.profiles_["label"])
    (2, ['lapsed one-timers', 'recent big spenders'])
    """

    def __init__(
        self,
        method: str = "kmeans",
        k_range: tuple[int, int] = (2, 8),
        random_state: Optional[int] = 0,
        large_n: int = 20_000,
        sample_size: int = 10_000,
    ) -> None:
        self.method = method
        self.k_range = k_range
        self.random_state = random_state
        self.large_n = large_n
        self.sample_size = sample_size

    # -- fitting ---------------------------------------------------------------------------------------------

    def _check_params(self) -> tuple[int, int]:
        if self.method not in METHODS:
            raise InvalidInput(f"method must be one of {', '.join(METHODS)}, not {self.method!r}.")
        try:
            lo, hi = (int(k) for k in self.k_range)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"k_range must be two whole numbers (smallest, largest), not {self.k_range!r}."
            ) from None
        if not 2 <= lo <= hi:
            raise InvalidInput(f"k_range must satisfy 2 <= smallest <= largest, not {self.k_range!r}.")
        for name in ("large_n", "sample_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 10:
                raise InvalidInput(f"{name} must be a whole number of customers, at least 10, not {value!r}.")
        return lo, hi

    def fit(
        self, orders: pd.DataFrame, lines: Optional[pd.DataFrame] = None, *, reference_date: Optional[object] = None
    ) -> CustomerSegmenter:
        """Compute the features of every customer in ``orders`` and cluster them.

        Parameters
        ----------
        orders : pandas.DataFrame
            The ``orders`` frame of :mod:`analytics.store.frames`.
        lines : pandas.DataFrame, optional
            The ``lines`` frame; adds category features and top categories.
        reference_date : datetime-like, optional
            Default: the day after the newest order.

        Returns
        -------
        CustomerSegmenter
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            Bad parameters or frames, fewer customers than clusters, or
            customers that are all alike.
        """
        k_lo, k_hi = self._check_params()
        raw = customer_features(orders, lines, reference_date=reference_date)
        self.reference_date_ = resolve_reference_date(check_orders(orders), reference_date)
        return self._fit_features(raw, k_lo, k_hi)

    def _fit_features(self, raw: pd.DataFrame, k_lo: int, k_hi: int) -> CustomerSegmenter:
        for stale in ("labels_", "eps_", "min_samples_", "core_points_", "core_labels_"):
            if hasattr(self, stale):  # a refit with another method must not keep the old model's parts
                delattr(self, stale)
        n = len(raw)
        if n < k_lo + 1:
            raise InvalidInput(
                f"{n} customer(s) cannot be split into {k_lo} or more clusters: clustering needs at least "
                f"{k_lo + 1} customers (k_range starts at {k_lo}). Pass more customers or lower k_range."
            )
        varying = raw.columns[raw.nunique() > 1]
        if len(varying) == 0:
            raise InvalidInput(
                f"all {n} customers have identical features (same recency, orders and spend); "
                "there is nothing to segment."
            )
        self.feature_names_ = list(raw.columns)
        self.categories_ = tuple(c[len(SHARE_PREFIX) :] for c in raw.columns if c.startswith(SHARE_PREFIX))
        self.scaler_ = StandardScaler().fit(self._logged(raw))
        X = self._scaled(raw)
        # distinct profiles, counted on at most 100,000 customers (enough to cap k; sorting 1M rows is slow)
        n_distinct = len(np.unique(X[:100_000], axis=0))
        if n_distinct < k_lo:
            raise InvalidInput(
                f"only {n_distinct} distinct customer profile(s) among {n} customers, fewer than the {k_lo} "
                "clusters asked for; lower k_range or pass more varied customers."
            )
        rng = np.random.default_rng(self.random_state)
        k_scores: dict[int, float] = {}
        if self.method == "kmeans":
            labels, k_scores = self._kmeans(X, k_lo, min(k_hi, n_distinct, n - 1))
        elif self.method == "agglomerative":
            labels, k_scores = self._agglomerative(X, k_lo, min(k_hi, n_distinct, n - 1), rng)
        else:
            labels = self._dbscan(X, rng)
        labels = self._renumber(labels)
        _, centres = _centroids(X, labels)
        self.centroids_ = centres
        self.labels_ = pd.Series(labels, index=raw.index, name="cluster")
        self.n_clusters_ = len(centres)
        self.k_scores_ = pd.Series(k_scores, name="silhouette", dtype="float64")
        self.k_scores_.index.name = "k"
        self.features_ = raw
        self.metrics_ = cluster_metrics(X, labels, sample_size=self.sample_size, random_state=self.random_state)
        self.profiles_ = self._profiles(raw, labels)
        return self

    def _logged(self, raw: pd.DataFrame) -> np.ndarray:
        logged = raw.copy()
        for col in raw.columns:
            if col in LOG_FEATURES:
                logged[col] = np.log1p(raw[col].clip(lower=0))
        return logged.to_numpy(dtype="float64")

    def _scaled(self, raw: pd.DataFrame) -> np.ndarray:
        X = self.scaler_.transform(self._logged(raw))
        share_cols = [i for i, c in enumerate(self.feature_names_) if c.startswith(SHARE_PREFIX)]
        if share_cols:
            X[:, share_cols] *= np.sqrt(CATEGORY_BLOCK_WEIGHT / len(share_cols))
        return np.asarray(X, dtype="float64")

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.sort(rng.choice(n, size=self.sample_size, replace=False))

    def _kmeans(self, X: np.ndarray, k_lo: int, k_hi: int) -> tuple[np.ndarray, dict[int, float]]:
        large = len(X) > self.large_n
        # k is chosen on a seeded sample when there are many customers (silhouette is quadratic and
        # a k-means per k on everybody is wasted work); only the chosen k is then fitted on everybody
        search = X[self._sample(len(X), np.random.default_rng(self.random_state))] if large else X
        best: Optional[tuple[float, int, np.ndarray]] = None
        scores: dict[int, float] = {}
        for k in range(k_lo, k_hi + 1):
            labels = KMeans(n_clusters=k, random_state=self.random_state, n_init=4).fit_predict(search)
            if len(np.unique(labels)) < 2:
                continue
            sample = self.sample_size if len(search) > self.sample_size else None
            score = float(silhouette_score(search, labels, sample_size=sample, random_state=self.random_state))
            scores[k] = score
            if best is None or score > best[0]:
                best = (score, k, labels)
        if best is None:  # pragma: no cover - guarded by the distinct-profile check
            raise InvalidInput("k-means found no split of these customers into two or more clusters.")
        if not large:
            return best[2], scores
        model = MiniBatchKMeans(n_clusters=best[1], random_state=self.random_state, n_init=3, batch_size=4096)
        return model.fit_predict(X), scores

    def _agglomerative(
        self, X: np.ndarray, k_lo: int, k_hi: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[int, float]]:
        idx = self._sample(len(X), rng) if len(X) > self.sample_size else np.arange(len(X))
        Xs = X[idx]
        tree = linkage(Xs, method="ward")
        best: Optional[tuple[float, np.ndarray]] = None
        scores: dict[int, float] = {}
        for k in range(k_lo, k_hi + 1):
            cut = fcluster(tree, t=k, criterion="maxclust").astype("int64") - 1
            if not 2 <= len(np.unique(cut)) <= len(Xs) - 1:
                continue
            score = float(silhouette_score(Xs, cut))
            scores[k] = score
            if best is None or score > best[0]:
                best = (score, cut)
        if best is None:  # pragma: no cover - guarded by the distinct-profile check
            raise InvalidInput("Ward linkage found no split of these customers into two or more clusters.")
        _, centres = _centroids(Xs, best[1])
        labels, _ = _nearest(X, centres)
        labels[idx] = best[1]
        return labels, scores

    def _dbscan(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(X)
        dims = sum(1 for c in self.feature_names_ if not c.startswith(SHARE_PREFIX)) + (1 if self.categories_ else 0)
        self.min_samples_ = max(5, min(2 * dims, n // 20))
        idx = self._sample(n, rng) if n > self.large_n else np.arange(n)
        Xs = X[idx]
        self.eps_ = _k_distance_eps(Xs, self.min_samples_)
        model = DBSCAN(eps=self.eps_, min_samples=self.min_samples_).fit(Xs)
        self.core_points_ = Xs[model.core_sample_indices_]
        self.core_labels_ = model.labels_[model.core_sample_indices_].astype("int64")
        if n > len(idx):
            labels = self._dbscan_assign(X)
            labels[idx] = model.labels_
            return labels
        return np.asarray(model.labels_, dtype="int64")

    def _dbscan_assign(self, X: np.ndarray) -> np.ndarray:
        if len(self.core_points_) == 0:
            return np.full(len(X), NOISE, dtype="int64")
        nn = NearestNeighbors(n_neighbors=1).fit(self.core_points_)
        dist, pos = nn.kneighbors(X)
        labels = self.core_labels_[pos[:, 0]].copy()
        labels[dist[:, 0] > self.eps_] = NOISE
        return labels

    def _renumber(self, labels: np.ndarray) -> np.ndarray:
        """Clusters numbered by size, largest first (ties by old number); noise stays -1."""
        sizes = pd.Series(labels[labels != NOISE]).value_counts()
        order = sorted(sizes.index, key=lambda c: (-sizes[c], c))
        mapping = {old: new for new, old in enumerate(order)}
        if self.method == "dbscan":
            self.core_labels_ = np.array([mapping.get(c, NOISE) for c in self.core_labels_], dtype="int64")
        return np.array([mapping.get(c, NOISE) for c in labels], dtype="int64")

    def _profiles(self, raw: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
        rows = []
        for cluster in sorted(set(labels.tolist()), key=lambda c: (c == NOISE, c)):
            members = raw[labels == cluster]
            row: dict[str, object] = {
                "cluster": cluster,
                "size": len(members),
                "share": len(members) / len(raw),
                "mean_recency_days": members["recency_days"].mean(),
                "mean_frequency": members["frequency"].mean(),
                "mean_monetary": members["monetary"].mean(),
            }
            if self.categories_:
                spend = pd.Series(
                    {c: (members[SHARE_PREFIX + c] * members["monetary"]).sum() for c in self.categories_}
                )
                top = spend[spend > 0].sort_values(ascending=False, kind="stable").head(3)
                row["top_categories"] = list(top.index)
            row["label"] = "unusual customers (noise)" if cluster == NOISE else _describe(members, raw)
            rows.append(row)
        profiles = pd.DataFrame(rows).set_index("cluster")
        seen: dict[str, int] = {}
        labels_out = []
        for label in profiles["label"]:
            seen[label] = seen.get(label, 0) + 1
            labels_out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
        profiles["label"] = labels_out
        return profiles

    # -- using -----------------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError(self)

    def predict(
        self,
        features_or_orders: pd.DataFrame,
        lines: Optional[pd.DataFrame] = None,
        *,
        reference_date: Optional[object] = None,
    ) -> pd.Series:
        """Cluster of new customers.

        Parameters
        ----------
        features_or_orders : pandas.DataFrame
            Either an ``orders`` frame (recognised by its columns) or raw
            features as made by :func:`customer_features`, with at least the
            columns of ``feature_names_``.
        lines : pandas.DataFrame, optional
            With an orders frame, the lines; required if the segmenter was
            fitted with lines.
        reference_date : datetime-like, optional
            With an orders frame; default: the fitted ``reference_date_``.

        Returns
        -------
        pandas.Series
            The cluster per ``customer_id``: the nearest centroid (kmeans,
            agglomerative) or the cluster of the nearest core customer within
            ``eps_``, else -1 (dbscan).

        Examples
        --------
        >>> days = pd.to_datetime(["2011-12-01", "2011-12-05", "2011-12-08"])
        >>> rows = [(c, 10 * c + i, d, 500.0) for c in range(1, 6) for i, d in enumerate(days)]
        >>> rows += [(c, 10 * c, pd.Timestamp("2011-01-10"), 12.0) for c in range(6, 11)]
        >>> cols = ["customer_id", "order_id", "placed_at", "amount"]
        >>> seg = CustomerSegmenter(k_range=(2, 2)).fit(pd.DataFrame(rows, columns=cols))
        >>> new = pd.DataFrame([(99, 1, pd.Timestamp("2011-01-20"), 10.0)], columns=cols)
        >>> seg.profiles_.loc[seg.predict(new).loc[99], "label"]
        'lapsed one-timers'
        """
        self._check_fitted()
        if not isinstance(features_or_orders, pd.DataFrame):
            raise InvalidInput("predict takes a DataFrame: an orders frame or the output of customer_features.")
        if all(c in features_or_orders.columns for c in ORDER_COLUMNS):
            if self.categories_ and lines is None:
                raise InvalidInput("this segmenter was fitted with lines (category features); pass lines= as well.")
            raw = customer_features(
                features_or_orders,
                lines if self.categories_ else None,
                reference_date=self.reference_date_ if reference_date is None else reference_date,
                categories=self.categories_,
            )
        else:
            missing = [c for c in self.feature_names_ if c not in features_or_orders.columns]
            if missing:
                raise InvalidInput(
                    f"features frame lacks column(s) {', '.join(missing[:5])}; pass an orders frame or the output "
                    "of customer_features (with the same lines as in fit)."
                )
            raw = features_or_orders.loc[:, self.feature_names_]
            if raw.empty:
                raise InvalidInput("features frame is empty: no customers to predict.")
            values = raw.to_numpy(dtype="float64")
            if not np.isfinite(values).all():
                bad = raw.columns[~np.isfinite(values).all(axis=0)].tolist()
                raise InvalidInput(f"features frame has missing or infinite values in {', '.join(bad)}; fill them.")
        X = self._scaled(raw)
        if self.method == "dbscan":
            labels = self._dbscan_assign(X)
        else:
            labels, _ = _nearest(X, self.centroids_)
        return pd.Series(labels, index=raw.index, name="cluster")


def compare_methods(
    orders: pd.DataFrame,
    lines: Optional[pd.DataFrame] = None,
    *,
    reference_date: Optional[object] = None,
    k_range: tuple[int, int] = (2, 8),
    random_state: Optional[int] = 0,
    large_n: int = 20_000,
    sample_size: int = 10_000,
) -> pd.DataFrame:
    """Fit the three methods on the same features and tabulate their metrics.

    Returns
    -------
    pandas.DataFrame
        Indexed by method: the :attr:`CustomerSegmenter.metrics_` columns and
        ``fit_seconds`` (clustering only; the features are computed once).

    Examples
    --------
    >>> days = pd.to_datetime(["2011-12-01", "2011-12-05", "2011-12-08"])
    >>> rows = [(c, 10 * c + i, d, 500.0) for c in range(1, 6) for i, d in enumerate(days)]
    >>> rows += [(c, 10 * c, pd.Timestamp("2011-01-10"), 12.0) for c in range(6, 11)]
    >>> orders = pd.DataFrame(rows, columns=["customer_id", "order_id", "placed_at", "amount"])
    >>> compare_methods(orders, k_range=(2, 3))["n_clusters"].to_dict()
    {'kmeans': 2.0, 'dbscan': 2.0, 'agglomerative': 2.0}
    """
    raw = customer_features(orders, lines, reference_date=reference_date)
    reference = resolve_reference_date(check_orders(orders), reference_date)
    rows = {}
    for method in METHODS:
        seg = CustomerSegmenter(method, k_range, random_state, large_n, sample_size)
        k_lo, k_hi = seg._check_params()
        seg.reference_date_ = reference
        started = time.perf_counter()
        seg._fit_features(raw, k_lo, k_hi)
        rows[method] = {**seg.metrics_, "fit_seconds": time.perf_counter() - started}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table.loc[:, [*METRIC_COLUMNS, "fit_seconds"]]


__all__ = ["METHODS", "CustomerSegmenter", "check_lines", "cluster_metrics", "compare_methods", "customer_features"]
