"""A Spark session set up for the scale jobs."""

from __future__ import annotations

import os
import sys
from typing import Optional

from pyspark.sql import SparkSession


def spark_session(
    *,
    master: str = "local[2]",
    driver_memory: str = "4g",
    shuffle_partitions: Optional[int] = None,
    local_dir: Optional[str] = None,
    app_name: str = "shop-analytics",
) -> SparkSession:
    """The (shared) Spark session the jobs run in.

    Times are read and written as naive UTC, like the store's, whatever the
    machine's time zone. On a cluster, leave ``master`` to ``spark-submit``
    by passing ``master=""``. ``driver_memory`` only applies when this call
    starts the JVM.

    Examples
    --------
    >>> spark = spark_session(shuffle_partitions=4)  # doctest: +SKIP
    """
    # Python workers (for frames made from Python rows) must run this interpreter, not the first python3 on PATH
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # the timestamps pandas writes (naive) are read as naive timestamps, not shifted by a zone
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "true")
    )
    if master:
        builder = builder.master(master)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    if local_dir is not None:
        builder = builder.config("spark.local.dir", local_dir)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
