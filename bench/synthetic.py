"""A synthetic shop for scale benchmarks: orders and order lines as the
analytics frames (analytics/store/frames.py) describe them.

Customers arrive over two years; each buys with a personal rate (gamma
distributed, so a few buy often and most rarely) until a geometric "death"
(the BG/NBD story), with basket values from a per-customer gamma spend level.
Lines spread each order's value over 1-8 products in 12 categories, with a
per-customer favourite category. Seeded, so runs are comparable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = np.array(
    [
        "Kitchen & Dining", "Home Decor", "Jewellery & Accessories", "Party & Gift Wrap", "Candles & Lighting",
        "Storage & Organisation", "Christmas & Seasonal", "Stationery", "Textiles & Cushions", "Bags",
        "Toys & Games", "Garden & Outdoor",
    ]
)  # fmt: skip


def synthetic_shop(
    n_customers: int = 1_000_000, lines_per_customer: float = 10.0, seed: int = 7, end: str = "2026-11-01"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    horizon_days = 730.0
    first = rng.uniform(0, horizon_days - 30, n_customers)  # days after the start
    rate = rng.gamma(shape=0.6, scale=1 / 25, size=n_customers)  # purchases per day
    dropout = rng.beta(1.0, 6.0, n_customers)  # P(dead after each purchase)
    spend = rng.gamma(shape=4.0, scale=8.0, size=n_customers)  # mean order value level

    # number of repeat purchases before death or the end of the window
    alive_orders = rng.geometric(np.clip(dropout, 1e-3, 1.0)) - 1
    window = horizon_days - first
    possible = rng.poisson(rate * window)
    repeats = np.minimum(alive_orders, possible)
    n_orders = 1 + repeats
    customer = np.repeat(np.arange(1, n_customers + 1, dtype=np.int64), n_orders)
    start = np.repeat(first, n_orders)
    span = np.repeat(window, n_orders)
    is_first = np.zeros(len(customer), dtype=bool)
    is_first[np.concatenate(([0], np.cumsum(n_orders)[:-1]))] = True
    offset = np.where(is_first, 0.0, rng.uniform(0, 1, len(customer)) * span)
    day = start + offset
    value = rng.gamma(shape=3.0, scale=np.repeat(spend, n_orders) / 3.0) + 1.0
    placed = end_ts - pd.to_timedelta(horizon_days - day, unit="D")
    orders = pd.DataFrame(
        {
            "customer_id": customer,
            "order_id": np.arange(1, len(customer) + 1, dtype=np.int64),
            "placed_at": placed.floor("min"),
            "amount": np.round(value, 2),
        }
    )

    # lines: about `lines_per_customer` per customer overall
    mean_lines = lines_per_customer * n_customers / len(orders)
    per_order = np.clip(rng.poisson(mean_lines - 1, len(orders)) + 1, 1, 40)
    idx = np.repeat(np.arange(len(orders)), per_order)
    favourite = rng.integers(0, len(CATEGORIES), n_customers + 1)
    cust_of_line = orders["customer_id"].to_numpy()[idx]
    use_fav = rng.random(len(idx)) < 0.6
    cat = np.where(use_fav, favourite[cust_of_line], rng.integers(0, len(CATEGORIES), len(idx)))
    share = rng.random(len(idx)) + 0.1
    share_sum = np.bincount(idx, weights=share)
    amount = np.round(orders["amount"].to_numpy()[idx] * share / share_sum[idx], 2)
    lines = pd.DataFrame(
        {
            "customer_id": cust_of_line,
            "order_id": orders["order_id"].to_numpy()[idx],
            "placed_at": orders["placed_at"].to_numpy()[idx],
            "product_id": (cat * 1000 + rng.integers(0, 1000, len(idx))).astype(np.int64),
            "category": pd.Categorical.from_codes(cat, categories=CATEGORIES),
            "quantity": rng.integers(1, 7, len(idx)),
            "amount": np.maximum(amount, 0.01),
        }
    )
    return orders, lines


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    o, li = synthetic_shop()
    print(
        f"{len(o):,} orders, {len(li):,} lines, {o.customer_id.nunique():,} customers in {time.perf_counter() - t:.1f}s"
    )
    print(o.groupby("customer_id").size().describe())
