"""The operators' report: who the customers are, from the last refresh.

``crm analytics report`` writes ``report.html`` and its PNG figures: segment
sizes and cluster profiles, an RFM heatmap (customers and mean spend per
recency x frequency score), the distribution of 12-month CLV, and tiers and
lifecycle stages.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.customers.refresh import SUMMARY_KEY
from analytics.store.models import CustomerScore
from analytics.store.uow import SqlAlchemyUnitOfWork


def _scores(uow: SqlAlchemyUnitOfWork) -> tuple[pd.DataFrame, dict[str, object]]:
    with uow:
        rows = uow.scores.all()
        summary = json.loads(uow.settings.get(SUMMARY_KEY) or "{}")
        frame = pd.DataFrame([{c.name: getattr(r, c.name) for c in CustomerScore.__table__.columns} for r in rows])
    if frame.empty:
        raise InvalidInput("No customer scores in the store; run `crm analytics refresh` first.")
    for column in ("monetary", "spend_12m", "clv_12m", "amount_to_next_tier"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame, summary


def write_report(uow: SqlAlchemyUnitOfWork, out: Path) -> Path:
    """Write the report into folder ``out``; return the HTML file's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores, summary = _scores(uow)
    out.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    segments = scores["rfm_segment"].value_counts().sort_values()
    axes[0].barh(segments.index, segments.to_numpy(), color="#4c72b0")
    axes[0].set_title("Customers per RFM segment")
    tiers = scores["tier"].value_counts()
    axes[1].bar(tiers.index, tiers.to_numpy(), color="#dd8452")
    axes[1].set_title("Loyalty tiers")
    stages = scores["lifecycle"].value_counts()
    axes[2].bar(stages.index, stages.to_numpy(), color="#55a868")
    axes[2].set_title("Lifecycle stages")
    fig.tight_layout()
    fig.savefig(out / "segments.png", dpi=110)
    plt.close(fig)
    figures.append(("segments.png", "Segments, tiers and lifecycle"))

    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    counts = scores.pivot_table(index="r_score", columns="f_score", values="customer_id", aggfunc="count").fillna(0)
    spend = scores.pivot_table(index="r_score", columns="f_score", values="monetary", aggfunc="mean")
    for ax, grid, title, fmt in (
        (axes[0], counts, "Customers (R score x F score)", "{:.0f}"),
        (axes[1], spend, "Mean total spend £ (R score x F score)", "{:,.0f}"),
    ):
        image = ax.imshow(grid.to_numpy(dtype=float), origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
        ax.set_xlabel("frequency score")
        ax.set_ylabel("recency score")
        ax.set_title(title)
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if np.isfinite(value):
                ax.text(j, i, fmt.format(value), ha="center", va="center", color="white", fontsize=8)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(out / "rfm_heatmap.png", dpi=110)
    plt.close(fig)
    figures.append(("rfm_heatmap.png", "RFM heatmap"))

    values = scores["clv_12m"].dropna()
    values = values[values > 0]
    if len(values):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        edges = np.logspace(np.log10(values.min()), np.log10(values.max()), 40).tolist()
        ax.hist(values, bins=edges, color="#8172b3")
        ax.set_xscale("log")
        ax.set_xlabel("expected value over the next 12 months, £ (log scale)")
        ax.set_ylabel("customers")
        ax.set_title(f"CLV distribution (median £{values.median():,.0f}, total £{values.sum():,.0f})")
        fig.tight_layout()
        fig.savefig(out / "clv.png", dpi=110)
        plt.close(fig)
        figures.append(("clv.png", "Customer lifetime value"))

    profiles = pd.DataFrame(summary.get("profiles", []))
    segment_table = (
        scores.groupby("rfm_segment")
        .agg(customers=("customer_id", "count"), mean_recency_days=("recency_days", "mean"),
             mean_orders=("frequency", "mean"), mean_spend=("monetary", "mean"), total_clv_12m=("clv_12m", "sum"))
        .sort_values("customers", ascending=False)
        .round(1)
    )  # fmt: skip
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Customer report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px} table{border-collapse:collapse}"
        " td,th{border:1px solid #ccc;padding:4px 8px;text-align:right} img{max-width:100%}</style></head><body>",
        f"<h1>Customer report</h1><p>{len(scores):,} customers scored as of "
        f"{html.escape(str(summary.get('reference_date', '')))}.</p>",
    ]
    for name, title in figures:
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>")
    parts.append("<h2>RFM segments</h2>" + segment_table.to_html())
    if not profiles.empty:
        parts.append("<h2>Behavioural clusters (k-means)</h2>" + profiles.to_html(index=False))
    metrics = summary.get("cluster_metrics")
    if isinstance(metrics, dict):
        items = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, (int, float)))
        parts.append(f"<p>Cluster quality: {html.escape(items)}</p>")
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
