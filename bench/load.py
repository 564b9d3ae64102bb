"""Load on the real servers: customers chatting over REST, ours beside Rasa's starter bot, in one run.

Four stacks run on loopback, each with the tracker store it would have in that shape:

- ``ours-run``: ``crm serve`` as ``make run`` starts it (supervisord; one Rasa process, one
  action-server worker, the web app; SQLite customer and tracker stores);
- ``ours-prod``: ``crm serve --production`` (``bot/production.py``): PostgreSQL customer and
  tracker stores, Redis locks and limits, ``--processes`` Rasa processes, the profile's
  action-server processes (``CRM_PROD_ACTION_PROCESSES``, 2), customers reaching it through the
  nginx gateway;
- ``ours-prod-w`` (only when asked for): the same with one Rasa process of ``--processes``
  Sanic workers (``SANIC_WORKERS``) instead of several processes;
- ``starter-1``: Rasa's own starter bot (``rasa init``, trained here), one process, SQLite
  tracker store: the peer of ``ours-run``;
- ``starter-N``: the starter bot with the same number of processes as ``ours-prod``, the
  same PostgreSQL tracker store, Redis lock store and nginx gateway: its peer.

Each simulated customer (a locust user, each from a loopback address of its own, so the
gateway's per-address limits apply as to real customers) holds conversations: a greeting,
three or four of the capabilities at random, a goodbye. 60 % are signed in (a signed
customer token in the message metadata, as the chat page sends it): order status of one of
their own orders, points, the list of their orders, recommendations, a price question,
opening hours; the others are anonymous (price, hours, recommendations, an order number the
bot then asks them to prove, a person). The starter bot gets its own intents (greeting,
moods, "are you a bot?", goodbye) in conversations of the same length.
Phases alternate between the stacks (``--rounds``), so each sees the machine in the same
state; the first ``--warmup`` seconds of each phase are not counted. A turn fails when the
status is not 200 or the bot says nothing; an apology for an unavailable action server is
counted apart. Afterwards every message answered with 200 must be in its stack's tracker
store exactly once (``lost``: missing, ``dup``: stored more than once).

    .venv/bin/python bench/load.py [--clients 16] [--seconds 45] [--rounds 2]
    .venv/bin/python bench/load.py --stacks ours-prod --customers 50,100,200 --think 5-15 --seconds 120

The load itself runs in a child process (``bench/load.py drive``) that imports locust, whose
gevent patches the standard library; this process starts and stops the servers.
Machines are shared: compare the ratios and the medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED_CLOCK = "06:00"
TOKEN_SECRET = "load-" + "5a" * 24
APOLOGY = "part of our system isn't answering"


# --------------------------------------------------------------------------- conversations


def ours_conversation(rng: random.Random, customer: Optional[dict[str, Any]]) -> list[str]:
    """One conversation of ours: greeting, three or four capabilities, goodbye."""
    if customer is not None:
        middle = [
            f"where is my order {rng.choice(customer['orders'])}?",
            rng.choice(["how many points do I have?", "what's my loyalty balance"]),
            rng.choice(["show me my orders", "list my recent orders"]),
            rng.choice(["any recommendations for me?", "what would you recommend"]),
            rng.choice(["how much is the jumbo bag red retrospot?", "what does the lunch bag cost"]),
            "what are your opening hours",
        ]
    else:
        middle = [
            rng.choice(["how much is the jumbo bag red retrospot?", "price of the lunch bag?"]),
            "what are your opening hours",
            rng.choice(["recommend me something", "what are your best sellers"]),
            "where is my order 536365?",
            "how do I return an item",
        ]
    rng.shuffle(middle)
    greeting = rng.choice(["hi", "hello", "good morning"])
    goodbye = rng.choice(["thanks, bye", "goodbye", "that's all, thank you"])
    return [greeting, *middle[: rng.choice([3, 4])], goodbye]


def starter_conversation(rng: random.Random, _customer: Optional[dict[str, Any]]) -> list[str]:
    """One conversation of the starter bot, as long as ours (its domain: greet, moods, bot challenge, bye)."""
    middle = ["I am sad", "great, carry on", "are you a bot?", "not really", "I'm feeling very good"]
    rng.shuffle(middle)
    return [rng.choice(["hi", "hello"]), *middle[: rng.choice([3, 4])], "goodbye"]


# --------------------------------------------------------------------------- the load (child process, locust)


def drive(args: argparse.Namespace) -> None:
    """Run locust users against ``args.target`` and write every request (time, latency, outcome) as JSON."""
    import gevent
    from locust import HttpUser, constant, task
    from locust.env import Environment
    from requests.adapters import HTTPAdapter

    customers = json.loads(Path(args.customers_file).read_text()) if args.customers_file else []
    conversation = starter_conversation if args.bot == "starter" else ours_conversation
    think_low, think_high = (float(x) for x in args.think.split("-")) if "-" in args.think else (0.0, 0.0)
    records: list[dict[str, Any]] = []
    started = time.time()
    counter = iter(range(10**9))

    class FromAddress(HTTPAdapter):
        def __init__(self, address: str) -> None:
            self.address = address
            super().__init__(pool_connections=1, pool_maxsize=1)

        def init_poolmanager(self, *a: Any, **kw: Any) -> None:
            kw["source_address"] = (self.address, 0)
            super().init_poolmanager(*a, **kw)

    class Customer(HttpUser):
        host = args.target
        wait_time = constant(0)

        def on_start(self) -> None:
            n = next(counter)
            self.rng = random.Random(args.seed * 100_003 + n)
            address = f"127.0.{1 + n // 250}.{1 + n % 250}"
            self.client.mount("http://", FromAddress(address))
            self.n = n

        @task
        def converse(self) -> None:
            signed_in = bool(customers) and self.rng.random() < 0.6
            customer = self.rng.choice(customers) if signed_in else None
            sender = f"{args.prefix}-{self.n}-{uuid.uuid4().hex[:8]}"
            metadata = {"customer_token": customer["token"]} if customer else {}
            for i, text in enumerate(conversation(self.rng, customer)):
                if i and think_high:
                    gevent.sleep(self.rng.uniform(think_low, think_high))
                t0 = time.time()
                outcome = "ok"
                try:
                    reply = self.client.post(
                        "/webhooks/rest/webhook",
                        json={"sender": sender, "message": text, "metadata": metadata},
                        timeout=60,
                        name="turn",
                    )
                    texts = [m.get("text") or "" for m in reply.json()] if reply.status_code == 200 else []
                    if reply.status_code != 200:
                        outcome = f"http {reply.status_code}"
                    elif not any(texts) and not any(m.get("custom") or m.get("image") for m in reply.json()):
                        outcome = "silent"
                    elif any(APOLOGY in t for t in texts):
                        outcome = "apology"
                except Exception as exc:  # connection refused, timeout, unreadable answer
                    outcome = type(exc).__name__
                records.append(
                    {"t": t0 - started, "ms": (time.time() - t0) * 1000, "outcome": outcome, "sender": sender,
                     "text": text}
                )  # fmt: skip

    env = Environment(user_classes=[Customer])
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate or args.users)
    gevent.spawn_later(args.seconds, runner.quit)
    runner.greenlet.join()
    Path(args.out).write_text(json.dumps(records))


# --------------------------------------------------------------------------- stacks (this process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Target:
    name: str
    url: str
    bot: str  # "ours" or "starter"
    tracker: str  # SQLAlchemy URL of its tracker store
    processes: int
    customers_file: Optional[Path] = None
    sent: list[dict[str, Any]] = field(default_factory=list)


def wait_until(url: str, timeout: float = 300.0, model: bool = False) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answer = requests.get(url, timeout=2)
            if answer.ok and (not model or answer.json().get("model_file")):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def seed_sqlite(work: Path) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_TOKEN_SECRET": TOKEN_SECRET,
    }
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "seed", "--clock", SEED_CLOCK],
        cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
    )  # fmt: skip
    return env


def customers_of(database_url: str, var_dir: Path, out: Path, n: int = 40) -> Path:
    """Signed tokens and order numbers of the ``n`` customers with the most orders (the harness signs them in)."""
    from sqlalchemy import create_engine, text

    from analytics.core.settings import Settings
    from analytics.security.tokens import sign_customer_token

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select customer_id, number from orders where customer_id in (select customer_id from orders "
                "where customer_id is not null group by customer_id order by count(*) desc, customer_id limit :n)"
            ),
            {"n": n},
        ).all()
    engine.dispose()
    orders: dict[int, list[str]] = {}
    for customer_id, number in rows:
        orders.setdefault(int(customer_id), []).append(str(number))
    # by their environment names (the settings have no field-name aliases), through __init__ so the
    # environment is still read
    named: dict[str, Any] = {"CRM_TOKEN_SECRET": TOKEN_SECRET, "CRM_VAR_DIR": str(var_dir)}
    settings = Settings(**named)
    people = [
        {"token": sign_customer_token(cid, settings=settings, ttl=6 * 3600), "orders": numbers[:5]}
        for cid, numbers in sorted(orders.items())
    ]
    out.write_text(json.dumps(people))
    return out


@contextmanager
def ours_run(work: Path, model: Path) -> Iterator[Target]:
    from bot.supervise import start_supervised

    env = seed_sqlite(work)
    actions = free_port()
    endpoints = work / "endpoints.yml"
    tracker = work / "tracker.sqlite3"
    endpoints.write_text(
        json.dumps(
            {
                "action_endpoint": {"url": f"http://127.0.0.1:{actions}/webhook"},
                "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(tracker)},
            }
        )
    )
    stack = start_supervised(
        model=model, rasa_port=free_port(), actions_port=actions, web_port=free_port(), endpoints=endpoints,
        log_dir=work / "log", state_dir=work / "sup", env=env,
    )  # fmt: skip
    try:
        people = customers_of(env["DATABASE_URL"], Path(env["CRM_VAR_DIR"]), work / "customers.json")
        yield Target("ours-run", stack.rasa_url, "ours", f"sqlite:///{tracker}", 1, people)
    finally:
        stack.stop()


@contextmanager
def postgres_databases(names: list[str]) -> Iterator[dict[str, str]]:
    """Databases of this run on the local PostgreSQL (``CRM_TEST_POSTGRES_URL``'s server), dropped at the end."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    admin = create_engine(admin_url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        yield {name: admin_url.set(database=name).render_as_string(hide_password=False) for name in names}
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def ours_prod(
    work: Path, model: Path, processes: int, databases: dict[str, str], run: str, sanic_workers: int = 1
) -> Iterator[Target]:
    from sqlalchemy.engine import make_url

    from analytics.core.settings import ProductionSettings, Settings
    from bot.production import Ports, start_production

    store = make_url(databases[f"crm_load_{run}"]).set(drivername="postgresql+psycopg")
    tracker = make_url(databases[f"crm_load_{run}_tracker"]).set(drivername="postgresql")
    overrides: dict[str, Any] = {
        "CRM_PROD_DATABASE_URL": store.render_as_string(hide_password=False),
        "CRM_PROD_TRACKER_URL": tracker.render_as_string(hide_password=False),
        "CRM_PROD_ADMIN_DATABASE": make_url(os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://x@h/test")).database,
        "CRM_PROD_GATEWAY_PORT": free_port(),
        "CRM_PROD_RASA_PROCESSES": processes,
        "CRM_PROD_RASA_WORKERS": sanic_workers,
    }
    prod = ProductionSettings(**overrides)  # the rest (Redis URLs...) from the environment, as `crm serve` reads it
    env = {
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_TOKEN_SECRET": TOKEN_SECRET,
    }
    settings = Settings(production=prod, **env)  # type: ignore[arg-type]
    ports = Ports(
        tuple(free_port() for _ in range(processes)), free_port(), free_port(),
        tuple(free_port() for _ in range(prod.action_processes)),
    )  # fmt: skip
    stack = start_production(settings, model=model, ports=ports, state_dir=work / "prod", env={**os.environ, **env})
    try:
        people = customers_of(store.render_as_string(hide_password=False), work / "var", work / "customers.json")
        tracker_url = tracker.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        name = "ours-prod" if sanic_workers == 1 else "ours-prod-w"
        yield Target(name, stack.gateway_url, "ours", tracker_url, processes, people)
    finally:
        stack.stop()


def train_starter(work: Path) -> tuple[Path, Path]:
    from bot.launch import quiet_rasa_env, rasa_executable

    project = work / "starter"
    project.mkdir()
    subprocess.run(
        [str(rasa_executable()), "init", "--no-prompt", "--init-dir", str(project)],
        env=quiet_rasa_env(), check=True, capture_output=True,
    )  # fmt: skip
    return project, next((project / "models").glob("*.tar.gz"))


@contextmanager
def starter(
    work: Path, project: Path, model: Path, processes: int, databases: Optional[dict[str, str]], run: str
) -> Iterator[Target]:
    """The starter bot: one process on a SQLite tracker store, or several behind nginx on PostgreSQL and Redis."""
    import yaml
    from sqlalchemy.engine import make_url

    from analytics.core.settings import ProductionSettings
    from bot import gateway
    from bot.launch import quiet_rasa_env, rasa_executable
    from bot.production import lock_key_prefix, production_endpoints

    name = f"starter-{processes}"
    folder = work / name
    folder.mkdir(exist_ok=True)
    endpoints = folder / "endpoints.yml"
    ports = [free_port() for _ in range(processes)]
    if databases is None:
        tracker_url = f"sqlite:///{folder / 'tracker.sqlite3'}"
        store = {"type": "SQL", "dialect": "sqlite", "db": str(folder / "tracker.sqlite3")}
        endpoints.write_text(yaml.safe_dump({"tracker_store": store}))
    else:
        tracker = make_url(databases[f"crm_load_{run}_starter"]).set(drivername="postgresql")
        overrides: dict[str, Any] = {
            "CRM_PROD_TRACKER_URL": tracker.render_as_string(hide_password=False),
            "CRM_PROD_ADMIN_DATABASE": make_url(
                os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://x@h/test")
            ).database,
            "CRM_PROD_GATEWAY_PORT": free_port(),
        }
        prod = ProductionSettings(**overrides)
        production_endpoints(
            project / "endpoints.yml", endpoints, prod=prod, actions_port=5055, key_prefix=lock_key_prefix() + "s"
        )
        data = yaml.safe_load(endpoints.read_text())
        data.pop("action_endpoint")  # the starter bot has no custom actions
        # the peer runs Rasa's own stores on the same PostgreSQL and Redis, not ours (bot/rasa_runtime/stores.py)
        data["tracker_store"]["type"] = "SQL"
        data["lock_store"]["type"] = "redis"
        data["lock_store"].pop("socket_timeout", None)
        endpoints.write_text(yaml.safe_dump(data))
        tracker_url = tracker.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    with ExitStack() as stack:
        logs = [stack.enter_context((folder / f"rasa-{i}.log").open("wb")) for i in range(processes)]
        procs = [
            subprocess.Popen(
                [
                    str(rasa_executable()),
                    "run",
                    "--enable-api",
                    "--port",
                    str(port),
                    "--model",
                    str(model),
                    "--endpoints",
                    str(endpoints),
                ],
                cwd=project,
                env=quiet_rasa_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for port, log in zip(ports, logs)
        ]
        try:
            for port in ports:
                wait_until(f"http://127.0.0.1:{port}/status", model=True)
            url = f"http://127.0.0.1:{ports[0]}"
            if databases is not None:
                plan = gateway.GatewayPlan.from_settings(
                    prod, rasa_ports=tuple(ports), web_port=ports[0], state_dir=folder / "gateway", log_dir=folder
                )
                nginx = gateway.nginx_executable(prod.nginx_bin)
                gateway.write_config(plan, nginx)
                launch = gateway.gateway(plan, nginx)
                procs.append(subprocess.Popen(launch.argv, env=launch.env, start_new_session=True))
                url = plan.url
                wait_until(f"{url}/webhooks/rest/")
            yield Target(name, url, "starter", tracker_url, processes)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()


# --------------------------------------------------------------------------- measuring


def run_phase(target: Target, users: int, seconds: float, think: str, work: Path, seed: int) -> list[dict[str, Any]]:
    out = work / f"phase-{uuid.uuid4().hex[:8]}.json"
    spawn_rate = users if think == "0" else max(1.0, users / 10)
    command = [
        sys.executable, str(Path(__file__).resolve()), "drive", "--target", target.url, "--users", str(users),
        "--seconds", str(seconds), "--think", think, "--out", str(out), "--bot", target.bot, "--seed", str(seed),
        "--prefix", f"load-{uuid.uuid4().hex[:6]}", "--spawn-rate", str(spawn_rate),
    ]  # fmt: skip
    if target.customers_file:
        command += ["--customers-file", str(target.customers_file)]
    log = work / "drive.log"
    with log.open("ab") as output:
        done = subprocess.run(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"the load driver failed (status {done.returncode}):\n{log.read_text()[-3000:]}")
    records: list[dict[str, Any]] = json.loads(out.read_text())
    target.sent.extend(r for r in records if r["outcome"] in ("ok", "apology"))
    return records


def summarise(records: list[dict[str, Any]], warmup: float, seconds: float) -> dict[str, Any]:
    counted = [r for r in records if r["t"] >= warmup]
    ok = [r["ms"] for r in counted if r["outcome"] == "ok"]
    ok.sort()
    errors = Counter(r["outcome"] for r in counted if r["outcome"] not in ("ok", "apology"))
    return {
        "turns_per_s": round(len(ok) / (seconds - warmup), 2),
        "p50_ms": round(statistics.median(ok), 1) if ok else None,
        "p95_ms": round(ok[int(0.95 * (len(ok) - 1))], 1) if ok else None,
        "turns": len(ok),
        "apologies": sum(r["outcome"] == "apology" for r in counted),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
    }


def lost_events(target: Target) -> dict[str, int]:
    """Messages answered with 200 that the tracker store does not hold exactly once."""
    from sqlalchemy import create_engine, text

    senders = sorted({r["sender"] for r in target.sent})
    engine = create_engine(target.tracker)
    stored: Counter[tuple[str, str]] = Counter()
    with engine.connect() as conn:
        for i in range(0, len(senders), 500):
            chunk = senders[i : i + 500]
            marks = ",".join(f":s{j}" for j in range(len(chunk)))
            rows = conn.execute(
                text(f"select sender_id, data from events where type_name = 'user' and sender_id in ({marks})"),
                {f"s{j}": s for j, s in enumerate(chunk)},
            ).all()
            stored.update((sender, json.loads(data).get("text")) for sender, data in rows)
    engine.dispose()
    expected = Counter((r["sender"], r["text"]) for r in target.sent)
    lost = sum(max(0, n - stored[key]) for key, n in expected.items())
    dup = sum(max(0, stored[key] - n) for key, n in expected.items())
    return {"checked": sum(expected.values()), "lost": lost, "dup": dup}


def median_of(rounds: list[dict[str, Any]], key: str) -> Optional[float]:
    values = [r[key] for r in rounds if r[key] is not None]
    return round(statistics.median(values), 2) if values else None


def main() -> None:
    if sys.argv[1:2] == ["drive"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("drive")
        for option in ("--target", "--think", "--out", "--bot", "--prefix", "--customers-file"):
            parser.add_argument(option)
        parser.add_argument("--users", type=int)
        parser.add_argument("--seconds", type=float)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--spawn-rate", type=float, default=0)
        drive(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="our model (default: newest in models/)")
    parser.add_argument("--stacks", default="ours-run,ours-prod,starter-1,starter-N")
    parser.add_argument("--clients", type=int, default=16, help="simulated customers without think time")
    parser.add_argument("--customers", default="", help="with --think: comma-separated counts, e.g. 50,100,200")
    parser.add_argument("--think", default="0", help="seconds between turns, LOW-HIGH (uniform), or 0")
    parser.add_argument("--seconds", type=float, default=45.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the start of a phase not counted")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="Rasa processes of ours-prod and starter-N")
    args = parser.parse_args()
    if args.think != "0" and "-" not in args.think:
        parser.error("--think is 0 or LOW-HIGH seconds, e.g. 5-15")
    if args.warmup >= args.seconds:
        parser.error("--warmup must be shorter than --seconds")
    from bot.launch import newest_model

    model = (args.model or newest_model()).resolve()
    wanted = args.stacks.split(",")
    counts = [int(c) for c in args.customers.split(",") if c] or [args.clients]
    run = uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="crm-load-"))
    names = [f"crm_load_{run}", f"crm_load_{run}_tracker", f"crm_load_{run}_starter"]
    results: dict[str, dict[int, list[dict[str, Any]]]] = {}
    try:
        with ExitStack() as stacks, postgres_databases(names) as databases:
            targets: list[Target] = []
            if any(s.startswith("starter") for s in wanted):
                print("training Rasa's starter bot ...", flush=True)
                project, starter_model = train_starter(work)
            for name in wanted:
                print(f"starting {name} ...", flush=True)
                folder = work / name
                folder.mkdir(exist_ok=True)
                if name == "ours-run":
                    targets.append(stacks.enter_context(ours_run(folder, model)))
                elif name == "ours-prod":
                    targets.append(stacks.enter_context(ours_prod(folder, model, args.processes, databases, run)))
                elif name == "ours-prod-w":  # one Rasa process with --processes Sanic workers (SANIC_WORKERS)
                    workers = ours_prod(folder, model, 1, databases, run, sanic_workers=args.processes)
                    targets.append(stacks.enter_context(workers))
                elif name == "starter-1":
                    targets.append(stacks.enter_context(starter(work, project, starter_model, 1, None, run)))
                elif name == "starter-N":
                    targets.append(
                        stacks.enter_context(starter(work, project, starter_model, args.processes, databases, run))
                    )
                else:
                    parser.error(f"unknown stack {name}")
            for count in counts:
                for round_ in range(args.rounds):
                    order = targets if round_ % 2 == 0 else list(reversed(targets))
                    for target in order:
                        records = run_phase(target, count, args.seconds, args.think, work, seed=round_)
                        summary = summarise(records, args.warmup, args.seconds)
                        results.setdefault(target.name, {}).setdefault(count, []).append(summary)
                        print(
                            f"{target.name:10} {count:4} customers, round {round_ + 1}: {json.dumps(summary)}",
                            flush=True,
                        )
            checks = {t.name: lost_events(t) for t in targets}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nthink time {args.think} s; {args.seconds:.0f} s phases ({args.warmup:.0f} s warm-up), "
        f"medians of {args.rounds} rounds"
    )
    print(f"{'stack':10} {'users':>5} {'turns/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6} {'apolog.':>7}")
    for name, by_count in results.items():
        for count, rounds in by_count.items():
            print(
                f"{name:10} {count:>5} {median_of(rounds, 'turns_per_s'):>8} {median_of(rounds, 'p50_ms'):>8} "
                f"{median_of(rounds, 'p95_ms'):>8} {sum(r['errors'] for r in rounds):>6} "
                f"{sum(r['apologies'] for r in rounds):>7}"
            )
    print("tracker stores (every answered message exactly once):", json.dumps(checks))
    pairs = [
        ("ours-run", "starter-1"),
        ("ours-prod", f"starter-{args.processes}"),
        ("ours-prod", "ours-run"),
        ("ours-prod", "ours-prod-w"),
    ]
    for ours, peer in pairs:
        for count in counts:
            if count in results.get(ours, {}) and count in results.get(peer, {}):
                a, b = results[ours][count], results[peer][count]
                tput = (median_of(a, "turns_per_s") or 0) / (median_of(b, "turns_per_s") or 1)
                p95 = (median_of(a, "p95_ms") or 0) / (median_of(b, "p95_ms") or 1)
                print(f"{ours} / {peer} at {count}: throughput x{tput:.2f}, p95 x{p95:.2f}")
    print(json.dumps({"results": results, "tracker": checks}))


if __name__ == "__main__":
    main()
