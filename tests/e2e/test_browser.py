"""The web chat and the agent console in a real browser (Debian's Chromium, headless, Playwright).

Two browser contexts stand for two people: a customer on the shop's help page
and an agent in the console. They share the running assistant of the e2e
stack (tests/e2e/conftest.py) and the web app in front of it. Screenshots of
each step go to ``test-artifacts/browser/``; with ``CRM_UPDATE_SCREENSHOTS=1``
the two README screenshots in ``docs/screenshots/`` are rewritten too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from sqlalchemy import select

from analytics.store.models import Conversation, Handoff
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import staff, support
from analytics.usecases.staff import DEMO_USERS
from bot.launch import Stack, running_web_app
from bot.web.rasa_client import RasaClient
from tests.conftest import ROOT
from tests.e2e.browser import CHROMIUM, MISSING, launch
from tests.e2e.conftest import free_port
from tests.e2e.customers import customer_row as seeded_customer
from tests.e2e.customers import store_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARTIFACTS = ROOT / "test-artifacts" / "browser"
README_SHOTS = ROOT / "docs" / "screenshots"
BOT_TURN_MS = 30_000  # a first turn loads the model's components; later ones take about a second
CUSTOMER = "17850"  # Oliver Dubois in the shipped sample: lapsed, with a win-back offer
VICTIM = "12748"  # Hugo Moreau: 206 orders


@pytest.fixture(scope="module")
def web(stack: Stack, stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The web app in front of the e2e stack (started here unless the stack already runs one)."""
    uow = store_of(stack_env)
    staff.ensure_demo_users(uow)
    uow.engine.dispose()
    if getattr(stack, "web_url", None):
        yield str(stack.web_url)
        return
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = {**stack_env, "CRM_DEMO": "1"}  # the walkthrough signs in through the demo's sample customers
    token = getattr(stack, "rasa_token", None)
    with running_web_app(port=free_port(), rasa_url=stack.rasa_url, rasa_token=token, env=env, log=log) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def shot(page: Page, name: str, readme: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if readme and os.environ.get("CRM_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_SHOTS / readme))


def customer_row(env: dict[str, str], ref: str) -> dict[str, Any]:
    row = seeded_customer(env, ref)  # names are encrypted at rest: read through the store's keys
    return {"id": row["id"], "name": row["name"], "first_name": row["name"].split()[0], "orders": row["orders"]}


def say(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def wait_for_text(page: Page, selector: str, text: str) -> None:
    page.locator(selector, has_text=text).last.wait_for(timeout=BOT_TURN_MS)


def chat_text(page: Page) -> str:
    return "\n".join(page.locator("#chat-log").all_inner_texts())


def test_an_agent_takes_over_a_conversation_and_hands_it_back(
    browser: Browser, web: str, stack_env: dict[str, str]
) -> None:
    oliver = customer_row(stack_env, CUSTOMER)
    customer = browser.new_context(viewport={"width": 1280, "height": 1100}).new_page()
    agent = browser.new_context(viewport={"width": 1400, "height": 1150}).new_page()

    # a signed-in customer asks for ideas and gets product cards
    customer.goto(f"{web}/")
    customer.select_option("#demo-customer", CUSTOMER)
    customer.click("#demo-login")
    wait_for_text(customer, ".msg-bot", f"Hello {oliver['first_name']}")
    say(customer, "can you recommend something for me?")
    customer.locator(".product-card").first.wait_for(timeout=BOT_TURN_MS)
    cards = customer.locator(".product-card")
    assert cards.count() >= 3
    for i in range(cards.count()):
        card = cards.nth(i)
        assert card.locator(".product-name").inner_text().strip()
        assert card.locator(".product-price").inner_text().startswith("£")
        assert "because" in card.locator(".product-reason").inner_text()
    shot(customer, "01-customer-recommendations")

    # ... asks for a person, is told what happens next, and writes while waiting
    say(customer, "I want to talk to a person")
    wait_for_text(customer, ".msg-bot", "connecting you with a member of our team")
    customer.locator("#chat-status[data-state='waiting']").wait_for(timeout=5_000)
    say(customer, "my parcel arrived broken")
    session_id = customer.evaluate("window.shopChat.sessionId()")

    # the agent logs in and finds the conversation in the queue, with the customer's context
    agent.goto(f"{web}/console")
    name, _, password, _ = next(u for u in DEMO_USERS if u[1] == "agent")
    agent.fill("input[name=username]", name)
    agent.fill("input[name=password]", password)
    agent.click("button[type=submit]")
    entry = agent.locator(f"#queue-waiting .queue-item[data-sender='{session_id}']")
    entry.wait_for(timeout=10_000)
    assert oliver["name"] in entry.inner_text() and "waiting" in entry.inner_text()
    entry.click()
    card = agent.locator("#card")
    card.locator(".card-name", has_text=oliver["name"]).wait_for(timeout=10_000)
    facts = card.locator(".card-facts").inner_text()
    for label in ("Segment", "Loyalty", "points", "CLV", "Churn risk", "Orders"):
        assert label in facts
    assert card.locator(".card-orders tr").count() == 10
    assert card.locator(".card-orders tr").first.get_attribute("data-number") in oliver["orders"]
    assert card.locator(".card-recs li").count() == 5
    assert "because" in card.locator(".card-recs").inner_text()
    offer_code = card.locator(".card-offer").get_attribute("data-code")
    assert offer_code
    # nothing the customer typed while waiting is lost
    wait_for_text(agent, "#transcript .line-customer.while-paused", "my parcel arrived broken")

    # the agent accepts and replies; the reply appears in the customer's chat
    agent.click("#btn-accept")
    wait_for_text(customer, ".msg-agent", "from the customer service team")
    customer.locator("#chat-status[data-state='agent']").wait_for(timeout=5_000)
    agent.fill("#reply-input", "I'm sorry about that! I'm sending a replacement today, no need to return it.")
    agent.press("#reply-input", "Enter")
    wait_for_text(customer, ".msg-agent", "sending a replacement today")
    agent.click("#btn-offer")
    wait_for_text(customer, ".msg-agent", "I've applied")
    card.locator(f".offer-done[data-code='{offer_code}']").wait_for(timeout=10_000)
    wait_for_text(agent, "#transcript .line-agent", "I've applied")
    shot(customer, "02-customer-with-agent", readme="chat.png")
    shot(agent, "03-agent-console", readme="console.png")

    # the agent hands back; the bot answers again
    agent.fill("#handback-resolution", "replacement sent, offer applied")
    agent.click("#handback-send")
    wait_for_text(customer, ".msg-agent", "back with the assistant")
    customer.locator("#chat-status[data-state='assistant']").wait_for(timeout=5_000)
    say(customer, "how many points do I have?")
    wait_for_text(customer, ".msg-bot", "member with")  # "You're a Bronze member with 5,391 points."
    shot(customer, "04-customer-back-with-the-bot")

    # the handoff is on record: who, when, why, how it ended; the report counts it
    uow = store_of(stack_env)  # customers' names are encrypted with the stack's keys
    handoff = support.get_handoff(uow, latest_handoff(uow, session_id), utcnow())
    report = support.report(uow, handoff.requested_at)
    uow.engine.dispose()
    assert (handoff.status, handoff.agent, handoff.reason) == ("resolved", name, "customer_request")
    assert handoff.resolution == "replacement sent, offer applied"
    assert handoff.requested_at < handoff.accepted_at < handoff.resolved_at
    assert report.by_agent.get(name, 0) >= 1 and report.average_wait_seconds is not None

    # a reload keeps the conversation, the agent's messages included
    customer.reload()
    wait_for_text(customer, ".msg-agent", "sending a replacement today")
    assert customer.evaluate("window.shopChat.sessionId()") == session_id
    assert "my parcel arrived broken" in chat_text(customer)


def test_quick_replies_are_buttons_that_send_their_payload(browser: Browser, web: str, stack: Stack) -> None:
    page = browser.new_context().new_page()
    page.goto(f"{web}/")
    wait_for_text(page, ".msg-bot", "shop's assistant")
    session_id = page.evaluate("window.shopChat.sessionId()")
    # a bot message with buttons, as domain responses with buttons send them
    rasa = RasaClient(stack.rasa_url, getattr(stack, "rasa_token", None) or "")
    rasa.append(
        session_id,
        [
            {
                "event": "bot",
                "text": "Shall I suggest a few gifts?",
                "data": {"buttons": [{"title": "Gift ideas", "payload": "/recommend_products"}]},
            }
        ],
    )
    rasa.close()

    button = page.locator(".quick-reply", has_text="Gift ideas")
    button.wait_for(timeout=BOT_TURN_MS)
    assert button.get_attribute("data-payload") == "/recommend_products"
    button.click()

    wait_for_text(page, ".msg-user", "Gift ideas")  # the customer sees the title, the bot gets the payload
    page.locator(".product-card").first.wait_for(timeout=BOT_TURN_MS)
    assert page.locator(".quick-reply").count() == 0  # answered buttons go away
    shot(page, "06-quick-replies")


def test_a_forged_token_never_shows_another_customers_orders(
    browser: Browser, web: str, stack_env: dict[str, str]
) -> None:
    victim = customer_row(stack_env, VICTIM)
    forged = jwt.encode(
        {"sub": str(victim["id"]), "aud": "shop-assistant", "exp": 4_000_000_000}, "not-our-key-" * 4, algorithm="HS256"
    )
    page = browser.new_context().new_page()

    def tamper(route: Any) -> None:  # the page is handed a token our shop never signed
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "token": forged})

    page.route("**/api/session", tamper)
    page.goto(f"{web}/")
    wait_for_text(page, ".msg-bot", "shop's assistant")
    say(page, "show me my recent orders")
    wait_for_text(page, ".msg-bot", "email address")
    shot(page, "05-forged-token")

    said = chat_text(page)
    assert victim["first_name"] not in said
    assert not [number for number in victim["orders"] if number in said]


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def latest_handoff(uow: SqlAlchemyUnitOfWork, session_id: str) -> int:
    """The id of the newest handoff of conversation ``session_id``."""
    with uow:
        found = uow.session.scalar(
            select(Handoff.id)
            .join(Conversation, Handoff.conversation_id == Conversation.id)
            .where(Conversation.sender_id == session_id)
            .order_by(Handoff.id.desc())
        )
    assert found is not None, f"no handoff recorded for {session_id}"
    return int(found)
