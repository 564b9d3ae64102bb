"""Where one customer turn's CPU time goes, measured in-process (issue 15), before and after a change.

Load tests on a shared two-core machine measure the other jobs as much as the assistant; CPU time
of the code itself does not. This script replays one realistic signed-in conversation of six turns
(greeting, order status, points, order list, recommendations, goodbye) and reports the CPU
milliseconds of each part of a turn:

- **Rasa side** (``.venv-rasa``): the trained model loaded with Rasa's ``Agent``, a SQLite tracker
  store, the in-memory lock store and the action deadline the launcher installs
  (:mod:`bot.rasa_runtime.degradation`); each message goes through ``Agent.handle_message`` as the REST
  channel sends it (customer token and client address in the metadata). Each graph node (NLU
  components, policies), the tracker store's load and save, the lock, the action call (tracker to
  JSON, HTTP, checking the answer) and the rest are timed with ``time.process_time`` (exclusive:
  a part nested in another is not counted twice). The action server runs as ``make run`` starts it.
- **Action side** (``.venv``): rasa-sdk's executor (:class:`bot.action_metrics.ObservedExecutor`) run
  directly on the action calls the Rasa side recorded, on a copy of the seeded SQLite store: the
  use cases each action called, the SQL statements (count and driver time) and the token checks.

Before/after in one run: ``--baseline-rev REV`` puts the files this issue may change (or
``--baseline-paths``) as they were at ``REV`` (``git show``, read only) over a copy of the working
tree, and the code versions run in alternating subprocesses (A B B A ...), each replaying
``--conversations`` conversations after ``--warmup`` unmeasured ones. The Rasa side installs what
the launcher installs (``degradation``, and ``answers`` where the code has it). The figures are
medians over conversations of each turn's CPU time; every arm's replies are printed and
compared. ``--turns 30`` shows what grows with the length of a conversation.

    .venv/bin/python bench/turn_profile.py --model models/shop-assistant.tar.gz --baseline-rev HEAD
    .venv/bin/python bench/turn_profile.py --model MODEL --cprofile turn.pstats   # and a cProfile dump

Machines are shared: CPU time is what the code costs (though a busy machine's caches make it
vary by some 10-15% between subprocesses); wall times are only in the ``--out`` JSON. The cProfile
pass runs after the measured conversations and is not counted in them.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the code a subprocess imports (a baseline copy, or the working tree)
CODE = Path(os.environ.get("TURN_PROFILE_CODE") or ROOT)
sys.path.insert(0, str(CODE))

#: the files of issue 15's change: the baseline takes them from ``--baseline-rev``
OWNED = ["bot/rasa_runtime/nlu", "bot/rasa_runtime/parse.py", "analytics/store", "bot/action_server.py",
         "bot/action_metrics.py"]  # fmt: skip
RASA_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore",
}
ACTION_TOKEN = "turn-profile-" + "7c" * 20


def conversation(orders: list[str], turns: int = 6) -> list[str]:
    """The conversation every repetition replays (a signed-in customer): a greeting, ``turns - 2`` requests
    (order status, points, order list, recommendations, again from the start), a goodbye."""
    requests = [f"where is my order {orders[0]}?", "how many points do I have?", "show me my orders",
                "any recommendations for me?"]  # fmt: skip
    return ["hi", *[requests[i % len(requests)] for i in range(max(0, turns - 2))], "thanks, bye"]


# --------------------------------------------------------------------------- timing


class Clock:
    """Exclusive CPU time per label: a labelled call nested in another is subtracted from its parent."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []

    @contextmanager
    def part(self, label: str) -> Iterator[None]:
        started, wall = time.process_time(), time.perf_counter()
        self._stack.append([0.0])
        try:
            yield
        finally:
            elapsed = time.process_time() - started
            nested = self._stack.pop()[0]
            self.spent[label] += elapsed - nested
            self.wall[label] += time.perf_counter() - wall
            self.calls[label] += 1
            if self._stack:
                self._stack[-1][0] += elapsed

    def take(self) -> tuple[dict[str, float], dict[str, float], dict[str, int]]:
        out = (dict(self.spent), dict(self.wall), dict(self.calls))
        self.spent.clear()
        self.wall.clear()
        self.calls.clear()
        return out


CLOCK = Clock()


def timed(owner: Any, name: str, label: str | Callable[..., str]) -> None:
    """Replace ``owner.name`` with a version timed under ``label`` (a string, or a function of the call)."""
    static = inspect.getattr_static(owner, name)
    kind = type(static) if isinstance(static, (classmethod, staticmethod)) else None
    original = static.__func__ if kind is not None else getattr(owner, name)
    pick = label if callable(label) else (lambda *a, **k: label)
    wrapped: Any
    if asyncio.iscoroutinefunction(original):

        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with CLOCK.part(pick(*args, **kwargs)):
                return await original(*args, **kwargs)

        wrapped = async_wrapper
    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with CLOCK.part(pick(*args, **kwargs)):
                return original(*args, **kwargs)

        wrapped = wrapper
    setattr(owner, name, kind(wrapped) if kind is not None else wrapped)


def measure_turns(run_turn: Callable[[str, str], Any], texts: list[str], conversations: int, warmup: int,
                  profiler: Any = None) -> list[list[dict[str, Any]]]:  # fmt: skip
    """``conversations`` replays of ``texts`` (after ``warmup``), each turn's parts and total CPU ms."""
    results = []
    for n in range(warmup + conversations):
        sender = f"profile-{uuid.uuid4().hex[:10]}"
        turns = []
        for text in texts:
            CLOCK.take()
            if profiler is not None:
                profiler.enable()
            started = time.process_time()
            with CLOCK.part("(turn, unattributed)"):
                run_turn(sender, text)
            total = time.process_time() - started
            if profiler is not None:
                profiler.disable()
            spent, wall, calls = CLOCK.take()
            turns.append(
                {
                    "text": text,
                    "total_ms": total * 1000,
                    "parts_ms": {k: v * 1000 for k, v in spent.items()},
                    "wall_ms": {k: v * 1000 for k, v in wall.items()},
                    "calls": calls,
                }
            )
        if n >= warmup:
            results.append(turns)
    return results


# --------------------------------------------------------------------------- the Rasa side (.venv-rasa)


def rasa_side(config: dict[str, Any]) -> dict[str, Any]:
    """Replay the conversation through Rasa's Agent; run in ``.venv-rasa``."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.INFO)  # as `rasa run` does: debug events are dropped, not rendered
    logging.disable(logging.WARNING)
    from rasa.core.actions import action as rasa_action
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.engine.graph import GraphNode
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_runtime import degradation
    from bot.rasa_runtime.channels import with_address

    degradation.install({})
    try:
        from bot.rasa_runtime import answers
    except ImportError:  # a baseline from before Rasa's answer check was built once
        pass
    else:
        answers.install()
    recorded: list[dict[str, Any]] = []
    original_request = EndpointConfig.request

    async def recording_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = kwargs.get("json")
        if config.get("record") and isinstance(call, dict):
            recorded.append(call)
        return await original_request(self, *args, **kwargs)

    EndpointConfig.request = recording_request
    endpoint = EndpointConfig(config["action_url"], headers={"Authorization": f"Bearer {ACTION_TOKEN}"})
    tracker_store = SQLTrackerStore(dialect="sqlite", db=config["tracker_db"])
    lock_store = InMemoryLockStore()
    agent = Agent.load(config["model"], action_endpoint=endpoint, tracker_store=tracker_store, lock_store=lock_store)

    def node_label(self: Any, *args: Any, **kwargs: Any) -> str:
        return f"node {self._node_name}"

    timed(GraphNode, "__call__", node_label)
    timed(SQLTrackerStore, "_retrieve", "tracker store: load (SQL, JSON)")
    timed(DialogueStateTracker, "from_dict", "tracker store: load (replay events)")
    timed(SQLTrackerStore, "save", "tracker store: save")
    timed(SQLTrackerStore, "_additional_events", "tracker store: save (count stored events)")
    for name in ("issue_ticket", "_acquire_lock", "update_lock", "finish_serving", "cleanup"):
        timed(InMemoryLockStore, name, "lock store")
    timed(rasa_action.RemoteAction, "run", "action call (custom action, rest)")
    timed(rasa_action.RemoteAction, "_action_call_format", "action call: tracker (and domain) to dict")
    timed(EndpointConfig, "request", "action call: HTTP (aiohttp, JSON)")
    timed(rasa_action.RemoteAction, "_validate_action_result", "action call: check answer (jsonschema)")
    timed(Domain, "as_dict", "action call: domain to dict")
    timed(rasa_action.ActionExtractSlots, "run", "action_extract_slots")
    timed(rasa_action.ActionListen, "run", "action_listen")
    processor = agent.processor
    assert processor is not None
    timed(processor, "parse_message", "NLU (outside the nodes)")
    timed(processor, "_predict_next_with_tracker", "policies (outside the nodes)")
    loop = asyncio.new_event_loop()
    metadata = with_address({"customer_token": config["customer_token"]}, "127.0.0.1")
    replies: list[list[str]] = []

    def run_turn(sender: str, text: str) -> None:
        out = CollectingOutputChannel()
        message = UserMessage(text, out, sender, input_channel="rest", metadata=metadata)
        loop.run_until_complete(agent.handle_message(message))
        replies.append([m.get("text") or "" for m in out.messages])

    texts = config["texts"]
    profiler = None
    if config.get("cprofile"):
        import cProfile

        profiler = cProfile.Profile()
    turns = measure_turns(run_turn, texts, config["conversations"], config["warmup"])
    if profiler is not None:  # separate replays: the profiler slows down what it watches
        measure_turns(run_turn, texts, config["conversations"], 0, profiler)
        profiler.dump_stats(config["cprofile"])
    if config.get("record"):
        # the last conversation's calls: the first may have met a cold action server (and the action deadline)
        last = [call for call in recorded if call.get("sender_id") == recorded[-1].get("sender_id")]
        Path(config["record"]).write_text(json.dumps(last))
    import bot.rasa_runtime.nlu.intent_model as code

    return {
        "turns": turns,
        "replies": replies[len(texts) * (config["warmup"] + config["conversations"] - 1) :][: len(texts)],
        "code": code.__file__,
    }


# --------------------------------------------------------------------------- the action side (.venv)


def action_side(config: dict[str, Any]) -> dict[str, Any]:
    """Run the recorded action calls through rasa-sdk's executor in-process; run in ``.venv``."""
    import logging

    logging.disable(logging.WARNING)
    os.environ.update(config["env"])
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    import actions.dialogue.capabilities as capabilities
    import actions.dialogue.resolve as resolve
    from analytics.security import tokens
    from bot.action_metrics import ObservedExecutor

    executor = ObservedExecutor()
    executor.register_package("actions")
    statements: dict[str, int] = defaultdict(int)

    @event.listens_for(Engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements["n"] += 1
        conn.info.setdefault("turn_profile", []).append(time.process_time())

    @event.listens_for(Engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = conn.info["turn_profile"].pop()
        statements["driver_us"] += int((time.process_time() - started) * 1e6)

    timed(Session, "execute", "SQL (ORM execute, driver included)")
    timed(Session, "scalars", "SQL (ORM execute, driver included)")
    timed(Session, "get", "SQL (ORM get)")
    timed(Session, "commit", "SQL (commit)")
    for name in ("verify_customer_token", "verify_conversation_identity", "sign_conversation_identity"):
        for module in (tokens, sys.modules["actions.base"], sys.modules["actions.respond"]):
            if hasattr(module, name):
                timed(module, name, "tokens (JWT)")
    # the use cases the dialogue calls, by name
    for module in (capabilities, resolve):
        for name, value in list(vars(module).items()):
            if getattr(value, "__module__", "").startswith("analytics.usecases") and callable(value):
                if not isinstance(value, type):  # a function imported by name
                    timed(module, name, f"use case {value.__module__.split('.')[-1]}.{name}")
            elif getattr(value, "__name__", "").startswith("analytics.usecases."):  # a module: its functions
                for fname, fn in list(vars(value).items()):
                    if callable(fn) and not isinstance(fn, type) and getattr(fn, "__module__", "") == value.__name__:
                        timed(value, fname, f"use case {value.__name__.split('.')[-1]}.{fname}")
    calls = json.loads(Path(config["payloads"]).read_text())
    loop = asyncio.new_event_loop()
    per_call_statements: list[int] = []
    answers: list[Any] = []

    def run_turn(_sender: str, index_text: str) -> None:
        call = calls[int(index_text)]
        before_n = statements["n"]
        result = loop.run_until_complete(executor.run(json.loads(json.dumps(call))))
        per_call_statements.append(statements["n"] - before_n)
        answers.append(result.model_dump() if hasattr(result, "model_dump") else result)

    indexes = [str(i) for i in range(len(calls))]
    turns = measure_turns(run_turn, indexes, config["conversations"], config["warmup"])
    for replay in turns:
        for turn, call in zip(replay, calls):
            turn["text"] = call["next_action"] + ": " + str((call["tracker"].get("latest_message") or {}).get("text"))
    n = len(calls)
    return {
        "turns": turns,
        "statements": per_call_statements[-n:],
        "responses": [[r.get("response") for r in (a or {}).get("responses") or []] for a in answers[-n:]],
    }


# --------------------------------------------------------------------------- the driver (.venv)


def baseline_tree(rev: str, work: Path, paths: list[str]) -> Path:
    """A copy of the working tree's packages with ``paths`` (files or folders) as they were at ``rev``."""
    tree = work / f"code-{rev[:12]}"
    for package in ("bot", "analytics", "actions"):
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
    for path in paths:
        if (tree / path).is_dir():
            shutil.rmtree(tree / path)
        elif (tree / path).exists():
            (tree / path).unlink()
    files = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", *paths], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    for name in files:
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run(["git", "show", f"{rev}:{name}"], cwd=ROOT, check=True,
                                          capture_output=True).stdout)  # fmt: skip
    return tree


def run_side(python: Path, side: str, config: dict[str, Any], code: Path, env: dict[str, str]) -> dict[str, Any]:
    out = Path(config["out"])
    cfg = out.with_suffix(".cfg.json")
    cfg.write_text(json.dumps(config))
    done = subprocess.run(
        [str(python), str(Path(__file__).resolve()), side, str(cfg)],
        cwd=ROOT,
        env={**os.environ, **env, "TURN_PROFILE_CODE": str(code)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@contextmanager
def action_server(env: dict[str, str], work: Path) -> Iterator[str]:
    import requests

    from bench.load import free_port

    port = free_port()
    log = (work / "actions.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.action_server", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env, "CRM_ACTION_TOKEN": ACTION_TOKEN}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the action server did not start; see {work / 'actions.log'}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per turn position: the median total and the median of each part, over every conversation of ``runs``."""
    replays = [replay for run in runs for replay in run["turns"]]
    table: dict[str, Any] = {"conversations": len(replays), "turns": []}
    for i, first in enumerate(replays[0]):
        samples = [replay[i] for replay in replays]
        parts = sorted({k for s in samples for k in s["parts_ms"]})
        table["turns"].append(
            {
                "text": first["text"],
                "total_ms": statistics.median(s["total_ms"] for s in samples),
                "parts_ms": {p: statistics.median(s["parts_ms"].get(p, 0.0) for s in samples) for p in parts},
                "wall_ms": {p: statistics.median(s["wall_ms"].get(p, 0.0) for s in samples) for p in parts},
                "calls": {p: statistics.median(s["calls"].get(p, 0) for s in samples) for p in parts},
            }
        )
    table["conversation_ms"] = statistics.median(sum(t["total_ms"] for t in replay) for replay in replays)
    return table


def print_table(title: str, arms: dict[str, dict[str, Any]]) -> None:
    names = list(arms)
    print(f"\n## {title}: CPU ms per turn, median over {arms[names[0]]['conversations']} conversations per arm")
    parts: dict[str, float] = defaultdict(float)
    for arm in arms.values():
        for turn in arm["turns"]:
            for part, ms in turn["parts_ms"].items():
                parts[part] += ms
    print("\nmean over the turns of the per-turn medians (ms):")
    print("| part | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for part in sorted(parts, key=lambda p: -parts[p]):
        cells = [statistics.fmean(t["parts_ms"].get(part, 0.0) for t in arms[n]["turns"]) for n in names]
        if max(cells) >= 0.05:
            print(f"| {part} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    totals = [statistics.fmean(t["total_ms"] for t in arms[n]["turns"]) for n in names]
    print("| **turn total** | " + " | ".join(f"**{c:.1f}**" for c in totals) + " |")
    print("\nper turn (total CPU ms, median):")
    print("| turn | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for i, turn in enumerate(arms[names[0]]["turns"]):
        print(f"| {turn['text'][:60]} | " + " | ".join(f"{arms[n]['turns'][i]['total_ms']:.1f}" for n in names) + " |")
    print("| whole conversation | " + " | ".join(f"{arms[n]['conversation_ms']:.1f}" for n in names) + " |")


GROWING = [
    "tracker store: load (SQL, JSON)",
    "tracker store: load (replay events)",
    "tracker store: save",
    "tracker store: save (count stored events)",
    "node run_RulePolicy0",
    "action call: HTTP (aiohttp, JSON)",
    "action call: tracker (and domain) to dict",
]


def print_growth(name: str, arm: dict[str, Any]) -> None:
    """The parts that depend on the conversation's length, turn by turn (one arm)."""
    print(f"\nthe parts that grow with the conversation, per turn ({name}, CPU ms, median):")
    print("| # | turn | total | " + " | ".join(GROWING) + " |")
    print("|---:|---|---:|" + "---:|" * len(GROWING))
    for i, turn in enumerate(arm["turns"], 1):
        parts = " | ".join(f"{turn['parts_ms'].get(p, 0.0):.2f}" for p in GROWING)
        print(f"| {i} | {turn['text'][:40]} | {turn['total_ms']:.1f} | {parts} |")


def driver(args: argparse.Namespace) -> None:
    from bench.load import customers_of, seed_sqlite

    work = Path(tempfile.mkdtemp(prefix="turn-profile-"))
    env = seed_sqlite(work)
    people_file = customers_of(env["DATABASE_URL"], Path(env["CRM_VAR_DIR"]), work / "customers.json")
    people = json.loads(people_file.read_text())
    customer = people[0]
    texts = conversation(customer["orders"], args.turns)
    store = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    # arm: the code it imports
    arms_code: dict[str, Path] = {"after": ROOT}
    if args.baseline_rev:
        arms_code = {"before": baseline_tree(args.baseline_rev, work, args.baseline_paths or OWNED), "after": ROOT}
    rasa_python = ROOT / ".venv-rasa" / "bin" / "python"
    rasa_runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    action_runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    payloads = work / "action_calls.json"
    order = list(arms_code)
    # each round starts with another arm, and every other round runs them backwards
    rotations = [order[r % len(order) :] + order[: r % len(order)] for r in range(args.rounds)]
    schedule = [arms if (r // len(order)) % 2 == 0 else arms[::-1] for r, arms in enumerate(rotations)]
    with action_server(env, work) as url:
        for r, arms in enumerate(schedule):
            for arm in arms:
                slug = arm.replace(" ", "").replace("+", "-")
                config = {
                    "model": str(args.model.resolve()), "action_url": url, "texts": texts,
                    "customer_token": customer["token"], "tracker_db": str(work / f"tracker-{slug}-{r}.sqlite3"),
                    "conversations": args.conversations, "warmup": args.warmup,
                    "out": str(work / f"rasa-{slug}-{r}.json"),
                    "record": str(payloads) if not payloads.exists() else None,
                    "cprofile": args.cprofile if (args.cprofile and arm == "after" and r == 0) else None,
                }  # fmt: skip
                rasa_runs[arm].append(run_side(rasa_python, "rasa-side", config, arms_code[arm], RASA_ENV))
                print(f"round {r + 1} {arm}: Rasa side done", file=sys.stderr)
    action_arms = order
    for r in range(args.rounds):
        for arm in action_arms if r % 2 == 0 else action_arms[::-1]:
            copy = work / f"store-{arm}-{r}.sqlite3"
            shutil.copyfile(store, copy)
            config = {
                "payloads": str(payloads), "conversations": args.conversations, "warmup": args.warmup,
                "out": str(work / f"actions-{arm}-{r}.json"), "env": {**env, "DATABASE_URL": f"sqlite:///{copy}"},
            }  # fmt: skip
            action_runs[arm].append(run_side(Path(sys.executable), "action-side", config, arms_code[arm], {}))
            print(f"round {r + 1} {arm}: action side done", file=sys.stderr)
    print(f"conversation: {texts}")
    for arm, runs in rasa_runs.items():
        print(f"{arm} ({runs[-1]['code']}) replies (last replay): {json.dumps(runs[-1]['replies'])[:2000]}")
    same = len({json.dumps(runs[-1]["replies"]) for runs in rasa_runs.values()}) == 1
    print("every arm gave the same replies" if same else "THE ARMS' REPLIES DIFFER")
    for arm, runs in action_runs.items():
        print(f"{arm} SQL statements per action call: {runs[-1]['statements']}; responses: {runs[-1]['responses']}")
    rasa_table = {arm: medians(runs) for arm, runs in rasa_runs.items()}
    action_table = {arm: medians(runs) for arm, runs in action_runs.items()}
    print_table("Rasa process", rasa_table)
    print_growth(list(rasa_table)[-1], rasa_table[list(rasa_table)[-1]])
    print_table("Action server (executor in-process, same calls)", action_table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rasa": rasa_table, "actions": action_table, "texts": texts}, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work directory: {work}", file=sys.stderr)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("rasa-side", "action-side"):
        config = json.loads(Path(sys.argv[2]).read_text())
        result = (rasa_side if sys.argv[1] == "rasa-side" else action_side)(config)
        Path(config["out"]).write_text(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a trained model (.tar.gz)")
    parser.add_argument("--baseline-rev", help="also run the issue's files as they were at this git revision")
    parser.add_argument("--baseline-paths", nargs="+", help="the files or folders taken from --baseline-rev "
                        "(default: the files issue 15 may change)")  # fmt: skip
    parser.add_argument("--turns", type=int, default=6, help="turns per conversation (6: the one described above)")
    parser.add_argument("--conversations", type=int, default=5, help="measured replays per subprocess")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured replays first")
    parser.add_argument("--rounds", type=int, default=2, help="subprocesses per code version, alternating")
    parser.add_argument("--cprofile", help="write a cProfile dump of the Rasa side's first 'after' round here")
    parser.add_argument("--out", type=Path, help="write the medians as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    driver(parser.parse_args())


if __name__ == "__main__":
    main()
