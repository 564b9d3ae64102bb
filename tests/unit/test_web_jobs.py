"""The console's jobs panel: operators see each scheduled job's last run; agents do not."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from analytics.store.retry import RetryPolicy
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import jobs as job_log
from tests.unit.test_web_app import NOW, client, log_in, rasa, settings, store  # noqa: F401 - fixtures


def test_operators_see_the_last_run_of_each_job(client: TestClient, store: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    run_id = job_log.start_run(store, "analytics-refresh", "host:1", NOW - timedelta(hours=2))
    job_log.finish_run(store, run_id, ok=False, message="the store holds no orders", now=NOW - timedelta(hours=1))
    log_in(client, "olivia")

    answer = client.get("/api/console/jobs").json()
    page = client.get("/console").text

    jobs = {job["name"]: job for job in answer["jobs"]}
    assert jobs["analytics-refresh"]["last_run"] == {
        "started_at": "2026-11-24T10:00:00Z",
        "finished_at": "2026-11-24T11:00:00Z",
        "status": "failed",
        "message": "the store holds no orders",
        "runner": "host:1",
    }
    assert jobs["nlu-triage"]["last_run"] is None and jobs["nlu-triage"]["schedule"] == "15 * * * *"
    assert 'id="jobs-list"' in page and "console-jobs.js" in page


def test_a_running_job_shows_where_it_runs(client: TestClient, store: SqlAlchemyUnitOfWork) -> None:  # noqa: F811
    assert job_log.claim(store, "forecast", "host:7", NOW, timedelta(minutes=5), RetryPolicy(retries=0))
    log_in(client, "olivia")

    jobs = {job["name"]: job for job in client.get("/api/console/jobs").json()["jobs"]}

    assert jobs["forecast"]["running_on"] == "host:7"


def test_agents_do_not_see_the_jobs(client: TestClient) -> None:  # noqa: F811
    log_in(client, "alice")

    assert client.get("/api/console/jobs").status_code == 403
    assert 'id="jobs-list"' not in client.get("/console").text
