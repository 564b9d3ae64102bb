"""``crm``: the operator command line, assembled from one module per command group.

    crm db upgrade                       create or migrate the store
    crm import retail FILE [--shift-to-now]
    crm seed                             migrate + load the shipped sample if the store is empty
    crm sample build SOURCE              rebuild the shipped sample from the full file
    crm order 536365                     show one order as the bot sees it
    crm serve                            start the action server, the Rasa server and the web app
    crm jobs run | run-once NAME | status  scheduled refreshes, forecasts and NLU triage

Errors print one line that says what to fix and exit with status 2.
"""

from __future__ import annotations

import typer

from bot.cli import (
    analytics,
    chat,
    data,
    db,
    forecast,
    jobs,
    nlu,
    offers,
    orders,
    privacy,
    recommend,
    serve,
    support,
    users,
)

app = typer.Typer(
    help="Shop assistant: store, data and servers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(data.import_app, name="import")
app.add_typer(data.sample_app, name="sample")
app.add_typer(analytics.app, name="analytics")
app.add_typer(offers.app, name="offers")
app.add_typer(recommend.app, name="recommend")
app.add_typer(forecast.app, name="forecast")
app.add_typer(users.app, name="users")
app.add_typer(support.app, name="support")
app.add_typer(nlu.app, name="nlu")
app.add_typer(privacy.app, name="privacy")
app.add_typer(jobs.app, name="jobs")
app.command()(data.seed)
app.command()(orders.order)
app.command()(serve.serve)
app.command()(chat.chat)
