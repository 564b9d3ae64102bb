"""Scheduled jobs: the analytics refresh, the recommendation refresh, the demand forecasts and the NLU triage,
run on crontab schedules from the settings by one long-running process (``crm jobs run``).

One job runs at a time in a process (a single worker thread; a run that comes due while another runs waits,
and missed runs of one job collapse into one). Across processes a lease in the store
(:mod:`analytics.usecases.jobs`) keeps two schedulers from running the same job at once: the second is
refused with :class:`JobBusy`. Every run's start, end, outcome and message is recorded in the store, where
``crm jobs status`` and the agent console read it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from analytics.core.clock import utc_now
from analytics.core.errors import CRMError, InvalidInput
from analytics.core.settings import JobSettings, Settings
from analytics.store.bootstrap import Store
from analytics.usecases import jobs as job_log
from analytics.usecases.jobs import SCHEDULED_JOBS, JobRunView

log = logging.getLogger(__name__)

#: a job's body: the settings and a unit-of-work factory in, a one-line summary of what it did out
JobBody = Callable[[Settings, Store], str]


@dataclass(frozen=True)
class Job:
    name: str
    #: the field of :class:`~analytics.core.settings.JobSettings` that holds its schedule
    setting: str
    body: JobBody
    description: str


class JobBusy(CRMError):
    """Another runner holds the job's lease: it is running there now."""

    def __init__(self, job: str, holder: Optional[str]) -> None:
        where = f" by {holder}" if holder else ""
        super().__init__(f"job {job} is already running{where}; this run was refused.")
        self.job = job
        self.holder = holder


def _analytics_refresh(settings: Settings, store: Store) -> str:
    from analytics.customers.refresh import refresh_scores

    result = refresh_scores(store.unit_of_work())
    return (
        f"scored {len(result.scores):,} customers as of {result.reference_date:%Y-%m-%d} "
        f"in {result.seconds.get('total', 0):.1f} s"
    )


def _recommend_refresh(settings: Settings, store: Store) -> str:
    from analytics.recommend.serving import refresh_models
    from analytics.store.artifacts import ArtifactStore

    info = refresh_models(store.unit_of_work(), ArtifactStore(settings.artifacts_dir, keep=5))
    sequences = info["next_purchase"]
    if "skipped" in sequences:
        next_purchase = f"; next-purchase rules not refreshed: {sequences['skipped']}"
    else:
        next_purchase = f"; next-purchase rules {sequences['version']} ({sequences['rules']:,} rules)"
    return (
        f"recommender {info['recommender']} and basket rules {info['basket']} ({info['rules']:,} rules) "
        f"published in {info['seconds']['total']:.1f} s{next_purchase}"
    )


def _forecast(settings: Settings, store: Store) -> str:
    from analytics.forecast.demand import run_demand_forecast

    result = run_demand_forecast(store.unit_of_work(), freq="W")
    return (
        f"forecast run {result.run_id}: {result.n_series:,} weekly series, {result.horizon} weeks ahead, history "
        f"to {result.history_end:%Y-%m-%d}, in {result.seconds.get('total', 0):.1f} s"
    )


def _nlu_triage(settings: Settings, store: Store) -> str:
    from analytics.core.settings import PROJECT_ROOT
    from bot.ops.masking import Names
    from bot.ops.project import Project
    from bot.ops.triage import TriageOptions, parse_since, triage_tracker_store
    from bot.ops.triage_file import write_triage

    project = Project(PROJECT_ROOT)
    url = project.tracker_store_url(explicit=settings.ops.tracker_store_url)
    names = Names.from_store(store.unit_of_work(), settings.ops.names_file).names
    report = triage_tracker_store(url, TriageOptions(since=parse_since("1d"), names=names))
    # not triage.yml, which an operator may be labelling: the scheduled one only proposes
    out = write_triage(report, project.var / "nlu" / "triage-scheduled.yml")
    return (
        f"{report.flagged:,} of {report.user_messages:,} customer messages of the last day misunderstood, in "
        f"{len(report.groups):,} groups; wrote {out}"
    )


_BODIES: Mapping[str, JobBody] = {
    "analytics-refresh": _analytics_refresh,
    "recommend-refresh": _recommend_refresh,
    "forecast": _forecast,
    "nlu-triage": _nlu_triage,
}
#: every scheduled job (:data:`analytics.usecases.jobs.SCHEDULED_JOBS`) with what it runs
JOBS: Mapping[str, Job] = {
    job.name: Job(job.name, job.setting, _BODIES[job.name], job.description) for job in SCHEDULED_JOBS
}


def schedule_variable(job: Job) -> str:
    """The environment variable of ``job``'s schedule (``CRM_JOB_...``)."""
    alias = JobSettings.model_fields[job.setting].validation_alias
    return str(alias or job.setting)


def triggers(settings: JobSettings, jobs: Mapping[str, Job] = JOBS) -> dict[str, CronTrigger]:
    """The schedule of every job that has one (an empty schedule turns a job off).

    Raises
    ------
    InvalidInput
        A time zone or a schedule that cannot be read; the message names the variable and says what to write.
    """
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"CRM_JOBS_TIMEZONE={settings.timezone!r} is not a time zone name (e.g. UTC, Europe/London)."
        ) from exc
    found: dict[str, CronTrigger] = {}
    for job in jobs.values():
        schedule = str(getattr(settings, job.setting)).strip()
        if not schedule:
            continue
        try:
            found[job.name] = CronTrigger.from_crontab(schedule, timezone=zone)
        except ValueError as exc:
            raise InvalidInput(
                f"{schedule_variable(job)}={schedule!r} is not a crontab schedule: {exc}. Write five fields, "
                "minute hour day-of-month month day-of-week (e.g. '30 2 * * *' for 02:30 every day), "
                "or nothing to turn the job off."
            ) from exc
    return found


def default_runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobRunner:
    """Runs a job under its lease and records the run; the same for the scheduler and ``crm jobs run-once``."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime] = utc_now
    runner_id: str = field(default_factory=default_runner_id)
    jobs: Mapping[str, Job] = field(default_factory=lambda: JOBS)

    def job(self, name: str) -> Job:
        if name not in self.jobs:
            raise InvalidInput(f"no job named {name!r}; the jobs are {', '.join(self.jobs)}.")
        return self.jobs[name]

    def run(self, name: str) -> JobRunView:
        """Run job ``name`` now and return its recorded run (failed, with the error's message, if it raised).

        Raises
        ------
        JobBusy
            Another runner holds the job's lease.
        InvalidInput
            No such job.
        """
        job = self.job(name)
        lease = timedelta(seconds=self.settings.jobs.lease_seconds)
        retry = self.store.retry
        if not job_log.claim(self.store.unit_of_work(), name, self.runner_id, self.clock(), lease, retry):
            raise JobBusy(name, job_log.holder_of(self.store.unit_of_work(), name, self.clock()))
        try:
            run_id = job_log.start_run(self.store.unit_of_work(), name, self.runner_id, self.clock())
            log.info("job %s started (run %d)", name, run_id)
            with _Heartbeat(self, name, lease):
                try:
                    message, ok = job.body(self.settings, self.store), True
                except CRMError as exc:  # a refusal that says what to do (no data yet ...): no traceback
                    message, ok = str(exc), False
                except Exception as exc:  # recorded and reported; the scheduler goes on with the next run
                    log.exception("job %s failed", name)
                    message, ok = f"{type(exc).__name__}: {exc}", False
            run = job_log.finish_run(self.store.unit_of_work(), run_id, ok=ok, message=message, now=self.clock())
            log.log(logging.INFO if ok else logging.WARNING, "job %s %s: %s", name, run.status, message)
            return run
        finally:
            job_log.release(self.store.unit_of_work(), name, self.runner_id, retry)

    def run_scheduled(self, name: str) -> None:
        """What the scheduler calls: :meth:`run`, with every outcome logged rather than raised."""
        try:
            self.run(name)
        except JobBusy as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("job %s could not be started or recorded", name)


class _Heartbeat:
    """Renews a running job's lease every third of it, so a long job keeps it and a crashed one loses it."""

    def __init__(self, runner: JobRunner, job: str, lease: timedelta) -> None:
        self.runner, self.job, self.lease = runner, job, lease
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"lease-{job}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        runner = self.runner
        while not self.stopped.wait(self.lease.total_seconds() / 3):
            try:
                uow = runner.store.unit_of_work()
                held = job_log.renew(uow, self.job, runner.runner_id, runner.clock(), self.lease)
            except Exception as exc:
                log.warning("could not renew the lease of job %s: %s", self.job, exc)
                continue
            if not held:
                log.warning("job %s lost its lease; another runner may start it", self.job)


def build_scheduler(runner: JobRunner, schedule: Mapping[str, CronTrigger]) -> BlockingScheduler:
    """A scheduler that runs each job on its trigger, one job at a time (one worker thread); a run that comes
    due while the job is still running, or several missed ones, run once."""
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=ZoneInfo(runner.settings.jobs.timezone),
    )
    for name, trigger in schedule.items():
        scheduler.add_job(runner.run_scheduled, trigger, args=[name], id=name, name=name)
    return scheduler
