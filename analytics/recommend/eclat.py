"""Eclat: frequent itemsets from vertical tid-sets (Zaki 2000).

Apriori and FP-growth read the baskets row by row ("which items are in this
basket?"). Eclat turns the data on its side: each item keeps the set of
baskets (transaction ids, *tids*) that hold it, and the baskets holding an
itemset are the intersection of its items' tid-sets. The search is depth
first over *equivalence classes*: the itemsets sharing a prefix are extended
only with the items after the prefix's last one, and each extension costs one
intersection and one count.

Here a tid-set is a Python ``int`` used as a bitset (bit ``t`` set when
basket ``t`` holds the itemset): ``a & b`` intersects two tid-sets in C and
``int.bit_count`` counts the baskets, about 1.2 KB per tid-set on Groceries'
9,835 baskets. Items are visited from the least to the most frequent, so the
tid-sets intersected deep in the search are the short ones.

:func:`eclat` returns the same itemsets with the same basket counts as
Apriori and FP-growth; :class:`analytics.recommend.basket.BasketRules`
turns them into rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np
from scipy import sparse


def _tidsets(matrix: sparse.csr_matrix) -> list[int]:
    """One bitset of basket numbers per column of a baskets x items matrix."""
    csc = matrix.tocsc()
    csc.sort_indices()
    n_rows = matrix.shape[0]
    n_bytes = (n_rows + 7) // 8
    tidsets = []
    column = np.zeros(n_rows, dtype=bool)
    for j in range(csc.shape[1]):
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        column[rows] = True
        # little-endian bit order: bit t of the integer is basket t
        packed = np.packbits(column, bitorder="little").tobytes()
        tidsets.append(int.from_bytes(packed[:n_bytes], "little"))
        column[rows] = False
    return tidsets


def _grow(
    prefix: tuple[int, ...], tail: list[tuple[int, int]], min_count: int, max_len: Optional[int]
) -> Iterator[tuple[int, tuple[int, ...]]]:
    """Itemsets extending ``prefix`` with the items of ``tail`` (item, tid-set of prefix + item), depth first."""
    for k, (item, tids) in enumerate(tail):
        itemset = (*prefix, item)
        yield tids.bit_count(), itemset
        if max_len is not None and len(itemset) >= max_len:
            continue
        extensions = []
        for other, other_tids in tail[k + 1 :]:
            both = tids & other_tids
            if both.bit_count() >= min_count:
                extensions.append((other, both))
        if extensions:
            yield from _grow(itemset, extensions, min_count, max_len)


def eclat(matrix: sparse.spmatrix, min_count: int, max_len: Optional[int] = None) -> tuple[list[int], list[frozenset]]:
    """Frequent itemsets of a baskets x items matrix by tid-set intersection.

    Parameters
    ----------
    matrix : scipy sparse matrix, shape (baskets, items)
        Non-zero where the basket holds the item.
    min_count : int
        Least number of baskets an itemset must be in (>= 1).
    max_len : int, optional
        Largest itemset returned; None for no limit.

    Returns
    -------
    counts, itemsets : list of int, list of frozenset of int
        Each frequent itemset (as column indices) and the number of baskets
        holding it, in no particular order.

    Examples
    --------
    >>> baskets = sparse.csr_matrix([[1, 1, 0], [1, 1, 1], [1, 0, 1], [0, 1, 0]])
    >>> counts, itemsets = eclat(baskets, min_count=2)
    >>> sorted((sorted(s), c) for c, s in zip(counts, itemsets))
    [([0], 3), ([0, 1], 2), ([0, 2], 2), ([1], 3), ([2], 2)]
    """
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be a whole number of baskets >= 1, not {min_count!r}.")
    csr = sparse.csr_matrix(matrix)
    tidsets = _tidsets(csr)
    frequent = [(j, tids) for j, tids in enumerate(tidsets) if tids.bit_count() >= min_count]
    frequent.sort(key=lambda pair: (pair[1].bit_count(), pair[0]))
    counts: list[int] = []
    itemsets: list[frozenset] = []
    for count, itemset in _grow((), frequent, min_count, max_len):
        counts.append(count)
        itemsets.append(frozenset(itemset))
    return counts, itemsets


__all__ = ["eclat"]
