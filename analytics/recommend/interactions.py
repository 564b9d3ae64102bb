"""The user x item interaction matrix every recommender is fitted on.

An :class:`Interactions` holds a CSR matrix (rows: users, columns: items),
the two id maps, and an optional item table (name, description, category,
unit price) that filters, explanations and the content model read.

Weighting
---------
Each interaction row has a quantity ``q`` (1 when there is no weight column)
and, with ``half_life_days``, a recency factor ``d = 0.5 ** (age / half_life)``
where ``age`` is the number of days between the row's timestamp and the
reference date (default: the newest timestamp). Per (user, item) cell, with
``Q = sum(q * d)`` over the cell's rows:

=============  ===========================================
``binary``     ``max(d)`` (1 without decay)
``quantity``   ``Q``
``log1p``      ``log(1 + Q)``
=============  ===========================================

Events such as product views, cart adds or ratings are added on top with
:meth:`Interactions.with_events`, each kind with its own weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analytics.core.errors import InvalidInput
from analytics.recommend.errors import UnknownItem, UnknownUser

WEIGHTINGS = ("binary", "quantity", "log1p")
ITEM_COLUMNS = ("item_id", "name", "description", "category", "unit_price")
#: Default weights of behaviour events relative to one purchase (binary weighting).
DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = {"view": 0.1, "cart_add": 0.3, "rating": 0.2}


def _check_weighting(weighting: object, half_life_days: object) -> None:
    if weighting not in WEIGHTINGS:
        raise InvalidInput(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {weighting!r}.")
    if half_life_days is not None and (
        isinstance(half_life_days, bool) or not isinstance(half_life_days, (int, float)) or not half_life_days > 0
    ):
        raise InvalidInput(f"half_life_days must be a positive number of days or None, not {half_life_days!r}.")


def _decay(times: pd.Series, half_life_days: Optional[float], reference_date: object) -> np.ndarray:
    """Recency factors in (0, 1]; all ones without a half-life."""
    if half_life_days is None:
        return np.ones(len(times))
    stamps = pd.to_datetime(times)
    if stamps.isna().any():
        raise InvalidInput(
            f"{int(stamps.isna().sum())} interaction(s) have no timestamp; recency decay needs one on every row."
        )
    reference = stamps.max() if reference_date is None else pd.Timestamp(reference_date)
    late = stamps > reference
    if late.any():
        raise InvalidInput(
            f"{int(late.sum())} interaction(s) happen after the reference date {reference}; "
            "pass a later reference_date or drop them."
        )
    age_days = (reference - stamps).dt.total_seconds().to_numpy() / 86400.0
    return np.asarray(0.5 ** (age_days / float(half_life_days)), dtype="float64")


def _check_weights(values: pd.Series, column: str) -> np.ndarray:
    weights = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    bad = ~np.isfinite(weights)
    if bad.any():
        raise InvalidInput(
            f"{int(bad.sum())} interaction(s) have a missing or non-numeric weight in column {column!r}; "
            "drop or fill those rows."
        )
    negative = weights < 0
    if negative.any():
        raise InvalidInput(
            f"{int(negative.sum())} interaction(s) have a negative weight in column {column!r}; "
            "returns and cancellations are not interactions: drop those rows."
        )
    return weights


class Interactions:
    """A user x item CSR matrix with its id maps and optional item table.

    Build it with :meth:`from_frame` or :meth:`from_lines`; the constructor
    takes an already built matrix.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_users, n_items)
        Non-negative weights; stored as CSR float32.
    user_ids, item_ids : sequence
        The ids of the rows and of the columns, distinct.
    items : pandas.DataFrame, optional
        One row per column, in column order, with any of ``name``,
        ``description``, ``category`` and ``unit_price``.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
    user_ids, item_ids : numpy.ndarray
    items : pandas.DataFrame or None

    Examples
    --------
    >>> frame = pd.DataFrame({"user_id": [1, 1, 2], "item_id": ["a", "b", "b"], "quantity": [3, 1, 2]})
    >>> X = Interactions.from_frame(frame, weight="quantity", weighting="quantity")
    >>> X.shape, X.matrix.toarray().tolist()
    ((2, 2), [[3.0, 1.0], [0.0, 2.0]])
    """

    def __init__(
        self,
        matrix: sp.spmatrix,
        user_ids: Union[Sequence[Any], np.ndarray],
        item_ids: Union[Sequence[Any], np.ndarray],
        items: Optional[pd.DataFrame] = None,
    ) -> None:
        csr = sp.csr_matrix(matrix, dtype=np.float32)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        csr.sort_indices()
        self.matrix: sp.csr_matrix = csr
        self.user_ids = np.asarray(user_ids)
        self.item_ids = np.asarray(item_ids)
        if csr.shape != (len(self.user_ids), len(self.item_ids)):
            raise InvalidInput(
                f"matrix shape {csr.shape} does not match "
                f"{len(self.user_ids)} user ids x {len(self.item_ids)} item ids."
            )
        self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        self._item_index = {it: i for i, it in enumerate(self.item_ids.tolist())}
        if len(self._user_index) != len(self.user_ids) or len(self._item_index) != len(self.item_ids):
            raise InvalidInput("user_ids and item_ids must be distinct.")
        if items is not None:
            items = items.reset_index(drop=True)
            if len(items) != len(self.item_ids):
                raise InvalidInput(f"items table has {len(items)} rows for {len(self.item_ids)} items.")
        self.items = items
        self._check()

    def _check(self) -> None:
        if self.matrix.nnz == 0:
            raise InvalidInput(
                "interactions are empty: no (user, item) pair has a positive weight. "
                "Pass at least one purchase, view or rating."
            )
        if len(self.item_ids) < 2:
            raise InvalidInput(
                f"interactions cover a single item ({self.item_ids[0]!r}); recommending needs at least two items. "
                "Add the product catalogue with products=... or more history."
            )
        data = self.matrix.data
        if not np.isfinite(data).all() or (data < 0).any():
            raise InvalidInput("matrix weights must be finite and non-negative; drop NaN or negative entries.")

    # -- construction ---------------------------------------------------------------------------------------------

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        user: str = "user_id",
        item: str = "item_id",
        weight: Optional[str] = None,
        timestamp: Optional[str] = None,
        weighting: str = "binary",
        half_life_days: Optional[float] = None,
        reference_date: object = None,
        products: Optional[pd.DataFrame] = None,
    ) -> Interactions:
        """Build from any (user, item[, weight][, timestamp]) table.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per interaction; several rows of one (user, item) add up.
        user, item, weight, timestamp : str
            Column names; without ``weight`` every row counts 1.
        weighting : {"binary", "quantity", "log1p"}
            How a cell's (decayed) quantity becomes its weight (module docstring).
        half_life_days : float, optional
            Exponential recency decay; needs ``timestamp``.
        reference_date : datetime-like, optional
            The "today" of the decay; default the newest timestamp.
        products : pandas.DataFrame, optional
            The product table (``product_id`` or ``item_id``, ``name``,
            ``description``, ``category``, ``unit_price``). Products without
            interactions become empty columns, so content similarity can
            reach new products.

        Raises
        ------
        InvalidInput
            Missing columns, an empty frame, missing ids, NaN or negative
            weights, a single item, a bad weighting or half-life.
        """
        _check_weighting(weighting, half_life_days)
        if not isinstance(frame, pd.DataFrame):
            raise InvalidInput("interactions must be a pandas DataFrame with user and item columns.")
        needed = [c for c in (user, item, weight, timestamp) if c is not None]
        if half_life_days is not None and timestamp is None:
            raise InvalidInput("half_life_days needs a timestamp column; pass timestamp='placed_at' (or similar).")
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"interaction frame lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}."
            )
        if frame.empty:
            raise InvalidInput("interaction frame is empty: there is nothing to learn from. Import orders first.")
        ids = frame[[user, item]]
        if ids.isna().any().any():
            raise InvalidInput(
                f"{int(ids.isna().any(axis=1).sum())} interaction(s) have no user or item id; drop those rows."
            )
        quantity = np.ones(len(frame)) if weight is None else _check_weights(frame[weight], weight)
        decay = (
            _decay(frame[timestamp], half_life_days, reference_date) if timestamp is not None else np.ones(len(frame))
        )
        user_codes, user_ids = pd.factorize(frame[user], sort=True)
        catalogue = _product_table(products)
        item_values = frame[item].to_numpy()
        if catalogue is not None:
            extra = pd.Index(pd.unique(item_values)).difference(pd.Index(catalogue["item_id"]))
            all_items = pd.Index(catalogue["item_id"]).append(extra).unique().sort_values()
        else:
            all_items = pd.Index(pd.unique(item_values)).sort_values()
        item_codes = all_items.get_indexer(item_values)
        values = _cell_values(user_codes, item_codes, quantity, decay, weighting)
        matrix = sp.csr_matrix(values, shape=(len(user_ids), len(all_items)), dtype=np.float32)
        items = _align_items(all_items, catalogue)
        return cls(matrix, np.asarray(user_ids), np.asarray(all_items), items)

    @classmethod
    def from_lines(
        cls,
        lines: pd.DataFrame,
        *,
        weighting: str = "binary",
        half_life_days: Optional[float] = None,
        reference_date: object = None,
        products: Optional[pd.DataFrame] = None,
    ) -> Interactions:
        """Build from the ``lines`` frame of :mod:`analytics.store.frames`.

        Users are ``customer_id``, items ``product_id``, the weight is
        ``quantity`` and the time ``placed_at``. Without ``products``, the
        item table gets each product's category and median unit price from
        the lines, so category and price filters still work.

        Examples
        --------
        >>> lines = pd.DataFrame({"customer_id": [1, 1, 2], "order_id": [1, 1, 2],
        ...     "placed_at": pd.to_datetime(["2011-01-01", "2011-01-01", "2011-02-01"]),
        ...     "product_id": [10, 11, 11], "category": ["Mugs", "Bags", "Bags"],
        ...     "quantity": [2, 6, 1], "amount": [5.0, 10.2, 1.7]})
        >>> Interactions.from_lines(lines, weighting="log1p").items["category"].tolist()
        ['Mugs', 'Bags']
        """
        if isinstance(lines, pd.DataFrame) and products is None and {"product_id", "category"} <= set(lines.columns):
            products = _products_from_lines(lines)
        return cls.from_frame(
            lines,
            user="customer_id",
            item="product_id",
            weight="quantity",
            timestamp="placed_at",
            weighting=weighting,
            half_life_days=half_life_days,
            reference_date=reference_date,
            products=products,
        )

    def with_events(
        self,
        events: pd.DataFrame,
        weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS,
        *,
        user: str = "customer_id",
        item: str = "product_id",
        kind: str = "kind",
        value: Optional[str] = "value",
        timestamp: Optional[str] = None,
        half_life_days: Optional[float] = None,
        reference_date: object = None,
    ) -> Interactions:
        """A copy with behaviour events (views, cart adds, ratings) added.

        Each event adds ``weights[kind]`` (times its ``value`` column when
        present and not missing, e.g. a rating) times its recency factor to
        its cell. New users and items get new rows and columns.

        Raises
        ------
        InvalidInput
            An event kind without a weight, a negative weight, missing ids
            or columns.

        Examples
        --------
        >>> X = Interactions.from_frame(pd.DataFrame({"user_id": [1, 2], "item_id": [10, 11]}))
        >>> views = pd.DataFrame({"customer_id": [1], "product_id": [11], "kind": ["view"]})
        >>> X.with_events(views, {"view": 0.25}).matrix.toarray().tolist()
        [[1.0, 0.25], [0.0, 1.0]]
        """
        if not isinstance(events, pd.DataFrame):
            raise InvalidInput("events must be a pandas DataFrame with user, item and kind columns.")
        needed = [c for c in (user, item, kind, timestamp) if c is not None]
        missing = [c for c in needed if c not in events.columns]
        if missing:
            raise InvalidInput(f"events frame lacks column(s) {', '.join(missing)}.")
        if events.empty:
            return self
        kinds = events[kind].map(lambda k: getattr(k, "value", k))
        unknown = sorted(set(kinds) - set(weights))
        if unknown:
            raise InvalidInput(
                f"no weight for event kind(s) {', '.join(map(str, unknown))}; pass weights={{kind: weight}} for them."
            )
        base = _check_weights(kinds.map(weights), "weights")
        if value is not None and value in events.columns:
            factor = pd.to_numeric(events[value], errors="coerce").fillna(1.0).to_numpy(dtype="float64")
            base = base * _check_weights(pd.Series(factor), value)
        if timestamp is not None:
            base = base * _decay(events[timestamp], half_life_days, reference_date)
        if events[[user, item]].isna().any().any():
            raise InvalidInput("some events have no user or item id; drop those rows.")
        users = pd.Index(self.user_ids).append(pd.Index(pd.unique(events[user]))).unique()
        items = pd.Index(self.item_ids).append(pd.Index(pd.unique(events[item]))).unique()
        grown = sp.csr_matrix((self.matrix.data, self.matrix.indices, self.matrix.indptr), shape=self.shape)
        grown.resize((len(users), len(items)))
        added = sp.csr_matrix(
            (base, (users.get_indexer(events[user]), items.get_indexer(events[item]))),
            shape=(len(users), len(items)),
        )
        table = None
        if self.items is not None:
            table = self.items.reindex(range(len(items)))
            table["item_id"] = np.asarray(items)
        return Interactions(grown + added, np.asarray(users), np.asarray(items), table)

    # -- access ---------------------------------------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.matrix.shape[0]), int(self.matrix.shape[1]))

    @property
    def n_users(self) -> int:
        return self.shape[0]

    @property
    def n_items(self) -> int:
        return self.shape[1]

    def user_row(self, user_id: Any) -> int:
        """The row of ``user_id``; :class:`UnknownUser` if it has none."""
        try:
            return self._user_index[user_id]
        except (KeyError, TypeError):
            raise UnknownUser(user_id) from None

    def has_user(self, user_id: Any) -> bool:
        try:
            return user_id in self._user_index
        except TypeError:
            return False

    def item_col(self, item_id: Any) -> int:
        """The column of ``item_id``; :class:`UnknownItem` if it has none."""
        try:
            return self._item_index[item_id]
        except (KeyError, TypeError):
            raise UnknownItem(item_id) from None

    def item_cols(self, item_ids: Iterable[Any], *, strict: bool = True) -> np.ndarray:
        """Columns of several items; unknown ids raise (``strict``) or are skipped."""
        cols = []
        for item_id in item_ids:
            if strict:
                cols.append(self.item_col(item_id))
            else:
                col = self._item_index.get(item_id)
                if col is not None:
                    cols.append(col)
        return np.asarray(cols, dtype=np.int64)

    def seen(self, row: int) -> np.ndarray:
        """Columns the user of ``row`` interacted with."""
        return self.matrix.indices[self.matrix.indptr[row] : self.matrix.indptr[row + 1]]

    def item_name(self, col: int) -> str:
        """A display name for the item of column ``col``."""
        if self.items is not None and "name" in self.items.columns:
            name = self.items.at[col, "name"]
            if isinstance(name, str) and name:
                return name
        return f"item {self.item_ids[col]}"

    def item_attribute(self, column: str, needed_by: str) -> np.ndarray:
        """One column of the item table, in column order; :class:`InvalidInput` if absent."""
        if self.items is None or column not in self.items.columns:
            raise InvalidInput(
                f"{needed_by} needs the items' {column}; build the Interactions with products=... "
                "(a table with product_id, name, description, category, unit_price) or from_lines(...)."
            )
        return self.items[column].to_numpy()

    def with_items(self, item_ids: Iterable[Any]) -> Interactions:
        """A copy whose catalogue also holds ``item_ids`` (as empty columns)."""
        new = [i for i in pd.unique(pd.Series(list(item_ids))) if i not in self._item_index]
        if not new:
            return self
        items = pd.Index(self.item_ids).append(pd.Index(new))
        grown = sp.csr_matrix((self.matrix.data, self.matrix.indices, self.matrix.indptr), shape=self.shape)
        grown.resize((self.n_users, len(items)))
        table = None
        if self.items is not None:
            table = self.items.reindex(range(len(items)))
            table["item_id"] = np.asarray(items)
        return Interactions(grown, self.user_ids, np.asarray(items), table)

    def __repr__(self) -> str:
        return f"Interactions({self.n_users} users x {self.n_items} items, {self.matrix.nnz} non-zero)"


def _cell_values(
    users: np.ndarray, items: np.ndarray, quantity: np.ndarray, decay: np.ndarray, weighting: str
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    cells = pd.DataFrame({"u": users, "i": items, "q": quantity * decay, "d": decay})
    grouped = cells.groupby(["u", "i"], sort=False)
    if weighting == "binary":
        per_cell = grouped["d"].max()
    else:
        per_cell = grouped["q"].sum()
        if weighting == "log1p":
            per_cell = np.log1p(per_cell)
    index = per_cell.index
    return (
        per_cell.to_numpy(dtype="float64"),
        (index.get_level_values(0).to_numpy(), index.get_level_values(1).to_numpy()),
    )


def _product_table(products: Optional[pd.DataFrame]) -> Optional[pd.DataFrame]:
    if products is None:
        return None
    if not isinstance(products, pd.DataFrame):
        raise InvalidInput(
            "products must be a pandas DataFrame with product_id, name, description, category, unit_price."
        )
    table = products.rename(columns={"product_id": "item_id"})
    if "item_id" not in table.columns:
        raise InvalidInput("products table needs a product_id (or item_id) column.")
    if table["item_id"].isna().any() or table["item_id"].duplicated().any():
        raise InvalidInput("products table has missing or repeated product ids; give each product one row.")
    keep = [c for c in ITEM_COLUMNS if c in table.columns]
    table = table.loc[:, keep].copy()
    if "unit_price" in table.columns:
        table["unit_price"] = pd.to_numeric(table["unit_price"], errors="coerce").astype("float64")
    return table


def _align_items(all_items: pd.Index, catalogue: Optional[pd.DataFrame]) -> Optional[pd.DataFrame]:
    if catalogue is None:
        return None
    table = catalogue.set_index("item_id").reindex(all_items).reset_index()
    return table.rename(columns={table.columns[0]: "item_id"})


def _products_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    grouped = lines.groupby("product_id", sort=True)
    table = pd.DataFrame({"category": grouped["category"].first()})
    if {"amount", "quantity"} <= set(lines.columns):
        price = lines["amount"] / lines["quantity"].where(lines["quantity"] > 0)
        table["unit_price"] = price.groupby(lines["product_id"]).median()
    return table.reset_index()


__all__ = ["DEFAULT_EVENT_WEIGHTS", "WEIGHTINGS", "Interactions"]
