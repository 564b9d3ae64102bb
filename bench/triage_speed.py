"""Triage speed: ``crm nlu triage``'s work on 100,000 tracker-store events, SQLite and PostgreSQL.

Writes a synthetic ``events`` table shaped like Rasa 3.6's SQLTrackerStore
rows (session start, then per customer message: ``user`` with the full parse
JSON, ``user_featurization``, the bot's action and utterance, ``action_listen``;
slots now and then), about 20% of the messages misunderstood (low confidence,
fallbacks, rephrasings, handoffs), some with e-mail addresses, order numbers
and names. Then times :func:`bot.ops.triage.triage` (read, flag, mask with
about a thousand customer names, group) three times per engine and reports the
median. Goal: at most 10 s.

    .venv/bin/python bench/triage_speed.py [--events 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.store.db import make_engine  # noqa: E402
from bot.ops.tracker import events, tracker_metadata  # noqa: E402
from bot.ops.triage import TriageOptions, triage  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
INTENTS = ["greet", "order_status", "return_request", "loyalty_status", "recommend_products", "product_info",
           "cancel_order", "change_address", "human_handoff", "goodbye", "thank", "faq"]  # fmt: skip
UNDERSTOOD = {
    "greet": ["hello", "hi there", "good morning"],
    "order_status": ["where is my order {order}", "has order {order} shipped", "status of my order please"],
    "return_request": ["I want to return the {product}", "how do I send the {product} back"],
    "loyalty_status": ["how many points do I have", "what tier am I"],
    "recommend_products": ["recommend something for the kitchen", "gift ideas under £20"],
    "product_info": ["how much is the {product}", "is the {product} in stock"],
    "goodbye": ["bye", "thanks, bye"],
    "thank": ["thanks", "thank you"],
}
MISUNDERSTOOD = [
    ("the {product} came in bits", "product_info"),
    ("my parcel went walkabout", "order_status"),
    ("nothing turned up for order {order}", "return_request"),
    ("the courier left it at the wrong house", "change_address"),
    ("I'm {name}, {email}, still waiting", "order_status"),
    ("can u do gift wrap", "faq"),
    ("the {product} is the wrong colour", "product_info"),
    ("box arrived empty", "greet"),
    ("where do i put the voucher code", "loyalty_status"),
    ("is there a discount for schools", "recommend_products"),
]
PRODUCTS = ["lunch bag", "cake stand", "t-light holder", "jumbo bag", "party bunting", "alarm clock", "doormat"]
NAMES = ["Oliver Dubois", "Hannah Walsh", "Priya Patel", "Jonas Horvat", "Mei Tanaka"]


PREFIXES = ["", "", "hi, ", "hello ", "sorry but ", "um ", "ok so ", "hey, ", "quick one: "]
SUFFIXES = ["", "", "?", " please", " again", " !!", " thanks", " asap", " - help", " :("]


def typo(message: str, rng: random.Random) -> str:
    """Customers' typing: now and then two letters swapped."""
    if len(message) < 6 or rng.random() > 0.3:
        return message
    i = rng.randrange(1, len(message) - 2)
    return message[:i] + message[i + 1] + message[i] + message[i + 2 :]


def fill(template: str, rng: random.Random) -> str:
    name = rng.choice(NAMES)
    return (
        rng.choice(PREFIXES)
        + template.format(
            order=rng.randint(536365, 581587),
            product=rng.choice(PRODUCTS),
            name=name,
            email=name.lower().replace(" ", ".") + "@example.com",
        )
        + rng.choice(SUFFIXES)
    )


def user_data(text_: str, intent: str, confidence: float, ts: float, fallback: bool, rng: random.Random) -> str:
    others = [i for i in INTENTS if i != intent]
    rest = sorted((rng.random() * (1 - confidence) for _ in range(9)), reverse=True)
    ranking = [{"name": intent, "confidence": confidence}] + [
        {"name": n, "confidence": c} for n, c in zip(rng.sample(others, 9), rest)
    ]
    top = {"name": intent, "confidence": confidence}
    if fallback:
        top = {"name": "nlu_fallback", "confidence": 0.5}
        ranking = [top, *ranking]
    tokens, start = [], 0
    for word in text_.split():
        tokens.append([start, start + len(word)])
        start += len(word) + 1
    return json.dumps(
        {
            "event": "user",
            "timestamp": ts,
            "metadata": {"model_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "assistant_id": "shop-assistant"},
            "text": text_,
            "parse_data": {
                "intent": top,
                "entities": [],
                "text": text_,
                "message_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "metadata": {},
                "text_tokens": tokens,
                "intent_ranking": ranking,
                "response_selector": {"all_retrieval_intents": [], "default": {"response": {}, "ranking": []}},
            },
            "input_channel": "rest",
            "message_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        }
    )


def synthetic_events(n_events: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    ts = 1_795_000_000.0
    meta = json.dumps({"model_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "assistant_id": "shop-assistant"})

    def add(sender: str, kind: str, at: float, data: str, intent: str | None = None, action: str | None = None) -> None:
        rows.append({"sender_id": sender, "type_name": kind, "timestamp": at, "intent_name": intent,
                     "action_name": action, "data": data})  # fmt: skip

    while len(rows) < n_events:
        sender = uuid.UUID(int=rng.getrandbits(128)).hex
        ts += rng.uniform(1, 30)
        at = ts
        for action in ("action_session_start", None, "action_listen"):
            kind = "action" if action else "session_started"
            add(sender, kind, at, json.dumps({"event": kind, "timestamp": at, "metadata": meta, "name": action}),
                action=action)  # fmt: skip
        for _ in range(rng.randint(2, 9)):
            at += rng.uniform(3, 90)
            if rng.random() < 0.2:
                template, intent = rng.choice(MISUNDERSTOOD)
                confidence = rng.uniform(0.1, 0.58)
            else:
                intent = rng.choice(list(UNDERSTOOD))
                template, confidence = rng.choice(UNDERSTOOD[intent]), rng.uniform(0.7, 0.99)
            fallback = confidence < 0.5
            message = typo(fill(template, rng), rng)
            add(sender, "user", at, user_data(message, intent, confidence, at, fallback, rng),
                intent="nlu_fallback" if fallback else intent)  # fmt: skip
            add(sender, "user_featurization", at, json.dumps({"event": "user_featurization", "timestamp": at}))
            if intent == "loyalty_status" and rng.random() < 0.3:
                add(
                    sender,
                    "slot",
                    at,
                    json.dumps({"event": "slot", "name": "customer_name", "value": rng.choice(NAMES)}),
                )
            action = (
                "action_handle_fallback"
                if fallback
                else ("action_handoff" if intent == "human_handoff" else f"utter_{intent}")
            )
            add(
                sender,
                "action",
                at + 0.05,
                json.dumps({"event": "action", "timestamp": at, "name": action}),
                action=action,
            )
            add(
                sender, "bot", at + 0.05, json.dumps({"event": "bot", "timestamp": at, "text": "...", "metadata": meta})
            )
            add(
                sender,
                "action",
                at + 0.06,
                json.dumps({"event": "action", "name": "action_listen"}),
                action="action_listen",
            )
    return rows[:n_events]


def load(engine: Any, rows: list[dict[str, Any]]) -> None:
    tracker_metadata.create_all(engine)
    with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(events), rows[start : start + 5000])


def store_like_names() -> tuple[str, ...]:
    """As many names to mask as the Online Retail store's customers give (every pseudonym's full name and words)."""
    from analytics.ingest.people import FIRST_NAMES, LAST_NAMES
    from bot.ops.masking import Names

    return Names.load(customers=[f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]).names


def measure(engine: Any, runs: int) -> dict[str, Any]:
    options = TriageOptions(names=store_like_names())
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
    times, report = [], None
    for _ in range(runs):
        started = time.perf_counter()
        report = triage(engine, options)
        times.append(time.perf_counter() - started)
    assert report is not None
    return {
        "rows": stored,
        "events": report.events_read,
        "user_messages": report.user_messages,
        "flagged": report.flagged,
        "groups": len(report.groups),
        "median_s": round(statistics.median(times), 2),
        "runs_s": [round(t, 2) for t in times],
        "last_run": report.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = synthetic_events(args.events)
    results = {}
    with tempfile.TemporaryDirectory(prefix="crm-triage-") as work:
        engine = make_engine(f"sqlite:///{Path(work) / 'tracker.sqlite3'}")
        load(engine, rows)
        results["SQLite (file)"] = measure(engine, args.runs)
        engine.dispose()

    admin_url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
        load(engine, rows)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE events"))
        results["PostgreSQL"] = measure(engine, args.runs)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    print(json.dumps(results, indent=2))
    print(f"\n{date.today()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        "| store | events in table (read) | customer messages | flagged | groups | median s (read + group) | runs (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for store, r in results.items():
        last = r["last_run"]
        print(
            f"| {store} | {r['rows']:,} ({r['events']:,}) | {r['user_messages']:,} | {r['flagged']:,} "
            f"| {r['groups']:,} "
            f"| {r['median_s']} ({last['read']} + {last['group']}) | {', '.join(map(str, r['runs_s']))} |"
        )


if __name__ == "__main__":
    main()
