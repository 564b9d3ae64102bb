"""Model swaps under load: chat clients talk to the assistant through the switch while the model changes.

Seeds a temporary store from the shipped sample (as ``make run`` does), starts
``crm nlu serve`` (action server, a Rasa server, the proxy on a free port) with
a SQL tracker store in the temporary folder and Redis as the lock store, and
runs ``--clients`` REST chat clients, each a signed-in customer cycling
through order, loyalty and product questions, waiting ``--think`` seconds on
average (0.5–1.5 times it, at random) between an answer and the next message. During the run it swaps the model
``--swaps`` times (alternating ``--model`` and ``--model-b``; the same file
twice is still a full swap: a new server loads it) through the switch's admin
API, as ``crm nlu publish`` does: both files are registered in the temporary
store first (the admin API loads registered models only) and the requests
carry the admin token (``CRM_OPS_TOKEN``, made up for the run).

A request fails when the status is not 200 or the bot answers nothing. Reports
every request's latency overall and in the windows from each swap's start to
five seconds after its old server stopped, and each swap's load, warm-up,
drain and stop times. With ``--put-model`` it then does what Rasa offers
itself, ``PUT /model`` on the live server, under the same load, for comparison.

    .venv/bin/python bench/swap_under_load.py [--model M] [--clients 4] [--swaps 2] [--think 1.0] [--put-model]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.core.settings import Settings  # noqa: E402
from analytics.security.tokens import sign_customer_token  # noqa: E402
from analytics.store.bootstrap import store_for_url  # noqa: E402
from bot.launch import newest_model  # noqa: E402
from bot.ops.project import Project  # noqa: E402
from bot.ops.registry import register_model  # noqa: E402
from bot.ops.swap import free_port  # noqa: E402
from bot.web.keys import rasa_api_headers  # noqa: E402

TURNS = [
    "where is my order 581580?",
    "how many points have I got?",
    "show me my orders",
    "any deals for me?",
    "what goes with the jumbo bag",
    "thanks",
]
CUSTOMERS = ["12748", "17841", "14911", "13089", "15311", "14606", "14096", "12921"]


@dataclass(frozen=True)
class Sample:
    started: float  # epoch seconds
    seconds: float
    ok: bool
    client: int


def seed_store(work: Path) -> dict[str, str]:
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_TOKEN_SECRET": "bench-" + "b2" * 24,
        "CRM_RASA_TOKEN": "bench-rasa-" + "c3" * 24,
        "CRM_OPS_TOKEN": "bench-ops-" + "d4" * 24,
    }
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "seed"], cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True
    )
    return env


def register(env: dict[str, str], *models: Path) -> None:
    """Put the model files in the temporary store's registry: the admin API swaps to registered models only."""
    uow = store_for_url(env["DATABASE_URL"]).unit_of_work()
    try:
        for model in models:
            register_model(uow, Project(ROOT), model, operator="bench")
    finally:
        uow.engine.dispose()


def admin_headers(env: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['CRM_OPS_TOKEN']}"}


def tokens(work: Path, env: dict[str, str], n: int) -> list[str]:
    settings = Settings(CRM_TOKEN_SECRET=env["CRM_TOKEN_SECRET"], CRM_VAR_DIR=env["CRM_VAR_DIR"])
    db = sqlite3.connect(work / "store.sqlite3")
    try:
        ids = [
            row[0]
            for ref in CUSTOMERS
            for row in db.execute("select id from customers where external_ref = ?", (ref,)).fetchall()
        ]
        ids = ids or [row[0] for row in db.execute("select id from customers order by id limit 8")]
    finally:
        db.close()
    return [sign_customer_token(ids[i % len(ids)], settings=settings, ttl=7200) for i in range(n)]


def start_switchboard(
    work: Path, env: dict[str, str], model: Path, *, tracker: str
) -> tuple[subprocess.Popen[bytes], str, str]:
    port, admin, actions = free_port(), free_port(), free_port()
    endpoints = work / "endpoints.yml"
    endpoints.write_text(
        json.dumps(
            {
                "action_endpoint": {"url": f"http://127.0.0.1:{actions}/webhook"},
                "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": tracker},
            }
        )
    )
    run_env = {**os.environ, **env, "CRM_OPS_ADMIN_URL": f"http://127.0.0.1:{admin}", "CRM_SWAP_DRAIN_SECONDS": "30"}
    log = (work / "switchboard.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "nlu", "serve", "--rasa-port", str(port), "--api-port", "0",
         "--actions-port", str(actions),
         "--model", str(model), "--endpoints", str(endpoints), "--log-dir", str(work / "log"), "--web-port", "0"],
        cwd=ROOT, env=run_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url, admin_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"crm nlu serve exited: {(work / 'switchboard.out').read_text()[-3000:]}")
        try:
            if httpx.get(f"{admin_url}/status", headers=admin_headers(env), timeout=2).json().get("live"):
                return proc, url, admin_url
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit("crm nlu serve did not come up within 300 s")


def chat(url: str, client: int, token: str, think: float, stop: threading.Event, out: list[Sample]) -> None:
    sender = f"bench-swap-{client}-{int(time.time())}"
    pause = random.Random(client)  # people do not type in step: each waits think × 0.5–1.5
    stop.wait(pause.uniform(0, think))
    with httpx.Client(timeout=60) as http:
        n = 0
        while not stop.is_set():
            started, t0 = time.time(), time.perf_counter()
            try:
                reply = http.post(
                    f"{url}/webhooks/rest/webhook",
                    json={"sender": sender, "message": TURNS[n % len(TURNS)], "metadata": {"customer_token": token}},
                )
                ok = reply.status_code == 200 and bool(reply.json())
            except (httpx.HTTPError, ValueError):
                ok = False
            out.append(Sample(started, time.perf_counter() - t0, ok, client))
            n += 1
            stop.wait(think * pause.uniform(0.5, 1.5))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def summary(samples: list[Sample]) -> dict[str, object]:
    seconds = [s.seconds for s in samples]
    return {
        "requests": len(samples),
        "failed": sum(not s.ok for s in samples),
        "p50_ms": round(1000 * percentile(seconds, 0.5), 1),
        "p99_ms": round(1000 * percentile(seconds, 0.99), 1),
        "max_ms": round(1000 * max(seconds, default=0.0), 1),
        "over_1s": sum(s > 1.0 for s in seconds),
    }


def slow_requests(samples: list[Sample], swaps: list[dict], over: float = 0.7) -> list[str]:  # type: ignore[type-arg]
    """Where the slow requests fell: seconds from the nearest swap's start and from its switch."""
    out = []
    for s in samples:
        if s.seconds <= over or not swaps:
            continue
        swap = min(swaps, key=lambda w: abs(s.started - w["started"]))
        switched = datetime.fromisoformat(swap["switched_at"]).replace(tzinfo=timezone.utc).timestamp()
        since_start, since_switch = s.started - swap["started"], s.started - switched
        at = datetime.fromtimestamp(s.started).strftime("%H:%M:%S.%f")[:-3]
        out.append(f"{at} {s.seconds:.2f} s: {since_start:+.1f} s from swap start, {since_switch:+.1f} s from switch")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the newest model in models/")
    parser.add_argument("--model-b", type=Path, default=None, help="the other model (default: --model again)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--swaps", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between an answer and the next message")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of load before, between and after swaps")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) and print where")
    parser.add_argument(
        "--put-model", action="store_true", help="then, for comparison, Rasa's PUT /model on the live server"
    )
    args = parser.parse_args()
    model_a = (args.model or newest_model()).resolve()
    model_b = (args.model_b or model_a).resolve()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="crm-swap-"))
    proc = None
    try:
        env = seed_store(work)
        register(env, model_a, model_b)
        proc, url, admin = start_switchboard(work, env, model_a, tracker=str(work / "tracker.sqlite3"))
        samples: list[Sample] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=chat, args=(url, i, token, args.think, stop, samples), daemon=True)
            for i, token in enumerate(tokens(work, env, args.clients))
        ]
        for thread in threads:
            thread.start()
        swaps = []
        time.sleep(args.settle)
        for i in range(args.swaps):
            target = model_b if i % 2 == 0 else model_a
            started = time.time()
            body = {"model": str(target), "wait_drain": True}
            report = httpx.post(f"{admin}/swap", json=body, headers=admin_headers(env), timeout=900).json()
            report["started"] = started
            report["ended"] = time.time()
            swaps.append(report)
            time.sleep(args.settle)
        put = None
        if args.put_model:  # the peer: Rasa's own model replacement, on the live server
            live = httpx.get(f"{admin}/status", headers=admin_headers(env), timeout=5).json()["live"]["url"]
            started = time.time()
            answer = httpx.put(
                f"{live}/model",
                json={"model_file": str(model_a)},
                headers=rasa_api_headers(env["CRM_RASA_TOKEN"]),
                timeout=900,
            )
            put = {"started": started, "ended": time.time(), "status": answer.status_code}
            time.sleep(args.settle)
        stop.set()
        for thread in threads:
            thread.join(timeout=70)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=90)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    during = [s for s in samples if any(w["started"] <= s.started <= w["ended"] + 5 for w in swaps)]
    steady = [s for s in samples if swaps and s.started < swaps[0]["started"]]
    during_put = [s for s in samples if put and put["started"] <= s.started <= put["ended"] + 5]
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
        "model": model_a.name,
        "clients": args.clients,
        "think_s": args.think,
        "all": summary(samples),
        "before_swaps": summary(steady),
        "during_swaps": summary(during),
        "during_put_model": summary(during_put) if put else None,
        "put_model_seconds": round(put["ended"] - put["started"], 1) if put else None,
        "swaps": [
            {k: w.get(k) for k in ("load_seconds", "warmup_seconds", "drain_seconds", "stop_seconds", "error")}
            for w in swaps
        ],
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    result["slow"] = slow_requests(samples, swaps)
    print(json.dumps(result, indent=2))
    a, b, d = result["all"], result["before_swaps"], result["during_swaps"]
    print(
        f"\n| {args.clients} chats, think {args.think} s | {args.swaps} | {a['requests']} | {a['failed']} "  # type: ignore[index]
        f"| {b['p50_ms']} / {b['p99_ms']} / {b['max_ms']} | {d['p50_ms']} / {d['p99_ms']} / {d['max_ms']} "  # type: ignore[index]
        f"| {d['over_1s']} |"  # type: ignore[index]
    )


if __name__ == "__main__":
    main()
