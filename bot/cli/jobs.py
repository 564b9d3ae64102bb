"""``crm jobs``: the scheduled jobs (analytics and recommendation refresh, forecasts, NLU triage)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from analytics.core.errors import CRMError
from analytics.core.settings import Settings, get_settings
from bot.cli.common import console, err, fail

if TYPE_CHECKING:
    from analytics.store.bootstrap import Store
    from analytics.usecases.jobs import JobRunView

app = typer.Typer(help="Scheduled jobs: run them on their schedules, run one now, see how they last ended.")

NameArgument = Annotated[
    str, typer.Argument(help="analytics-refresh, recommend-refresh, forecast or nlu-triage.", show_default=False)
]


def _store(settings: Settings) -> Store:
    from analytics.store.bootstrap import open_store
    from analytics.usecases.jobs import has_job_tables
    from analytics.usecases.operations import StoreNotReady, checked_store

    try:
        store = checked_store(open_store(settings, batch=True))
    except StoreNotReady as exc:
        fail(str(exc))
    if not has_job_tables(store.unit_of_work()):
        fail("the store has no job log yet; run `crm db upgrade` first.")
    return store


@app.command("run")
def jobs_run() -> None:
    """Run every job on its schedule until stopped (one job at a time); the schedules are CRM_JOB_* crontab
    lines."""
    from bot.jobs import JobRunner, build_scheduler, triggers
    from bot.logging_setup import configure_json_logging

    settings = get_settings()
    try:
        schedule = triggers(settings.jobs)
    except CRMError as exc:
        fail(str(exc))
    if not schedule:
        fail("every job's schedule is empty (CRM_JOB_*): there is nothing to run.")
    runner = JobRunner(settings, _store(settings))
    scheduler = build_scheduler(runner, schedule)
    now = datetime.now(schedule[next(iter(schedule))].timezone)
    for name, trigger in schedule.items():
        err.print(f"{name}: next run {trigger.get_next_fire_time(None, now):%Y-%m-%d %H:%M %Z}")
    configure_json_logging()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop quietly (a running job finishes first)
        scheduler.start()


@app.command("run-once")
def jobs_run_once(name: NameArgument) -> None:
    """Run one job now, under the same lock as the scheduler's; exit status 1 if it failed."""
    from bot.jobs import JobRunner

    settings = get_settings()
    runner = JobRunner(settings, _store(settings))
    try:
        runner.job(name)
        err.print(f"running {name}…")
        run = runner.run(name)
    except CRMError as exc:
        fail(str(exc))
    console.print(f"{name} {run.status} in {run.seconds or 0:.1f} s: {run.message}", highlight=False)
    if run.status != "succeeded":
        raise typer.Exit(code=1)


@app.command("status")
def jobs_status() -> None:
    """The last run of every job, its outcome and message, and its next scheduled run."""
    from analytics.core.clock import utc_now
    from analytics.usecases.jobs import holder_of, last_runs
    from bot.jobs import JOBS, schedule_variable, triggers

    settings = get_settings()
    store = _store(settings)
    try:
        schedule = triggers(settings.jobs)
    except CRMError as exc:
        schedule = {}
        err.print(f"[yellow]warning:[/] {exc}", highlight=False)
    runs = {run.job: run for run in last_runs(store.unit_of_work())}
    table = Table(title="Scheduled jobs (times in UTC)")
    for column in ("job", "schedule", "next run", "last run", "outcome", "took", "message"):
        table.add_column(column, overflow="fold")
    for job in JOBS.values():
        run: Optional[JobRunView] = runs.get(job.name)
        trigger = schedule.get(job.name)
        running = holder_of(store.unit_of_work(), job.name, utc_now())
        table.add_row(
            job.name,
            str(getattr(settings.jobs, job.setting)) or f"off ({schedule_variable(job)})",
            f"{trigger.get_next_fire_time(None, datetime.now(trigger.timezone)):%Y-%m-%d %H:%M %Z}" if trigger else "–",
            f"{run.started_at:%Y-%m-%d %H:%M:%S}" if run else "never",
            f"running on {running}" if running else (run.status if run else "–"),
            f"{run.seconds:.1f} s" if run and run.seconds is not None else "–",
            (run.message or "") if run else "",
        )
    console.print(table)
