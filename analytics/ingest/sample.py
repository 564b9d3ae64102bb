"""Build the small Online Retail sample shipped with the project.

The sample keeps the source rows untouched (duplicates, cancellations and
guest rows included) so the importer's cleaning runs on it exactly as on the
full file. Customers are chosen deterministically: a few named ones the docs
and tests use, customers active in the last two weeks of the data (so a demo
has orders still in transit), and a seeded random draw of the rest, each with
all of their rows; plus a few guest invoices.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.core.errors import ImportFileError
from analytics.ingest.online_retail import COLUMNS

#: Customers the README, the bot's examples and the tests refer to.
ANCHOR_CUSTOMERS = ("17850", "12347", "13047", "12583", "14688")


def build_sample(
    source: Path, out: Path, *, customers: int = 300, guest_invoices: int = 40, seed: int = 42
) -> dict[str, int]:
    """Write a gzip CSV sample of ``source`` to ``out``; return its counts."""
    if not source.is_file():
        raise ImportFileError(source, "no such file; pass the full Online Retail CSV (.csv or .csv.gz).")
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ImportFileError(source, f"missing column(s) {', '.join(missing)}.", line=1)
    ref = raw["CustomerID"].str.replace(r"\.0$", "", regex=True)
    dates = pd.to_datetime(raw["InvoiceDate"], errors="coerce")
    rng = np.random.default_rng(seed)

    chosen: list[str] = [c for c in ANCHOR_CUSTOMERS if (ref == c).any()]
    recent_cut = dates.max() - pd.Timedelta(days=14)
    recent = sorted(set(ref[(dates >= recent_cut) & (ref != "")]) - set(chosen))
    take_recent = min(len(recent), customers // 3)
    chosen += list(rng.choice(recent, size=take_recent, replace=False)) if take_recent else []
    rest = sorted(set(ref[ref != ""]) - set(chosen))
    need = max(0, customers - len(chosen))
    chosen += list(rng.choice(rest, size=min(need, len(rest)), replace=False))

    guest_numbers = sorted(set(raw.loc[ref == "", "InvoiceNo"]))
    guests = (
        set(rng.choice(guest_numbers, size=min(guest_invoices, len(guest_numbers)), replace=False))
        if guest_numbers
        else set()
    )
    keep = ref.isin(set(chosen)) | raw["InvoiceNo"].isin(guests)
    sample = raw.loc[keep, list(COLUMNS)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", newline="", compresslevel=9) as fh:
        # mtime-free gzip header is not needed for correctness; rows keep source order
        sample.to_csv(fh, index=False)
    tmp.replace(out)
    return {"rows": len(sample), "customers": len(set(chosen)), "guest_invoices": len(guests)}
