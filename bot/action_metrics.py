"""What the action server counts, and the executor that counts it.

:class:`ObservedExecutor` is rasa-sdk's :class:`~rasa_sdk.executor.ActionExecutor`
with, around every action call, the conversation id bound to the log lines
(:func:`bot.logging_setup.conversation`) and the Prometheus metrics below
updated from the call and its answer. The actions themselves know nothing of
it. The metrics live in prometheus-client's default registry; with several
workers, set ``PROMETHEUS_MULTIPROC_DIR`` so ``/metrics`` adds them up
(:func:`metrics_payload`).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from rasa_sdk.executor import ActionExecutor

from bot.logging_setup import conversation

logger = logging.getLogger(__name__)

#: the responses that say the assistant did not understand, and the ones that put a person in the conversation
FALLBACK_RESPONSES = frozenset({"utter_default", "utter_offer_human", "utter_offer_human_rephrase"})
HANDOFF_RESPONSES = frozenset({"utter_handoff"})

ACTION_LATENCY = Histogram(
    "crm_action_seconds",
    "Time to run one action call (action_respond is one customer turn), by action.",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
NLU_CONFIDENCE = Histogram(
    "crm_nlu_confidence",
    "Confidence of the top intent of the message each action_respond call answers.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
FALLBACKS = Counter("crm_fallbacks", "Turns the assistant answered with 'not understood' or an offer of a person.")
HANDOFFS_REQUESTED = Counter("crm_handoffs_requested", "Turns that put the conversation in the agents' queue.")
ACTION_ERRORS = Counter(
    "crm_action_errors",
    "Action calls that failed: raised (Rasa gets an error) or caught and answered with the store-unavailable apology.",
    ["action"],
)


def confidence_of(action_call: dict[str, Any]) -> Optional[float]:
    """The top intent's confidence in the tracker's latest message, if the NLU gave one."""
    latest = (action_call.get("tracker") or {}).get("latest_message") or {}
    intent = latest.get("intent") or {}
    value = intent.get("confidence") if isinstance(intent, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def observe_answer(action: str, result: Any) -> None:
    """Count fallbacks, handoffs and apologies among the responses of one action call."""
    # rasa-sdk answers with a pydantic model (a dict in older versions)
    responses = result.get("responses") if isinstance(result, dict) else getattr(result, "responses", None)
    names = {r.get("response") for r in responses or [] if isinstance(r, dict)}
    if names & FALLBACK_RESPONSES:
        FALLBACKS.inc()
    if names & HANDOFF_RESPONSES:
        HANDOFFS_REQUESTED.inc()
    if "utter_store_unavailable" in names:
        ACTION_ERRORS.labels(action).inc()


class ObservedExecutor(ActionExecutor):
    """rasa-sdk's executor, with the conversation id in the logs and the metrics of every call."""

    async def run(self, action_call: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        action = str(action_call.get("next_action") or "none")
        if action not in self.actions:
            action = "unknown"  # label values stay a fixed set, whatever a caller sends
        with conversation(action_call.get("sender_id") or (action_call.get("tracker") or {}).get("sender_id")):
            started = time.perf_counter()
            try:
                result = await super().run(action_call, *args, **kwargs)
            except Exception:
                ACTION_ERRORS.labels(action).inc()
                logger.warning("action %s failed", action)
                raise
            finally:
                ACTION_LATENCY.labels(action).observe(time.perf_counter() - started)
            if action == "action_respond":
                confidence = confidence_of(action_call)
                if confidence is not None:
                    NLU_CONFIDENCE.observe(confidence)
                observe_answer(action, result)
            return result


def metrics_payload() -> tuple[bytes, str]:
    """The exposition text of this process's metrics (of all workers with ``PROMETHEUS_MULTIPROC_DIR``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
