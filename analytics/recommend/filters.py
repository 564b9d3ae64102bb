"""Constraints a shopper asks for, usable with any recommender.

Two kinds, passed together in ``recommend(..., filters=[...])``:

* item filters (:class:`PriceRange`, :class:`InCategories`,
  :class:`ExcludeItems`) remove items before ranking;
* re-rankers (:class:`MaxPerCategory`, :class:`CategoryMMR`) reorder the
  ranked pool for variety across categories.

"Exclude what was just bought unless it is a repeat-purchase item" is the
``exclude_seen`` / ``repeatable_items`` pair of ``recommend`` itself. A
constraint that leaves nothing gives an empty
:class:`~analytics.recommend.base.Recommendations` whose ``empty_reason``
names it, not an exception.

Examples
--------
>>> PriceRange(max_price=20).describe()
'priced under £20.00'
>>> InCategories(["Candles", "Mugs"]).describe()
'in Candles or Mugs'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from analytics.core.errors import InvalidInput

if TYPE_CHECKING:
    from analytics.recommend.interactions import Interactions


class ItemFilter:
    """Keeps the items whose mask is true."""

    def mask(self, interactions: Interactions) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class Reranker:
    """Reorders a ranked pool of columns and keeps at most ``n``."""

    #: How many times ``n`` candidates the re-ranker wants to choose from.
    pool_factor = 10

    def rerank(self, cols: np.ndarray, scores: np.ndarray, interactions: Interactions, n: int) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


Constraint = Union[ItemFilter, Reranker]


class PriceRange(ItemFilter):
    """Items priced within ``[min_price, max_price)`` (either bound optional).

    Items without a known price are left out.
    """

    def __init__(self, min_price: Optional[float] = None, max_price: Optional[float] = None) -> None:
        if min_price is None and max_price is None:
            raise InvalidInput("PriceRange needs min_price, max_price or both.")
        for value in (min_price, max_price):
            if value is not None and (not isinstance(value, (int, float)) or value < 0 or value != value):
                raise InvalidInput(f"prices must be non-negative numbers, not {value!r}.")
        if min_price is not None and max_price is not None and min_price >= max_price:
            raise InvalidInput(f"min_price {min_price} must be below max_price {max_price}.")
        self.min_price = min_price
        self.max_price = max_price

    def mask(self, interactions: Interactions) -> np.ndarray:
        price = interactions.item_attribute("unit_price", "PriceRange").astype("float64")
        keep = np.isfinite(price)
        if self.min_price is not None:
            keep &= price >= self.min_price
        if self.max_price is not None:
            keep &= price < self.max_price
        return keep

    def describe(self) -> str:
        if self.min_price is None:
            return f"priced under £{self.max_price:.2f}"
        if self.max_price is None:
            return f"priced from £{self.min_price:.2f}"
        return f"priced from £{self.min_price:.2f} to under £{self.max_price:.2f}"


class InCategories(ItemFilter):
    """Items in one of ``categories`` (case-insensitive)."""

    def __init__(self, categories: Union[str, Iterable[str]]) -> None:
        names = [categories] if isinstance(categories, str) else list(categories)
        if not names:
            raise InvalidInput("InCategories needs at least one category name.")
        self.categories = names

    def mask(self, interactions: Interactions) -> np.ndarray:
        category = interactions.item_attribute("category", "InCategories")
        wanted = {c.casefold() for c in self.categories}
        return np.fromiter((isinstance(c, str) and c.casefold() in wanted for c in category), bool, len(category))

    def describe(self) -> str:
        return "in " + " or ".join(self.categories)


class ExcludeItems(ItemFilter):
    """Leaves out the given items (e.g. out of stock); unknown ids are ignored."""

    def __init__(self, item_ids: Iterable[Any]) -> None:
        self.item_ids = list(item_ids)

    def mask(self, interactions: Interactions) -> np.ndarray:
        keep = np.ones(interactions.n_items, dtype=bool)
        keep[interactions.item_cols(self.item_ids, strict=False)] = False
        return keep

    def describe(self) -> str:
        return "outside the excluded items"


def _categories(interactions: Interactions, cols: np.ndarray, needed_by: str) -> list[Any]:
    category = interactions.item_attribute("category", needed_by)
    return [category[c] for c in cols]


class MaxPerCategory(Reranker):
    """At most ``k`` items of any one category, best first.

    Examples
    --------
    >>> MaxPerCategory(2).describe()
    'at most 2 per category'
    """

    def __init__(self, k: int = 2) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInput(f"MaxPerCategory needs a whole number k >= 1, not {k!r}.")
        self.k = k

    def rerank(self, cols: np.ndarray, scores: np.ndarray, interactions: Interactions, n: int) -> np.ndarray:
        counts: dict[Any, int] = {}
        kept = []
        for col, category in zip(cols, _categories(interactions, cols, "MaxPerCategory")):
            if counts.get(category, 0) < self.k:
                counts[category] = counts.get(category, 0) + 1
                kept.append(col)
                if len(kept) == n:
                    break
        return np.asarray(kept, dtype=np.int64)

    def describe(self) -> str:
        return f"at most {self.k} per category"


class CategoryMMR(Reranker):
    """Maximal marginal relevance with category overlap as the redundancy.

    Greedily picks ``argmax  lam * relevance - (1 - lam) * redundancy`` where
    relevance is the score scaled to [0, 1] over the pool and redundancy is
    the share of already picked items in the candidate's category. ``lam=1``
    keeps the ranking; lower values spread the list across categories.
    """

    def __init__(self, lam: float = 0.7) -> None:
        if not isinstance(lam, (int, float)) or not 0 <= lam <= 1:
            raise InvalidInput(f"CategoryMMR lam must be between 0 and 1, not {lam!r}.")
        self.lam = float(lam)

    def rerank(self, cols: np.ndarray, scores: np.ndarray, interactions: Interactions, n: int) -> np.ndarray:
        if len(cols) == 0:
            return cols
        codes = np.unique(np.asarray(_categories(interactions, cols, "CategoryMMR"), dtype=str), return_inverse=True)[1]
        span = float(scores.max() - scores.min())
        relevance = (scores - scores.min()) / span if span > 0 else np.ones(len(scores))
        picked_per_code = np.zeros(codes.max() + 1)
        available = np.ones(len(cols), dtype=bool)
        order = []
        for step in range(min(n, len(cols))):
            redundancy = picked_per_code[codes] / step if step else np.zeros(len(cols))
            value = np.where(available, self.lam * relevance - (1 - self.lam) * redundancy, -np.inf)
            best = int(np.argmax(value))
            order.append(best)
            available[best] = False
            picked_per_code[codes[best]] += 1
        return cols[np.asarray(order, dtype=np.int64)]

    def describe(self) -> str:
        return f"diversified across categories (MMR, lambda {self.lam:g})"


__all__ = [
    "CategoryMMR",
    "Constraint",
    "ExcludeItems",
    "InCategories",
    "ItemFilter",
    "MaxPerCategory",
    "PriceRange",
    "Reranker",
]
