"""One local Spark session for the scale tests (starting the JVM takes seconds), and a small shop's order lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

try:
    from pyspark.sql import SparkSession
except ImportError:  # pragma: no cover - environment problem
    pytest.fail(
        'pyspark is missing from this environment: install the "scale" extra (pip install -e ".[app,dev,scale]").',
        pytrace=False,
    )

from analytics.scale.session import spark_session

PRICES = np.array([0.42, 0.85, 1.25, 2.95, 4.15, 12.75, 49.99, 120.0])


@pytest.fixture(scope="package")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    session = spark_session(
        master="local[2]",
        driver_memory="1g",
        shuffle_partitions=4,
        local_dir=str(tmp_path_factory.mktemp("spark-local")),
        app_name="shop-analytics-tests",
    )
    yield session
    session.stop()


def small_shop(n_customers: int = 400, seed: int = 3, end: str = "2026-11-30") -> pd.DataFrame:
    """Order lines of a small shop (a few thousand), made to reach every tier and lifecycle stage.

    Some customers buy wholesale quantities (Gold and Platinum spend), some
    return after more than half a year away (won-back), some place two
    orders on one day (one CLV purchase), and amounts and recencies tie.
    """
    rng = np.random.default_rng(seed)
    end_ts = pd.Timestamp(end)
    rows = []
    order_id = 1000
    for customer in range(1, n_customers + 1):
        wholesale = rng.random() < 0.15
        n_orders = int(rng.geometric(0.25)) if rng.random() < 0.8 else 1
        day = rng.uniform(0, 3 * 365)  # days before the end
        for _ in range(n_orders):
            placed = end_ts - pd.Timedelta(days=day) + pd.Timedelta(seconds=int(rng.integers(0, 86_400)))
            for _ in range(int(rng.integers(1, 6))):
                quantity = int(rng.integers(12, 200) if wholesale else rng.integers(1, 13))
                price = float(rng.choice(PRICES))
                rows.append(
                    (customer, order_id, placed, int(rng.integers(1, 60)), quantity, round(quantity * price, 2))
                )
            order_id += 1
            if rng.random() < 0.1:  # a second order the same day
                continue
            gap = rng.exponential(250 if rng.random() < 0.2 else 40)
            day -= gap
            if day < 0:
                break
    lines = pd.DataFrame(rows, columns=["customer_id", "order_id", "placed_at", "product_id", "quantity", "amount"])
    lines["placed_at"] = lines["placed_at"].dt.floor("s")
    lines["category"] = "Cat " + (lines["product_id"] % 7).astype(str)
    return lines[["customer_id", "order_id", "placed_at", "product_id", "category", "quantity", "amount"]]


@pytest.fixture(scope="package")
def shop_lines() -> pd.DataFrame:
    return small_shop()


@pytest.fixture(scope="package")
def lines_parquet(shop_lines: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lines")
    half = len(shop_lines) // 2  # two parts, as an export writes them
    shop_lines.iloc[:half].to_parquet(folder / "part-0.parquet", coerce_timestamps="us")
    shop_lines.iloc[half:].to_parquet(folder / "part-1.parquet", coerce_timestamps="us")
    return folder
