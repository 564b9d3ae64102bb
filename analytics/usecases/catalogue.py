"""Products the customer names: found by SKU or words of their name.

The matching is :mod:`analytics.usecases.catalogue_search`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from analytics.core.errors import (
    InvalidInput,
    ProductNotFound,
)
from analytics.core.text import terms
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.catalogue_search import MIN_COVERAGE, CatalogIndex, Listing
from analytics.usecases.common import (
    check_limit,
    money,
)


@dataclass(frozen=True)
class ProductView:
    sku: str
    name: str
    category: str
    price: Decimal
    in_stock: bool
    match: str
    """How the product matched: ``sku``, ``exact`` (the whole name), ``all_words`` or ``some_words``."""

    @property
    def availability(self) -> str:
        """``in stock`` for a product on sale, ``not available`` for one the shop no longer sells."""
        return "in stock" if self.in_stock else "not available"


MATCH_KINDS = ("sku", "exact", "all_words", "some_words")


def _catalog_index(uow: SqlAlchemyUnitOfWork) -> CatalogIndex:
    """A fresh index of the catalogue (the chat's cached one is
    :func:`analytics.usecases.catalogue_search.index_for`)."""
    with uow:
        rows = uow.products.listing()
    return CatalogIndex(
        Listing(r.id, r.sku, r.name, r.category, Decimal(r.unit_price), bool(r.active), int(r.order_lines))
        for r in rows
    )


def find_products(uow: SqlAlchemyUnitOfWork, query: str, limit: int = 5) -> list[ProductView]:
    """Products of the catalog that ``query`` names, best first.

    The matching is :class:`analytics.usecases.catalogue_search.CatalogIndex`'s: case,
    plurals, hyphens and compound spellings do not matter (``bags``/``bag``,
    ``t-light``/``tlight``, ``cake stand``/``cakestand``); a few synonyms are
    known (``tea light`` is the catalog's ``T-Light``); typos of words that
    are not English words are forgiven; filler words of a question (``do you
    have any ... ?``, ``price``, ``stock``) are ignored. A word that is a
    product's SKU (``85123A``; it must contain a digit) finds that product.

    Ranking: SKU match, then the exact name, then names holding every word of
    the query, then names holding at least half of them (by weight: rarer
    words count more). Ties go to names with the query's words side by side,
    then shorter (more specific) names, then better-known products.

    Returns
    -------
    list of ProductView
        At most ``limit`` products; ``in_stock`` is the product's ``active`` flag.

    Raises
    ------
    ProductNotFound
        Nothing matches.
    InvalidInput
        The query names nothing (empty, or only filler words), or ``limit`` is outside 1..50.
    """
    check_limit(limit)
    skus = [t for t in re.findall(r"[A-Za-z0-9]+", query) if any(c.isdigit() for c in t)]
    if not terms(query).words and not skus:
        raise InvalidInput("Say which product: its name or product code, for example 'lunch bag' or 85123A.")
    linked = _catalog_index(uow).link(query, limit=limit * 4)
    found = [c for c in linked.candidates if c.coverage >= MIN_COVERAGE][:limit]
    if not found:
        raise ProductNotFound(query)
    return [
        ProductView(
            sku=c.listing.sku,
            name=c.listing.name,
            category=c.listing.category,
            price=money(c.listing.price),
            in_stock=c.listing.in_stock,
            match=c.how,
        )
        for c in found
    ]


def product_info(uow: SqlAlchemyUnitOfWork, query: str) -> ProductView:
    """The one product ``query`` names best (see :func:`find_products` for the matching and errors)."""
    return find_products(uow, query, limit=1)[0]
