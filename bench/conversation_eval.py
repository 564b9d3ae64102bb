"""Replay the realistic conversations against the real servers and score them.

For each source tree under test (this checkout, and with ``--baseline REF``
the project as it was at a git revision, checked out in a temporary worktree)
the script trains the tree's own model, seeds a store the way ``make run``
does, starts the tree's own action and Rasa servers on free ports, and plays
every conversation of the chosen splits over the REST channel. Before each
conversation the store is restored to its seeded state, and each split gets
freshly started servers (the limits on failed identity checks live in the
action server's memory), so conversations cannot disturb each other's data
and one file's wrong details cannot lock a customer out in the next file. Trees run one after the other in the same
invocation, on the same conversations and the same seed data, so their
figures are comparable.

    .venv/bin/python bench/conversation_eval.py --split dev                      # tune on this
    .venv/bin/python bench/conversation_eval.py --split heldout --baseline 4921ad6  # score once, beside the old bot
    .venv/bin/python bench/conversation_eval.py --check bench/conversations/heldout.yml  # validate a file

Reports task success (every turn of a conversation right) and turn accuracy,
overall and per tag, and writes every failed turn with the reply to
``bench/out/conversations-<split>-<tree>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
#: The hour (UTC, today) every store is seeded at: see :func:`seed_clock_prefix`.
DEFAULT_SEED_CLOCK = "06:00"
SPLITS = ROOT / "bench" / "conversations"
OUT = ROOT / "bench" / "out"
TOKEN_SECRET = "bench-" + "5a" * 24
#: the key of the benchmark stacks' Rasa HTTP API
RASA_API_KEY = "bench-api-" + "6b" * 24


def rasa_api_auth() -> dict[str, dict[str, str]]:
    """Credentials of a benchmark stack's Rasa HTTP API, for either tree: a JWT header (this checkout)
    and the token as a query parameter (revisions from before the API took JWTs)."""
    from bot.web.keys import rasa_api_headers

    return {"headers": rasa_api_headers(RASA_API_KEY), "params": {"token": RASA_API_KEY}}


RASA_VENV = ROOT / ".venv-rasa"

#: What a reply does, as phrasings any correct wording contains (case-insensitive, one is enough).
#: They cover the wording of every version of the bot compared here.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "status_processing": ("being prepared", "preparing", "not shipped yet", "hasn't shipped", "not been dispatched"),
    "status_shipped": ("on its way", "has shipped", "was shipped", "in transit", "with the courier"),
    "status_delivered": ("was delivered", "delivered on", "has been delivered", "arrived on"),
    "status_cancelled": ("was cancelled", "is cancelled", "has been cancelled"),
    "not_found": ("couldn't find", "could not find", "can't find", "cannot find", "not found"),
    "cancel_refused": (
        "can't be cancelled",
        "can no longer be cancelled",
        "cannot be cancelled",
        "already cancelled",
        "too late to cancel",
    ),
    "cancelled_now": ("is cancelled.", "is now cancelled", "has been cancelled", "i've cancelled", "is cancelled:"),
    "kept": ("left order", "as it is", "won't cancel", "keep your order", "stays as it is"),
    "address_changed": ("will now go to", "now be delivered to", "address is now", "new address is"),
    "address_refused": (
        "can no longer be changed",
        "can't be changed",
        "cannot be changed",
        "too late to change",
        "nothing to deliver",
    ),
    "return_opened": ("opened return", "return #", "return reference", "opened a return"),
    "return_refused": (
        "nothing to return",
        "once it has been delivered",
        "window closed",
        "returns are accepted within",
        "can't be returned",
        "cannot be returned",
        "already being returned",
        "not been delivered",
        "hasn't been delivered",
        "not delivered yet",
        "has not shipped yet",
    ),
    "verified": ("you're verified", "you are verified", "verified", "signed in as", "found your account"),
    "identity_failed": ("couldn't match", "could not match", "don't match", "didn't match"),
    "identity_locked": ("couldn't verify", "could not verify", "can't verify", "cannot verify"),
    "handoff": ("connecting you", "passing you to", "putting you through now"),
    "offer_human": ("put you through", "would you like to talk to", "speak to a person?", "talk to a person?"),
    "rephrase": ("didn't quite understand", "didn't understand", "in other words", "rephrase", "didn't catch"),
    "goodbye": ("goodbye", "bye", "take care"),
    "welcome": ("you're welcome", "my pleasure", "glad i could help", "glad to help"),
    "greeting": ("hello", "hi ", "hi!", "hi,", "welcome"),
    "bot_identity": ("virtual assistant", "i'm a bot", "not a person", "not a human"),
    "out_of_scope": ("can't help with", "cannot help with", "not something i can", "outside what i can"),
    "help": ("here is what i can do", "i can help with", "what i can do"),
    "loyalty": ("points",),
    "offer_or_none": ("offer", "no special offers", "deal"),
    "no_offer_to_accept": ("haven't offered you", "no offer to", "nothing to apply"),
    "suggestions": ("£",),
    "bought_together": ("bought together", "often add", "often buy", "goes well with", "often bought"),
    "similar": ("similar", "like "),
    "together_or_similar": ("bought together", "often add", "often buy", "goes well with", "often bought", "similar"),
    "price": ("£",),
    "data_summary": ("what we hold", "we hold", "data we have"),
    "delete_confirm": ("delete your personal data", "delete your data", "erase your"),
    "deletion_requested": ("deletion request",),
    "deletion_kept": ("nothing will be deleted", "won't delete", "will not be deleted"),
    "stopped": ("stopped", "dropped", "no problem", "cancelled that request", "forget that", "okay", "ok,"),
    "reorder": ("reorder", "every ~", "every", "repeat purchases"),
    "next_order": ("next order",),
    "delivery_window": ("arrive", "expected", "should be with you", "due on", "due between"),
    "delivered_on": ("delivered",),
    "tracking": ("tracking number",),
    "tracking_not_yet": ("no tracking number", "hasn't been handed", "not been handed", "no tracking"),
    "orders_list": ("recent orders", "your orders", "latest orders"),
    "anything_else": ("anything else",),
    "offer_applied": ("is applied", "applied to your account", "has been applied"),
}

#: What a question for a detail looks like (one phrase and a question mark).
ASKS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail"),
    "order_number": ("order number", "which order"),
    "address": ("address",),
    "reason": ("reason", "why"),
    "product": ("which product", "which item", "what product", "which one", "what item", "which of"),
    "which": ("did you mean", "which one", "which of", "which order", "which product", "which item"),
    "yes_no": ("yes or no", "do you want", "would you like", "shall i", "should i", "are you sure"),
}

NEVER = {
    "a problem on our side": ("problem on our side",),
}
MAX_LINES = 15
TURN_KEYS = {"user", "says", "says_any", "not_says", "asks", "outcome", "silent"}
CONVERSATION_KEYS = {"id", "tags", "customer", "signed_in", "turns", "note"}


# --------------------------------------------------------------------------- conversations


def load(split: str) -> list[dict[str, Any]]:
    path = Path(split) if split.endswith(".yml") else SPLITS / f"{split}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    conversations = data["conversations"] if isinstance(data, dict) else None
    if not isinstance(conversations, list):
        raise SystemExit(f"{path}: expected a mapping with a list `conversations`")
    return conversations


def problems(conversations: Sequence[dict[str, Any]], db: Optional[Path] = None) -> list[str]:
    """What is wrong with a conversations file (empty: nothing); with ``db``, also its facts."""
    found: list[str] = []
    seen: set[str] = set()
    customers = _customers(db) if db else None
    for c in conversations:
        cid = str(c.get("id", "?"))
        if cid in seen:
            found.append(f"{cid}: duplicate id")
        seen.add(cid)
        extra = set(c) - CONVERSATION_KEYS
        if extra:
            found.append(f"{cid}: unknown keys {sorted(extra)}")
        if not c.get("turns"):
            found.append(f"{cid}: no turns")
        if c.get("signed_in") and not c.get("customer"):
            found.append(f"{cid}: signed_in needs a customer")
        ref = c.get("customer")
        if customers is not None and ref is not None and str(ref) not in customers:
            found.append(f"{cid}: customer {ref} is not in the seeded store")
        for n, turn in enumerate(c.get("turns") or [], start=1):
            where = f"{cid} turn {n}"
            if not isinstance(turn, dict) or not isinstance(turn.get("user"), str):
                found.append(f"{where}: needs a `user` message")
                continue
            extra = set(turn) - TURN_KEYS
            if extra:
                found.append(f"{where}: unknown keys {sorted(extra)}")
            if turn.get("outcome") and turn["outcome"] not in OUTCOMES:
                found.append(f"{where}: unknown outcome {turn['outcome']!r}")
            if turn.get("asks") and turn["asks"] not in ASKS:
                found.append(f"{where}: unknown asks {turn['asks']!r}")
            for key in ("says", "says_any", "not_says"):
                if key in turn and not (
                    isinstance(turn[key], list) and all(isinstance(x, (str, int, float)) for x in turn[key])
                ):
                    found.append(f"{where}: `{key}` must be a list of strings")
            if not turn.get("silent") and not any(k in turn for k in ("says", "says_any", "asks", "outcome")):
                found.append(f"{where}: checks nothing (give says, says_any, asks, outcome or silent)")
            if "{" in turn["user"] and not c.get("customer"):
                found.append(f"{where}: placeholder without a customer")
    return found


#: Prints the seeded customers as JSON, run by the tree's own code: names and e-mail addresses may be
#: encrypted at rest, and only the tree's store code (with the keys under its CRM_VAR_DIR) reads them.
_READ_CUSTOMERS = """
import json
from sqlalchemy import select
from analytics.store.db import make_engine, make_session_factory
from analytics.store.models import Customer
engine = make_engine(__import__("os").environ["DATABASE_URL"])
with make_session_factory(engine)() as session:
    rows = session.execute(select(Customer.external_ref, Customer.id, Customer.name, Customer.email)).all()
print(json.dumps([[str(r), i, n, e] for r, i, n, e in rows if r]))
"""


def _customers(db: Path, root: Path = ROOT, env: Optional[dict[str, str]] = None) -> dict[str, dict[str, str]]:
    """The store's customers by shop number, read with the code (and keys) of the tree at ``root``."""
    run_env = {**(env or os.environ), "DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", _READ_CUSTOMERS], cwd=root, env=run_env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"cannot read the customers of {db}:\n{done.stderr[-2000:]}")
    return {
        ref: {"id": str(cid), "name": name, "email": email, "first_name": name.split()[0]}
        for ref, cid, name, email in json.loads(done.stdout)
    }


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def check_turn(turn: dict[str, Any], reply: str, who: dict[str, str]) -> list[str]:
    """The checks a reply fails (empty: the turn is right)."""
    said = _norm(reply)
    failed: list[str] = []
    if turn.get("silent"):
        return [] if not said else ["should be silent"]
    if not said:
        return ["empty reply"]
    for name, phrases in NEVER.items():
        if any(p in said for p in phrases):
            failed.append(f"never: {name}")
    if turn.get("outcome") != "rephrase" and any(p in said for p in OUTCOMES["rephrase"][:2]):
        failed.append("did not understand")
    if reply.count("\n") >= MAX_LINES:
        failed.append("too long")
    for fragment in turn.get("says", []):
        if _norm(str(fragment).format(**who)) not in said:
            failed.append(f"says {fragment!r}")
    if turn.get("says_any") and not any(_norm(str(f).format(**who)) in said for f in turn["says_any"]):
        failed.append(f"says_any {turn['says_any']!r}")
    for fragment in turn.get("not_says", []):
        if _norm(str(fragment).format(**who)) in said:
            failed.append(f"not_says {fragment!r}")
    if turn.get("asks") and ("?" not in said or not any(p in said for p in ASKS[turn["asks"]])):
        failed.append(f"asks {turn['asks']}")
    if turn.get("outcome") and not any(p in said for p in OUTCOMES[turn["outcome"]]):
        failed.append(f"outcome {turn['outcome']}")
    return failed


def reply_text(messages: list[dict[str, Any]]) -> str:
    """Everything the customer sees: texts, button titles, product cards."""
    parts: list[str] = []
    for m in messages:
        if m.get("text"):
            parts.append(str(m["text"]))
        for button in m.get("buttons") or []:
            parts.append(f"[{button.get('title', '')}]")
        custom = m.get("custom")
        if isinstance(custom, dict):
            for product in custom.get("products") or []:
                parts.append(f"[{product.get('name', '')} £{product.get('price', '')}]")
    return "\n".join(parts)


# --------------------------------------------------------------------------- source trees and servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rasa_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONWARNINGS": "ignore",
            "PYTHONPATH": str(root),
        }
    )
    return env


@dataclass
class Tree:
    """A source tree of the project: this checkout or a git revision in a worktree."""

    name: str
    root: Path
    work: Path
    model: Optional[Path] = None
    seed_clock: Optional[str] = DEFAULT_SEED_CLOCK
    store: Path = field(init=False)

    def __post_init__(self) -> None:
        self.store = self.work / "store.sqlite3"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(self.root),
            "DATABASE_URL": f"sqlite:///{self.store}",
            "CRM_ARTIFACTS_DIR": str(self.work / "artifacts"),
            "CRM_VAR_DIR": str(self.work / "var"),
            "CRM_TOKEN_SECRET": TOKEN_SECRET,
            "CRM_RASA_TOKEN": RASA_API_KEY,
            "CRM_RASA_BIN": str(RASA_VENV / "bin" / "rasa"),
        }

    def run(self, args: Sequence[str], env: dict[str, str], what: str, timeout: int = 1800) -> None:
        t0 = time.perf_counter()
        done = subprocess.run(args, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise SystemExit(f"[{self.name}] {what} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        print(f"[{self.name}] {what}: {time.perf_counter() - t0:.0f} s", flush=True)

    def prepare(self) -> None:
        spacy = self.root / "var" / "spacy" / "shop_en" / "meta.json"
        if not spacy.exists():
            self.run(
                [
                    str(RASA_VENV / "bin" / "python"),
                    "-m",
                    "bot.rasa_runtime.nlu.build_spacy",
                    "data/catalog_patterns.jsonl",
                    "var/spacy/shop_en",
                ],
                rasa_env(self.root),
                "spaCy catalogue ruler",
            )
        if self.model is None:
            out = self.work / "models"
            self.run(
                [str(RASA_VENV / "bin" / "rasa"), "train", "--out", str(out), "--fixed-model-name", "bench"],
                rasa_env(self.root),
                "rasa train",
            )
            self.model = out / "bench.tar.gz"
        self.run(
            [*seed_clock_prefix(self.seed_clock), sys.executable, "-m", "bot.cli", "seed"],
            self.env,
            f"seed the store (as of {self.seed_clock or 'now'} UTC today)",
        )
        shutil.copy(self.store, self.work / "seeded.sqlite3")

    def restore(self) -> None:
        """Put the seeded store back, through SQLite (the servers keep their connections)."""
        with sqlite3.connect(self.work / "seeded.sqlite3") as src, sqlite3.connect(self.store, timeout=30) as dst:
            src.backup(dst)

    @contextmanager
    def servers(self) -> Iterator[str]:
        """Start the tree's own stack (its ``bot.launch.start_stack``) and yield the Rasa URL."""
        driver = self.work / "driver.py"
        driver.write_text(
            textwrap.dedent(
                """
                import json, os, signal, sys, threading
                from pathlib import Path
                # by file, not by import: the editable install's finder would hand an older tree this
                # checkout's bot.launch (and with it this checkout's project root and Rasa components)
                if Path("bot/launch.py").is_file():
                    from bot.launch import start_stack
                else:  # a baseline revision from before bot/launch.py
                    from bot.serve import start_stack
                work, model = Path(sys.argv[1]), Path(sys.argv[2])
                rasa_port, actions_port = int(sys.argv[3]), int(sys.argv[4])
                endpoints = work / "endpoints.yml"
                endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
                stack = start_stack(model=model, rasa_port=rasa_port, actions_port=actions_port,
                                    endpoints=endpoints, log_dir=work / "log", env=None,
                                    rasa_token=os.environ["CRM_RASA_TOKEN"])
                print("READY " + stack.rasa_url, flush=True)
                stop = threading.Event()
                signal.signal(signal.SIGTERM, lambda *_: stop.set())
                stop.wait()
                stack.stop()
                """
            )
        )
        proc = subprocess.Popen(
            [sys.executable, str(driver), str(self.work), str(self.model), str(free_port()), str(free_port())],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY "):
                proc.wait(timeout=30)
                raise SystemExit(f"[{self.name}] the servers did not start; logs in {self.work / 'log'}")
            yield line.split()[1]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def seed_clock_prefix(clock: Optional[str]) -> list[str]:
    """The command prefix that runs the seed as if it were ``clock`` (``HH:MM`` UTC) today, or none.

    Orders' states (being prepared, on its way, delivered) follow the hour the store is seeded, so
    the conversations' facts hold only at the hour their writers saw; every run seeds at the same
    hour. Done with libfaketime (Debian's ``faketime``) around the seed process only, so any
    revision's own code is seeded the same way; without it the seed runs at the real time.
    """
    if not clock:
        return []
    faketime = shutil.which("faketime")
    if faketime is None:
        print("faketime is missing (apt-get install faketime): seeding at the real time", flush=True)
        return []
    today = time.strftime("%Y-%m-%d", time.gmtime())
    return [faketime, f"{today} {clock}:00"]


@contextmanager
def trees(
    baseline: Optional[str],
    model: Optional[Path],
    baseline_model: Optional[Path],
    seed_clock: Optional[str] = DEFAULT_SEED_CLOCK,
) -> Iterator[list[Tree]]:
    work = Path(tempfile.mkdtemp(prefix="conv-eval-"))
    made: list[Tree] = []
    worktree: Optional[Path] = None
    try:
        if baseline:
            sha = subprocess.run(
                ["git", "rev-parse", "--short", baseline], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
            worktree = work / f"src-{sha}"
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), sha], cwd=ROOT, check=True)
            (work / "baseline").mkdir()
            made.append(Tree(f"baseline@{sha}", worktree, work / "baseline", baseline_model, seed_clock))
        (work / "current").mkdir()
        made.append(Tree("current", ROOT, work / "current", model, seed_clock))
        yield made
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- playing


def sign(customer_id: str) -> str:
    import jwt

    now = int(time.time())
    claims = {"sub": customer_id, "aud": "shop-assistant", "iat": now, "exp": now + 3600}
    return jwt.encode(claims, TOKEN_SECRET, algorithm="HS256")


def play(tree: Tree, rasa_url: str, conversations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    customers = _customers(tree.store, tree.root, tree.env)
    results = []
    for c in conversations:
        tree.restore()
        who = customers.get(str(c.get("customer")), {}) if c.get("customer") else {}
        meta = {"customer_token": sign(who["id"])} if c.get("signed_in") and who else {}
        sender = f"bench-{c['id']}-{uuid.uuid4().hex[:8]}"
        turns = []
        for turn in c["turns"]:
            text = turn["user"].format(**who) if who else turn["user"]
            t0 = time.perf_counter()
            response = requests.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": text, "metadata": meta},
                timeout=60,
            )
            seconds = time.perf_counter() - t0
            messages = response.json() if response.ok else []
            reply = reply_text(messages) if response.ok else f"HTTP {response.status_code}"
            failed = check_turn(turn, reply, who) if response.ok else [f"HTTP {response.status_code}"]
            turns.append({"user": text, "reply": reply, "failed": failed, "seconds": round(seconds, 3)})
        results.append({"id": c["id"], "tags": c.get("tags", []), "turns": turns})
    return results


def summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    turns = [t for r in results for t in r["turns"]]
    ok = [r for r in results if not any(t["failed"] for t in r["turns"])]
    by_tag: dict[str, list[bool]] = defaultdict(list)
    for r in results:
        for tag in r["tags"]:
            by_tag[tag].append(not any(t["failed"] for t in r["turns"]))
    return {
        "conversations": len(results),
        "task_success": len(ok) / len(results) if results else 0.0,
        "turns": len(turns),
        "turn_accuracy": sum(not t["failed"] for t in turns) / len(turns) if turns else 0.0,
        "by_tag": {k: (sum(v), len(v)) for k, v in sorted(by_tag.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", action="append", help="dev, heldout, or a .yml file (repeatable)")
    parser.add_argument("--baseline", help="also score the project at this git revision, in the same run")
    parser.add_argument("--model", type=Path, help="this checkout's trained model (default: train one)")
    parser.add_argument("--baseline-model", type=Path, help="the baseline's trained model (default: train one)")
    parser.add_argument("--only", nargs="*", help="conversation ids to play")
    parser.add_argument("--baseline-only", action="store_true", help="score only the --baseline revision")
    parser.add_argument("--check", help="validate a conversations file against a seeded store and exit")
    parser.add_argument("--database-url", default="sqlite:///var/crm.sqlite3", help="store for --check")
    parser.add_argument("--verbose", action="store_true", help="print every failed turn")
    parser.add_argument(
        "--seed-clock",
        default=DEFAULT_SEED_CLOCK,
        help="seed the stores as if it were this time today (HH:MM UTC; 'now': the real time)",
    )
    args = parser.parse_args()

    if args.check:
        db = Path(args.database_url.removeprefix("sqlite:///"))
        found = problems(load(args.check), db if db.exists() else None)
        print("\n".join(found) or f"{args.check}: {len(load(args.check))} conversations, no problems")
        raise SystemExit(1 if found else 0)

    splits = args.split or ["dev"]
    sets = {s: [c for c in load(s) if not args.only or c["id"] in args.only] for s in splits}
    for split, conversations in sets.items():
        found = problems(conversations)
        if found:
            raise SystemExit(f"{split}: " + "\n".join(found))
    OUT.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, str, dict[str, Any]]] = []
    model = args.model.resolve() if args.model else None
    baseline_model = args.baseline_model.resolve() if args.baseline_model else None
    clock = None if args.seed_clock == "now" else args.seed_clock
    with trees(args.baseline, model, baseline_model, clock) as under_test:
        if args.baseline_only:
            under_test = under_test[:1]
        for tree in under_test:
            tree.prepare()
            for split, conversations in sets.items():
                # servers of its own for each file: the limits on failed identity checks and handoffs live in the
                # action server's memory and count per customer across conversations, so one file's wrong details
                # would lock out a customer of the next file
                with tree.servers() as rasa_url:
                    t0 = time.perf_counter()
                    results = play(tree, rasa_url, conversations)
                    s = summary(results)
                    tag = re.sub(r"[^\w.-]", "_", tree.name)
                    out = OUT / f"conversations-{Path(split).stem}-{tag}.json"
                    out.write_text(json.dumps({"summary": s, "results": results}, indent=1, ensure_ascii=False))
                    print(
                        f"[{tree.name}] {split}: {s['task_success']:.1%} of {s['conversations']} conversations, "
                        f"{s['turn_accuracy']:.1%} of {s['turns']} turns ({time.perf_counter() - t0:.0f} s) -> {out}",
                        flush=True,
                    )
                    if args.verbose:
                        for r in results:
                            for n, t in enumerate(r["turns"], 1):
                                if t["failed"]:
                                    print(
                                        f"  {r['id']} turn {n}: {t['user']!r}\n    -> {t['reply']!r}\n    {t['failed']}"
                                    )
                    table.append((split, tree.name, s))
    print("\n| split | bot | conversations | task success | turns | turn accuracy |")
    print("|---|---|---:|---:|---:|---:|")
    for split, name, s in table:
        print(
            f"| {split} | {name} | {s['conversations']} | {s['task_success']:.1%} | {s['turns']} | "
            f"{s['turn_accuracy']:.1%} |"
        )
    tags = sorted({t for _, _, s in table for t in s["by_tag"]})
    if tags:
        print("\n| tag | " + " | ".join(f"{split} {name}" for split, name, _ in table) + " |")
        print("|---|" + "---:|" * len(table))
        for tag in tags:
            cells = []
            for _, _, s in table:
                ok, n = s["by_tag"].get(tag, (0, 0))
                cells.append(f"{ok}/{n}" if n else "")
            print(f"| {tag} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
