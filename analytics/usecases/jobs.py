"""Scheduled jobs' bookkeeping: who may run a job now (a lease in the store), and the log of runs.

A lease is one row per job in ``job_locks``: a runner claims it when it is free or its holder let it lapse,
renews it while the job runs and releases it at the end, so two schedulers, on one machine or two, never run
the same job at once, and a runner that crashed blocks the job only until its lease ends. Each call is one
short transaction, retried on a transient database error when nothing of it can have been committed
(:mod:`analytics.store.retry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy.exc import IntegrityError

from analytics.store.models import JobLock, JobRun
from analytics.store.retry import RetryPolicy, run_retrying
from analytics.store.uow import SqlAlchemyUnitOfWork

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
#: a run's message is cut to this many characters (a traceback's last line, a summary)
MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class ScheduledJob:
    """A job the product runs on a schedule (:mod:`bot.jobs` runs it)."""

    name: str
    #: the field of :class:`~analytics.core.settings.JobSettings` that holds its crontab schedule
    setting: str
    description: str


SCHEDULED_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("analytics-refresh", "analytics_refresh", "customers' scores, segments and tiers"),
    ScheduledJob("recommend-refresh", "recommend_refresh", "recommender and basket rules"),
    ScheduledJob("forecast", "forecast", "weekly demand forecasts"),
    ScheduledJob("nlu-triage", "nlu_triage", "messages the bot misunderstood, grouped"),
)


@dataclass(frozen=True)
class JobRunView:
    id: int
    job: str
    started_at: datetime
    finished_at: Optional[datetime]
    status: str
    message: Optional[str]
    runner: str

    @property
    def seconds(self) -> Optional[float]:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


def _view(run: JobRun) -> JobRunView:
    return JobRunView(run.id, run.job, run.started_at, run.finished_at, run.status, run.message, run.runner)


def claim(
    uow: SqlAlchemyUnitOfWork, job: str, holder: str, now: datetime, lease: timedelta, retry: RetryPolicy
) -> bool:
    """Take the lease of ``job`` for ``holder`` until ``now + lease``; ``False`` if another holder has it."""

    def take(uow: SqlAlchemyUnitOfWork) -> bool:
        with uow:
            uow.begin_write()
            lock = uow.jobs.lock_for_update(job)
            if lock is None:
                try:
                    uow.jobs.add_lock(JobLock(job=job, holder=holder, acquired_at=now, expires_at=now + lease))
                except IntegrityError:  # another runner inserted it first
                    return False
            elif lock.holder == holder or lock.expires_at <= now:
                lock.holder, lock.acquired_at, lock.expires_at = holder, now, now + lease
            else:
                return False
            uow.commit()
            return True

    return run_retrying(uow, take, retry)


def renew(uow: SqlAlchemyUnitOfWork, job: str, holder: str, now: datetime, lease: timedelta) -> bool:
    """Extend ``holder``'s lease of ``job`` to ``now + lease``; ``False`` if it no longer holds it."""
    with uow:
        uow.begin_write()
        lock = uow.jobs.lock_for_update(job)
        if lock is None or lock.holder != holder:
            return False
        lock.expires_at = now + lease
        uow.commit()
        return True


def release(uow: SqlAlchemyUnitOfWork, job: str, holder: str, retry: RetryPolicy) -> None:
    """Give the lease of ``job`` back (nothing happens if ``holder`` no longer has it)."""

    def drop(uow: SqlAlchemyUnitOfWork) -> None:
        with uow:
            uow.jobs.delete_lock(job, holder)
            uow.commit()

    run_retrying(uow, drop, retry)


def holder_of(uow: SqlAlchemyUnitOfWork, job: str, now: datetime) -> Optional[str]:
    """Who holds an unexpired lease of ``job``, if anyone."""
    with uow:
        lock = uow.jobs.lock_of(job)
        return lock.holder if lock is not None and lock.expires_at > now else None


def start_run(uow: SqlAlchemyUnitOfWork, job: str, runner: str, now: datetime) -> int:
    """Record that ``job`` started; the new run's id."""
    with uow:
        run = uow.jobs.add_run(JobRun(job=job, started_at=now, status=RUNNING, runner=runner))
        uow.commit()
        return run.id


def finish_run(uow: SqlAlchemyUnitOfWork, run_id: int, *, ok: bool, message: str, now: datetime) -> JobRunView:
    """Record how run ``run_id`` ended."""
    with uow:
        run = uow.jobs.get_run(run_id)
        if run is None:  # pragma: no cover - the row was written by start_run
            raise LookupError(f"no job run {run_id}")
        run.status = SUCCEEDED if ok else FAILED
        run.finished_at = now
        run.message = message[:MESSAGE_LIMIT]
        uow.commit()
        return _view(run)


def has_job_tables(uow: SqlAlchemyUnitOfWork) -> bool:
    """Whether the store holds the job log (``crm db upgrade`` creates it, migration 0009)."""
    with uow:
        return uow.jobs.exists()


def last_runs(uow: SqlAlchemyUnitOfWork) -> list[JobRunView]:
    """The newest run of every job that has run, by job name."""
    with uow:
        return [_view(run) for run in uow.jobs.last_runs()]
