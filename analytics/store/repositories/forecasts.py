"""Stored demand forecasts: runs, their series and the forecast periods (``forecast_runs``,
``forecast_series``, ``demand_forecasts``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from analytics.store.bulk import bulk_insert
from analytics.store.models import DemandForecast, ForecastRun, ForecastSeries

#: (level, key, measure) of a stored series.
SeriesKey = tuple[str, str, str]


class ForecastRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_run(self, run: ForecastRun) -> ForecastRun:
        """Add ``run`` and flush, so it has its id."""
        self.session.add(run)
        self.session.flush()
        return run

    def add_series(self, run_id: int, series: pd.DataFrame) -> dict[SeriesKey, int]:
        """Bulk-insert the run's series (columns of ``forecast_series`` but ``id``); return their ids by
        (level, key, measure)."""
        conn = self.session.connection()
        bulk_insert(conn, ForecastSeries.__table__, series)  # type: ignore[arg-type]
        rows = conn.execute(
            select(ForecastSeries.id, ForecastSeries.level, ForecastSeries.key, ForecastSeries.measure).where(
                ForecastSeries.run_id == run_id
            )
        )
        return {(level, key, measure): sid for sid, level, key, measure in rows}

    def add_points(self, points: pd.DataFrame) -> None:
        """Bulk-insert forecast periods (columns of ``demand_forecasts`` but ``id``)."""
        bulk_insert(self.session.connection(), DemandForecast.__table__, points)  # type: ignore[arg-type]

    def keep_newest(self, freq: str, keep: int) -> None:
        """Delete the runs of ``freq`` older than the newest ``keep``, with their series and periods."""
        runs = self.session.scalars(
            select(ForecastRun.id).where(ForecastRun.freq == freq).order_by(ForecastRun.id.desc())
        ).all()
        old = runs[keep:]
        if old:  # children first: no reliance on the engine enforcing ON DELETE CASCADE
            conn = self.session.connection()
            old_series = select(ForecastSeries.id).where(ForecastSeries.run_id.in_(old))
            conn.execute(delete(DemandForecast).where(DemandForecast.series_id.in_(old_series)))
            conn.execute(delete(ForecastSeries).where(ForecastSeries.run_id.in_(old)))
            conn.execute(delete(ForecastRun).where(ForecastRun.id.in_(old)))

    def latest_run(self, freq: Optional[str] = None) -> Optional[ForecastRun]:
        """The newest run of ``freq`` (of any frequency when None)."""
        stmt = select(ForecastRun).order_by(ForecastRun.id.desc()).limit(1)
        if freq is not None:
            stmt = stmt.where(ForecastRun.freq == freq)
        return self.session.scalars(stmt).first()

    def series(self, run_id: int, level: str, key: str, measure: str) -> Optional[ForecastSeries]:
        return self.session.scalars(
            select(ForecastSeries).where(
                ForecastSeries.run_id == run_id,
                ForecastSeries.level == level,
                ForecastSeries.key == key,
                ForecastSeries.measure == measure,
            )
        ).first()

    def top_series(self, run_id: int, level: str, measure: str, n: int) -> list[ForecastSeries]:
        """The ``n`` series of a level and measure with the largest forecast total, largest first."""
        total = func.sum(DemandForecast.point)
        ranked = (
            select(ForecastSeries.id)
            .join(DemandForecast, DemandForecast.series_id == ForecastSeries.id)
            .where(ForecastSeries.run_id == run_id, ForecastSeries.level == level, ForecastSeries.measure == measure)
            .group_by(ForecastSeries.id, ForecastSeries.key)
            .order_by(total.desc(), ForecastSeries.key)
            .limit(n)
        )
        ids = list(self.session.scalars(ranked))
        rows = {r.id: r for r in self.session.scalars(select(ForecastSeries).where(ForecastSeries.id.in_(ids)))}
        return [rows[i] for i in ids]

    def points(self, series_ids: Sequence[int]) -> list[DemandForecast]:
        """The forecast periods of these series, by series and step."""
        return list(
            self.session.scalars(
                select(DemandForecast)
                .where(DemandForecast.series_id.in_(list(series_ids)))
                .order_by(DemandForecast.series_id, DemandForecast.step)
            )
        )
