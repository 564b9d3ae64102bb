"""What the rule-based suggesters share: a ranked list of suggestions with its reason, and shares said as percentages.

:class:`RankedItems` gives a result dataclass holding ``items`` (each with an
``item``) the behaviour of a read-only list: iteration, ``len``, indexing and
``item_ids``. "Frequently bought together"
(:class:`analytics.recommend.basket.Suggestions`) and "bought later"
(:class:`analytics.recommend.sequences.NextPurchases`) both use it, and both
say their measures with :func:`percent`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Generic, Protocol, TypeVar


class _HasItem(Protocol):
    @property
    def item(self) -> Hashable: ...


S = TypeVar("S", bound=_HasItem)


class RankedItems(Generic[S]):
    """Mixin for a frozen dataclass with an ``items`` field (best first): iterate it like a tuple.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Pick:
    ...     item: str
    >>> @dataclass(frozen=True)
    ... class Picks(RankedItems[Pick]):
    ...     items: tuple[Pick, ...]
    >>> picks = Picks((Pick("tent"), Pick("torch")))
    >>> len(picks), picks[1].item, picks.item_ids
    (2, 'torch', ['tent', 'torch'])
    """

    items: tuple[S, ...]

    def __iter__(self) -> Iterator[S]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> S:
        return self.items[index]

    @property
    def item_ids(self) -> list[Hashable]:
        """The suggested items, best first."""
        return [s.item for s in self.items]


def percent(share: float) -> str:
    """A share as a short percentage: whole percents from 10%, one decimal below.

    Examples
    --------
    >>> percent(0.32), percent(0.074), percent(0.005), percent(1.0)
    ('32%', '7.4%', '0.5%', '100%')
    """
    value = 100.0 * share
    text = f"{value:.0f}" if value >= 9.95 else f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


__all__ = ["RankedItems", "percent"]
