"""Scheduled jobs: every run is recorded with its times, outcome and message; one job never runs twice at once;
a schedule that cannot be read stops the scheduler at start-up with a message that says what to write."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics.core.errors import InvalidInput
from analytics.core.settings import DatabaseSettings, JobSettings, Settings, get_settings
from analytics.store.bootstrap import Store, store_for_url
from analytics.usecases import jobs as job_log
from analytics.usecases.jobs import JobRunView
from bot.cli.app import app
from bot.jobs import JOBS, Job, JobBusy, JobRunner, build_scheduler, triggers
from tests.conftest import postgres_schema_engine

T0 = datetime(2026, 12, 7, 2, 30)
FAST_DB = DatabaseSettings().model_copy(update={"retry_backoff_seconds": 0.0})


class Clock:
    """A clock that moves on by ``step`` each time it is read."""

    def __init__(self, start: datetime = T0, step: timedelta = timedelta(seconds=1)) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


def _ok(settings: Settings, store: Store) -> str:
    return "scored 3 customers"


def _boom(settings: Settings, store: Store) -> str:
    raise RuntimeError("disk full")


started, finish = threading.Event(), threading.Event()


def _slow(settings: Settings, store: Store) -> str:
    started.set()
    assert finish.wait(30), "the test never let the job finish"
    return "done"


TEST_JOBS = {
    "ok": Job("ok", "analytics_refresh", _ok, "succeeds"),
    "boom": Job("boom", "forecast", _boom, "fails"),
    "slow": Job("slow", "nlu_triage", _slow, "runs until told to finish"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on each engine (PostgreSQL: a schema of its own in the test run's database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    else:
        request.applymarker(pytest.mark.postgres)
        engine, _schema = postgres_schema_engine(request.getfixturevalue("postgres_database"))
        url = engine.url.render_as_string(hide_password=False)
        engine.dispose()
    store = store_for_url(url, db=FAST_DB)
    store.upgrade()
    yield store
    store.engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(CRM_VAR_DIR=tmp_path)


def runner(settings: Settings, store: Store, name: str = "host:1", clock: Clock | None = None) -> JobRunner:
    return JobRunner(settings, store, clock=clock or Clock(), runner_id=name, jobs=TEST_JOBS)


def last(store: Store) -> dict[str, JobRunView]:
    return {run.job: run for run in job_log.last_runs(store.unit_of_work())}


def test_a_successful_run_is_recorded_with_its_times_and_summary(settings: Settings, store: Store) -> None:
    run = runner(settings, store).run("ok")

    recorded = last(store)["ok"]
    assert recorded == run
    assert (recorded.status, recorded.message, recorded.runner) == ("succeeded", "scored 3 customers", "host:1")
    assert recorded.started_at >= T0 and recorded.finished_at is not None
    assert recorded.finished_at > recorded.started_at


def test_a_failed_run_is_recorded_with_the_error_and_does_not_stop_the_runner(settings: Settings, store: Store) -> None:
    jobs = runner(settings, store)

    failed = jobs.run("boom")
    succeeded = jobs.run("ok")

    assert (failed.status, failed.message) == ("failed", "RuntimeError: disk full")
    assert failed.finished_at is not None
    assert succeeded.status == "succeeded"
    assert {name: run.status for name, run in last(store).items()} == {"boom": "failed", "ok": "succeeded"}


def test_a_second_run_of_a_job_that_is_running_is_refused(settings: Settings, store: Store) -> None:
    started.clear()
    finish.clear()
    first = threading.Thread(target=runner(settings, store, "host-a:1").run, args=("slow",))
    first.start()
    try:
        assert started.wait(30)
        with pytest.raises(JobBusy, match="already running by host-a:1"):
            runner(settings, store, "host-b:2").run("slow")
        other_job = runner(settings, store, "host-b:2").run("ok")  # other jobs are not blocked
    finally:
        finish.set()
        first.join(30)

    assert other_job.status == "succeeded"
    assert last(store)["slow"].runner == "host-a:1"
    assert runner(settings, store, "host-b:2").run("slow").status == "succeeded"  # free again once it ended


def test_of_two_runners_claiming_a_free_job_at_the_same_moment_exactly_one_gets_it(store: Store) -> None:
    lease = timedelta(minutes=5)
    for round_ in range(5):
        job = f"race-{round_}"
        start = threading.Barrier(2)
        won: list[str] = []

        def claim(holder: str, job: str = job, start: threading.Barrier = start, won: list[str] = won) -> None:
            start.wait()
            if job_log.claim(store.unit_of_work(), job, holder, T0, lease, store.retry):
                won.append(holder)

        threads = [threading.Thread(target=claim, args=(holder,)) for holder in ("host-a:1", "host-b:2")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(won) == 1, f"round {round_}: {won}"
        assert job_log.holder_of(store.unit_of_work(), job, T0) == won[0]


def test_the_lease_of_a_runner_that_died_lapses(settings: Settings, store: Store) -> None:
    lease = timedelta(seconds=settings.jobs.lease_seconds)
    assert job_log.claim(store.unit_of_work(), "slow", "crashed:9", T0, lease, store.retry)  # never released

    with pytest.raises(JobBusy):
        runner(settings, store, "host-b:2", Clock(T0 + lease / 2)).run("slow")
    finish.set()
    run = runner(settings, store, "host-b:2", Clock(T0 + lease + timedelta(seconds=1))).run("slow")

    assert (run.status, run.runner) == ("succeeded", "host-b:2")


def test_a_bad_schedule_is_refused_with_the_variable_and_an_example() -> None:
    bad = JobSettings(CRM_JOB_FORECAST="61 * * * *")

    with pytest.raises(InvalidInput, match=r"CRM_JOB_FORECAST='61 \* \* \* \*' is not a crontab schedule") as caught:
        triggers(bad)
    assert "'30 2 * * *'" in str(caught.value)
    with pytest.raises(InvalidInput, match="CRM_JOBS_TIMEZONE='Mars/Base' is not a time zone"):
        triggers(JobSettings(CRM_JOBS_TIMEZONE="Mars/Base"))


def test_the_default_schedules_run_nightly_refreshes_and_an_hourly_triage() -> None:
    schedule = triggers(JobSettings())
    after = datetime(2026, 12, 7, 12, 0, tzinfo=schedule["nlu-triage"].timezone)

    assert set(schedule) == set(JOBS)
    assert schedule["nlu-triage"].get_next_fire_time(None, after) == after.replace(minute=15)
    assert schedule["analytics-refresh"].get_next_fire_time(None, after) == after.replace(day=8, hour=2, minute=30)


def test_an_empty_schedule_turns_its_job_off_and_the_scheduler_holds_the_others(
    settings: Settings, store: Store
) -> None:
    schedule = triggers(JobSettings(CRM_JOB_FORECAST=""))
    scheduler = build_scheduler(JobRunner(settings, store), schedule)

    assert sorted(job.id for job in scheduler.get_jobs()) == ["analytics-refresh", "nlu-triage", "recommend-refresh"]


def test_crm_jobs_run_stops_at_start_up_on_a_bad_schedule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("CRM_JOB_ANALYTICS_REFRESH", "every night")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["jobs", "run"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 2
    assert "CRM_JOB_ANALYTICS_REFRESH='every night' is not a crontab schedule" in result.output
    assert "Traceback" not in result.output


def test_crm_jobs_status_prints_the_last_run_of_each_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    store = store_for_url(url, db=FAST_DB)
    store.upgrade()
    run_id = job_log.start_run(store.unit_of_work(), "forecast", "host:1", T0)
    job_log.finish_run(store.unit_of_work(), run_id, ok=False, message="no sales yet", now=T0 + timedelta(seconds=3))
    store.engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["jobs", "status"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    forecast = next(line for line in result.output.splitlines() if "forecast" in line)
    assert "2026-12-07 02:30:00" in forecast and "failed" in forecast and "no sales yet" in forecast
    assert "never" in next(line for line in result.output.splitlines() if "nlu-triage" in line)
