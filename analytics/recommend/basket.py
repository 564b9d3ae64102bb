"""Frequently bought together: association rules over order baskets.

A *basket* is one order's set of distinct items (the ``product_id`` values
of one ``order_id`` in the ``lines`` frame of :mod:`analytics.store.frames`, or
one list of a list of item lists). :class:`BasketRules` mines the frequent
itemsets and the association rules ``A -> c`` between them, and serves
"bought together" suggestions from them.

Measures
--------
For a rule from the itemset ``A`` (the antecedent) to the item ``c`` (the
consequent), over ``N`` baskets:

- ``support`` = share of baskets that hold ``A`` and ``c``;
- ``confidence`` = support(A and c) / support(A), the share of the baskets
  holding ``A`` that also hold ``c`` ("bought with X in 7% of orders that
  contain X");
- ``lift`` = confidence / support(c): above 1, ``c`` is more likely with
  ``A`` than in an average basket.

Like R's ``arules``, rules have a single consequent item: that is what a
suggestion shows. A rule is kept when its itemset reaches ``min_support``,
its confidence ``min_confidence`` and its lift ``min_lift``; ``max_len``
bounds the itemset size (3: antecedents of one or two items).

Mining
------
Items below ``min_support`` cannot be in a frequent itemset, so they are
dropped before mining: on Online Retail at 1% that leaves 829 of 3,798
products. Three algorithms find the same itemsets with the same basket
counts, so the rules are identical whichever runs:

- ``"apriori"``: :func:`mlxtend.frequent_patterns.apriori`, level by level,
  on a pandas frame of boolean ``SparseArray`` columns (``low_memory=True``:
  the default path builds a dense baskets x candidates matrix, gigabytes on
  Online Retail);
- ``"fpgrowth"``: :func:`mlxtend.frequent_patterns.fpgrowth` on the same
  frame, public API only. mlxtend 0.23.4, the last release for Python 3.10,
  checks every basket for missing values once per itemset
  (rasbt/mlxtend#1130), about 35x slower than apriori on Groceries; 0.24
  fixed it but needs Python 3.11;
- ``"eclat"``: :func:`analytics.recommend.eclat.eclat`, depth first over
  vertical tid-sets (bitsets of baskets) intersected pairwise.

Supports are basket counts divided by the number of baskets for all three.
Rules come from :func:`mlxtend.frequent_patterns.association_rules`.

Serving
-------
:meth:`BasketRules.for_item` and :meth:`BasketRules.for_basket` read
dictionaries built at fit time (item -> ranked suggestions, itemset ->
ranked suggestions), so a query is a few dictionary look-ups. Suggestions
are ranked by lift, then confidence, then support. An item nobody bought
together with anything is normal: the answer is then empty, with a reason.

Defaults live in :class:`BasketConfig`; ``BasketRules.from_config(config)``
builds an estimator from a configuration the caller passes.

Why one long module: one estimator (:class:`BasketRules`) with its configuration, input checks and
mining back ends; nothing here is used without it (Eclat, a technique of its own, is in
:mod:`analytics.recommend.eclat`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
from scipy import sparse

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.eclat import eclat
from analytics.recommend.ranked import RankedItems, percent

#: Mining algorithms :class:`BasketRules` accepts.
ALGORITHMS = ("apriori", "fpgrowth", "eclat")
#: Columns of the ``lines`` frame a basket is read from.
BASKET_COLUMNS = ("order_id", "product_id")
#: Rule measures kept in ``BasketRules.rules_`` (mlxtend's column names).
RULE_METRICS = ("antecedent support", "consequent support", "support", "confidence", "lift", "leverage", "conviction")

Baskets = Union[pd.DataFrame, Iterable[Iterable[Hashable]]]


# --------------------------------------------------------------------------- configuration


def _fraction(value: object, name: str, *, low: float, high: float, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(f"{name} must be a number, not {value!r}.")
    number = float(value)
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        bounds = f"{'above' if low_open else 'at least'} {low:g} and at most {high:g}"
        raise InvalidInput(f"{name} must be {bounds}, not {value!r}.")
    return number


def check_params(
    min_support: object, min_confidence: object, min_lift: object, max_len: object, algorithm: object
) -> tuple[float, float, float, Optional[int], str]:
    """Validate the thresholds of :class:`BasketRules` and return them normalised.

    Raises :class:`InvalidInput` saying which value to change: ``min_support``
    must be in (0, 1], ``min_confidence`` in [0, 1], ``min_lift`` a finite
    number >= 0, ``max_len`` a whole number >= 2 or None, ``algorithm`` one
    of :data:`ALGORITHMS`.

    Examples
    --------
    >>> check_params(0.01, 0.2, 1, 3, "fpgrowth")
    (0.01, 0.2, 1.0, 3, 'fpgrowth')
    """
    support = _fraction(min_support, "min_support (a share of baskets, e.g. 0.01 for 1%)", low=0, high=1, low_open=True)
    confidence = _fraction(min_confidence, "min_confidence (a share, e.g. 0.2 for 20%)", low=0, high=1, low_open=False)
    lift = _fraction(min_lift, "min_lift (1 means 'no better than chance')", low=0, high=math.inf, low_open=False)
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 2):
        raise InvalidInput(
            f"max_len must be a whole number of items >= 2 (a rule needs two items) or None for no limit, "
            f"not {max_len!r}."
        )
    if algorithm not in ALGORITHMS:
        raise InvalidInput(f"algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}.")
    return support, confidence, lift, None if max_len is None else int(max_len), str(algorithm)


@dataclass(frozen=True)
class BasketConfig:
    """The thresholds of :class:`BasketRules`; the one place their defaults live.

    Parameters
    ----------
    min_support : float, default 0.01
        Least share of baskets an itemset must be in (1% of Online Retail's
        19,773 orders is 198 orders).
    min_confidence : float, default 0.2
        Least share of the baskets holding the antecedent that also hold the
        suggested item.
    min_lift : float, default 1.2
        Least lift: 1.2 asks the suggested item to be 20% more likely with
        the antecedent than in an average basket.
    max_len : int or None, default 3
        Largest itemset mined (3: rules from one or two items).
    algorithm : {"apriori", "fpgrowth", "eclat"}, default "apriori"
        All three find the same itemsets and rules; their speeds side by
        side are in ``bench/basket_eval.py`` (BENCHMARKS.md, "Frequently
        bought together"). Avoid "fpgrowth" with mlxtend 0.23.4 (the
        module docstring says why).

    Examples
    --------
    >>> BasketConfig.from_mapping({"min_support": 0.02}).min_support
    0.02
    >>> BasketConfig().max_len
    3
    """

    min_support: float = 0.01
    min_confidence: float = 0.2
    min_lift: float = 1.2
    max_len: Optional[int] = 3
    algorithm: str = "apriori"

    def __post_init__(self) -> None:
        values = check_params(self.min_support, self.min_confidence, self.min_lift, self.max_len, self.algorithm)
        for f, value in zip(fields(self), values):
            object.__setattr__(self, f.name, value)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "basket rules configuration") -> BasketConfig:
        """A configuration from a mapping (a TOML table, settings); keys left out keep their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"{source}: unknown key(s) {sorted(unknown)}; expected some of {sorted(known)}.")
        try:
            return cls(**data)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: {exc}") from None


DEFAULTS = BasketConfig()


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class BasketMatrix:
    """Checked baskets: one entry per distinct (basket, item) pair.

    ``rows[k]`` is the basket (0..n_baskets-1) and ``cols[k]`` the index in
    ``items`` of the k-th pair.
    """

    rows: np.ndarray
    cols: np.ndarray
    items: list[Hashable]
    n_baskets: int
    from_lines: bool

    def counts(self) -> np.ndarray:
        """Number of baskets holding each item."""
        return np.bincount(self.cols, minlength=len(self.items))


def _factorize(values: Union[np.ndarray, pd.Series]) -> tuple[np.ndarray, list[Hashable]]:
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # items of mixed types (1 and "a") do not sort; first appearance is deterministic too
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), list(np.asarray(uniques).tolist())


def _dedupe(rows: np.ndarray, cols: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (basket, item) pairs: an order with two lines of one product holds it once."""
    keys = np.unique(rows * np.int64(n_items) + cols)
    return keys // n_items, keys % n_items


def _check_frame(frame: pd.DataFrame) -> BasketMatrix:
    missing = [c for c in BASKET_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"baskets frame lacks column(s) {', '.join(missing)}; "
            "pass the lines frame (analytics.store.frames.load_lines) "
            f"or any frame with columns {', '.join(BASKET_COLUMNS)}."
        )
    if frame.empty:
        raise InvalidInput("baskets frame is empty: there are no orders to learn from. Import orders first.")
    pairs = frame.loc[:, list(BASKET_COLUMNS)]
    if pairs.isna().any().any():
        bad = pairs.columns[pairs.isna().any()].tolist()
        raise InvalidInput(f"baskets frame has missing values in {', '.join(bad)}; drop those lines.")
    rows, _ = _factorize(pairs["order_id"])
    cols, items = _factorize(pairs["product_id"])
    rows, cols = _dedupe(rows, cols, len(items))
    return BasketMatrix(rows, cols, items, int(rows.max()) + 1, from_lines=True)


def _check_lists(baskets: Iterable[Iterable[Hashable]]) -> BasketMatrix:
    if isinstance(baskets, (str, bytes, Mapping)) or not isinstance(baskets, Iterable):
        raise InvalidInput(
            "baskets must be the lines frame or a list of item lists such as [['bread', 'butter'], ['milk']], "
            f"not {type(baskets).__name__}."
        )
    flat: list[Hashable] = []
    rows: list[int] = []
    n_baskets = 0
    for i, basket in enumerate(baskets):
        if isinstance(basket, (str, bytes)) or not isinstance(basket, Iterable):
            raise InvalidInput(
                f"basket {i} is {basket!r}, not a list of items; write a one-item basket as [{basket!r}]."
            )
        items = list(basket)
        if not items:
            raise InvalidInput(f"basket {i} is empty; drop empty baskets (an order without items is not a basket).")
        for item in items:
            if item is None or (isinstance(item, float) and math.isnan(item)):
                raise InvalidInput(f"basket {i} holds a missing item ({item!r}); drop it from the basket.")
            if not isinstance(item, Hashable):
                raise InvalidInput(f"basket {i} holds {item!r}, which cannot be an item id; use a string or number.")
        flat.extend(items)
        rows.extend([i] * len(items))
        n_baskets = i + 1
    if n_baskets == 0:
        raise InvalidInput("baskets is empty: there are no orders to learn from. Pass at least one basket.")
    values = np.empty(len(flat), dtype=object)
    values[:] = flat
    cols, uniques = _factorize(values)
    dedup_rows, dedup_cols = _dedupe(np.asarray(rows, dtype=np.int64), cols, len(uniques))
    return BasketMatrix(dedup_rows, dedup_cols, uniques, n_baskets, from_lines=False)


def check_baskets(baskets: Baskets) -> BasketMatrix:
    """Validate baskets and return them as (basket, item) pairs.

    ``baskets`` is the ``lines`` frame (one basket per ``order_id``, items
    are ``product_id``; other columns are ignored) or an iterable of item
    lists. Raises :class:`InvalidInput` with what to fix: no baskets, an
    empty basket, a missing column or value, a string where a list of items
    belongs.

    Examples
    --------
    >>> m = check_baskets([["bread", "butter", "bread"], ["milk"]])
    >>> m.n_baskets, m.items, m.counts().tolist()
    (2, ['bread', 'butter', 'milk'], [1, 1, 1])
    """
    if isinstance(baskets, pd.DataFrame):
        return _check_frame(baskets)
    return _check_lists(baskets)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Suggestion:
    """One item suggested with a rule ``antecedent -> item``.

    ``support``, ``confidence`` and ``lift`` are the rule's (see the module
    docstring); ``reason`` says it in words.
    """

    item: Hashable
    support: float
    confidence: float
    lift: float
    antecedent: tuple[Hashable, ...]
    reason: str


@dataclass(frozen=True)
class Suggestions(RankedItems[Suggestion]):
    """Ranked suggestions for a query, best first; iterate it like a tuple.

    ``reason`` says what the list is, or why it is empty (an item nobody
    bought together with anything, an empty basket...).
    """

    query: tuple[Hashable, ...]
    items: tuple[Suggestion, ...]
    reason: str


def _and(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


# --------------------------------------------------------------------------- mining


def _min_count(min_support: float, n_baskets: int) -> int:
    # The tolerance keeps 0.1 x 30 = 3.0000000000000004 at 3 baskets.
    return max(1, math.ceil(min_support * n_baskets - 1e-9))


def _one_hot(matrix: sparse.csr_matrix) -> pd.DataFrame:
    """Baskets x items as boolean SparseArray columns named 0..k-1 (what mlxtend accepts)."""
    csc = matrix.tocsc()
    column = np.zeros(matrix.shape[0], dtype=bool)
    columns = {}
    for j in range(csc.shape[1]):
        idx = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        column[idx] = True
        # Built from a dense column: from_spmatrix would give fill_value 0, which pandas deprecates for bool.
        columns[j] = pd.arrays.SparseArray(column, fill_value=False)
        column[idx] = False
    return pd.DataFrame(columns)


def _mine(matrix: sparse.csr_matrix, min_count: int, max_len: Optional[int], algorithm: str) -> pd.DataFrame:
    """Frequent itemsets of column indices: ``support`` and ``itemsets`` (mlxtend's layout).

    Every algorithm's support is its basket count divided by the number of
    baskets, so the three give bit-identical tables.
    """
    n = matrix.shape[0]
    if algorithm == "eclat":
        counts, itemsets = eclat(matrix, min_count, max_len)
        return pd.DataFrame({"support": np.asarray(counts, dtype=np.float64) / n, "itemsets": itemsets})
    from mlxtend.frequent_patterns import apriori, fpgrowth

    # Half a basket below the count threshold, so float rounding cannot drop an itemset at exactly min_support.
    threshold = (min_count - 0.5) / n
    if algorithm == "apriori":
        found = apriori(_one_hot(matrix), min_support=threshold, max_len=max_len, low_memory=True)
    else:
        found = fpgrowth(_one_hot(matrix), min_support=threshold, max_len=max_len)
    counts = np.rint(found["support"].to_numpy(dtype=np.float64) * n)
    return pd.DataFrame({"support": counts / n, "itemsets": found["itemsets"].map(frozenset).tolist()})


# --------------------------------------------------------------------------- estimator


class BasketRules:
    """Frequently bought together, from association rules over baskets.

    Parameters
    ----------
    min_support, min_confidence, min_lift, max_len, algorithm
        The thresholds and mining algorithm; defaults and meaning in
        :class:`BasketConfig`. Build from a configuration with
        :meth:`from_config`.

    Attributes
    ----------
    n_baskets_ : int
        Number of baskets fitted.
    item_counts_ : pandas.Series
        Number of baskets holding each item (every item seen), most frequent first.
    itemsets_ : pandas.DataFrame
        Frequent itemsets: ``support``, ``itemsets`` (frozenset of items),
        ``length``; by support, highest first.
    rules_ : pandas.DataFrame
        Rules with one consequent item that pass every threshold:
        ``antecedents``, ``consequents`` (frozensets of items) and the
        measures of :data:`RULE_METRICS`; by lift, then confidence, then
        support, highest first.

    Examples
    --------
    >>> baskets = [["bread", "butter"], ["bread", "butter", "jam"], ["milk"], ["milk", "tea"], ["bread", "butter"]]
    >>> rules = BasketRules(min_support=0.4, min_confidence=0.5).fit(baskets)
    >>> top = rules.for_item("bread")[0]
    >>> top.item, round(top.lift, 2)
    ('butter', 1.67)
    >>> top.reason
    'bought together with bread in 100% of orders that contain bread'
    >>> rules.for_item("tea").reason
    'tea is in 1 of 5 orders (20%), below min_support 40%: too few orders to tell what goes with it.'
    """

    def __init__(
        self,
        min_support: float = DEFAULTS.min_support,
        min_confidence: float = DEFAULTS.min_confidence,
        min_lift: float = DEFAULTS.min_lift,
        max_len: Optional[int] = DEFAULTS.max_len,
        algorithm: str = DEFAULTS.algorithm,
    ) -> None:
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.max_len = max_len
        self.algorithm = algorithm

    @classmethod
    def from_config(cls, config: BasketConfig) -> BasketRules:
        """An unfitted estimator with the thresholds of ``config``."""
        return cls(**asdict(config))

    # ------------------------------------------------------------------ fit

    def fit(self, baskets: Baskets, names: Optional[Union[Mapping[Hashable, str], pd.Series]] = None) -> BasketRules:
        """Mine frequent itemsets and rules, and index them for serving.

        Parameters
        ----------
        baskets : pandas.DataFrame or iterable of item lists
            The ``lines`` frame (basket = ``order_id``, item = ``product_id``)
            or lists of items, one list per basket (see :func:`check_baskets`).
        names : mapping item -> str, optional
            Display names used in the reasons (product names); items without
            one are shown by their id.

        Returns
        -------
        BasketRules
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad thresholds or baskets, or when no two items are bought
            together in ``min_support`` of the baskets (the message gives the
            ``min_support`` that would find some).
        """
        min_support, min_confidence, min_lift, max_len, algorithm = check_params(
            self.min_support, self.min_confidence, self.min_lift, self.max_len, self.algorithm
        )
        data = check_baskets(baskets)
        n = data.n_baskets
        counts = data.counts()
        min_count = _min_count(min_support, n)
        frequent = np.flatnonzero(counts >= min_count)
        if frequent.size == 0:
            top = int(counts.max())
            raise InvalidInput(
                f"no item is in {percent(min_support)} of the {n:,} baskets (the most frequent is in {top:,}, "
                f"{percent(top / n)}); lower min_support to {top / n:.4g} or less."
            )
        # Only frequent items can be in a frequent itemset: one-hot encode those alone.
        column_of = np.full(len(data.items), -1, dtype=np.int64)
        column_of[frequent] = np.arange(frequent.size)
        keep = column_of[data.cols] >= 0
        matrix = sparse.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (data.rows[keep], column_of[data.cols[keep]])),
            shape=(n, frequent.size),
        )
        found = _mine(matrix, min_count, max_len, algorithm)
        lengths = found["itemsets"].map(len)
        if not (lengths >= 2).any():
            self._raise_no_pairs(data, min_support)

        from mlxtend.frequent_patterns import association_rules

        rules = association_rules(
            found,
            num_itemsets=n,
            metric="confidence",
            min_threshold=min_confidence,
            return_metrics=list(RULE_METRICS),
        )
        rules = rules[(rules["consequents"].map(len) == 1) & (rules["lift"] >= min_lift)]

        item_of = [data.items[i] for i in frequent]
        to_items = lambda cols: frozenset(item_of[c] for c in cols)  # noqa: E731
        itemsets = pd.DataFrame(
            {"support": found["support"].to_numpy(), "itemsets": found["itemsets"].map(to_items), "length": lengths}
        )
        # Ties: shorter itemsets first, then by the items' order, so the table does not depend on the algorithm.
        itemsets["_key"] = found["itemsets"].map(lambda cols: tuple(sorted(int(frequent[c]) for c in cols)))
        itemsets = itemsets.sort_values(["support", "length", "_key"], ascending=[False, True, True], kind="stable")
        self.itemsets_ = itemsets.drop(columns="_key").reset_index(drop=True)

        rules = rules.assign(
            _cons=rules["consequents"].map(lambda cols: int(frequent[next(iter(cols))])),
            _ante=rules["antecedents"].map(lambda cols: tuple(sorted(int(frequent[c]) for c in cols))),
        ).sort_values(
            ["lift", "confidence", "support", "_cons", "_ante"],
            ascending=[False, False, False, True, True],
            kind="stable",
        )
        rules["antecedents"] = rules["antecedents"].map(to_items)
        rules["consequents"] = rules["consequents"].map(to_items)
        self.rules_ = rules.drop(columns=["_cons", "_ante"]).reset_index(drop=True)

        self.n_baskets_ = n
        self.item_counts_ = pd.Series(counts, index=pd.Index(data.items, name="item"), name="baskets").sort_values(
            ascending=False, kind="stable"
        )
        self.names_ = {item: str(names[item]) for item in data.items if names is not None and item in names}
        self._from_lines = data.from_lines
        self._thresholds = (min_support, min_confidence, min_lift)
        self._build_index()
        return self

    def _raise_no_pairs(self, data: BasketMatrix, min_support: float) -> None:
        n = data.n_baskets
        x = sparse.csr_matrix((np.ones(len(data.rows), dtype=np.int32), (data.rows, data.cols)))
        together = sparse.triu(x.T @ x, k=1)
        best = int(together.max()) if together.nnz else 0
        if best == 0:
            raise InvalidInput(
                f"no two items are ever in the same basket (of {n:,}); association rules need baskets "
                "with two or more items."
            )
        raise InvalidInput(
            f"no frequent itemsets of two or more items: no pair of items is in {percent(min_support)} of the "
            f"{n:,} baskets (the most frequent pair is in {best:,}, {percent(best / n)}); lower min_support to "
            f"{best / n:.4g} or less."
        )

    def _label(self, item: Hashable) -> str:
        name = self.names_.get(item)
        if name is not None:
            return name
        if isinstance(item, str):
            return item
        return f"product {item}" if self._from_lines else f"item {item}"

    def _build_index(self) -> None:
        """item -> ranked suggestions, itemset -> ranked suggestions, for lookups at serving time."""
        by_antecedent: dict[frozenset, list[tuple[int, Suggestion]]] = {}
        position = {item: i for i, item in enumerate(self.item_counts_.index)}
        for rank, rule in enumerate(self.rules_.itertuples(index=False)):
            antecedent = tuple(sorted(rule.antecedents, key=position.__getitem__))
            (item,) = rule.consequents
            labels = _and([self._label(a) for a in antecedent])
            suggestion = Suggestion(
                item=item,
                support=float(rule.support),
                confidence=float(rule.confidence),
                lift=float(rule.lift),
                antecedent=antecedent,
                reason=f"bought together with {labels} in {percent(rule.confidence)} of orders that contain {labels}",
            )
            by_antecedent.setdefault(rule.antecedents, []).append((rank, suggestion))
        self._by_antecedent = {key: tuple(value) for key, value in by_antecedent.items()}
        self._by_item = {
            next(iter(key)): tuple(s for _, s in value) for key, value in self._by_antecedent.items() if len(key) == 1
        }
        # Each antecedent of two or more items is listed under one of its items only, so a basket query
        # visits it once.
        larger: dict[Hashable, list[frozenset]] = {}
        for key in self._by_antecedent:
            if len(key) > 1:
                larger.setdefault(min(key, key=position.__getitem__), []).append(key)
        self._larger_by_item = {item: tuple(keys) for item, keys in larger.items()}

    # ------------------------------------------------------------------ serving

    def _check_fitted(self) -> None:
        if not hasattr(self, "rules_"):
            raise NotFittedError(self)

    @staticmethod
    def _check_n(n: object) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidInput(f"n must be a whole number of suggestions >= 1, not {n!r}.")
        return int(n)

    def _thresholds_text(self) -> str:
        support, confidence, lift = self._thresholds
        return f"min_support {percent(support)}, min_confidence {percent(confidence)}, min_lift {lift:g}"

    def _why_nothing_for(self, item: Hashable) -> str:
        label = self._label(item)
        count = int(self.item_counts_.get(item, 0))
        n = self.n_baskets_
        if count == 0:
            return f"{label} is in none of the {n:,} orders the rules were learnt from."
        if count < _min_count(self._thresholds[0], n):
            return (
                f"{label} is in {count:,} of {n:,} orders ({percent(count / n)}), below min_support "
                f"{percent(self._thresholds[0])}: too few orders to tell what goes with it."
            )
        return f"nothing is bought with {label} often enough to suggest ({self._thresholds_text()})."

    def for_item(self, item_id: Hashable, n: int = 5) -> Suggestions:
        """Items bought together with ``item_id``, best first.

        Rules ``{item_id} -> c``, ranked by lift, then confidence, then support.
        An item with no rule (never sold, too rare, or bought with nothing in
        particular) gives an empty :class:`Suggestions` whose ``reason`` says
        which.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        InvalidInput
            If ``n`` is not a whole number >= 1 or ``item_id`` is not a single id.
        """
        self._check_fitted()
        limit = self._check_n(n)
        try:
            ranked = self._by_item.get(item_id)
        except TypeError:
            raise InvalidInput(
                f"item_id must be one item id such as 85123, not {item_id!r}; use for_basket for several items."
            ) from None
        if not ranked:
            return Suggestions((item_id,), (), self._why_nothing_for(item_id))
        shown = ranked[:limit]
        return Suggestions(
            (item_id,), shown, f"{len(shown)} item(s) often bought together with {self._label(item_id)}."
        )

    def for_basket(self, item_ids: Iterable[Hashable], n: int = 5) -> Suggestions:
        """Items to suggest for a basket, best first.

        Every rule whose antecedent is in the basket and whose item is not
        counts; an item suggested by several rules keeps its best rule (by
        lift, then confidence, then support). An empty basket, or one whose
        items have no rules, gives an empty :class:`Suggestions` with a reason.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        InvalidInput
            If ``n`` is not a whole number >= 1 or ``item_ids`` is not a list of ids.
        """
        self._check_fitted()
        limit = self._check_n(n)
        if isinstance(item_ids, (str, bytes)) or not isinstance(item_ids, Iterable):
            raise InvalidInput(f"item_ids must be a list of item ids such as [85123, 71053], not {item_ids!r}.")
        query = tuple(dict.fromkeys(item_ids))
        try:
            basket = frozenset(query)
        except TypeError:
            raise InvalidInput(f"item_ids must hold item ids (strings or numbers), not {item_ids!r}.") from None
        if not basket:
            return Suggestions(query, (), "the basket is empty: add an item to get suggestions.")
        best: dict[Hashable, tuple[int, Suggestion]] = {}
        matched = False
        for item in query:
            candidates = [self._by_antecedent[frozenset((item,))]] if item in self._by_item else []
            candidates.extend(self._by_antecedent[key] for key in self._larger_by_item.get(item, ()) if key <= basket)
            for ranked in candidates:
                matched = True
                for rank, suggestion in ranked:
                    if suggestion.item in basket:
                        continue
                    kept = best.get(suggestion.item)
                    if kept is None or rank < kept[0]:
                        best[suggestion.item] = (rank, suggestion)
        if not best:
            labels = _and([self._label(i) for i in query])
            if matched:
                reason = f"everything often bought with {labels} is already in the basket."
            else:
                reason = f"nothing is bought with {labels} often enough to suggest ({self._thresholds_text()})."
            return Suggestions(query, (), reason)
        shown = tuple(s for _, s in sorted(best.values(), key=lambda pair: pair[0])[:limit])
        return Suggestions(query, shown, f"{len(shown)} item(s) often bought together with this basket.")


__all__ = [
    "ALGORITHMS",
    "BASKET_COLUMNS",
    "DEFAULTS",
    "RULE_METRICS",
    "BasketConfig",
    "BasketMatrix",
    "BasketRules",
    "Suggestion",
    "Suggestions",
    "check_baskets",
    "check_params",
]
