"""Errors of the recommenders.

They subclass the domain errors of :mod:`analytics.core.errors`, so an edge that
already turns :class:`~analytics.core.errors.NotFound` into "I don't know that
customer" handles these too.
"""

from __future__ import annotations

from analytics.core.errors import NotFound


class UnknownUser(NotFound):
    """A user (customer) the fitted recommender has no interactions for.

    New customers go through ``HybridRecommender.recommend_for_context``,
    which needs no history.
    """

    def __init__(self, user_id: object) -> None:
        super().__init__(
            f"User {user_id!r} has no interactions in the data the recommender was fitted on; "
            "use recommend_for_context(...) for new customers or refit with their history."
        )
        self.user_id = user_id


class UnknownItem(NotFound):
    """An item (product) that is not in the fitted recommender's catalogue."""

    def __init__(self, item_id: object) -> None:
        super().__init__(
            f"Item {item_id!r} is not in the recommender's catalogue; "
            "pass the product table to Interactions (products=...) so new products are included, then refit."
        )
        self.item_id = item_id


__all__ = ["UnknownItem", "UnknownUser"]
