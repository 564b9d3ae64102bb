"""A polite reply, never silence, when the action server is slow or down or a message cannot be handled.

Every customer message is answered by the custom action ``action_respond`` on
the action server. Rasa 3.6 waits up to five minutes for it
(``DEFAULT_REQUEST_TIMEOUT``) and, when the call fails, logs the error and
answers nothing (``MessageProcessor._run_action``). :func:`install` (called by
:mod:`bot.rasa_runtime.launcher` before Rasa starts) wraps
``RemoteAction.run`` so that:

- **a call has a deadline shorter than a customer's patience**: after
  ``CRM_ACTION_TIMEOUT_SECONDS`` (default :data:`DEFAULT_TIMEOUT_SECONDS`) it
  is cancelled, with the HTTP request it was waiting for;
- **a failed call is answered with** :data:`APOLOGY` **from domain.yml**
  (connection refused, timeout, an HTTP error, an unreadable answer). The
  failed call contributes no event of its own (Rasa applies an action's events
  only once ``run`` returns), so the conversation is as if the action had said
  only the apology and the next message is handled normally;
- **a failed** ``action_session_start`` **falls back to Rasa's own session
  start** (silently: the message's action apologises), so the session still
  starts;
- **one wait per message, not two**: after the action server did not answer
  (timeout, unreachable) in a conversation, that conversation's calls fail at
  once for :data:`COOL_DOWN_SECONDS`, so a new conversation (session start,
  then ``action_respond``) waits for the deadline once; other conversations
  are not affected;
- **every failure is logged as an error**, and a refused token (HTTP 401 or
  403) says so: it is a configuration fault (``CRM_ACTION_TOKEN`` differs
  between the two servers), not an outage.

An :class:`~rasa.core.actions.action.ActionExecutionRejection` (HTTP 400 with
an ``action_name``) is Rasa's protocol for "predict another action" and passes
through untouched.

**A message Rasa cannot handle at all is answered with the apology too.**
:func:`install` also wraps ``Agent.handle_message``, which every channel calls
with the customer's message: when the conversation's lock cannot be taken
(Redis down: Rasa raises ``LockError``), or handling the message raises for any
other reason, or no model is loaded yet, Rasa's REST channel answered ``200``
with no message and the socket.io channel nothing at all. Now the customer gets
:data:`APOLOGY`'s text from the domain (:func:`answer_or_apologise`), unless
the turn had already answered. The message is then not in the conversation
(nothing was handled); the apology asks the customer to send it again. Why not
handle it anyway, under a lock in this process's memory: see
:mod:`bot.rasa_runtime.stores`.

This module runs inside the Rasa environment and imports nothing of the
application; the decision logic (:class:`ActionCallGuard`) does not import
Rasa, so it is unit-tested with fake calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Optional, TypeVar

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "CRM_ACTION_TIMEOUT_SECONDS"
#: seconds an action call may take before the customer gets the apology
DEFAULT_TIMEOUT_SECONDS = 4.0
#: seconds during which a conversation's calls fail at once after the action server did not answer it
COOL_DOWN_SECONDS = 2.0
#: the response (domain.yml) the customer gets when the action cannot run
APOLOGY = "utter_service_unavailable"
#: said when the model has no :data:`APOLOGY` (a model trained before it existed): never silence
APOLOGY_TEXT = (
    "Sorry, I can't look that up right now. It usually recovers within a minute, so please try again "
    "shortly; if it still doesn't work then, ask for a person and we'll put you through."
)
SESSION_START = "action_session_start"

T = TypeVar("T")


def action_timeout(environ: Mapping[str, str] = os.environ) -> float:
    """The deadline of an action call in seconds, from ``CRM_ACTION_TIMEOUT_SECONDS`` (raises ``SystemExit``)."""
    raw = environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 300:
        raise SystemExit(f"{TIMEOUT_ENV}={raw!r}: give the action call's deadline in seconds, above 0 and at most 300.")
    return seconds


def http_status(error: BaseException) -> Optional[int]:
    """The HTTP status behind ``error`` (Rasa wraps aiohttp's error in its own), if there is one."""
    seen: set[int] = set()
    current: Optional[BaseException] = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status", None)
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    return None


def describe_failure(error: BaseException, timeout: float) -> tuple[str, bool]:
    """What went wrong, for the log, and whether the action server is unavailable (not answering at all)."""
    if isinstance(error, asyncio.TimeoutError):
        return f"the action server did not answer within {timeout:g} s", True
    status = http_status(error)
    if status in (401, 403):
        return (
            f"the action server refused the Rasa server's token (HTTP {status}): "
            "both servers must run with the same CRM_ACTION_TOKEN"
        ), False
    if status is not None:
        return f"the action server answered HTTP {status}", False
    return f"the action server could not be reached or answered badly ({error})", True


class ActionCallGuard:
    """Runs action calls with a deadline; a failed call gets its fallback instead of an exception.

    Parameters
    ----------
    timeout : float
        Seconds a call may take.
    passthrough : tuple of exception types
        Raised by a call, these propagate unchanged (Rasa's ``ActionExecutionRejection``).
    cool_down : float
        After a call found the server unavailable, calls of the same conversation within this many
        seconds fail at once.
    clock : callable
        Monotonic seconds (a fake in tests).

    Examples
    --------
    >>> guard = ActionCallGuard(timeout=5.0)
    >>> async def down():
    ...     raise ConnectionRefusedError("connection refused")
    >>> async def apology():
    ...     return ["sorry"]
    >>> asyncio.run(guard.call("action_respond", down, apology, conversation="c1"))
    ['sorry']
    """

    def __init__(
        self,
        timeout: float,
        *,
        passthrough: tuple[type[BaseException], ...] = (),
        cool_down: float = COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.passthrough = passthrough
        self.cool_down = cool_down
        self.clock = clock
        self._unavailable_until: dict[str, float] = {}

    async def call(
        self, name: str, run: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]], *, conversation: str
    ) -> T:
        """``run()`` within the deadline; on failure, log it and return ``fallback()``."""
        if self.clock() < self._unavailable_until.get(conversation, float("-inf")):
            logger.error("Custom action '%s' not called: the action server did not answer a moment ago.", name)
            return await fallback()
        try:
            return await asyncio.wait_for(run(), self.timeout)
        except self.passthrough:
            raise
        except Exception as error:
            reason, unavailable = describe_failure(error, self.timeout)
            if unavailable:
                now = self.clock()
                # forget conversations whose cool-down is over, so the map stays small
                self._unavailable_until = {c: t for c, t in self._unavailable_until.items() if t > now}
                self._unavailable_until[conversation] = now + self.cool_down
            logger.error("Custom action '%s' failed: %s; the customer gets the apology instead.", name, reason)
            return await fallback()


def apology_text(domain: Any) -> str:
    """The text of :data:`APOLOGY` in ``domain`` (its first variation), else :data:`APOLOGY_TEXT`."""
    responses = getattr(domain, "responses", None) or {}
    for variation in responses.get(APOLOGY) or []:
        if isinstance(variation, dict) and variation.get("text"):
            return str(variation["text"])
    return APOLOGY_TEXT


async def answer_or_apologise(
    handle: Callable[[], Awaitable[T]],
    apologise: Callable[[], Awaitable[None]],
    *,
    conversation: str,
    answered: Callable[[], bool] = lambda: False,
) -> Optional[T]:
    """``handle()``'s result; if it raises, log it and ``apologise()`` unless the customer was ``answered()``.

    Examples
    --------
    >>> async def locked():
    ...     raise ConnectionError("Redis is not answering")
    >>> said = []
    >>> async def sorry():
    ...     said.append("sorry")
    >>> asyncio.run(answer_or_apologise(locked, sorry, conversation="c1")), said
    (None, ['sorry'])
    """
    try:
        return await handle()
    except Exception as error:
        if answered():
            logger.error("Conversation %s: the turn failed after its reply (%r).", conversation, error)
            return None
        logger.error(
            "Conversation %s: the message could not be handled (%r); the customer gets the apology instead.",
            conversation,
            error,
        )
    try:
        await apologise()
    except Exception as error:  # the customer's connection is gone: nothing more to do
        logger.error("Conversation %s: the apology could not be sent either (%r).", conversation, error)
    return None


def _guard_messages(agent_class: Any) -> None:
    """Wrap ``agent_class.handle_message`` (Rasa's ``Agent``) with :func:`answer_or_apologise` (once)."""
    unguarded = agent_class.handle_message
    if getattr(unguarded, "guarded", False):
        return

    async def handle_message(self: Any, message: Any) -> Any:
        channel = message.output_channel

        async def apologise() -> None:
            if channel is not None:
                await channel.send_text_message(message.sender_id, apology_text(self.domain))

        async def handle() -> Any:
            if not self.is_ready():
                raise RuntimeError("no model is loaded yet")
            return await unguarded(self, message)

        def answered() -> bool:  # the REST channel's collector holds what was already said
            return bool(getattr(channel, "messages", None))

        return await answer_or_apologise(handle, apologise, conversation=str(message.sender_id), answered=answered)

    handle_message.guarded = True  # type: ignore[attr-defined]
    agent_class.handle_message = handle_message


def install(environ: Mapping[str, str] = os.environ) -> ActionCallGuard:
    """Wrap Rasa's ``RemoteAction.run`` with an :class:`ActionCallGuard` and ``Agent.handle_message`` with
    :func:`answer_or_apologise` (once; later calls return the same guard)."""
    from rasa.core.actions import action as rasa_action
    from rasa.core.agent import Agent

    _guard_messages(Agent)
    remote = rasa_action.RemoteAction
    installed: Optional[ActionCallGuard] = getattr(remote.run, "guard", None)
    if installed is not None:
        return installed
    guard = ActionCallGuard(action_timeout(environ), passthrough=(rasa_action.ActionExecutionRejection,))
    unguarded = remote.run

    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
        async def call() -> list[Any]:
            return list(await unguarded(self, output_channel, nlg, tracker, domain))

        async def fallback() -> list[Any]:
            if self.name() == SESSION_START:
                return list(await rasa_action.ActionSessionStart().run(output_channel, nlg, tracker, domain))
            message = await nlg.generate(APOLOGY, tracker, output_channel.name()) or {"text": APOLOGY_TEXT}
            message["utter_action"] = APOLOGY
            return [rasa_action.create_bot_utterance(message)]

        return await guard.call(self.name(), call, fallback, conversation=str(tracker.sender_id))

    run.guard = guard  # type: ignore[attr-defined]
    remote.run = run
    logger.info("Custom actions: %g s deadline, apology %s when the action server fails.", guard.timeout, APOLOGY)
    return guard
