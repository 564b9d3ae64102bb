"""The demand report: history, forecast and interval of the top series of the newest forecast run.

``crm forecast report`` writes ``demand.html`` and one PNG per series into a
folder: the whole shop, the categories and the products with the largest
forecast revenue, each with units and revenue side by side. Each panel shows
the recent history (rebuilt from the store exactly as the run built it: same
end, same returns handling, closed days left out of daily series), the
forecast and its interval, and names the model the backtest chose with its
backtest MASE. The page has the run's settings, a summary per level, and a
table per series; the PNGs sit next to it and the page links them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from analytics.core.errors import InvalidInput
from analytics.forecast.demand import DemandForecastView, RunView, demand_forecast, latest_run, top_series
from analytics.forecast.demand_series import FREQ_NAMES, MEASURES, WEEKDAYS, build_series, load_sales
from analytics.store.uow import SqlAlchemyUnitOfWork

#: History shown before the forecast: 12 weeks of days, two years of weeks.
HISTORY_SHOWN = {"D": 84, "W": 104}
LEVEL_NAMES = {"shop": "Shop", "category": "Category", "product": "Product"}


@dataclass(frozen=True)
class ReportSeries:
    """One figure of the report: a series' forecasts (units and revenue) and their histories."""

    level: str
    key: str
    name: str
    forecasts: dict[str, DemandForecastView]
    history: dict[str, pd.Series]
    figure: str


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "series"


def _histories(
    uow: SqlAlchemyUnitOfWork, run: RunView, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str, str], pd.Series]:
    """The run's histories of the ``wanted`` (level, key) series, rebuilt from the store."""
    sales = load_sales(uow, returns=run.returns)
    as_of = pd.Timestamp(run.history_end) + pd.Timedelta(days=1)  # the first moment after the history
    data = build_series(
        sales, run.freq, as_of=as_of, horizon=run.horizon, returns=run.returns, min_periods=1, min_sale_periods=1
    )
    return {(s.level, s.key, s.measure): s.values for s in data.series if (s.level, s.key) in wanted}


def _plot(item: ReportSeries, run: RunView, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(MEASURES), figsize=(13, 4.4))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.8, wspace=0.18)  # fixed: tight_layout costs 0.3 s
    for ax, measure in zip(axes, MEASURES):
        view = item.forecasts[measure]
        history = item.history.get(measure, pd.Series(dtype="float64"))
        history = history.iloc[-HISTORY_SHOWN[run.freq] :]
        shown = [p for p in view.points if not p.closed]  # closed days are 0 by definition, as in the history
        when = np.array([np.datetime64(p.period_start) for p in shown], dtype="datetime64[ns]")
        point = np.array([p.point for p in shown])
        ax.plot(history.index.to_numpy(), history.to_numpy(), color="#4c72b0", lw=1.2, label="history")
        if len(history):
            joined = np.r_[history.index.to_numpy()[-1:], when]
            ax.plot(joined, np.r_[history.to_numpy()[-1:], point], color="#dd8452", lw=1.6, label="forecast")
        else:
            ax.plot(when, point, color="#dd8452", lw=1.6, label="forecast")
        ax.fill_between(
            when,
            [p.lower for p in shown],
            [p.upper for p in shown],
            color="#dd8452",
            alpha=0.25,
            label=f"{run.interval_level:.0%} interval",
        )
        half = np.timedelta64(12, "h") if run.freq == "D" else np.timedelta64(84, "h")
        ax.axvline(np.datetime64(view.points[0].period_start) - half, color="#999999", ls="--", lw=0.8)
        mase = "n/a" if view.backtest_mase is None else f"{view.backtest_mase:.2f}"
        ax.set_title(f"{measure}: {view.model}\nbacktest MASE {mase}", fontsize=9)
        ax.set_ylabel("£" if measure == "revenue" else "units")
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"{LEVEL_NAMES[item.level]}: {item.name}" + (f" ({item.key})" if item.level == "product" else ""))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cell(value: Any) -> str:
    return html.escape(str(value))


def _money(measure: str, value: float) -> str:
    return f"£{value:,.0f}" if measure == "revenue" else f"{value:,.0f}"


def write_demand_report(
    uow: SqlAlchemyUnitOfWork,
    out: Path,
    *,
    freq: Optional[str] = None,
    n_categories: int = 5,
    n_products: int = 10,
) -> Path:
    """Write the report of the newest run (of ``freq``, or of either frequency) into folder ``out``.

    Returns the HTML file's path. Raises
    :class:`~analytics.forecast.demand.ForecastNotFound` when there is no run yet.
    """
    for name, value in (("n_categories", n_categories), ("n_products", n_products)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"{name} must be a whole number >= 0, not {value!r}.")
    run = latest_run(uow, freq)
    picked: list[tuple[str, str, str]] = [("shop", "all", "The whole shop")]
    for level, n in (("category", n_categories), ("product", n_products)):
        if n:
            picked += [(v.level, v.key, v.name) for v in top_series(uow, freq=run.freq, level=level, n=n)]
    histories = _histories(uow, run, {(level, key) for level, key, _ in picked})
    out.mkdir(parents=True, exist_ok=True)
    items: list[ReportSeries] = []
    for i, (level, key, name) in enumerate(picked, start=1):
        forecasts = {m: demand_forecast(uow, level, key, freq=run.freq, measure=m) for m in MEASURES}
        history = {m: histories[(level, key, m)] for m in MEASURES if (level, key, m) in histories}
        item = ReportSeries(level, key, name, forecasts, history, f"{i:02d}-{level}-{_slug(key)}.png")
        _plot(item, run, out / item.figure)
        items.append(item)
    path = out / "demand.html"
    path.write_text(_page(run, items), encoding="utf-8")
    return path


def _page(run: RunView, items: list[ReportSeries]) -> str:
    closed = ", ".join(WEEKDAYS[d] for d in run.closed_weekdays) or "none"
    returns = (
        "sales net of cancellations and returns" if run.returns == "net" else "gross sales (returns not subtracted)"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Demand forecast</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1300px} table{border-collapse:collapse;margin:.5em 0}"
        " td,th{border:1px solid #ccc;padding:4px 8px;text-align:right} td:first-child{text-align:left}"
        " img{max-width:100%} nav a{margin-right:1em}</style></head><body>",
        f"<h1>Demand forecast, {FREQ_NAMES[run.freq]}</h1>",
        f"<p>Run {run.run_id} of {run.created_at:%Y-%m-%d %H:%M}: history to {run.history_end:%A %d %B %Y}, "
        f"{run.horizon} {'days' if run.freq == 'D' else 'weeks'} ahead, {run.n_series:,} series; "
        f"{_cell(returns)}; closed weekdays: {_cell(closed)}; intervals {run.interval_level:.0%}.</p>",
    ]
    levels = run.summary.get("levels", [])
    if levels:
        parts.append(
            "<h2>All series</h2><table><tr><th>level</th><th>measure</th><th>series</th><th>skipped</th>"
            "<th>model (most frequent choice)</th><th>median backtest MASE</th></tr>"
        )
        for row in levels:
            mase = row.get("median_mase")
            parts.append(
                f"<tr><td>{_cell(row.get('level'))}</td><td>{_cell(row.get('measure'))}</td>"
                f"<td>{row.get('series', 0):,}</td><td>{row.get('skipped', 0):,}</td>"
                f"<td>{_cell(row.get('model', ''))}</td><td>{'n/a' if mase is None else f'{mase:.2f}'}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<nav>" + "".join(f"<a href='#{_slug(i.figure)}'>{_cell(i.name)}</a>" for i in items) + "</nav>")
    for item in items:
        title = f"{LEVEL_NAMES[item.level]}: {item.name}" + (f" ({item.key})" if item.level == "product" else "")
        parts.append(f"<h2 id='{_slug(item.figure)}'>{_cell(title)}</h2>")
        parts.append(
            "<table><tr><th>measure</th><th>model chosen by backtest</th><th>backtest MASE</th>"
            "<th>history (periods)</th><th>forecast total</th><th>first period</th></tr>"
        )
        for measure, view in item.forecasts.items():
            first = view.points[0]
            mase = "n/a" if view.backtest_mase is None else f"{view.backtest_mase:.2f}"
            interval = f"[{_money(measure, first.lower)}, {_money(measure, first.upper)}]"
            parts.append(
                f"<tr><td>{measure}</td><td>{_cell(view.model)}</td><td>{mase}</td><td>{view.n_observations:,}</td>"
                f"<td>{_money(measure, view.total)}</td>"
                f"<td>{first.period_start:%d %b}: {_money(measure, first.point)} {interval}</td></tr>"
            )
        parts.append("</table>")
        parts.append(f"<a href='{item.figure}'><img src='{item.figure}' alt='{_cell(title)}'></a>")
    parts.append("</body></html>")
    return "\n".join(parts)
