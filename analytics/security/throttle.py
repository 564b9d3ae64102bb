"""Limits on attempts that outlive a conversation: failed identity checks and logins, handoff requests.

A limit in a conversation's slots resets when the attacker starts a new
conversation or types ``/restart``; these limits live in a store of their own
(the ``limits`` library: ``memory://`` for one process, ``redis://`` shared by
every process of an installation) and count each failure against every key it
touches at once: the conversation, the e-mail address tried, the customer whose
order number was tried, and the client's network address. Whichever key runs
out first stops the next attempt, for the rest of its window (a moving window).

Only failures are counted: a customer who gets it right is never slowed down.
If the store cannot be reached the attempt is refused (fail closed), since an
open door is worse than a customer asked to try again later.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from analytics.core.errors import NotAllowed
from analytics.core.settings import Settings

logger = logging.getLogger(__name__)


class TooManyAttempts(NotAllowed):
    """Too many failed attempts under one key; ``retry_after`` seconds until the next is allowed."""

    def __init__(self, scope: str, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"Too many failed attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        self.scope = scope
        self.retry_after = retry_after


@dataclass(frozen=True)
class AttemptLimits:
    """How many failures each kind of key may have in its window, e.g. ``{"email": "5/hour"}``."""

    rules: Mapping[str, str]

    def parsed(self) -> dict[str, RateLimitItem]:
        try:
            return {scope: parse(rule) for scope, rule in self.rules.items()}
        except ValueError as exc:
            raise ValueError(f"a limit is not of the form '5/hour' or '3 per 15 minutes': {exc}") from exc


class Throttle:
    """Counts failures of one kind of attempt (``name``) per key and refuses once a key's limit is reached.

    Parameters
    ----------
    name : str
        What is being attempted (``"identity"``, ``"login"``): keeps the counters of different kinds apart.
    limits : AttemptLimits
        One rule per kind of key.
    storage_uri : str
        ``memory://`` or ``redis://host:port/db`` (see the ``limits`` library).
    """

    def __init__(self, name: str, limits: AttemptLimits, storage_uri: str = "memory://") -> None:
        self.name = name
        self._rules = limits.parsed()
        storage = storage_from_string(storage_uri)
        if not isinstance(storage, Storage):
            raise ValueError(f"{storage_uri!r}: use a synchronous storage (memory://, redis://...), not async+")
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(self._storage)

    def _keys(self, keys: Mapping[str, Optional[str]]) -> list[tuple[str, RateLimitItem, str]]:
        unknown = set(keys) - set(self._rules)
        if unknown:
            raise ValueError(f"no limit for {', '.join(sorted(unknown))}; limits exist for {', '.join(self._rules)}")
        return [(scope, self._rules[scope], str(value)) for scope, value in keys.items() if value]

    def check(self, keys: Mapping[str, Optional[str]]) -> None:
        """Raise :class:`TooManyAttempts` if any of ``keys`` (scope → value; empty values skipped) is used up."""
        for scope, rule, value in self._keys(keys):
            try:
                allowed = self._limiter.test(rule, self.name, scope, value)
                if allowed:
                    continue
                reset = self._limiter.get_window_stats(rule, self.name, scope, value).reset_time
            except Exception:  # the store is down: refuse rather than let attempts through uncounted
                logger.exception("attempt limits unavailable; refusing %s attempt", self.name)
                raise TooManyAttempts(scope, 60) from None
            raise TooManyAttempts(scope, max(1, math.ceil(reset - time.time())))

    def record(self, keys: Mapping[str, Optional[str]]) -> None:
        """Count one attempt (a failure, or a request that is limited as such) against each of ``keys``."""
        for _scope, rule, value in self._keys(keys):
            try:
                self._limiter.hit(rule, self.name, _scope, value)
            except Exception:
                logger.exception("could not count a failed %s attempt", self.name)

    def reset(self) -> None:
        """Forget every count (tests, and an operator clearing a lock-out)."""
        self._storage.reset()


_shared: dict[tuple[str, str, tuple[tuple[str, str], ...]], Throttle] = {}


def client_key(address: object) -> Optional[str]:
    """The client address to count attempts against, or ``None`` when it names no remote client.

    A loopback (or unspecified) address is a local proxy that did not say for whom it asks (Rasa
    behind nginx or the switchboard without ``SANIC_PROXIES_COUNT``, the web app behind a gateway
    uvicorn does not trust): counting it would lock every customer out together. Anything that is
    not an IP address is not counted either.
    """
    try:
        parsed = ipaddress.ip_address(str(address or "").strip())
    except ValueError:
        return None
    return None if parsed.is_loopback or parsed.is_unspecified else str(parsed)


def shared_throttle(name: str, limits: AttemptLimits, storage_uri: str) -> Throttle:
    """The process's one :class:`Throttle` for these limits (``memory://`` counts live in it)."""
    key = (name, storage_uri, tuple(sorted(limits.rules.items())))
    if key not in _shared:
        _shared[key] = Throttle(name, limits, storage_uri)
    return _shared[key]


def identity_throttle(settings: Settings) -> Throttle:
    """Failed identity checks (e-mail + order number), limited per conversation, e-mail, customer and client."""
    limits = AttemptLimits(
        {
            "conversation": settings.identity_limit_conversation,
            "email": settings.identity_limit_email,
            "customer": settings.identity_limit_customer,
            "client": settings.identity_limit_client,
        }
    )
    return shared_throttle("identity", limits, settings.rate_limit_storage)


def login_throttle(settings: Settings) -> Throttle:
    """Failed console logins, limited per user name and per client address (each try costs an argon2 hash).

    A new counter for each web app (its one process shares it; ``redis://`` shares it between processes)."""
    limits = AttemptLimits({"username": settings.login_limit_username, "client": settings.login_limit_client})
    return Throttle("login", limits, settings.rate_limit_storage)


def handoff_throttle(settings: Settings) -> Throttle:
    """Requests for a person, limited per client address (the queue every agent watches is not a toy)."""
    return shared_throttle(
        "handoff", AttemptLimits({"client": settings.handoff_limit_client}), settings.rate_limit_storage
    )
