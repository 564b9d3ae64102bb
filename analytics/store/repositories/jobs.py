"""Scheduled jobs' runs and locks (``job_runs``, ``job_locks``)."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import delete, func, inspect, select
from sqlalchemy.orm import Session

from analytics.store.models import JobLock, JobRun


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_run(self, run: JobRun) -> JobRun:
        """Add ``run`` and flush, so it has its id."""
        self.session.add(run)
        self.session.flush()
        return run

    def get_run(self, run_id: int) -> Optional[JobRun]:
        return self.session.get(JobRun, run_id)

    def last_runs(self) -> list[JobRun]:
        """The newest run of every job that ran, by job name."""
        newest = select(func.max(JobRun.id)).group_by(JobRun.job).scalar_subquery()
        return list(self.session.scalars(select(JobRun).where(JobRun.id.in_(newest)).order_by(JobRun.job)))

    def lock_for_update(self, job: str) -> Optional[JobLock]:
        """The lock row of ``job``, locked until the transaction ends (PostgreSQL ``FOR UPDATE``)."""
        return self.session.get(JobLock, job, with_for_update=True)

    def add_lock(self, lock: JobLock) -> None:
        self.session.add(lock)
        self.session.flush()

    def delete_lock(self, job: str, holder: str) -> int:
        stmt = delete(JobLock).where(JobLock.job == job, JobLock.holder == holder)
        result = self.session.execute(stmt.execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def lock_of(self, job: str) -> Optional[JobLock]:
        return self.session.get(JobLock, job)

    def exists(self) -> bool:
        """Whether the job tables exist (migration 0009 ran)."""
        return inspect(self.session.connection()).has_table(JobRun.__tablename__)
