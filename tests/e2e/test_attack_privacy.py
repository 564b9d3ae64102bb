"""A customer who asked to be forgotten is gone from everywhere, and a copy of their data is complete.

Against the real servers on a copy of the seeded e2e store, with Rasa's SQL
tracker store on a SQLite file (the e2e stack's own tracker is in memory):
the customer introduces themselves, verifies with their e-mail address and an
order number, types a message the bot cannot place, asks for their data to be
deleted and says yes; they also chat once signed in (a session token) and once
anonymously, typing their address and another order number without verifying.
The operator triages the tracker store, exports the customer's data for an
export request, then runs ``crm privacy delete``. Afterwards the store, the
tracker store, the triage file and the logs are searched for the e-mail
address, the name and the order numbers, and nothing is found (the orders
themselves stay in the store's accounts as guest orders with no customer, no
address and no tracking number); re-importing the source file does not bring
the customer back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from analytics.core.settings import Settings
from analytics.security.tokens import sign_customer_token
from analytics.store.crypto import DataKeys, conversation_digest
from analytics.store.models import Conversation, Order, PrivacyRequest
from analytics.usecases.privacy import request_export
from bot.launch import Stack, start_stack
from tests.conftest import ROOT, SAMPLE
from tests.e2e.conftest import free_port
from tests.e2e.customers import customer_row, store_of

pytestmark = [pytest.mark.e2e, pytest.mark.attack, pytest.mark.slow]

VICTIM = "13003"  # a customer of the shipped sample with three orders; this test works on its own copy of the store


@pytest.fixture(scope="module")
def privacy_env(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A copy of the seeded e2e store and its installation secrets (keys), so erasing a customer here
    changes nothing the other e2e tests use."""
    work = tmp_path_factory.mktemp("privacy")
    source = sqlite3.connect(stack_env["DATABASE_URL"].removeprefix("sqlite:///"))
    target = sqlite3.connect(work / "store.sqlite3")
    with target:
        source.backup(target)
    source.close()
    target.close()
    shutil.copytree(stack_env["CRM_VAR_DIR"], work / "var")
    return {
        **stack_env,
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_EXPORTS_DIR": str(work / "exports"),
        "CRM_TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.sqlite3'}",
    }


@pytest.fixture(scope="module")
def privacy_stack(trained_model: Path, privacy_env: dict[str, str]) -> Iterator[Stack]:
    """Both servers on the copied store, with Rasa's SQL tracker store and logs under the copy's var/log."""
    var = Path(privacy_env["CRM_VAR_DIR"])
    actions_port, rasa_port = free_port(), free_port()
    endpoints = var.parent / "endpoints.yml"
    tracker_db = privacy_env["CRM_TRACKER_STORE_URL"].removeprefix("sqlite:///")
    endpoints.write_text(
        json.dumps(
            {
                "action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"},
                "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": tracker_db},
            }
        )
    )
    stack = start_stack(
        model=trained_model,
        rasa_port=rasa_port,
        actions_port=actions_port,
        endpoints=endpoints,
        log_dir=var / "log",
        env=privacy_env,
    )
    yield stack
    stack.stop()


def say(stack: Stack, sender: str, text: str, metadata: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata:
        body["metadata"] = metadata
    reply = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json=body, timeout=60)
    reply.raise_for_status()
    return "\n".join(m.get("text", "") for m in reply.json())


def crm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def mentions(text: str, victim: dict[str, Any]) -> list[str]:
    """Which of the customer's e-mail address, name and order numbers ``text`` holds."""
    found = []
    if victim["email"].lower() in text.lower():
        found.append("e-mail")
    if re.search(re.escape(victim["name"]), text, re.IGNORECASE):
        found.append("name")
    found += [n for n in victim["orders"] if re.search(rf"(?<![0-9A-Za-z]){n}(?![0-9A-Za-z])", text)]
    return found


def sqlite_dump(path: str, skip: set[tuple[str, str]] = frozenset()) -> str:  # type: ignore[assignment]
    """Every value of every table of a SQLite database, as text (``skip``: (table, column) pairs)."""
    out = []
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            columns = [c[1] for c in db.execute(f'pragma table_info("{table}")')]
            for column in columns:
                if (table, column) in skip:
                    continue
                out += [str(v) for (v,) in db.execute(f'select "{column}" from "{table}"') if v is not None]
    return "\n".join(out)


def test_an_erased_customer_is_nowhere_and_their_export_is_complete(
    privacy_stack: Stack, privacy_env: dict[str, str]
) -> None:
    env = privacy_env
    victim = customer_row(env, VICTIM)
    first = victim["orders"][0]
    var = Path(env["CRM_VAR_DIR"])
    tracker_db = env["CRM_TRACKER_STORE_URL"].removeprefix("sqlite:///")
    verified, signed_in, anonymous = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("chat", "page", "anon"))

    # the customer: introduces themselves, verifies, says something the bot cannot place, asks to be forgotten
    say(privacy_stack, verified, f"hi, my name is {victim['name']}")
    say(privacy_stack, verified, f"my email is {victim['email']} and my order number is {first}")
    say(privacy_stack, verified, f"{victim['name']} here, zqxv blorptang wuzzle {victim['email']}")
    assert "do you want us to delete" in say(privacy_stack, verified, "please delete my data").lower()
    recorded = say(privacy_stack, verified, "yes")
    request_id = int(re.search(r"deletion request #(\d+)", recorded).group(1))  # type: ignore[union-attr]
    # signed in on the shop's page (a session token in the metadata) ...
    settings = Settings(CRM_TOKEN_SECRET=env["CRM_TOKEN_SECRET"], CRM_VAR_DIR=env["CRM_VAR_DIR"])
    token = sign_customer_token(victim["id"], settings=settings)
    say(privacy_stack, signed_in, "what data do you hold about me?", {"customer_token": token})
    # ... and anonymously, never verified (the order number is someone else's): the store does not link
    # this conversation to them, but it holds their address
    assert "536365" not in victim["orders"]
    say(privacy_stack, anonymous, f"has order 536365 shipped? I'm on {victim['email']}")
    say(privacy_stack, anonymous, "never mind")
    export_request = request_export(store_of(env), victim["id"], channel="web")

    with sqlite3.connect(tracker_db) as db:
        before = {s for (s,) in db.execute("select distinct sender_id from events")}
    assert {verified, signed_in, anonymous} <= before

    # an old log file (past retention) and a triage file made before the erasure
    old_log = var / "log" / "rasa-2026-01-01.log"
    old_log.write_text(f"old line about {victim['email']}\n")
    long_ago = time.time() - 90 * 86400
    os.utime(old_log, (long_ago, long_ago))
    triaged = crm(env, "nlu", "triage", "--out", str(var / "nlu" / "triage.yml"), "--min-confidence", "0.99")
    assert triaged.returncode == 0, triaged.stdout + triaged.stderr
    triage_text = (var / "nlu" / "triage.yml").read_text()
    assert mentions(triage_text, victim) == []  # masked from the start
    keys = DataKeys.from_settings(settings)
    assert conversation_digest(keys, verified) in triage_text  # a keyed hash names the conversation
    assert verified not in triage_text

    # the operator sees both requests, e-mail addresses masked
    listed = crm(env, "privacy", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{request_id}" in listed.stdout and f"{export_request.id}" in listed.stdout
    assert victim["email"] not in listed.stdout

    # bad ids are refused with a clear message and a non-zero exit; nothing changes
    for args, message in (
        (("privacy", "delete", "999999"), "No privacy request 999999"),
        (("privacy", "export", str(request_id)), "not an export"),
        (("privacy", "delete", str(export_request.id)), "not a deletion"),
        (("privacy", "delete", "abc"), "valid integer"),
    ):
        refused = crm(env, *args)
        assert refused.returncode != 0 and message in refused.stdout + refused.stderr, (args, refused.stderr)

    # the export: one private JSON file with the store's rows and the conversations' events
    exported = crm(env, "privacy", "export", str(export_request.id))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    export_file = Path(env["CRM_EXPORTS_DIR"]) / f"privacy-request-{export_request.id}.json"
    assert stat.S_IMODE(export_file.stat().st_mode) == 0o600
    data = json.loads(export_file.read_text())
    assert data["customer"]["email"] == victim["email"] and data["customer"]["name"] == victim["name"]
    assert sorted(o["number"] for o in data["orders"]) == sorted(victim["orders"])
    assert all(o["lines"] for o in data["orders"])
    assert {r["kind"] for r in data["privacy_requests"]} == {"deletion", "export"}
    assert verified in {c["sender_id"] for c in data["conversations"]}
    texts = [e["data"]["text"] for events in data["tracker_events"].values() for e in events if e["type"] == "user"]
    assert f"my email is {victim['email']} and my order number is {first}" in texts
    assert "what data do you hold about me?" in texts  # the signed-in conversation, proven by its token
    assert anonymous not in data["tracker_events"]  # typing someone's order number does not make it theirs

    # the deletion
    deleted = crm(env, "privacy", "delete", str(request_id))
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"privacy request {request_id} (deletion, customer {victim['id']}) completed" in deleted.stdout
    again = crm(env, "privacy", "delete", str(request_id))
    assert again.returncode == 0 and "already completed" in again.stdout

    # the tracker store: no event of their conversations, nothing naming them
    with sqlite3.connect(tracker_db) as db:
        after = {s for (s,) in db.execute("select distinct sender_id from events")}
    assert not {verified, signed_in, anonymous} & after
    assert mentions(sqlite_dump(tracker_db), victim) == []

    # the store: nothing names them; their orders are kept for the accounts without them
    store_text = sqlite_dump(
        env["DATABASE_URL"].removeprefix("sqlite:///"), {("orders", "number"), ("returns", "number")}
    )
    assert mentions(store_text, victim) == []
    uow = store_of(env)
    with uow:
        assert uow.customers.by_email(victim["email"]) is None
        assert uow.customers.by_external_ref(VICTIM) is None
        kept = list(uow.session.scalars(select(Order).where(Order.number.in_(victim["orders"]))))
        assert len(kept) == len(victim["orders"])
        assert all(o.customer_id is None and o.delivery_address is None and o.tracking_number is None for o in kept)
        senders = set(uow.session.scalars(select(Conversation.sender_id)))
        assert not {verified, signed_in, anonymous} & senders
        statuses = {r.kind.value: r.status.value for r in uow.session.scalars(select(PrivacyRequest))
                    if r.customer_id == victim["id"]}  # fmt: skip
        assert statuses == {"deletion": "completed", "export": "completed"}

    # operators' files and the logs
    triage_text = (var / "nlu" / "triage.yml").read_text()
    assert mentions(triage_text, victim) == [] and conversation_digest(keys, verified) not in triage_text
    assert not old_log.exists()
    for log in (var / "log").rglob("*"):
        if log.is_file():
            text = log.read_text(errors="replace")
            assert mentions(text, victim) == [], log
            assert not any(s in text for s in (verified, signed_in, anonymous)), log

    # re-importing the source file does not bring them back, and says so
    reimported = crm(env, "import", "retail", str(SAMPLE))
    assert reimported.returncode == 0, reimported.stdout + reimported.stderr
    assert "1 customer(s) erased on request" in reimported.stdout
    with uow:
        assert uow.customers.by_email(victim["email"]) is None
        assert uow.customers.by_external_ref(VICTIM) is None
    uow.engine.dispose()
