"""Latency of the assistant at one client: NLU parse and a full REST turn with a store lookup.

Seeds a temporary store from the shipped sample (as ``make run`` does), starts
the action server and the Rasa server on free ports with the given model
(default: the newest in ``models/``), and measures, one request at a time:

- ``POST /model/parse`` on varied customer messages;
- a full REST turn of a signed-in customer whose message runs a custom action
  that reads the store (order status, loyalty, list of orders).

With ``--moodbot`` the same measurements run on Rasa's own starter bot
(``rasa init``: the moodbot, trained here) in the same run, as the peer.
With ``--baseline REV`` the project as it was at a git revision is trained,
seeded and started beside this checkout (``bench/conversation_eval.py``'s
worktrees), and requests alternate between the two stacks, so both see the
same machine at the same moments. Medians and 95th percentiles; machines are
shared, so compare ratios.

    .venv/bin/python bench/assistant_latency.py [--model models/x.tar.gz] [--n 200] [--moodbot]
    .venv/bin/python bench/assistant_latency.py --baseline 4921ad6 [--model ...] [--baseline-model ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.core.settings import Settings  # noqa: E402
from analytics.security.tokens import sign_customer_token  # noqa: E402
from bot.launch import newest_model, quiet_rasa_env, rasa_executable, start_stack  # noqa: E402

MESSAGES = [
    "where is my order 581580?",
    "how many points do I have",
    "show me my recent orders",
    "any deals for me?",
    "how much is the lunch bag?",
    "I want to return an item",
    "what goes with the jumbo bag",
    "when should I reorder?",
    "can I talk to a person",
    "what are your opening hours",
]
TURNS = ["where is my order 581580?", "how many points have I got?", "show me my orders"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(n: int, call: Callable[[int], None]) -> dict[str, float]:
    for i in range(5):  # warm-up
        call(i)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
        "n": n,
    }


def measure_stack(
    rasa_url: str,
    n: int,
    turn: Callable[[int], None],
    parse_texts: list[str],
    headers: Optional[dict[str, str]] = None,
) -> dict[str, object]:
    def parse(i: int) -> None:
        requests.post(
            f"{rasa_url}/model/parse", json={"text": parse_texts[i % len(parse_texts)]}, headers=headers, timeout=30
        ).raise_for_status()

    return {"parse": timed(n, parse), "turn": timed(n, turn)}


def ours(model: Path, n: int, work: Path) -> dict[str, object]:
    env = {
        "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
        "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
        "CRM_VAR_DIR": str(work / "var"),
        "CRM_TOKEN_SECRET": "bench-" + "a1" * 24,
    }
    subprocess.run([sys.executable, "-m", "bot.cli", "seed"], cwd=ROOT, env={**os.environ, **env}, check=True)
    with sqlite3.connect(work / "store.sqlite3") as db:
        (customer_id,) = db.execute("select id from customers where external_ref = '12748'").fetchone()
    settings = Settings(CRM_TOKEN_SECRET=env["CRM_TOKEN_SECRET"], CRM_VAR_DIR=env["CRM_VAR_DIR"])
    token = sign_customer_token(customer_id, settings=settings, ttl=3600)
    endpoints = work / "endpoints.yml"
    actions_port, rasa_port = free_port(), free_port()
    endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
    stack = start_stack(
        model=model, rasa_port=rasa_port, actions_port=actions_port, endpoints=endpoints, log_dir=work / "log", env=env
    )
    try:

        def turn(i: int) -> None:
            reply = requests.post(
                f"{stack.rasa_url}/webhooks/rest/webhook",
                # a conversation of three turns each: a tracker that grows for ever would measure JSON size
                json={
                    "sender": f"bench-{i // 3}",
                    "message": TURNS[i % len(TURNS)],
                    "metadata": {"customer_token": token},
                },
                timeout=30,
            )
            reply.raise_for_status()
            assert reply.json(), "the bot did not answer"

        return measure_stack(stack.rasa_url, n, turn, MESSAGES, stack.api_headers())
    finally:
        stack.stop()


def moodbot(n: int, work: Path) -> dict[str, object]:
    rasa = str(rasa_executable())
    project = work / "moodbot"
    project.mkdir()
    subprocess.run(
        [rasa, "init", "--no-prompt", "--init-dir", str(project)], env=quiet_rasa_env(), check=True, capture_output=True
    )
    model = next((project / "models").glob("*.tar.gz"))
    port = free_port()
    proc = subprocess.Popen(
        [rasa, "run", "--enable-api", "--port", str(port), "--model", str(model)],
        cwd=project,
        env=quiet_rasa_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/status", timeout=2).json().get("model_file"):
                    break
            except (requests.RequestException, ValueError):
                time.sleep(0.5)

        def turn(i: int) -> None:
            reply = requests.post(
                f"{url}/webhooks/rest/webhook", json={"sender": f"bench-{i // 3}", "message": "hello"}, timeout=30
            )
            reply.raise_for_status()

        return measure_stack(url, n, turn, ["hello", "I am sad", "goodbye", "are you a bot?"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def side_by_side(baseline: str, model: Optional[Path], baseline_model: Optional[Path], n: int) -> dict[str, object]:
    """This checkout and ``baseline`` running at once; each request goes to both, in alternating order."""
    from bench.conversation_eval import rasa_api_auth, sign, trees

    with trees(baseline, model, baseline_model) as (old, new):
        for tree in (old, new):
            tree.prepare()
        with old.servers() as old_url, new.servers() as new_url:
            tokens = {}
            for tree in (old, new):
                with sqlite3.connect(tree.store) as db:
                    (customer_id,) = db.execute("select id from customers where external_ref = '12748'").fetchone()
                tokens[tree.name] = sign(str(customer_id))
            stacks = [(old.name, old_url), (new.name, new_url)]
            samples: dict[str, dict[str, list[float]]] = {name: {"parse": [], "turn": []} for name, _ in stacks}
            for i in range(n + 5):
                for name, url in stacks if i % 2 == 0 else reversed(stacks):
                    started = time.perf_counter()
                    requests.post(
                        f"{url}/model/parse", json={"text": MESSAGES[i % len(MESSAGES)]}, timeout=30, **rasa_api_auth()
                    ).raise_for_status()
                    parse = (time.perf_counter() - started) * 1000
                    started = time.perf_counter()
                    reply = requests.post(
                        f"{url}/webhooks/rest/webhook",
                        json={"sender": f"bench-{i // 3}", "message": TURNS[i % len(TURNS)],
                              "metadata": {"customer_token": tokens[name]}},
                        timeout=30,
                    )  # fmt: skip
                    turn = (time.perf_counter() - started) * 1000
                    assert reply.ok and reply.json(), f"{name} did not answer"
                    if i >= 5:  # warm-up
                        samples[name]["parse"].append(parse)
                        samples[name]["turn"].append(turn)
    return {name: {kind: summary(values) for kind, values in kinds.items()} for name, kinds in samples.items()}


def summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
        "n": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--moodbot", action="store_true", help="also measure Rasa's starter bot in the same run")
    parser.add_argument("--baseline", help="also measure the project at this git revision, side by side")
    parser.add_argument("--baseline-model", type=Path, help="the baseline's trained model (default: train one)")
    args = parser.parse_args()
    if args.baseline:
        results = side_by_side(
            args.baseline,
            args.model.resolve() if args.model else None,
            args.baseline_model.resolve() if args.baseline_model else None,
            args.n,
        )
        print(f"{'bot':22} {'parse p50':>10} {'parse p95':>10} {'turn p50':>10} {'turn p95':>10}")
        for name, r in results.items():
            p, t = r["parse"], r["turn"]  # type: ignore[index]
            print(f"{name:22} {p['p50_ms']:>10} {p['p95_ms']:>10} {t['p50_ms']:>10} {t['p95_ms']:>10}")
        print(json.dumps(results))
        return
    model = args.model or newest_model()
    work = Path(tempfile.mkdtemp(prefix="crm-latency-"))
    try:
        results = {"ours": ours(model, args.n, work)}
        print("ours:", json.dumps(results["ours"]), flush=True)
        if args.moodbot:
            results["moodbot"] = moodbot(args.n, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'bot':10} {'parse p50':>10} {'parse p95':>10} {'turn p50':>10} {'turn p95':>10}")
    for name, r in results.items():
        p, t = r["parse"], r["turn"]  # type: ignore[index]
        print(f"{name:10} {p['p50_ms']:>10} {p['p95_ms']:>10} {t['p50_ms']:>10} {t['p95_ms']:>10}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
