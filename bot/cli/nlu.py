"""``crm nlu``: retrain the NLU from real conversations, gated, hot-swapped (:mod:`bot.ops`)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional
from urllib.parse import urlsplit

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from analytics.core.errors import CRMError
from analytics.core.settings import PROJECT_ROOT, get_settings
from bot.cli.common import console, err, fail, open_uow
from bot.ops.project import Project, current_operator, project_of

if TYPE_CHECKING:
    from analytics.store.uow import SqlAlchemyUnitOfWork

app = typer.Typer(
    help="Triage what the bot misunderstood, annotate, train, gate, publish without a restart, roll back.",
    no_args_is_help=True,
)
OperatorOption = Annotated[Optional[str], typer.Option(help="Who is acting (default: the OS user); logged.")]


@app.callback()
def nlu_main(
    ctx: typer.Context,
    project: Annotated[
        Optional[Path], typer.Option(help="The Rasa project folder (default: this repository).", hidden=True)
    ] = None,
) -> None:
    """The NLU loop on this project (or another folder with the same layout, for tests)."""
    ctx.obj = Project((project or PROJECT_ROOT).resolve())


@app.command("triage")
def nlu_triage(
    ctx: typer.Context,
    out: Annotated[
        Optional[Path], typer.Option(help="The annotation file to write (default: var/nlu/triage.yml, not versioned).")
    ] = None,
    since: Annotated[Optional[str], typer.Option(help="Only messages since: 7d, 12h, 30m or an ISO date.")] = None,
    min_confidence: Annotated[float, typer.Option(help="Messages below this intent confidence.")] = 0.6,
    similarity: Annotated[float, typer.Option(help="Cosine similarity that puts two messages in one group.")] = 0.5,
    rephrase_seconds: Annotated[float, typer.Option(help="A message this soon after a misunderstood one.")] = 120.0,
    handoff_seconds: Annotated[float, typer.Option(help="Misunderstood this long before a handoff.")] = 300.0,
    tracker_store: Annotated[
        Optional[str], typer.Option(help="SQLAlchemy URL of the tracker store (default: from endpoints.yml).")
    ] = None,
    names_file: Annotated[Optional[Path], typer.Option(help="More names to mask, one per line.")] = None,
) -> None:
    """List the customer messages the bot misunderstood, grouped by similarity, into an annotation file."""
    from bot.ops.console import triage_table
    from bot.ops.triage import TriageOptions, parse_since, triage_tracker_store
    from bot.ops.triage_file import write_triage

    project = project_of(ctx.obj)
    ops = get_settings().ops
    try:
        url = project.tracker_store_url(explicit=tracker_store or ops.tracker_store_url)
        names = _nlu_names(names_file or ops.names_file)
        options = TriageOptions(
            min_confidence=min_confidence,
            since=parse_since(since),
            rephrase_seconds=rephrase_seconds,
            handoff_seconds=handoff_seconds,
            similarity=similarity,
            names=names,
        )
        report = triage_tracker_store(url, options)
    except CRMError as exc:
        fail(str(exc))
    out = out or project.var / "nlu" / "triage.yml"
    write_triage(report, out)
    console.print(triage_table(report))
    console.print(f"wrote {out}: label the groups there, then `crm nlu annotate {out}`")


def _nlu_uow() -> SqlAlchemyUnitOfWork:
    """The store, checked to hold the model registry (migration 0005)."""
    from analytics.usecases.operations import has_registry

    uow = open_uow(get_settings())
    if not has_registry(uow):
        fail("the store has no model registry yet; run `crm db upgrade` first.")
    return uow


def _nlu_names(names_file: Optional[Path]) -> tuple[str, ...]:
    """Customers' names from the store (if there is one) and the names file, for masking."""
    from analytics.store.bootstrap import store_for_url
    from analytics.usecases.operations import StoreUnreachable, StoreWithoutSchema, checked_store
    from bot.ops.masking import Names

    try:
        store = checked_store(store_for_url(get_settings().database_url))
        return Names.from_store(store.unit_of_work(), names_file).names
    except StoreWithoutSchema:
        pass
    except StoreUnreachable:
        err.print(
            "[yellow]warning:[/] the store is unreachable: customers' names are not masked, only the names file's"
        )
    return Names.load(names_file=names_file).names


@app.command("annotate")
def nlu_annotate(
    ctx: typer.Context,
    triage_file: Annotated[Path, typer.Argument(help="The file `crm nlu triage` wrote.")],
    labels: Annotated[
        Optional[Path],
        typer.Option(help="Labels without prompts: {groups: {1: intent}, examples: {event_id: intent}}."),
    ] = None,
    interactive: Annotated[bool, typer.Option(help="Ask for the labels of unlabelled groups.")] = True,
    names_file: Annotated[Optional[Path], typer.Option(help="More names to mask, one per line.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Merge labelled messages into data/nlu/from_conversations.yml (masked, no duplicates, with their source)."""
    from analytics.usecases import operations
    from bot.ops import annotate
    from bot.ops.triage_file import read_triage, write_labels_into

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()  # before anything is written: the merge is logged there
    try:
        doc = read_triage(triage_file)
        if labels is not None:
            doc = annotate.apply_labels_file(doc, labels)
        intents = project.intents()
        if labels is None and interactive and sys.stdin.isatty():
            doc = annotate.label_interactively(
                doc,
                intents,
                ask=lambda prompt: console.input(prompt),
                say=lambda line: console.print(line, highlight=False),
                save=lambda d: write_labels_into(d, triage_file),
            )
        found, problems = annotate.labelled_examples(doc, intents)
        if problems:
            fail("; ".join(problems) + ". `crm nlu annotate` lists the intents at its prompt (?).")
        result = annotate.merge_labels(
            project, found, operator=who, names=_nlu_names(names_file or get_settings().ops.names_file)
        )
    except CRMError as exc:
        fail(str(exc))
    for text, why in result.skipped:
        console.print(f"  skipped {text!r}: {why}", highlight=False)
    added = ", ".join(f"{intent} {n}" for intent, n in sorted(result.by_intent.items())) or "nothing"
    where = project.relative(result.path)
    console.print(f"added {len(result.added)} example(s) to {where} ({added}); {result.total} there in all")
    if result.added:
        operations.record(
            uow,
            "annotate",
            operator=who,
            detail={"added": len(result.added), "skipped": len(result.skipped), "by_intent": result.by_intent,
                    "triage_file": triage_file.name},
        )  # fmt: skip
        console.print("next: `crm nlu train`")


@app.command("train")
def nlu_train(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(help="Pipeline to train with (default: config.yml).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Model name (default: nlu-<UTC time>).")] = None,
    operator: OperatorOption = None,
) -> None:
    """`rasa data validate`, then `rasa train` with progress; the model is registered as a candidate."""
    from bot.ops import registry
    from bot.ops.train import train_model

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()
    with Progress(
        SpinnerColumn(), TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("starting Rasa", total=None)
        try:
            trained = train_model(
                project,
                config=config,
                name=name,
                progress=lambda what, done, total: bar.update(task, description=what, completed=done or 0, total=total),
            )
        except CRMError as exc:
            fail(str(exc))
    info = registry.register_model(
        uow, project, trained.path, operator=who, data_hash=trained.data_hash, config=trained.config, trained=True,
        detail={"seconds": trained.seconds},
    )  # fmt: skip
    console.print(
        f"trained {info.name} in {trained.seconds:.0f} s: {project.relative(trained.path)} "
        f"(data hash {(info.data_hash or '?')[:12]})"
    )
    console.print(f"next: `crm nlu evaluate {info.name}`, then `crm nlu publish {info.name}`")


@app.command("evaluate")
def nlu_evaluate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="Model name or file.")],
    against: Annotated[str, typer.Option(help="`current` (the live model), another model, or `none`.")] = "current",
    fresh: Annotated[bool, typer.Option(help="Evaluate again even if the test sets did not change.")] = False,
    operator: OperatorOption = None,
) -> None:
    """Per-intent precision/recall/F1 and the confusion matrix on the held-out set; conversation tests; the verdict."""
    from analytics.usecases import operations
    from bot.ops import publish
    from bot.ops.console import comparison_table, decision_lines
    from bot.ops.gate import decide

    project = project_of(ctx.obj)
    who = current_operator(operator)
    uow = _nlu_uow()
    say = lambda line: err.print(line, highlight=False)  # noqa: E731
    try:
        model = publish.resolve_model(uow, project, candidate, operator=who)
        other = None
        if against == "current":
            other = operations.live_model(uow)
        elif against != "none":
            other = publish.resolve_model(uow, project, against, operator=who)
        model, cand_eval = publish.ensure_evaluation(uow, project, model, operator=who, say=say, fresh=fresh)
        other_eval = None
        if other is not None and other.id != model.id:
            other, other_eval = publish.ensure_evaluation(uow, project, other, operator=who, say=say, fresh=fresh)
    except CRMError as exc:
        fail(str(exc))
    console.print(comparison_table(model.name, cand_eval, other.name if other_eval and other else None, other_eval))
    console.print(
        f"held-out: {cand_eval.examples} messages, accuracy {cand_eval.accuracy:.3f}; the assistant would not "
        f"understand (nlu_fallback) {cand_eval.fallbacks} of them"
    )
    conv = cand_eval.conversations
    console.print(f"conversation tests: {f'{conv.passed}/{conv.total} pass' if conv.ran else 'skipped: ' + conv.note}")
    for story in conv.failed:
        console.print(f"  [red]✗[/] {story}", highlight=False)
    console.print(f"confusion matrix: {cand_eval.confusion_png}; reports: {cand_eval.report_dir}")
    for line in decision_lines(decide(cand_eval, other_eval, max_drop=get_settings().ops.max_macro_f1_drop)):
        console.print(line, highlight=False)


@app.command("publish")
def nlu_publish(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Argument(help="Model name or file.")],
    force: Annotated[bool, typer.Option(help="Publish even if the gate refuses (needs --reason; logged).")] = False,
    reason: Annotated[Optional[str], typer.Option(help="Why (required with --force); logged.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Gate the candidate against the live model, then load it into the running servers without a restart."""
    from bot.ops.admin import SwitchClient, admin_token
    from bot.ops.console import decision_lines
    from bot.ops.publish import PublishRefused, publish_model

    project = project_of(ctx.obj)
    ops = get_settings().ops
    try:
        switch = SwitchClient(ops.admin_url, admin_token(get_settings()))
        outcome = publish_model(
            _nlu_uow(), project, candidate, operator=current_operator(operator),
            max_drop=ops.max_macro_f1_drop, switch=switch, force=force, reason=reason,
            say=lambda line: err.print(line, highlight=False),
        )  # fmt: skip
    except PublishRefused as exc:
        for line in decision_lines(exc.decision):
            err.print(line, highlight=False)
        fail(f'{exc} (override: --force --reason "...", which is logged)')
    except CRMError as exc:
        fail(str(exc))
    for line in decision_lines(outcome.decision):
        console.print(line, highlight=False)
    if outcome.forced:
        console.print(f"[bold red]published past the gate[/] by {outcome.model.published_by}: {reason}")
    if outcome.swap:
        swap = outcome.swap
        console.print(
            f"{outcome.model.name} is live: loaded in {swap['load_seconds']:.1f} s, warmed up in "
            f"{swap['warmup_seconds']:.1f} s, switched at {swap['switched_at']}; old server drained in "
            f"{swap.get('drain_seconds') or 0:.1f} s"
        )
    else:
        console.print(f"{outcome.model.name} is live in the registry; no switchboard answers at {ops.admin_url}, "
                      "so it loads at the next `crm nlu serve`")  # fmt: skip


@app.command("rollback")
def nlu_rollback(
    ctx: typer.Context,
    reason: Annotated[Optional[str], typer.Option(help="Why; logged.")] = None,
    operator: OperatorOption = None,
) -> None:
    """Put back the model the live one replaced (no restart, no gate)."""
    from bot.ops.admin import SwitchClient, admin_token
    from bot.ops.publish import rollback_model

    ops = get_settings().ops
    try:
        outcome = rollback_model(
            _nlu_uow(), project_of(ctx.obj), operator=current_operator(operator),
            switch=SwitchClient(ops.admin_url, admin_token(get_settings())), reason=reason,
            say=lambda line: err.print(line, highlight=False),
        )  # fmt: skip
    except CRMError as exc:
        fail(str(exc))
    live = "switched the running servers" if outcome.swap else "registry only: no switchboard is running"
    console.print(f"rolled back from {outcome.previous.name} to {outcome.model.name} ({live})")


@app.command("models")
def nlu_models() -> None:
    """Every model with its status, data hash, held-out macro-F1, conversation tests, who and when."""
    from analytics.usecases.operations import list_models
    from bot.ops.console import models_table

    console.print(models_table(list_models(_nlu_uow())))


@app.command("audit")
def nlu_audit(limit: Annotated[int, typer.Option(help="How many entries.")] = 30) -> None:
    """Who trained, evaluated, published, refused or rolled back what, and when."""
    from analytics.usecases.operations import audit_log
    from bot.ops.console import audit_table

    console.print(audit_table(audit_log(_nlu_uow(), limit=limit)))


@app.command("serve")
def nlu_serve(
    ctx: typer.Context,
    rasa_port: Annotated[
        int, typer.Option(help="The public port (the proxy): the channels only, e.g. /webhooks/rest/webhook.")
    ] = 5005,
    api_port: Annotated[
        int, typer.Option(help="Loopback port of Rasa's HTTP API for the back ends (the web app); 0: a free one.")
    ] = 5007,
    actions_port: Annotated[int, typer.Option(help="The action server's port; 0: do not start one.")] = 5055,
    admin_port: Annotated[
        Optional[int], typer.Option(help="Loopback port for swaps (default: CRM_OPS_ADMIN_URL).")
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option(help="Model file (default: the live model, else the newest).")
    ] = None,
    endpoints: Annotated[Optional[Path], typer.Option(help="Endpoints file (default: the project's).")] = None,
    log_dir: Annotated[Optional[Path], typer.Option(help="Logs (default: var/log/switchboard).")] = None,
    web_port: Annotated[int, typer.Option(help="The web app (chat page, agent console); 0: do not start it.")] = 8000,
) -> None:
    """Like `crm serve`, with a switch in front of Rasa so `crm nlu publish` swaps models without a stall."""
    from analytics.store.bootstrap import store_for_url
    from bot.launch import ServeError, newest_model
    from bot.ops.admin import admin_token
    from bot.ops.registry import file_resolver, live_model_file
    from bot.ops.swap import Readiness, free_port
    from bot.ops.switchboard import SwitchboardConfig, serve_switchboard
    from bot.web.keys import rasa_token

    project = project_of(ctx.obj)
    ops = get_settings().ops
    try:
        token = rasa_token(get_settings()) or None
        ops_token = admin_token(get_settings())
    except CRMError as exc:
        fail(str(exc))
    if model is None:
        try:
            model = live_model_file(project, get_settings().database_url) or newest_model(project.root / "models")
        except ServeError as exc:
            fail(str(exc))
    if not model.is_file():
        fail(f"no model file at {model}: give --model an existing .tar.gz (see `crm nlu models`).")
    try:
        config = SwitchboardConfig(
            cwd=project.root, model=model.resolve(), endpoints=(endpoints or project.endpoints).resolve(),
            credentials=project.credentials, log_dir=(log_dir or project.var / "log" / "switchboard").resolve(),
            admin_token=ops_token,
            # swaps load registered models only, whose file still has its hash (bot/ops/registry.py)
            resolve_model=file_resolver(store_for_url(get_settings().database_url).unit_of_work(), project),
            port=rasa_port, api_port=api_port or free_port(),
            admin_port=admin_port or urlsplit(ops.admin_url).port or 5006, actions_port=actions_port or None,
            lock_store_url=ops.lock_store_url, drain_seconds=ops.drain_seconds,
            load_timeout=ops.load_timeout_seconds, load_niceness=ops.load_niceness,
            tracker_url=project.sql_tracker_or_none(endpoints), web_port=web_port or None, rasa_token=token,
            rasa_socket_url=get_settings().rasa_socket_url,
        )  # fmt: skip
    except CRMError as exc:
        fail(str(exc))

    token_source = "CRM_OPS_TOKEN" if ops.admin_token else str(Path(get_settings().var_dir) / "admin-token")

    def ready(readiness: Readiness) -> None:
        web = f"  web chat     : http://127.0.0.1:{web_port}/ (agent console: /console)\n" if web_port else ""
        console.print(
            f"\nThe assistant is up (model {model.name}).\n"
            f"{web}"
            f"  channels     : http://{config.host}:{rasa_port}/ (public port: /webhooks/..., /socket.io/ only), "
            f"e.g. POST /webhooks/rest/webhook\n"
            f"  Rasa HTTP API: http://127.0.0.1:{config.api_port}/status (loopback, for the back ends; JWT signed "
            "with var/rasa-token or CRM_RASA_TOKEN)\n"
            f"  swaps        : http://127.0.0.1:{config.admin_port}/status (loopback; `crm nlu publish`; "
            f"Authorization: Bearer <token in {token_source}>)\n"
            f"  logs         : {config.log_dir}\n"
            + "".join(f"  note         : {n}\n" for n in readiness.notes)
            + "".join(f"  [yellow]swaps refused[/]: {p}\n" for p in readiness.problems)
            + "Press Ctrl-C to stop.",
            highlight=False,
        )

    try:
        asyncio.run(serve_switchboard(config, on_ready=ready))
    except CRMError as exc:
        fail(str(exc))
