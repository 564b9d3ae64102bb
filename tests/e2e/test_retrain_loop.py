"""End to end: from "the bot misunderstood these messages" to "a better model is live", with the CLI.

A small assistant (five intents, the project's intent classifier without
embeddings, a SQL tracker store and Redis locks) runs behind ``crm nlu serve``.
Customers chat; some say their parcel has not come in words the first model
never saw. Then, with the documented commands only:

``crm nlu triage`` finds those messages in the tracker store, ``crm nlu annotate``
merges the operator's labels (masked, held-out sentences refused), ``crm nlu train``
trains a candidate, and ``crm nlu publish`` gates it against the live model and
swaps it into the running servers while a conversation is open and two
customers keep chatting: nobody gets an error, and the open conversation
carries on, now understood. A deliberately worse model (it falls back unless
almost certain) is refused, and ``crm nlu rollback`` puts the first model back.

Needs ``.venv-rasa`` and Redis at 127.0.0.1:6379 (Rasa's lock store).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from analytics.store.bootstrap import store_for_url
from analytics.usecases.operations import list_models
from bot.ops.swap import free_port
from bot.ops.switchboard import redis_answers
from bot.web.keys import rasa_api_headers
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REDIS = os.environ.get("CRM_LOCK_STORE_URL", "redis://127.0.0.1:6379/1")

PROJECT = {
    "config.yml": """\
# The project's intent classifier without sentence embeddings: trains in seconds.
recipe: default.v1
language: en
assistant_id: retrain-e2e
pipeline:
  - name: WhitespaceTokenizer
  - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
  - name: FallbackClassifier
    threshold: 0.5
policies:
  - name: RulePolicy
    core_fallback_threshold: 0.3
    core_fallback_action_name: action_default_fallback
""",
    "config_worse.yml": """\
# Deliberately worse: the same classifier, but the bot falls back unless it is all but certain.
recipe: default.v1
language: en
assistant_id: retrain-e2e
pipeline:
  - name: WhitespaceTokenizer
  - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
  - name: FallbackClassifier
    threshold: 0.97
policies:
  - name: RulePolicy
    core_fallback_threshold: 0.3
    core_fallback_action_name: action_default_fallback
""",
    "domain.yml": """\
version: "3.1"
intents: [greet, goodbye, order_status, return_request, human_handoff]
responses:
  utter_greet: [{text: "Hello! How can I help?"}]
  utter_goodbye: [{text: "Bye!"}]
  utter_order_status: [{text: "Let me look up your order."}]
  utter_return: [{text: "I can help you return an item."}]
  utter_handoff: [{text: "I am passing you to a person."}]
  utter_default: [{text: "Sorry, I did not get that. Could you say it another way?"}]
session_config: {session_expiration_time: 60, carry_over_slots_to_new_session: true}
""",
    "data/rules.yml": """\
version: "3.1"
rules:
  - {rule: greet, steps: [{intent: greet}, {action: utter_greet}]}
  - {rule: goodbye, steps: [{intent: goodbye}, {action: utter_goodbye}]}
  - {rule: order status, steps: [{intent: order_status}, {action: utter_order_status}]}
  - {rule: return, steps: [{intent: return_request}, {action: utter_return}]}
  - {rule: handoff, steps: [{intent: human_handoff}, {action: utter_handoff}]}
  - {rule: fallback, steps: [{intent: nlu_fallback}, {action: utter_default}]}
""",
    "data/nlu/base.yml": """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hello
      - hi
      - hey there
      - good morning
      - hi, anyone there?
      - hello bot
      - good afternoon
      - hiya
      - good evening
      - greetings
  - intent: goodbye
    examples: |
      - bye
      - goodbye
      - see you later
      - that's all, thanks, bye
      - cheers, bye
      - talk to you later
      - have a nice day
      - I'm done, bye
      - see ya
      - farewell
  - intent: order_status
    examples: |
      - where is my order
      - what is the status of my order
      - has my order shipped yet
      - can you check my order status
      - when will my order be dispatched
      - order status please
      - I want to know where my order is
      - is my order on its way
      - track my order
      - what happened to my order
  - intent: return_request
    examples: |
      - I want to return an item
      - how do I send something back
      - I'd like a refund
      - can I return this
      - I need to return my purchase
      - start a return please
      - I want my money back
      - the item is broken, I want to return it
      - return request
      - how do returns work
  - intent: human_handoff
    examples: |
      - let me talk to a human
      - I want to speak to a person
      - can I talk to an agent
      - put me through to someone
      - real person please
      - connect me to customer service
      - I need a human
      - transfer me to an agent
      - speak to someone
      - human please
""",
    "tests/data/nlu_holdout.yml": """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hello there
      - hey, good morning
      - hi bot
  - intent: goodbye
    examples: |
      - ok bye then
      - see you soon
      - goodbye for now
  - intent: order_status
    examples: |
      - where has my order got to
      - parcel missing
      - the package is lost
      - nothing came in the post
      - it still has not arrived
  - intent: return_request
    examples: |
      - I would like to return it
      - can I get a refund
      - how do I return my purchase
  - intent: human_handoff
    examples: |
      - I'd like to talk to a person
      - get me a human
      - can I speak to an agent
""",
    "tests/conversations/test_stories.yml": """\
version: "3.1"
stories:
  - story: a customer asks about an order
    steps:
      - user: |
          hello
        intent: greet
      - action: utter_greet
      - user: |
          where is my order
        intent: order_status
      - action: utter_order_status
  - story: a customer returns an item and leaves
    steps:
      - user: |
          I want to return an item
        intent: return_request
      - action: utter_return
      - user: |
          bye
        intent: goodbye
      - action: utter_goodbye
""",
    "credentials.yml": "rest:\n",
    "endpoints.yml": "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: var/tracker.sqlite3\n",
}

#: What customers wrote. The parcel messages use words the first model never saw.
CONVERSATIONS = {
    "anna": ["hi", "the package hasn't arrived yet", "where is my order"],
    "ben": ["parcel not delivered yet", "the courier never came", "let me talk to a human"],
    "chloe": ["nothing has been delivered", "no parcel yet"],
    "dan": ["the box never arrived, I'm Jane Doe, jane.doe@example.com, order 536365"],
    "eve": ["parcel missing"],  # word for word a held-out test sentence
}
PARCEL = [
    "the package hasn't arrived yet",
    "parcel not delivered yet",
    "the courier never came",
    "nothing has been delivered",
    "no parcel yet",
]
DIDNT_GET_IT = "Sorry, I did not get that. Could you say it another way?"
ORDER_ANSWER = "Let me look up your order."


@dataclass
class Loop:
    project: Path
    env: dict[str, str]
    url: str = ""  # the public port: channels only
    api_url: str = ""  # Rasa's HTTP API for the back ends, on loopback
    admin: str = ""
    server: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    def crm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "nlu", "--project", str(self.project), *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, (
                f"crm nlu {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def say(self, sender: str, text: str) -> list[str]:
        answer = self.http.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
        assert answer.status_code == 200, answer.text
        return [m.get("text", "") for m in answer.json()]

    def jwt(self) -> dict[str, str]:
        """Rasa's HTTP API wants a JWT signed with its key; the REST channel does not."""
        return rasa_api_headers(self.env["CRM_RASA_TOKEN"])

    def admin_headers(self) -> dict[str, str]:
        """The admin API's token: `crm nlu serve` creates it once in <var>/admin-token; publish reads it there."""
        return {"Authorization": f"Bearer {(self.project / 'var' / 'admin-token').read_text().strip()}"}

    def intent(self, text: str) -> tuple[str, float]:
        parsed = self.http.post(f"{self.api_url}/model/parse", json={"text": text}, headers=self.jwt()).json()
        return parsed["intent"]["name"], parsed["intent"]["confidence"]

    def live_model(self) -> dict[str, Any]:
        status: dict[str, Any] = self.http.get(f"{self.api_url}/status", headers=self.jwt()).json()
        return status

    def serve(self, *args: str) -> None:
        port, api, admin = free_port(), free_port(), free_port()
        self.url, self.api_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api}"
        self.admin = f"http://127.0.0.1:{admin}"
        self.env["CRM_OPS_ADMIN_URL"] = self.admin
        with (self.project / "var" / "serve.out").open("wb") as log:  # the child keeps its own copy
            self.server = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "nlu", "--project", str(self.project), "serve",
                 "--rasa-port", str(port), "--api-port", str(api), "--actions-port", "0", "--web-port", "0", *args],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.server.poll() is None, (self.project / "var" / "serve.out").read_text()[-3000:]
            try:
                if httpx.get(f"{self.admin}/status", headers=self.admin_headers(), timeout=2).json().get("live"):
                    return
            except (httpx.HTTPError, ValueError, OSError):  # OSError: the token file is not written yet
                pass
            time.sleep(0.5)
        pytest.fail("crm nlu serve did not come up within 180 s")

    def stop(self) -> None:
        self.http.close()
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


def new_loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """The small assistant in a fresh folder with a migrated store (tests/e2e/test_attack_admin.py uses it too)."""
    if not redis_answers(REDIS):
        pytest.fail(f"Redis must answer at {REDIS} (Rasa's lock store, shared by the two servers of a swap)")
    project = tmp_path_factory.mktemp("shop-bot")
    for name, text in PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    (project / "var").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{project / 'var' / 'store.sqlite3'}",
        "CRM_VAR_DIR": str(project / "var"),
        "CRM_RASA_TOKEN": "e2e-rasa-" + "0123456789abcdef" * 3,
        "CRM_NLU_MAX_F1_DROP": "0.01",
        "COLUMNS": "160",
    }
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return Loop(project, env)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    running = new_loop(tmp_path_factory)
    yield running
    running.stop()


def test_operators_turn_misunderstood_messages_into_a_better_live_model_without_dropping_a_conversation(
    loop: Loop,
) -> None:
    # the first model goes live (no model to compare with; its conversation tests pass)
    loop.crm("train", "--name", "baseline", "--operator", "olivia")
    loop.crm("publish", "baseline", "--operator", "olivia")
    loop.serve()  # loads the live model from the registry
    assert loop.live_model()["model_file"] == "baseline.tar.gz"
    # customers reach the channels only; the API and swaps are on loopback ports, the latter with a token
    assert loop.http.get(f"{loop.url}/status", headers=loop.jwt()).status_code == 404
    assert loop.http.get(f"{loop.admin}/status").status_code == 401

    # customers chat; the parcel messages are not understood
    answers = {sender: [loop.say(sender, text) for text in texts] for sender, texts in CONVERSATIONS.items()}
    assert answers["anna"][1] == [DIDNT_GET_IT] and answers["ben"][0] == [DIDNT_GET_IT]

    # triage finds them in the tracker store, masked, grouped, with the model's guess
    triage_file = loop.project / "triage.yml"
    names = loop.project / "names.txt"
    names.write_text("Jane Doe\n")
    out = loop.crm("triage", "--out", str(triage_file), "--names-file", str(names)).stdout
    assert "look misunderstood" in out
    triage = yaml.safe_load(triage_file.read_text())
    found = {e["text"]: g["group"] for g in triage["groups"] for e in g["examples"]}
    assert set(PARCEL) <= set(found)
    assert "the box never arrived, I'm J*** D***, j***@example.com, order ******" in found  # dan, masked
    assert "where is my order" in found  # anna's rephrasing
    text = triage_file.read_text()
    assert "jane.doe" not in text and "536365" not in text and "Jane" not in text
    anna = next(g for g in triage["groups"] if any(e["text"] == PARCEL[0] for e in g["examples"]))
    assert anna["suggested"] == "order_status"  # what anna's own rephrasing was understood as

    # the operator labels every parcel group order_status, the rest skip, and merges
    masked_dan = "the box never arrived, I'm J*** D***, j***@example.com, order ******"
    parcel_groups = {found[t] for t in [*PARCEL, masked_dan]}
    labels = loop.project / "labels.yml"
    labels.write_text(
        yaml.safe_dump(
            {
                "groups": {
                    g["group"]: "order_status" if g["group"] in parcel_groups else "skip" for g in triage["groups"]
                }
            }
        )
    )
    merged = loop.crm("annotate", str(triage_file), "--labels", str(labels), "--operator", "olivia").stdout
    assert "added 6 example(s)" in merged
    conversations_file = loop.project / "data" / "nlu" / "from_conversations.yml"
    data = yaml.safe_load(conversations_file.read_text())
    assert {b["examples"].strip()[2:] for b in data["nlu"]} >= set(PARCEL)
    assert all(b["intent"] == "order_status" and b["metadata"]["event_ids"] for b in data["nlu"])
    assert "jane.doe" not in conversations_file.read_text()

    # a candidate is trained on it
    loop.crm("train", "--name", "candidate", "--operator", "olivia")

    # a conversation is open on the old model, and two customers keep chatting during the swap
    assert loop.say("open", "hello") == ["Hello! How can I help?"]
    before = loop.live_model()["model_id"]
    failures: list[str] = []
    replies: list[int] = []
    stop = threading.Event()

    def chatter(sender: str) -> None:
        with httpx.Client(timeout=120) as http:
            while not stop.is_set():
                try:
                    answer = http.post(f"{loop.url}/webhooks/rest/webhook", json={"sender": sender, "message": "hi"})
                    if answer.status_code != 200 or not answer.json():
                        failures.append(f"{answer.status_code}: {answer.text[:200]}")
                    replies.append(answer.status_code)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                stop.wait(0.3)

    threads = [threading.Thread(target=chatter, args=(f"busy-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        published = loop.crm("publish", "candidate", "--operator", "olivia").stdout
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=130)
    assert "gate: passed" in published and "candidate is live" in published
    assert failures == [] and len(replies) > 4

    # the open conversation carries on with the new model, which understands what the old one did not
    assert loop.live_model()["model_file"] == "candidate.tar.gz"
    assert loop.say("open", "the package hasn't arrived yet") == [ORDER_ANSWER]
    tracker = loop.http.get(f"{loop.api_url}/conversations/open/tracker", headers=loop.jwt()).json()
    user_turns = [e for e in tracker["events"] if e["event"] == "user"]
    assert [e["text"] for e in user_turns] == ["hello", "the package hasn't arrived yet"]
    assert user_turns[0]["metadata"]["model_id"] == before
    assert user_turns[1]["metadata"]["model_id"] == loop.live_model()["model_id"] != before
    for text in PARCEL:
        intent, confidence = loop.intent(text)
        assert intent == "order_status" and confidence >= 0.6, (text, intent, confidence)

    models = {m["name"]: m for m in _models(loop)}
    assert models["candidate"]["macro_f1"] > models["baseline"]["macro_f1"]

    # a deliberately worse model is refused, and the refusal is logged; the live model stays
    loop.crm("train", "--config", str(loop.project / "config_worse.yml"), "--name", "worse", "--operator", "sam")
    refused = loop.crm("publish", "worse", "--operator", "sam", check=False)
    assert refused.returncode == 2
    assert "worse is not published" in refused.stderr and "macro-F1 falls" in refused.stderr
    assert loop.live_model()["model_file"] == "candidate.tar.gz"

    # one command puts the previous model back, without a restart
    loop.crm("rollback", "--operator", "sam", "--reason", "checking the way back")
    assert loop.live_model()["model_file"] == "baseline.tar.gz"
    assert loop.say("open", "hello") == ["Hello! How can I help?"]

    audit = loop.crm("audit").stdout
    for line in ("rollback", "refuse", "publish", "annotate", "train", "evaluate"):
        assert line in audit
    assert "checking the way back" in audit and "sam" in audit and "olivia" in audit


def _models(loop: Loop) -> list[dict[str, Any]]:
    """The registry as data (the `crm nlu models` table is for people)."""
    uow = store_for_url(loop.env["DATABASE_URL"]).unit_of_work()
    try:
        return [{"name": m.name, "macro_f1": m.macro_f1, "status": m.status} for m in list_models(uow)]
    finally:
        uow.engine.dispose()
