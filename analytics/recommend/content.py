"""Content-based recommendations from the product table.

Two products are alike by a weighted-attribute cosine: one similarity block
per attribute (the words of the name and description, the category, the
price band, the colour and material words of the description), averaged
with weights. Needs no purchase history for the item, so it is how new
products get recommended and how a visitor who mentions a product or types
a few words gets suggestions.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from analytics.core.errors import InvalidInput
from analytics.recommend.base import (
    POPULAR,
    SIMILAR_TO,
    Recommender,
    sparse_rows_times_dense,
    strongest_contributor,
)
from analytics.recommend.interactions import Interactions

MATCHES_TEXT = "matches “{text}”"

#: The similarity blocks, in the order their weights are reported.
ATTRIBUTES = ("text", "category", "price", "colour")

#: Chosen by ``bench/content_weights.py`` on a validation cutoff of Online Retail (BENCHMARKS.md,
#: "Weighted-attribute content similarity (issue 16)"): the words alone ranked best of 36 weightings;
#: the category is derived from the same words, and price band and colour/material words only diluted them.
DEFAULT_WEIGHTS: Mapping[str, float] = {"text": 1.0, "category": 0.0, "price": 0.0, "colour": 0.0}

#: Colour and material words looked for in a product's name and description (lower case, whole words).
COLOUR_WORDS = frozenset(
    " ".join(
        (
            "red blue green yellow pink purple orange white black grey gray brown cream ivory gold silver",
            "copper bronze beige turquoise teal lilac lavender aqua navy mint peach rose scarlet crimson",
            "magenta violet charcoal khaki chocolate natural clear multicolour pastel",
        )
    ).split()
)
MATERIAL_WORDS = frozenset(
    " ".join(
        (
            "wood wooden glass metal ceramic porcelain china enamel enamelled zinc tin iron steel wire",
            "brass chrome wicker rattan bamboo felt cotton linen jute hessian wool woolly knitted lace",
            "velvet silk paper cardboard plastic acrylic resin leather suede stone slate marble",
            "crystal pottery clay bone wax rubber canvas denim",
        )
    ).split()
)
COLOUR_AND_MATERIAL_WORDS = COLOUR_WORDS | MATERIAL_WORDS


def price_bands(prices: np.ndarray, n_bands: int) -> np.ndarray:
    """Band 0..n_bands-1 by quantiles of log price; -1 where the price is unknown.

    Examples
    --------
    >>> price_bands(np.array([1.0, 2.0, 10.0, np.nan]), 3).tolist()
    [0, 1, 2, -1]
    """
    bands = np.full(len(prices), -1, dtype=np.int64)
    known = np.isfinite(prices) & (prices > 0)
    if known.sum() == 0:
        return bands
    logs = np.log(prices[known])
    edges = np.quantile(logs, np.linspace(0, 1, n_bands + 1)[1:-1])
    bands[known] = np.searchsorted(edges, logs, side="right")
    return bands


def check_weights(weights: Optional[Mapping[str, float]]) -> dict[str, float]:
    """The weights of every attribute normalised to sum 1 (missing ones 0), or :class:`InvalidInput`.

    ``None`` gives :data:`DEFAULT_WEIGHTS`.

    Examples
    --------
    >>> check_weights({"text": 3, "colour": 1})
    {'text': 0.75, 'category': 0.0, 'price': 0.0, 'colour': 0.25}
    """
    given = DEFAULT_WEIGHTS if weights is None else weights
    if not isinstance(given, Mapping):
        raise InvalidInput(f"weights must be a dict of attribute -> weight (attributes: {', '.join(ATTRIBUTES)}).")
    unknown = sorted(str(k) for k in given if k not in ATTRIBUTES)
    if unknown:
        raise InvalidInput(
            f"unknown attribute(s) in weights: {', '.join(unknown)}; the attributes are {', '.join(ATTRIBUTES)}."
        )
    values: dict[str, float] = {}
    for name in ATTRIBUTES:
        value = given.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
            raise InvalidInput(f"the weight of {name!r} must be a number >= 0, not {value!r}.")
        values[name] = float(value)
    total = sum(values.values())
    if total == 0:
        raise InvalidInput(f"at least one weight must be positive; got {dict(given)}.")
    return {name: value / total for name, value in values.items()}


def colour_and_material_words(text: str) -> list[str]:
    """The colour and material words of ``text``, in order.

    Examples
    --------
    >>> colour_and_material_words("SET OF 3 RED WOODEN HEARTS, pink glass")
    ['red', 'wooden', 'pink', 'glass']
    """
    letters = "".join(c if c.isalpha() else " " for c in text.lower())
    return [word for word in letters.split() if word in COLOUR_AND_MATERIAL_WORDS]


def _cosine(vectors: Any) -> np.ndarray:
    """Dense cosine similarity of the rows of a sparse matrix (0 for empty rows)."""
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1), dtype="float64").ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = vectors.multiply(scale[:, None]).tocsr().astype(np.float32)
    return np.asarray((unit @ unit.T).toarray(), dtype=np.float32)


class ContentRecommender(Recommender):
    """Item similarity as a weighted-attribute cosine of text, category, price band and colour/material.

    ``sim(i, j) = sum_a w_a * sim_a(i, j)`` with the weights ``w_a`` summing
    to 1 over the attributes ``a``:

    * ``text``: cosine of the TF-IDF vectors of name and description;
    * ``category``: 1 for the same category, else 0;
    * ``price``: 1 for the same price band, 0.5 for a neighbouring one;
    * ``colour``: cosine of the colour and material words of name and
      description (:data:`COLOUR_AND_MATERIAL_WORDS`; 0 when either has none).

    A user's score for an item is its mean similarity to the user's items
    (weighted by the interaction weights).

    Needs the item table of the interactions (``Interactions(...,
    products=...)``) with ``name``, ``category`` and ``unit_price``;
    ``description`` is used when present.

    Parameters
    ----------
    weights : dict, optional
        Attribute -> weight (>= 0, not all zero; attributes left out weigh
        0), normalised to sum 1. Default :data:`DEFAULT_WEIGHTS`.
    n_price_bands : int, default 5

    Attributes
    ----------
    weights_ : dict
        The normalised weights of every attribute.
    similarity_ : numpy.ndarray
        ``(n_items, n_items)``, zero diagonal.

    Examples
    --------
    >>> products = pd.DataFrame({"product_id": [1, 2, 3], "name": ["Red candle", "Blue candle", "Tea towel"],
    ...     "category": ["Candles", "Candles", "Kitchen"], "unit_price": [2.5, 2.9, 3.1]})
    >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [7], "item_id": [1]}), products=products)
    >>> ContentRecommender().fit(X).similar_items(1, n=1)[0].item_id
    2
    >>> ContentRecommender(weights={"text": 1, "colour": 1}).fit(X).weights_["colour"]
    0.5
    """

    label = "content"
    similar_reason = SIMILAR_TO

    def __init__(self, weights: Optional[Mapping[str, float]] = None, n_price_bands: int = 5) -> None:
        self.weights = weights
        self.n_price_bands = n_price_bands

    def _fit(self, interactions: Interactions) -> None:
        weights = check_weights(self.weights)
        n_bands = self.n_price_bands
        if isinstance(n_bands, bool) or not isinstance(n_bands, (int, np.integer)) or n_bands < 1:
            raise InvalidInput(f"n_price_bands must be a whole number >= 1, not {self.n_price_bands!r}.")
        names = interactions.item_attribute("name", "ContentRecommender")
        categories = interactions.item_attribute("category", "ContentRecommender")
        prices = interactions.item_attribute("unit_price", "ContentRecommender").astype("float64")
        descriptions = (
            interactions.items["description"].to_numpy()
            if interactions.items is not None and "description" in interactions.items.columns
            else np.full(len(names), "", dtype=object)
        )
        texts = [
            " ".join(str(part) for part in (name, desc) if isinstance(part, str))
            for name, desc in zip(names, descriptions)
        ]
        if not any(t.strip() for t in texts):
            raise InvalidInput("ContentRecommender needs product names or descriptions; every item's text is empty.")
        self.vectorizer_ = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, stop_words="english")
        self.text_vectors_ = self.vectorizer_.fit_transform(texts).astype(np.float32).tocsr()
        n = len(texts)
        similarity = np.zeros((n, n), dtype=np.float32)
        if weights["text"] > 0:
            similarity += weights["text"] * np.asarray((self.text_vectors_ @ self.text_vectors_.T).toarray())
        if weights["category"] > 0:
            codes, _ = pd.factorize(pd.Series(categories, dtype=object))
            similarity += weights["category"] * ((codes[:, None] == codes[None, :]) & (codes[:, None] >= 0))
        if weights["price"] > 0:
            bands = price_bands(prices, int(n_bands))
            gap = np.abs(bands[:, None] - bands[None, :])
            known = (bands[:, None] >= 0) & (bands[None, :] >= 0)
            similarity += weights["price"] * (np.where(gap == 0, 1.0, np.where(gap == 1, 0.5, 0.0)) * known)
        if weights["colour"] > 0:
            words = CountVectorizer(
                vocabulary=sorted(COLOUR_AND_MATERIAL_WORDS), binary=True, analyzer=colour_and_material_words
            )
            similarity += weights["colour"] * _cosine(words.fit_transform(texts))
        np.fill_diagonal(similarity, 0.0)
        self.similarity_ = similarity
        self.weights_ = weights

    def _user_weights(self, rows: np.ndarray) -> Any:
        M = self.interactions_.matrix[rows]
        totals = np.asarray(M.sum(axis=1), dtype="float64").ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        return M.multiply(scale[:, None]).tocsr()

    def _score_rows(self, rows: np.ndarray) -> np.ndarray:
        return sparse_rows_times_dense(self._user_weights(rows), self.similarity_)

    def _explain(self, row: int, cols: np.ndarray) -> list[tuple[str, int]]:
        X = self.interactions_
        seen = X.seen(row)
        contributions = X.matrix[row].data[:, None].astype("float64") * self.similarity_[np.ix_(seen, cols)]
        because, strength = strongest_contributor(contributions, seen)
        return self._because_names(because, strength, SIMILAR_TO)

    def _similar_scores(self, col: int) -> np.ndarray:
        return self.similarity_[col].astype("float64")

    def context_scores(
        self, mentioned_cols: Iterable[int] = (), text: Optional[str] = None
    ) -> tuple[np.ndarray, Callable[[np.ndarray], list[tuple[str, int]]]]:
        """Scores for a visitor with no history, and a function giving the reasons of chosen columns.

        The score is the mean similarity to the mentioned items plus the
        text part of the similarity to ``text`` (at least a tenth, so typed
        words count even when the text weight is small); an item's reason
        names whichever contributed most to it.
        """
        self._check_fitted()
        mentioned = np.asarray(list(mentioned_cols), dtype=np.int64)
        n_items = self.interactions_.n_items
        parts = []
        if len(mentioned):
            parts.append(self.similarity_[mentioned].astype("float64") / len(mentioned))
        if text:
            query = self.vectorizer_.transform([text])
            parts.append(max(self.weights_["text"], 0.1) * (query @ self.text_vectors_.T).toarray())
        if not parts:
            return np.zeros(n_items), lambda cols: [(POPULAR, -1)] * len(cols)
        stacked = np.vstack(parts)
        labels = np.concatenate([mentioned, [-2] if text else []]).astype(np.int64)
        X = self.interactions_

        def explain(cols: np.ndarray) -> list[tuple[str, int]]:
            best, strength = strongest_contributor(stacked[:, cols], labels)
            return [
                (POPULAR, -1)
                if s <= 0
                else (MATCHES_TEXT.format(text=text), -1)
                if b == -2
                else (SIMILAR_TO.format(name=X.item_name(int(b))), int(b))
                for b, s in zip(best, strength)
            ]

        return stacked.sum(axis=0), explain


__all__ = [
    "ATTRIBUTES",
    "COLOUR_AND_MATERIAL_WORDS",
    "DEFAULT_WEIGHTS",
    "MATCHES_TEXT",
    "ContentRecommender",
    "check_weights",
    "colour_and_material_words",
    "price_bands",
]
