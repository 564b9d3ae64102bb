"""Customers who bought X later bought Y: sequential patterns over each customer's baskets.

A customer's *sequence* is their baskets in time order; everything bought on
one calendar day is one basket, so "later" means on a later day. A
*sequential pattern* ``<x1, x2, ..., xk>`` is in a sequence when the customer
bought ``x1``, then ``x2`` on a later day, and so on (each element is one
item; items bought together on the same day are what
:mod:`analytics.recommend.basket` covers). Its support is the share of
customers whose sequence holds it.

Mining
------
:func:`prefixspan` grows patterns one item at a time, as PrefixSpan (Pei et
al. 2001) does: the customers holding a prefix are kept as a *projection*
(for each customer, the first day after the prefix's earliest match), the
items bought in the projected part are counted, and each frequent one
extends the prefix. Items below the threshold are dropped first, since no
pattern can hold them. Counting is vectorised over (customer, item, last day
bought) triples with numpy; a projection passes over only the triples its
prefix left live, a subset of its parent's.

A few customers with long histories (hundreds of purchase days) hold nearly
every combination of their items in order, so with a low ``min_support`` the
patterns alone can outgrow memory. ``max_patterns`` bounds them: past it the
fit stops and says to raise ``min_support`` or lower ``max_len``.

A pattern must be held by ``min_support`` of the customers *and* by at least
``min_customers`` of them. The share scales with a large shop; the count
keeps a small one from learning "rules" from two or three customers (1% of
a 300-customer shop is 3 customers, whose long histories alone hold
hundreds of thousands of patterns).

Rules
-----
From a pattern ``<A..., y>`` held by enough customers, the rule "bought A, later bought y" has

- ``support`` = share of customers whose sequence holds ``<A..., y>``;
- ``confidence`` = support(<A..., y>) / support(<A...>): of the customers who
  bought A, the share who bought y later;
- ``lift`` = confidence / share of customers who ever bought y.

A rule is kept when its confidence reaches ``min_confidence`` and its lift
``min_lift``. ``max_len`` is the longest pattern mined (2: rules from one
item; 3: also "bought A, then B, later bought y").

Serving
-------
:meth:`SequenceRules.for_history` takes one customer's baskets in time order
and ranks every item a matching rule suggests by confidence, then lift, then
support; an item keeps its best rule, whose reason is said in words: "32% of
customers who bought X bought Y later".
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.ranked import RankedItems, percent

#: Columns of the ``lines`` frame (:func:`analytics.store.frames.load_lines`) a sequence is read from.
SEQUENCE_COLUMNS = ("customer_id", "product_id", "placed_at")

Sequences = Union[pd.DataFrame, Iterable[Iterable[Iterable[Hashable]]]]
History = Union[pd.DataFrame, Iterable[Iterable[Hashable]]]


# --------------------------------------------------------------------------- parameters


class TooManyPatterns(InvalidInput):
    """More patterns reach the threshold than ``max_patterns``; ``min_count`` is the count of customers that did."""

    def __init__(self, message: str, min_count: int) -> None:
        super().__init__(message)
        self.min_count = min_count


def _share(value: object, name: str, *, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(f"{name} must be a number, not {value!r}.")
    number = float(value)
    too_low = number <= 0 if low_open else number < 0
    if not math.isfinite(number) or too_low or number > 1:
        raise InvalidInput(f"{name} must be {'above 0' if low_open else 'at least 0'} and at most 1, not {value!r}.")
    return number


def check_sequence_params(
    min_support: object, min_confidence: object, min_lift: object, max_len: object
) -> tuple[float, float, float, int]:
    """Validate the thresholds of :class:`SequenceRules` and return them normalised.

    Raises :class:`InvalidInput` saying which value to change: ``min_support``
    in (0, 1], ``min_confidence`` in [0, 1], ``min_lift`` a finite number
    >= 0, ``max_len`` a whole number >= 2.

    Examples
    --------
    >>> check_sequence_params(0.02, 0.1, 1, 2)
    (0.02, 0.1, 1.0, 2)
    """
    support = _share(min_support, "min_support (a share of customers, e.g. 0.01 for 1%)", low_open=True)
    confidence = _share(min_confidence, "min_confidence (a share, e.g. 0.1 for 10%)", low_open=False)
    if isinstance(min_lift, bool) or not isinstance(min_lift, (int, float, np.integer, np.floating)):
        raise InvalidInput(f"min_lift must be a number (1 means 'no better than chance'), not {min_lift!r}.")
    if not math.isfinite(float(min_lift)) or float(min_lift) < 0:
        raise InvalidInput(
            f"min_lift must be a finite number >= 0 (1 means 'no better than chance'), not {min_lift!r}."
        )
    if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 2:
        raise InvalidInput(
            f"max_len must be a whole number of items >= 2 (a rule needs an earlier and a later item), not {max_len!r}."
        )
    return support, confidence, float(min_lift), int(max_len)


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class SequenceDatabase:
    """Checked sequences as distinct (sequence, basket, item) triples.

    ``seqs[k]`` is the customer (0..n_sequences-1), ``baskets[k]`` the
    basket's position in that customer's time order (0 = first day) and
    ``cols[k]`` the index in ``items`` of the k-th triple.
    """

    seqs: np.ndarray
    baskets: np.ndarray
    cols: np.ndarray
    items: list[Hashable]
    n_sequences: int
    from_lines: bool


def _factorize(values: Any) -> tuple[np.ndarray, list[Hashable]]:
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # items of mixed types (1 and "a") do not sort; first appearance is deterministic too
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), list(np.asarray(uniques).tolist())


def _database(seqs: np.ndarray, baskets: np.ndarray, values: Any, from_lines: bool) -> SequenceDatabase:
    cols, items = _factorize(values)
    frame = pd.DataFrame({"s": seqs, "b": baskets, "c": cols}).drop_duplicates()
    return SequenceDatabase(
        frame["s"].to_numpy(np.int64),
        frame["b"].to_numpy(np.int64),
        frame["c"].to_numpy(np.int64),
        items,
        int(seqs.max()) + 1,
        from_lines,
    )


def _check_frame(frame: pd.DataFrame) -> SequenceDatabase:
    missing = [c for c in SEQUENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"lines frame lacks column(s) {', '.join(missing)}; pass analytics.store.frames.load_lines(uow) "
            f"or any frame with columns {', '.join(SEQUENCE_COLUMNS)}."
        )
    if frame.empty:
        raise InvalidInput("lines frame is empty: there are no purchases to learn from. Import orders first.")
    data = frame.loc[:, list(SEQUENCE_COLUMNS)]
    if data.isna().any().any():
        bad = data.columns[data.isna().any()].tolist()
        raise InvalidInput(f"lines frame has missing values in {', '.join(bad)}; drop those lines.")
    try:
        days = pd.to_datetime(data["placed_at"]).dt.floor("D")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"placed_at must hold dates or timestamps: {exc}") from None
    seqs, _ = _factorize(data["customer_id"])
    # a customer's purchase days numbered 0, 1, 2... in time order
    order = pd.DataFrame({"s": seqs, "day": days.to_numpy()})
    baskets = order.groupby("s")["day"].rank(method="dense").to_numpy(np.int64) - 1
    return _database(seqs, baskets, data["product_id"].to_numpy(), from_lines=True)


def _basket_items(basket: object, where: str) -> list[Hashable]:
    if isinstance(basket, (str, bytes)) or not isinstance(basket, Iterable):
        raise InvalidInput(f"{where} is {basket!r}, not a list of items; write a one-item basket as [{basket!r}].")
    items = list(basket)
    if not items:
        raise InvalidInput(f"{where} is empty; drop empty baskets.")
    for item in items:
        if item is None or (isinstance(item, float) and math.isnan(item)):
            raise InvalidInput(f"{where} holds a missing item ({item!r}); drop it.")
        if not isinstance(item, Hashable):
            raise InvalidInput(f"{where} holds {item!r}, which cannot be an item id; use a string or number.")
    return items


def _check_lists(sequences: Iterable[Iterable[Iterable[Hashable]]]) -> SequenceDatabase:
    if isinstance(sequences, (str, bytes, Mapping)) or not isinstance(sequences, Iterable):
        raise InvalidInput(
            "sequences must be the lines frame or one list of baskets per customer, in time order, such as "
            f"[[['tent'], ['sleeping bag', 'torch']], [['tent']]], not {type(sequences).__name__}."
        )
    flat: list[Hashable] = []
    seqs: list[int] = []
    baskets: list[int] = []
    n = 0
    for i, sequence in enumerate(sequences):
        if isinstance(sequence, (str, bytes)) or not isinstance(sequence, Iterable):
            raise InvalidInput(f"sequence {i} is {sequence!r}, not a list of baskets such as [['tent'], ['torch']].")
        sequence = list(sequence)
        if not sequence:
            raise InvalidInput(f"sequence {i} is empty; drop customers without purchases.")
        for j, basket in enumerate(sequence):
            items = _basket_items(basket, f"basket {j} of sequence {i}")
            flat.extend(items)
            seqs.extend([i] * len(items))
            baskets.extend([j] * len(items))
        n = i + 1
    if n == 0:
        raise InvalidInput("sequences is empty: there are no customers to learn from. Pass at least one sequence.")
    values = np.empty(len(flat), dtype=object)
    values[:] = flat
    return _database(np.asarray(seqs, dtype=np.int64), np.asarray(baskets, dtype=np.int64), values, from_lines=False)


def check_sequences(sequences: Sequences) -> SequenceDatabase:
    """Validate customers' time-ordered baskets and return them as triples.

    ``sequences`` is the ``lines`` frame (one sequence per ``customer_id``,
    one basket per calendar day of ``placed_at``, items are ``product_id``)
    or one list of baskets per customer, in time order. Raises
    :class:`InvalidInput` with what to fix.

    Examples
    --------
    >>> db = check_sequences([[["tent"], ["torch", "tent"]], [["torch"]]])
    >>> db.n_sequences, db.items, db.baskets.tolist()
    (2, ['tent', 'torch'], [0, 1, 1, 0])
    """
    if isinstance(sequences, pd.DataFrame):
        return _check_frame(sequences)
    return _check_lists(sequences)


# --------------------------------------------------------------------------- mining


def _min_count(min_support: float, n: int) -> int:
    # The tolerance keeps 0.1 x 30 = 3.0000000000000004 at 3 customers.
    return max(1, math.ceil(min_support * n - 1e-9))


def prefixspan(
    db: SequenceDatabase, min_count: int, max_len: Optional[int] = None, max_patterns: Optional[int] = None
) -> dict[tuple[int, ...], int]:
    """Every sequential pattern held by at least ``min_count`` sequences, with its count.

    Patterns are tuples of item indices (into ``db.items``), each item
    bought on a later day than the one before it. ``max_len`` bounds the
    pattern length (None: no bound). ``max_patterns`` bounds how many are
    found (None: no bound): a few long sequences hold nearly every
    combination of their items in order, so the patterns held by a small
    ``min_count`` can number in the hundreds of millions; past the bound
    mining stops with :class:`InvalidInput` instead of exhausting memory.

    Examples
    --------
    >>> db = check_sequences([[["a"], ["b"]], [["a"], ["c"], ["b"]], [["b"], ["a"]]])
    >>> {tuple(db.items[i] for i in p): c for p, c in prefixspan(db, 2).items()}
    {('a',): 3, ('a', 'b'): 2, ('b',): 3}
    """
    n_items = len(db.items)
    per_item = np.bincount(db.cols[np.unique(db.seqs * n_items + db.cols, return_index=True)[1]], minlength=n_items)
    keep = per_item[db.cols] >= min_count
    seqs, baskets, cols = db.seqs[keep], db.baskets[keep], db.cols[keep]
    # occurrences by (item, sequence, basket): one item's are a slice, each sequence's earliest first
    order = np.lexsort((baskets, seqs, cols))
    occ_seq, occ_basket, occ_col = seqs[order], baskets[order], cols[order]
    offsets = np.searchsorted(occ_col, np.arange(n_items + 1))
    # (sequence, item, last basket with it): the item is in a projection when bought at or after its start
    last = pd.DataFrame({"s": occ_seq, "c": occ_col, "b": occ_basket}).groupby(["s", "c"], sort=False)["b"].max()
    pair_seq = last.index.get_level_values("s").to_numpy(np.int64)
    pair_col = last.index.get_level_values("c").to_numpy(np.int64)
    pair_last = last.to_numpy(np.int64)
    absent = np.iinfo(np.int64).max  # start of a sequence that is not in the projection

    found: dict[tuple[int, ...], int] = {}

    def grow(prefix: tuple[int, ...], start: np.ndarray, live: np.ndarray) -> None:
        # live: the (sequence, item) pairs bought at or after the start; a longer prefix only drops some
        counts = np.bincount(pair_col[live], minlength=n_items)
        for col in np.flatnonzero(counts >= min_count).tolist():
            pattern = (*prefix, col)
            if max_patterns is not None and len(found) >= max_patterns:
                raise TooManyPatterns(
                    f"more than {max_patterns:,} patterns are held by {min_count:,} or more sequences; "
                    "raise min_count or lower max_len.",
                    min_count,
                )
            found[pattern] = int(counts[col])
            if max_len is not None and len(pattern) >= max_len:
                continue
            lo, hi = offsets[col], offsets[col + 1]
            s, b = occ_seq[lo:hi], occ_basket[lo:hi]
            after = b >= start[s]
            s, b = s[after], b[after]
            first = np.ones(len(s), dtype=bool)
            first[1:] = s[1:] != s[:-1]
            projected = np.full(db.n_sequences, absent, dtype=np.int64)
            projected[s[first]] = b[first] + 1  # the next item must be bought on a later day
            grow(pattern, projected, live[pair_last[live] >= projected[pair_seq[live]]])

    grow((), np.zeros(db.n_sequences, dtype=np.int64), np.arange(len(pair_col)))
    return found


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class NextPurchase:
    """One item suggested by the rule "bought ``antecedent`` (in that order), later bought ``item``"."""

    item: Hashable
    support: float
    confidence: float
    lift: float
    antecedent: tuple[Hashable, ...]
    reason: str


@dataclass(frozen=True)
class NextPurchases(RankedItems[NextPurchase]):
    """Ranked next-purchase suggestions, best first; ``reason`` says what the list is or why it is empty."""

    items: tuple[NextPurchase, ...]
    reason: str


# --------------------------------------------------------------------------- estimator


class SequenceRules:
    """Next-purchase suggestions from sequential patterns ("bought X, later bought Y").

    Parameters
    ----------
    min_support : float, default 0.01
        Least share of customers a pattern must be in.
    min_customers : int, default 1
        Least number of customers a pattern must be in, whatever the share
        (the larger of the two counts is used; ``min_count_`` says which).
    min_confidence : float, default 0.02
        Least share of the customers who bought the antecedent that later
        bought the suggested item.
    min_lift : float, default 1.0
        Least lift (1: no less likely after the antecedent than for anyone).
    max_len : int, default 3
        Longest pattern mined (2: one earlier item; 3: also two, in order).
    max_patterns : int, default 200_000
        Most frequent patterns the fit may find before it stops and asks for
        a higher ``min_support`` or a lower ``max_len``. It keeps the fit's
        memory bounded (about 1.3 kB a pattern once the rules are indexed)
        when a few customers with long histories hold nearly every
        combination of their items.

    The thresholds the shop's refresh uses are
    :data:`analytics.recommend.serving.SEQUENCE_SETTINGS`, chosen by
    ``bench/sequence_eval.py`` on validation splits (BENCHMARKS.md,
    "Sequential patterns").

    Attributes
    ----------
    n_customers_ : int
        Number of customers (sequences) fitted.
    min_count_ : int
        Least number of customers a pattern was held by to be kept: the
        larger of ``min_customers`` and ``min_support`` of ``n_customers_``.
    patterns_ : pandas.DataFrame
        Frequent patterns: ``pattern`` (tuple of items in time order),
        ``customers``, ``support``, ``length``; by support, highest first.
    rules_ : pandas.DataFrame
        ``antecedent`` (tuple of items), ``consequent`` (one item),
        ``antecedent support``, ``consequent support``, ``support``,
        ``confidence``, ``lift``; by confidence, lift, support, highest first.

    Examples
    --------
    >>> customers = [[["tent"], ["torch"]], [["tent"], ["torch"]], [["tent"]], [["mug"]]]
    >>> rules = SequenceRules(min_support=0.25, min_confidence=0.5).fit(customers)
    >>> best = rules.for_history([["tent"]])[0]
    >>> best.item, best.reason
    ('torch', '67% of customers who bought tent bought torch later')
    """

    def __init__(
        self,
        min_support: float = 0.01,
        min_confidence: float = 0.02,
        min_lift: float = 1.0,
        max_len: int = 3,
        max_patterns: int = 200_000,
        min_customers: int = 1,
    ) -> None:
        self.min_support = min_support
        self.min_customers = min_customers
        self.min_confidence = min_confidence
        self.min_lift = min_lift
        self.max_len = max_len
        self.max_patterns = max_patterns

    def fit(
        self, sequences: Sequences, names: Optional[Union[Mapping[Hashable, str], pd.Series]] = None
    ) -> SequenceRules:
        """Mine the sequential patterns and rules, and index them for serving.

        Parameters
        ----------
        sequences : pandas.DataFrame or list of lists of baskets
            The ``lines`` frame (customer_id, product_id, placed_at) or one
            list of baskets per customer in time order (:func:`check_sequences`).
        names : mapping item -> str, optional
            Display names for the reasons; items without one show their id.

        Returns
        -------
        SequenceRules
            ``self``, fitted.

        Raises
        ------
        InvalidInput
            For bad thresholds or sequences, when no item is bought by
            enough customers (the message gives the largest ``min_support``
            or ``min_customers`` that finds one), or when more than
            ``max_patterns`` patterns reach it (the message says what to
            raise or lower). Finding patterns but no rule is not an error:
            ``rules_`` is then empty and :meth:`why_no_rules` says why.
        """
        min_support, min_confidence, min_lift, max_len = check_sequence_params(
            self.min_support, self.min_confidence, self.min_lift, self.max_len
        )
        max_patterns = self.max_patterns
        if isinstance(max_patterns, bool) or not isinstance(max_patterns, (int, np.integer)) or max_patterns < 1:
            raise InvalidInput(f"max_patterns must be a whole number of patterns >= 1, not {max_patterns!r}.")
        min_customers = self.min_customers
        if isinstance(min_customers, bool) or not isinstance(min_customers, (int, np.integer)) or min_customers < 1:
            raise InvalidInput(f"min_customers must be a whole number of customers >= 1, not {min_customers!r}.")
        db = check_sequences(sequences)
        n = db.n_sequences
        by_share = _min_count(min_support, n)
        min_count = max(by_share, int(min_customers))
        # what to change when the count is too high or too low: whichever threshold set it
        by_support = by_share >= min_customers
        binding = (
            f"min_support (now {min_support:g}, {by_share:,} customers)"
            if by_support
            else f"min_customers (now {int(min_customers):,})"
        )
        try:
            found = prefixspan(db, min_count, max_len, int(max_patterns))
        except TooManyPatterns:
            raise TooManyPatterns(
                f"more than {int(max_patterns):,} patterns of up to {max_len} items are held by {min_count:,} or "
                f"more of the {n:,} customers: a few customers with long histories hold nearly every combination "
                f"of their items. Raise {binding}, lower max_len (now {max_len}) or, with the memory for it "
                "(about 1.3 kB a pattern), raise max_patterns.",
                min_count,
            ) from None
        if not found:
            pairs = np.unique(db.seqs * len(db.items) + db.cols)
            top = int(np.bincount(pairs % len(db.items)).max())
            lower = f"min_support to {top / n:.4g}" if by_support else f"min_customers to {top:,}"
            raise InvalidInput(
                f"no item is bought by {min_count:,} or more of the {n:,} customers (the most bought is bought by "
                f"{top:,}, {percent(top / n)}); lower {lower} or less."
            )
        items = db.items
        patterns = pd.DataFrame(
            {
                "pattern": [tuple(items[c] for c in p) for p in found],
                "customers": list(found.values()),
                "length": [len(p) for p in found],
                "_key": list(found),
            }
        )
        patterns["support"] = patterns["customers"] / n
        patterns = patterns.sort_values(["customers", "length", "_key"], ascending=[False, True, True], kind="stable")
        self.patterns_ = patterns[["pattern", "customers", "support", "length"]].reset_index(drop=True)

        rows = []
        for pattern, count in found.items():
            if len(pattern) < 2:
                continue
            before = found[pattern[:-1]]
            ever = found[(pattern[-1],)]
            confidence = count / before
            lift = confidence / (ever / n)
            if confidence >= min_confidence - 1e-12 and lift >= min_lift - 1e-12:
                rows.append((pattern[:-1], pattern[-1], before / n, ever / n, count / n, confidence, lift))
        rules = pd.DataFrame(
            rows,
            columns=[
                "_ante",
                "_cons",
                "antecedent support",
                "consequent support",
                "support",
                "confidence",
                "lift",
            ],
        )
        rules = rules.sort_values(
            ["confidence", "lift", "support", "_cons", "_ante"],
            ascending=[False, False, False, True, True],
            kind="stable",
        )
        rules.insert(0, "antecedent", [tuple(items[c] for c in a) for a in rules["_ante"]])
        rules.insert(1, "consequent", [items[c] for c in rules["_cons"]])
        self.rules_ = rules.drop(columns=["_ante", "_cons"]).reset_index(drop=True)

        self.n_customers_ = n
        self.min_count_ = min_count
        self.names_ = {item: str(names[item]) for item in items if names is not None and item in names}
        self._from_lines = db.from_lines
        self._thresholds = (min_support, min_confidence, min_lift)
        self._build_index()
        return self

    def with_min_confidence(self, min_confidence: float) -> SequenceRules:
        """A copy keeping only the rules whose confidence reaches ``min_confidence`` (at least the fitted one).

        The same rules, in the same order, as a refit with that ``min_confidence``, without mining again:
        a grid over confidences (``bench/sequence_eval.py``) fits once per support.
        """
        self._check_fitted()
        _support, fitted, lift = self._thresholds
        confidence = check_sequence_params(self.min_support, min_confidence, self.min_lift, self.max_len)[1]
        if confidence < fitted:
            raise InvalidInput(
                f"min_confidence {confidence:g} is below the fitted {fitted:g}; refit to keep weaker rules."
            )
        stricter = copy.copy(self)
        stricter.min_confidence = min_confidence
        kept = self.rules_["confidence"] >= confidence - 1e-12
        stricter.rules_ = self.rules_[kept].reset_index(drop=True)
        stricter._thresholds = (_support, confidence, lift)
        stricter._build_index()
        return stricter

    def label(self, item: Hashable) -> str:
        """The item's display name (its id when it has none)."""
        name = self.names_.get(item)
        if name is not None:
            return name
        if isinstance(item, str):
            return item
        return f"product {item}" if self._from_lines else f"item {item}"

    def _reason(self, antecedent: tuple[Hashable, ...], item: Hashable, confidence: float) -> str:
        bought = ", then ".join(self.label(a) for a in antecedent)
        return f"{percent(confidence)} of customers who bought {bought} bought {self.label(item)} later"

    def __getstate__(self) -> dict[str, Any]:
        # the lookup index is rebuilt on load: pickled, its many small objects make loading several times slower
        parent = getattr(super(), "__getstate__", None)
        state = dict(parent() if parent is not None else self.__dict__)
        state.pop("_by_antecedent", None)
        state.pop("_longer_by_first", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        parent = getattr(super(), "__setstate__", None)
        if parent is not None:
            parent(state)
        else:
            self.__dict__.update(state)
        if "rules_" in state:
            self._build_index()

    def _build_index(self) -> None:
        """antecedent -> ranked suggestions, and the longer antecedents by their first item."""
        by_antecedent: dict[tuple[Hashable, ...], list[tuple[int, NextPurchase]]] = {}
        for rank, rule in enumerate(self.rules_.itertuples(index=False)):
            antecedent, item = rule[0], rule[1]
            suggestion = NextPurchase(
                item=item,
                support=float(rule.support),
                confidence=float(rule.confidence),
                lift=float(rule.lift),
                antecedent=antecedent,
                reason=self._reason(antecedent, item, float(rule.confidence)),
            )
            by_antecedent.setdefault(antecedent, []).append((rank, suggestion))
        self._by_antecedent = {key: tuple(value) for key, value in by_antecedent.items()}
        longer: dict[Hashable, list[tuple[Hashable, ...]]] = {}
        for key in self._by_antecedent:
            if len(key) > 1:
                longer.setdefault(key[0], []).append(key)
        self._longer_by_first = {item: tuple(keys) for item, keys in longer.items()}

    def _check_fitted(self) -> None:
        if not hasattr(self, "rules_"):
            raise NotFittedError(self)

    def _thresholds_text(self) -> str:
        _support, confidence, lift = self._thresholds
        return f"at least {self.min_count_:,} customers, min_confidence {percent(confidence)}, min_lift {lift:g}"

    def why_no_rules(self) -> Optional[str]:
        """Why the fit learnt no rule, in words with what to change; None when it learnt some.

        Examples
        --------
        >>> SequenceRules(min_customers=2).fit([[["tent"]], [["tent"], ["mug"]], [["mug"]]]).why_no_rules()[:60]
        'no two products were bought one after the other (on differen'
        """
        self._check_fitted()
        if len(self.rules_):
            return None
        n, count = self.n_customers_, self.min_count_
        pairs = self.patterns_[self.patterns_["length"] >= 2]
        if pairs.empty:
            return (
                f"no two products were bought one after the other (on different days) by {count:,} or more of "
                f'the {n:,} customers, so there is no "bought X, later bought Y" to learn '
                f"({self._thresholds_text()}); "
                "this needs more returning customers, or a lower min_customers / min_support."
            )
        return (
            f'{len(pairs):,} "bought X, later bought Y" patterns are held by {count:,} or more of the {n:,} '
            f"customers, but none is likely enough to suggest ({self._thresholds_text()}); lower min_confidence "
            "or min_lift."
        )

    @staticmethod
    def _history(history: History) -> list[list[Hashable]]:
        if isinstance(history, pd.DataFrame):
            missing = [c for c in ("product_id", "placed_at") if c not in history.columns]
            if missing:
                raise InvalidInput(
                    f"history frame lacks column(s) {', '.join(missing)}; pass the customer's purchases with "
                    "product_id and placed_at (analytics.store.frames.customer_product_days)."
                )
            if history.empty:
                raise InvalidInput(
                    "history is empty: a next purchase is suggested from what the customer bought before, "
                    "and they have bought nothing yet."
                )
            days = pd.to_datetime(history["placed_at"]).dt.floor("D")
            grouped = history.assign(_day=days.to_numpy()).groupby("_day", sort=True)["product_id"]
            return [list(items) for _, items in grouped]
        if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Iterable):
            raise InvalidInput(
                f"history must be the customer's baskets in time order, such as [['tent'], ['torch']], not {history!r}."
            )
        baskets = [_basket_items(basket, f"basket {j} of the history") for j, basket in enumerate(history)]
        if not baskets:
            raise InvalidInput(
                "history is empty: a next purchase is suggested from what the customer bought before, "
                "and they have bought nothing yet."
            )
        return baskets

    def for_history(self, history: History, n: int = 5, *, new_only: bool = True) -> NextPurchases:
        """Items this customer is likely to buy next, best first.

        Every rule whose antecedent the history holds (in that order, on
        different days) suggests its item; an item keeps its best rule (by
        confidence, then lift, then support). With ``new_only`` items the
        customer already bought are left out.

        Parameters
        ----------
        history : pandas.DataFrame or list of baskets
            The customer's purchases: a frame with ``product_id`` and
            ``placed_at``, or baskets (lists of items) in time order.
        n : int, default 5
            Most suggestions returned.
        new_only : bool, default True
            Leave out items in the history.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        InvalidInput
            For an empty history, a history that is not a list of baskets,
            or ``n`` not a whole number >= 1.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidInput(f"n must be a whole number of suggestions >= 1, not {n!r}.")
        baskets = self._history(history)
        days: dict[Hashable, list[int]] = {}
        for day, basket in enumerate(baskets):
            for item in dict.fromkeys(basket):
                days.setdefault(item, []).append(day)

        def holds(antecedent: tuple[Hashable, ...]) -> bool:
            after = -1
            for item in antecedent:
                seen = days.get(item)
                if seen is None:
                    return False
                k = bisect.bisect_right(seen, after)
                if k == len(seen):
                    return False
                after = seen[k]
            return True

        best: dict[Hashable, tuple[int, NextPurchase]] = {}
        for item in days:
            keys: list[tuple[Hashable, ...]] = [(item,)] if (item,) in self._by_antecedent else []
            keys.extend(key for key in self._longer_by_first.get(item, ()) if holds(key))
            for key in keys:
                for rank, suggestion in self._by_antecedent[key]:
                    if new_only and suggestion.item in days:
                        continue
                    kept = best.get(suggestion.item)
                    if kept is None or rank < kept[0]:
                        best[suggestion.item] = (rank, suggestion)
        if not best:
            return NextPurchases(
                (),
                "no customer who bought the same items went on to buy something else often enough to suggest it "
                f"({self._thresholds_text()}).",
            )
        shown = tuple(s for _, s in sorted(best.values(), key=lambda pair: pair[0])[: int(n)])
        return NextPurchases(shown, f"{len(shown)} item(s) customers with the same purchases bought later.")


__all__ = [
    "SEQUENCE_COLUMNS",
    "NextPurchase",
    "NextPurchases",
    "SequenceDatabase",
    "SequenceRules",
    "TooManyPatterns",
    "check_sequence_params",
    "check_sequences",
    "prefixspan",
]
