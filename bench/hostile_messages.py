"""Hostile messages: how long a huge message takes, and how long it makes everybody else wait.

Two stacks run side by side in the same run: this checkout and a git revision
(``--baseline``, e.g. the commit before the message limits), each on its own
seeded store, with its own model (``bench/conversation_eval.py``'s worktrees).
For each message shape and size this measures, median of ``--repeat`` tries:

- ``parse``: ``POST /model/parse`` of the message itself (the NLU, Rasa's HTTP
  API: what an authenticated back end could still send);
- ``turn``: the message sent to the REST channel as a customer would;
- ``bystander``: another customer's "hello" sent 50 ms after the message, on
  its own conversation: how long the flood made them wait.

A request that takes longer than ``--timeout`` seconds is recorded as the
timeout (shown as ``>N``), is not repeated, and the stack is given time to
recover before the next measurement. Results go to ``bench/out/hostile-messages.json`` and a table
is printed.

    .venv/bin/python bench/hostile_messages.py --baseline 55b3fb5 --baseline-model OLD.tar.gz --model NEW.tar.gz
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.conversation_eval import rasa_api_auth, trees  # noqa: E402

SHAPES = {
    "dotted": "a.",  # the old e-mail pattern's worst case
    "digits": "1",
    "words": "where is my order ",
}
SIZES = (1_000, 10_000, 20_000, 100_000)


def timed_post(url: str, timeout: float, **kwargs: Any) -> float:
    started = time.perf_counter()
    try:
        requests.post(url, timeout=timeout, **kwargs)
    except requests.Timeout:
        return float("inf")
    return time.perf_counter() - started


def recover(rasa_url: str, budget: float) -> None:
    """Wait until the server answers a hello promptly again (a timed-out request may still be running)."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        took = timed_post(
            f"{rasa_url}/webhooks/rest/webhook", 5, json={"sender": f"probe-{uuid.uuid4().hex[:6]}", "message": "hi"}
        )
        if took < 1.0:
            return
        time.sleep(2)


def measure(rasa_url: str, text: str, timeout: float) -> dict[str, float]:
    parse = timed_post(f"{rasa_url}/model/parse", timeout, json={"text": text}, **rasa_api_auth())
    if parse == float("inf"):
        recover(rasa_url, 600)
    turn_box: list[float] = []
    flood = threading.Thread(
        target=lambda: turn_box.append(
            timed_post(
                f"{rasa_url}/webhooks/rest/webhook",
                timeout,
                json={"sender": f"flood-{uuid.uuid4().hex[:8]}", "message": text},
            )
        )
    )
    flood.start()
    time.sleep(0.05)
    bystander = timed_post(
        f"{rasa_url}/webhooks/rest/webhook", timeout, json={"sender": f"by-{uuid.uuid4().hex[:8]}", "message": "hello"}
    )
    flood.join()
    if float("inf") in (turn_box[0], bystander):
        recover(rasa_url, 600)
    return {"parse": parse, "turn": turn_box[0], "bystander": bystander}


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with trees(args.baseline, args.model, args.baseline_model) as made:
        for tree in made:
            tree.prepare()
            rows: dict[str, Any] = {}
            with tree.servers() as url:
                timed_post(f"{url}/webhooks/rest/webhook", 120, json={"sender": "warm", "message": "hello"})
                for shape, unit in SHAPES.items():
                    for size in args.sizes:
                        text = (unit * (size // len(unit) + 1))[:size]
                        tries: list[dict[str, float]] = []
                        for _ in range(args.repeat):
                            tries.append(measure(url, text, args.timeout))
                            if float("inf") in tries[-1].values():
                                break  # timed out: one try says enough, and each costs minutes
                        rows[f"{shape}/{size}"] = {
                            key: statistics.median(t[key] for t in tries) for key in ("parse", "turn", "bystander")
                        }
                        print(f"[{tree.name}] {shape} {size}: {rows[f'{shape}/{size}']}", flush=True)
            results[tree.name] = rows
    return results


def show(seconds: float, timeout: float) -> str:
    return f">{timeout:.0f} s" if seconds == float("inf") else f"{seconds * 1000:.0f} ms"


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git revision to compare with")
    parser.add_argument("--model", type=Path, help="this checkout's model (default: train one)")
    parser.add_argument("--baseline-model", type=Path, help="the baseline's model (default: train one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    results = run(args)
    out = ROOT / "bench" / "out" / "hostile-messages.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "results": results}, indent=2, default=str))
    names = list(results)
    print("\n| message | " + " | ".join(f"{n} parse | {n} turn | {n} bystander" for n in names) + " |")
    print("|---|" + "---:|" * (3 * len(names)))
    for key in results[names[0]]:
        cells = []
        for n in names:
            row = results[n][key]
            cells += [show(row["parse"], args.timeout), show(row["turn"], args.timeout)]
            cells.append(show(row["bystander"], args.timeout))
        print(f"| {key} | " + " | ".join(cells) + " |")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
