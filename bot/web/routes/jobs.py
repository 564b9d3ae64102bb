"""The scheduled jobs' last runs, for the console's jobs panel (operators only; ``crm jobs run`` runs them)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter
from pydantic import BaseModel

from analytics.usecases import jobs as job_log
from bot.web.context import Operator, WebContext
from bot.web.schemas import Time, refusals, to_json


class JobRunOut(BaseModel):
    started_at: Time
    finished_at: Optional[Time]
    status: str
    message: Optional[str]
    runner: str


class JobOut(BaseModel):
    name: str
    description: str
    #: the crontab line ("" when the job is off)
    schedule: str
    #: who runs it now, if anyone
    running_on: Optional[str]
    last_run: Optional[JobRunOut]


class JobsAnswer(BaseModel):
    now: Time
    #: false until `crm db upgrade` has created the job log
    recorded: bool
    jobs: list[JobOut]


def router(web: WebContext) -> APIRouter:
    """The jobs panel's route of the app ``web`` belongs to."""
    routes = APIRouter(responses=refusals(401, 403))

    @routes.get("/api/console/jobs", response_model=JobsAnswer)
    def jobs(user: Operator) -> dict[str, Any]:
        """Every scheduled job with its schedule and its last run's times, outcome and message."""
        now = web.clock()
        recorded = job_log.has_job_tables(web.new_uow())
        runs = {run.job: run for run in job_log.last_runs(web.new_uow())} if recorded else {}
        answer = []
        for job in job_log.SCHEDULED_JOBS:
            run = runs.get(job.name)
            answer.append(
                {
                    "name": job.name,
                    "description": job.description,
                    "schedule": str(getattr(web.settings.jobs, job.setting)).strip(),
                    "running_on": job_log.holder_of(web.new_uow(), job.name, now) if recorded else None,
                    "last_run": to_json(run),
                }
            )
        return {"now": to_json(now), "recorded": recorded, "jobs": answer}

    return routes
