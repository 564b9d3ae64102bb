"""Human handoff, measured in the browser: how fast an agent's reply reaches the customer's page,
and how fast the console draws its queue and a customer's context card.

Seeds a temporary store from the shipped sample (as ``make run`` does), starts
the action server, the Rasa server (with an API token) and the web app on free
ports, and drives Debian's Chromium (headless, Playwright) with two contexts:

- **reply latency**: a signed-in customer asks for a person, the agent accepts,
  then sends ``--replies`` messages one at a time. For each, the console page
  notes the time just before it POSTs the reply; the customer's page notes
  the time the message's node is added to its chat log. Both clocks are
  ``performance.timeOrigin + performance.now()`` of pages of the same browser
  on the same machine.
- **console render**: for a customer with many orders (12748: 206 orders),
  ``--renders`` times: reload the console and time the queue's first drawing
  from the page's start (HTML, script, ``/api/console/queue``, DOM); then click
  the conversation and time it until its context card and transcript are drawn
  (one ``/api/console/conversations/<id>`` request: store reads, offer rules,
  recommendations, Rasa tracker). The first card is reported apart: it loads
  the recommender into the web app.

Medians and 95th percentiles; machines are shared, so read them with the
load in mind.

    .venv/bin/python bench/handoff_latency.py [--model models/x.tar.gz] [--replies 100] [--renders 30]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.store.uow import SqlAlchemyUnitOfWork  # noqa: E402
from analytics.usecases import staff  # noqa: E402
from bot.launch import newest_model, start_stack  # noqa: E402
from tests.e2e.browser import CHROMIUM, MISSING, launch  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402

CUSTOMER = "17850"
MANY_ORDERS = "12748"
TURN_MS = 60_000


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(p95(values), 1),
        "max_ms": round(max(values), 1),
    }


def seed(work: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "seed"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise SystemExit(f"crm seed failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def sign_in_and_ask_for_a_person(page: Any, web: str, ref: str) -> str:
    page.goto(f"{web}/")
    page.select_option("#demo-customer", ref)
    page.click("#demo-login")
    page.locator(".msg-bot", has_text="Hello").last.wait_for(timeout=TURN_MS)
    page.fill("#chat-input", "I want to talk to a person")
    page.press("#chat-input", "Enter")
    page.locator(".msg-bot", has_text="connecting you").last.wait_for(timeout=TURN_MS)
    return str(page.evaluate("window.shopChat.sessionId()"))


def log_in(page: Any, web: str) -> None:
    name, _, password = next(u for u in staff.DEMO_USERS if u[1] == "agent")
    page.goto(f"{web}/console")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-queue-ready='1']")


def reply_latencies(customer: Any, agent: Any, session_id: str, replies: int) -> list[float]:
    agent.click(f"#queue-waiting .queue-item[data-sender='{session_id}']")
    agent.wait_for_selector("#btn-accept:not([hidden])")
    agent.click("#btn-accept")
    agent.wait_for_selector("#reply-input:not([disabled])")
    customer.locator(".msg-agent").first.wait_for(timeout=TURN_MS)
    latencies = []
    for i in range(replies):
        text = f"bench reply {i:04d}"
        posted = agent.evaluate("(text) => window.agentConsole.sendReply(text).postedAt", text)
        node = customer.locator(".msg-agent", has_text=text)
        node.wait_for(timeout=TURN_MS)
        received = float(node.get_attribute("data-received-at") or "nan")
        latencies.append(received - float(posted))
        time.sleep(0.05)
    return latencies


def render_times(agent: Any, web: str, session_id: str, renders: int) -> tuple[list[float], list[float]]:
    queue, cards = [], []
    for _ in range(renders):
        agent.goto(f"{web}/console")
        agent.wait_for_selector("body[data-queue-ready='1']")
        queue.append(agent.evaluate("performance.getEntriesByName('queue-render')[0].duration"))
        agent.click(f".queue-item[data-sender='{session_id}']")
        agent.wait_for_selector(f"#conversation[data-rendered='{session_id}']", timeout=TURN_MS)
        cards.append(agent.evaluate("performance.getEntriesByName('card-render')[0].duration"))
        orders = agent.locator("#card .card-orders tr").count()
        assert orders == 10, f"the card shows {orders} orders"
    return queue, cards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="Rasa model (default: newest in models/)")
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "handoff_latency.json")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(MISSING)
    model = args.model or newest_model()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        work = Path(tmp)
        env = {
            "DATABASE_URL": f"sqlite:///{work / 'store.sqlite3'}",
            "CRM_ARTIFACTS_DIR": str(work / "artifacts"),
            "CRM_VAR_DIR": str(work / "var"),
            "CRM_TOKEN_SECRET": "bench-" + "0123456789abcdef" * 3,
            "CRM_DEMO": "1",
        }
        print("seeding a store from the shipped sample ...", flush=True)
        seed(work, env)
        uow = SqlAlchemyUnitOfWork.for_url(env["DATABASE_URL"])
        staff.ensure_demo_users(uow)
        uow.engine.dispose()
        endpoints = work / "endpoints.yml"
        actions_port = free_port()
        endpoints.write_text(json.dumps({"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
        print(f"starting the stack with {model.name} ...", flush=True)
        stack = start_stack(
            model=model,
            rasa_port=free_port(),
            actions_port=actions_port,
            endpoints=endpoints,
            log_dir=work / "log",
            env=env,
            web_port=free_port(),
            rasa_token="bench-api-" + "0123456789abcdef" * 2,
        )
        web = str(stack.web_url)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                customer = browser.new_context().new_page()
                big_customer = browser.new_context().new_page()
                agent = browser.new_context(viewport={"width": 1400, "height": 850}).new_page()
                session_id = sign_in_and_ask_for_a_person(customer, web, CUSTOMER)
                big_session = sign_in_and_ask_for_a_person(big_customer, web, MANY_ORDERS)
                log_in(agent, web)
                print(f"measuring {args.renders} console renders ...", flush=True)
                queue, cards = render_times(agent, web, big_session, args.renders + 1)
                print(f"measuring {args.replies} agent replies ...", flush=True)
                agent.goto(f"{web}/console")
                agent.wait_for_selector("body[data-queue-ready='1']")
                latencies = reply_latencies(customer, agent, session_id, args.replies)
                browser.close()
        finally:
            stack.stop()

    result = {
        "when": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs (shared)",
        "model": model.name,
        "agent_reply_to_customer_page": summary(latencies),
        "console_queue_render_page_load": summary(queue[1:]),
        "context_card_render_cold_ms": round(cards[0], 1),
        "context_card_render_warm": summary(cards[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
