"""Turn a Rasa tracker (``GET /conversations/<id>/tracker``) into a Rasa test story.

The story holds what the customer typed (entities marked as ``[value](entity)``),
the intent the model gave it, the actions that ran and the slots and loops they
set, so ``rasa test --fail-on-prediction-errors`` replays the conversation and
fails when a newer model understands or continues it differently.
"""

from __future__ import annotations

from typing import Any

import yaml

SKIPPED_ACTIONS = {"action_listen", "action_session_start"}
#: the dialogue state is the action server's business (influences no prediction) and changes every turn
SKIPPED_SLOTS = {"session_started_metadata", "dialogue"}


def annotate(text: str, entities: list[dict[str, Any]]) -> str:
    """``where is 536365`` + an order_number entity -> ``where is [536365](order_number)``."""
    out, cursor = [], 0
    spans = sorted((e for e in entities if e.get("start") is not None), key=lambda e: e["start"])
    for entity in spans:
        start, end = int(entity["start"]), int(entity["end"])
        if start < cursor:
            continue
        value = entity.get("value")
        label = entity["entity"]
        surface = text[start:end]
        if isinstance(value, str) and value != surface:
            label_text = f'{{"entity": "{label}", "value": "{value}"}}'
            out.append(text[cursor:start] + f"[{surface}]{label_text}")
        else:
            out.append(text[cursor:start] + f"[{surface}]({label})")
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def tracker_to_steps(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for event in tracker.get("events", []):
        kind = event.get("event")
        if kind == "pause":
            break  # from here the customer talks to a person, not to the model
        if kind == "user":
            parse = event.get("parse_data") or {}
            steps.append(
                {
                    "user": annotate(event.get("text") or "", parse.get("entities") or []),
                    "intent": (parse.get("intent") or {}).get("name"),
                }
            )
        elif kind == "action" and event.get("name") not in SKIPPED_ACTIONS:
            steps.append({"action": event["name"]})
        elif kind == "slot" and event.get("name") not in SKIPPED_SLOTS and steps:
            steps.append({"slot_was_set": [{event["name"]: event.get("value")}]})
        elif kind == "active_loop" and steps:
            steps.append({"active_loop": event.get("name")})
    return steps


def tracker_to_test_story(name: str, tracker: dict[str, Any]) -> str:
    """One story, as YAML text to append under a ``stories:`` key."""
    story = [{"story": name, "steps": tracker_to_steps(tracker)}]
    return yaml.safe_dump(story, sort_keys=False, allow_unicode=True, width=1000)
