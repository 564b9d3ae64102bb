"""Tiny data sets whose right answers are obvious."""

from __future__ import annotations

import pandas as pd

from analytics.recommend import Interactions

GROUP_SIZE = 10
#: Items 100..109 are red candles (group A), 200..209 blue mugs (group B).
GROUP_A_ITEMS = [100 + i for i in range(GROUP_SIZE)]
GROUP_B_ITEMS = [200 + i for i in range(GROUP_SIZE)]
GROUP_A_USERS = [f"a{u}" for u in range(GROUP_SIZE)]
GROUP_B_USERS = [f"b{u}" for u in range(GROUP_SIZE)]
MISSED = 3  # each user misses three items of their group


def group_of_item(item_id: int) -> str:
    return "a" if item_id < 200 else "b"


def group_of_user(user_id: str) -> str:
    return user_id[0]


def checkerboard_pairs() -> pd.DataFrame:
    """Two groups of users buying from two disjoint groups of items.

    User ``k`` of a group bought every item of its group except the three
    at positions ``k, k+1, k+2`` (mod 10): so each user has three obvious
    right answers, all in their own group.
    """
    rows = []
    for users, items in ((GROUP_A_USERS, GROUP_A_ITEMS), (GROUP_B_USERS, GROUP_B_ITEMS)):
        for k, user in enumerate(users):
            missed = {(k + j) % GROUP_SIZE for j in range(MISSED)}
            rows += [(user, item) for pos, item in enumerate(items) if pos not in missed]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def unseen_in_group(user_id: str) -> set[int]:
    k = int(user_id[1:])
    items = GROUP_A_ITEMS if group_of_user(user_id) == "a" else GROUP_B_ITEMS
    return {items[(k + j) % GROUP_SIZE] for j in range(MISSED)}


def products() -> pd.DataFrame:
    rows = []
    for i, item in enumerate(GROUP_A_ITEMS):
        rows.append((item, f"Red candle {i}", f"scented red wax candle number {i}", "Candles", 2.0 + 0.1 * i))
    for i, item in enumerate(GROUP_B_ITEMS):
        rows.append((item, f"Blue mug {i}", f"blue ceramic coffee mug number {i}", "Mugs", 8.0 + 0.5 * i))
    return pd.DataFrame(rows, columns=["product_id", "name", "description", "category", "unit_price"])


def checkerboard(with_products: bool = True) -> Interactions:
    return Interactions.from_frame(checkerboard_pairs(), products=products() if with_products else None)


def segments() -> dict[str, str]:
    return {u: "Candle lovers" for u in GROUP_A_USERS} | {u: "Mug people" for u in GROUP_B_USERS}
