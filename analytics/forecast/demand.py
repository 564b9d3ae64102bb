"""The demand forecast run, into the store, and the reads of the stored runs.

``crm forecast demand`` runs :func:`run_demand_forecast`: it reads every sale
and cancellation once, builds the series
(:func:`~analytics.forecast.demand_series.build_series`), forecasts them
(:func:`~analytics.forecast.demand_forecasters.forecast_demand`) and writes one
``forecast_runs`` row with its ``forecast_series`` and ``demand_forecasts`` in
one transaction, so a failed run leaves the previous one in place; runs beyond
:data:`KEEP_RUNS` of a frequency are deleted by the same transaction.
:func:`demand_forecast` and :func:`top_series` read the newest run of a frequency.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Optional

import numpy as np
import pandas as pd

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput, NotFound
from analytics.forecast.demand_forecasters import Progress, SeriesForecast, forecast_demand, no_progress
from analytics.forecast.demand_series import (
    DEFAULT_HORIZON,
    FREQ_NAMES,
    LEVELS,
    MEASURES,
    MIN_SALE_PERIODS,
    SHOP_KEY,
    SHOP_NAME,
    WEEKDAYS,
    DemandData,
    build_series,
    check_choice,
    check_count,
    check_freq,
    load_sales,
)
from analytics.store.models import (
    ForecastRun,
    ForecastSeries,
)
from analytics.store.uow import SqlAlchemyUnitOfWork

#: The newest runs of a frequency kept in the store; older ones are deleted by the next run.
KEEP_RUNS = 3


class ForecastNotFound(NotFound):
    """No stored forecast for what was asked; the message says why and what to run."""


# -- the run ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelSummary:
    """What a run did for one level and measure."""

    level: str
    measure: str
    series: int
    skipped: int
    model: str
    median_mase: Optional[float]
    forecast_total: float


@dataclass(frozen=True)
class DemandRunResult:
    """A stored run: its id, calendar, and per level and measure what was forecast."""

    run_id: int
    freq: str
    horizon: int
    history_end: date
    n_series: int
    closed_weekdays: tuple[str, ...]
    levels: tuple[LevelSummary, ...]
    outside_top: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)


def _summaries(forecasts: list[SeriesForecast], data: DemandData) -> tuple[LevelSummary, ...]:
    rows = []
    for level in LEVELS:
        for measure in MEASURES:
            chosen = [f for f in forecasts if f.level == level and f.measure == measure]
            if not chosen and not data.skipped[level]:
                continue
            models = pd.Series([f.model for f in chosen], dtype=object).value_counts()
            model = "" if models.empty else str(models.index[0])
            if len(models) > 1:
                model += f" (and {len(models) - 1} other choice{'s' if len(models) > 2 else ''})"
            mases = [f.backtest_mase for f in chosen if f.backtest_mase is not None]
            total = float(sum(f.point.sum() for f in chosen)) if level == "shop" else float("nan")
            rows.append(
                LevelSummary(
                    level,
                    measure,
                    len(chosen),
                    len(data.skipped[level]),
                    model,
                    float(np.median(mases)) if mases else None,
                    total,
                )
            )
    return tuple(rows)


def run_demand_forecast(
    uow: SqlAlchemyUnitOfWork,
    *,
    freq: str = "W",
    horizon: Optional[int] = None,
    top_products: Optional[int] = None,
    returns: str = "net",
    interval_level: float = 0.8,
    as_of: Optional[datetime] = None,
    n_jobs: int = 1,
    now: Optional[datetime] = None,
    progress: Progress = no_progress,
) -> DemandRunResult:
    """Forecast every series of the store and store the run (all or nothing); older runs beyond
    :data:`KEEP_RUNS` of the same frequency are deleted in the same transaction.

    Raises
    ------
    InvalidInput
        No sales in the store, a history too short, or bad parameters.
    """
    from analytics.forecast.base import check_level

    freq = check_freq(freq)
    horizon = check_count(DEFAULT_HORIZON[freq] if horizon is None else horizon, "horizon", 1)
    interval_level = check_level(interval_level)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    progress("loading sales", 0, 0)
    sales = load_sales(uow, returns=returns)
    data = build_series(sales, freq, as_of=as_of, horizon=horizon, returns=returns, top_products=top_products)
    seconds["load"] = round(time.perf_counter() - started, 3)
    mark = time.perf_counter()
    forecasts = forecast_demand(data, horizon, interval_level=interval_level, n_jobs=n_jobs, progress=progress)
    seconds["forecast"] = round(time.perf_counter() - mark, 3)
    progress("writing", len(forecasts), len(forecasts))
    mark = time.perf_counter()
    levels = _summaries(forecasts, data)
    closed = tuple(WEEKDAYS[d] for d in data.closed_weekdays)
    summary: dict[str, Any] = {
        "returns": data.returns,
        "closed_weekdays": list(data.closed_weekdays),
        "season_length": data.season_length,
        "min_periods": data.min_periods,
        "interval_level": interval_level,
        "top_products": top_products,
        "history_start": data.periods[0].date().isoformat(),
        "levels": [
            {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in s.__dict__.items()}
            for s in levels
        ],
        "skipped": {level: keys for level, keys in data.skipped.items() if level != "shop"},
        "outside_top_products": data.outside_top,
    }
    with uow:
        run = ForecastRun(
            created_at=now or utc_now(),
            freq=freq,
            history_end=data.history_end,
            horizon=horizon,
            n_series=len(forecasts),
            summary=summary,
        )
        uow.forecasts.add_run(run)
        series_frame = pd.DataFrame(
            {
                "run_id": run.id,
                "level": [f.level for f in forecasts],
                "key": [f.key for f in forecasts],
                "measure": [f.measure for f in forecasts],
                "model": [f.model for f in forecasts],
                "backtest_mase": pd.Series([f.backtest_mase for f in forecasts], dtype=object),
                "n_observations": [f.n_observations for f in forecasts],
            }
        )
        ids = uow.forecasts.add_series(run.id, series_frame)
        dates = [stamp.date() for stamp in forecasts[0].periods]
        points = pd.DataFrame(
            {
                "series_id": np.repeat([ids[(f.level, f.key, f.measure)] for f in forecasts], horizon),
                "step": np.tile(np.arange(1, horizon + 1), len(forecasts)),
                "period_start": pd.Series(dates * len(forecasts), dtype=object),
                "point": np.concatenate([f.point for f in forecasts]),
                "lower": np.concatenate([f.lower for f in forecasts]),
                "upper": np.concatenate([f.upper for f in forecasts]),
                "interval_level": float(interval_level),
            }
        )
        uow.forecasts.add_points(points)
        uow.forecasts.keep_newest(freq, KEEP_RUNS)
        seconds["write"] = round(time.perf_counter() - mark, 3)
        seconds["total"] = round(time.perf_counter() - started, 3)
        run.summary = {**summary, "seconds": seconds}
        run_id = run.id
        uow.commit()
    progress("done", len(forecasts), len(forecasts))
    return DemandRunResult(
        run_id, freq, horizon, data.history_end, len(forecasts), closed, levels, data.outside_top, seconds
    )


# -- reading the stored forecasts ------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast period: its first day, the point forecast and the interval (0, 0, 0 when closed)."""

    period_start: date
    point: float
    lower: float
    upper: float
    closed: bool = False


@dataclass(frozen=True)
class RunView:
    """A stored run of the demand forecasts."""

    run_id: int
    freq: str
    created_at: datetime
    history_end: date
    horizon: int
    n_series: int
    returns: str
    closed_weekdays: tuple[int, ...]
    interval_level: float
    summary: Mapping[str, Any]


@dataclass(frozen=True)
class DemandForecastView:
    """One series of the newest run: what chose its model, how well it backtested, and its periods."""

    run: RunView
    level: str
    key: str
    name: str
    measure: str
    model: str
    backtest_mase: Optional[float]
    n_observations: int
    points: tuple[ForecastPoint, ...]

    @property
    def total(self) -> float:
        """Sum of the point forecasts over the horizon."""
        return float(sum(p.point for p in self.points))


def _run_view(run: ForecastRun) -> RunView:
    summary = dict(run.summary or {})
    return RunView(
        run_id=run.id,
        freq=run.freq,
        created_at=run.created_at,
        history_end=run.history_end,
        horizon=run.horizon,
        n_series=run.n_series,
        returns=str(summary.get("returns", "net")),
        closed_weekdays=tuple(int(d) for d in summary.get("closed_weekdays", [])),
        interval_level=float(summary.get("interval_level", 0.8)),
        summary=summary,
    )


def _latest(uow: SqlAlchemyUnitOfWork, freq: Optional[str]) -> ForecastRun:
    run = uow.forecasts.latest_run(freq)
    if run is None:
        what = f"{FREQ_NAMES[freq]} " if freq is not None else ""
        flag = f" --freq {freq}" if freq is not None else ""
        raise ForecastNotFound(f"No {what}demand forecast in the store yet; run `crm forecast demand{flag}` first.")
    return run


def latest_run(uow: SqlAlchemyUnitOfWork, freq: Optional[str] = None) -> RunView:
    """The newest run of ``freq`` (of either frequency when None), or :class:`ForecastNotFound`."""
    freq = None if freq is None else check_freq(freq)
    with uow:
        return _run_view(_latest(uow, freq))


def _views(uow: SqlAlchemyUnitOfWork, run: ForecastRun, rows: Sequence[ForecastSeries]) -> list[DemandForecastView]:
    view = _run_view(run)
    skus = [r.key for r in rows if r.level == "product"]
    names = uow.products.names_of(skus)
    points: dict[int, list[ForecastPoint]] = {r.id: [] for r in rows}
    closed = set(view.closed_weekdays) if view.freq == "D" else set()
    for p in uow.forecasts.points(list(points)):
        points[p.series_id].append(
            ForecastPoint(p.period_start, p.point, p.lower, p.upper, p.period_start.weekday() in closed)
        )
    return [
        DemandForecastView(
            run=view,
            level=r.level,
            key=r.key,
            name=SHOP_NAME if r.level == "shop" else str(names.get(r.key, r.key)),
            measure=r.measure,
            model=r.model,
            backtest_mase=r.backtest_mase,
            n_observations=r.n_observations,
            points=tuple(points[r.id]),
        )
        for r in rows
    ]


def demand_forecast(
    uow: SqlAlchemyUnitOfWork, level: str, key: Optional[str] = None, freq: str = "W", measure: str = "units"
) -> DemandForecastView:
    """The newest ``freq`` forecast of one series: the shop (``key`` None or ``"all"``), a category or a product SKU.

    Raises
    ------
    InvalidInput
        An unknown level, measure or frequency.
    ForecastNotFound
        No run of that frequency yet, or the series was not forecast (too
        little history, or outside ``top_products``); the message says which.

    Examples
    --------
    ``demand_forecast(uow, "product", "85123A", freq="W").points[0].point``
    is next week's expected units of product 85123A.
    """
    level = check_choice(level, LEVELS, "level")
    measure = check_choice(measure, MEASURES, "measure")
    freq = check_freq(freq)
    key = SHOP_KEY if level == "shop" else key
    if not key:
        raise InvalidInput(f"a {level} forecast needs a key: the {'category name' if level == 'category' else 'SKU'}.")
    with uow:
        run = _latest(uow, freq)
        row = uow.forecasts.series(run.id, level, key, measure)
        if row is None:
            raise ForecastNotFound(_missing_message(uow, run, level, key))
        return _views(uow, run, [row])[0]


def _missing_message(uow: SqlAlchemyUnitOfWork, run: ForecastRun, level: str, key: str) -> str:
    what = f"the {FREQ_NAMES[run.freq]} forecast of {run.created_at:%Y-%m-%d %H:%M}"
    if level == "product" and uow.products.by_sku(key) is None:
        return f"No product {key!r} is in the catalog."
    summary = run.summary or {}
    unit = "open days" if run.freq == "D" else "weeks"
    if key in summary.get("skipped", {}).get(level, []):
        needed = summary.get("min_periods", "enough")
        reason = (
            f"it has too little history (a series needs {needed} {unit} from its first sale "
            f"and {MIN_SALE_PERIODS} {unit} with sales)"
        )
    elif level == "product" and summary.get("top_products") is not None:
        reason = f"only the top {summary['top_products']} products by revenue were forecast"
    else:
        reason = "it had no sales in the history"
    return f"The {level} {key!r} is not in {what}: {reason}."


def top_series(
    uow: SqlAlchemyUnitOfWork, *, freq: str = "W", level: str = "product", measure: str = "revenue", n: int = 10
) -> list[DemandForecastView]:
    """The ``n`` series of a level with the largest forecast total over the horizon in the newest ``freq`` run."""
    level = check_choice(level, LEVELS, "level")
    measure = check_choice(measure, MEASURES, "measure")
    freq = check_freq(freq)
    n = check_count(n, "n", 1)
    with uow:
        run = _latest(uow, freq)
        return _views(uow, run, uow.forecasts.top_series(run.id, level, measure, n))
