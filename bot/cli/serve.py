"""``crm serve``: the action server, the Rasa server and the web app, supervised (:mod:`bot.supervise`).

``crm serve --production``: the production profile (:mod:`bot.production`): PostgreSQL, Redis,
several Rasa processes and action-server processes, behind the nginx gateway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from analytics.core.settings import PROJECT_ROOT, get_settings
from bot.cli.common import fail
from bot.ops.project import Project


def serve(
    rasa_port: Annotated[int, typer.Option(help="Rasa's port (production: the first of its processes').")] = 5005,
    actions_port: Annotated[
        int,
        typer.Option(
            help="The action server's port (production: the gateway's, Rasa calls; its processes take the next ones)."
        ),
    ] = 5055,
    web_port: int = 8000,
    model: Annotated[Optional[Path], typer.Option(help="Model file; default: newest in models/.")] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="PostgreSQL and Redis, several Rasa processes and action-server processes behind the nginx gateway "
            "(CRM_PROD_* settings; README 'Operating it').",
        ),
    ] = False,
) -> None:
    """Start the action server, the Rasa server and the web app under supervisord; Ctrl-C stops them all."""
    from bot.launch import ServeError, newest_model
    from bot.ops.registry import live_model_file
    from bot.supervise import run_forever

    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError: a CRM_* variable that cannot be read
        fail(str(exc))
    try:
        if production:
            from bot.production import Ports, run_production

            store = settings.production.database_url
            ports = Ports.counting_from(
                rasa_port,
                settings.production.rasa_processes,
                actions=actions_port,
                web=web_port,
                action_processes=settings.production.action_processes,
            )
            model = model or live_model_file(Project(PROJECT_ROOT), store) or newest_model()
            run_production(settings, model=model, ports=ports)
            return
        # the registry's live model, so a rollback survives a restart; else the newest file
        model = model or live_model_file(Project(PROJECT_ROOT), settings.database_url) or newest_model()
        run_forever(settings, rasa_port=rasa_port, actions_port=actions_port, web_port=web_port, model=model)
    except ServeError as exc:
        fail(str(exc))
