"""Rasa's lock store and tracker store for several Rasa processes, made to survive their faults.

``endpoints.yml`` names them by module path (``type: bot.rasa_runtime.stores.<class>``); the
production profile (``bot/production.py``) does.

:class:`LeaseRedisLockStore`: Rasa's Redis lock store (same keys, same ticket queue per
conversation) where a ticket is a **lease** of :data:`DEFAULT_LEASE_SECONDS`, renewed every
``lease / 6`` while its message is waiting or being handled, instead of a fixed 60 s lifetime:

- **a killed process frees its conversations within the lease.** Rasa's tickets live 60 s
  (``TICKET_LOCK_LIFETIME``), so the next message of a conversation that a killed process was
  handling waited for a minute (the gateway timed out first: the fault drills' 503s). Shortening
  the lifetime instead would let a second message in while a slow turn (up to the 4 s action
  deadline) is still running;
- **every change of a lock is one Redis transaction** (``WATCH``/``MULTI``): Rasa reads a lock,
  changes it and writes it back, so two processes changing one conversation's lock at the same
  moment could drop each other's ticket (two messages handled at once, or one refused);
- **releasing never fails a turn**: the reply is already written when the lock is released; if
  Redis is gone by then, the lease runs out by itself;
- waiting messages look again every :data:`POLL_SECONDS` (Rasa: every second).

When Redis does not answer, taking the lock raises (as Rasa's does) and
:mod:`bot.rasa_runtime.degradation` answers the customer with the apology. It does not fall back
to a lock in the process's memory: the gateway sends a conversation's messages to any Rasa process,
so a per-process lock would not keep two of them apart, and two turns of one conversation at once
can lose a message (the SQL tracker store appends "the events after the ones it already holds", by
count).

:class:`ResilientSQLTrackerStore`: Rasa's SQL tracker store whose engine checks a pooled
connection before use (``pool_pre_ping``; a connection PostgreSQL dropped, e.g. on a restart, is
replaced instead of failing the turn) and which retries a failed read or write a few times
(:data:`ATTEMPTS`, :data:`BACKOFF_SECONDS`) before Rasa's fail-safe store takes over (it keeps
the turn in memory only: the message would be lost). A retried save is safe: Rasa writes only
the events the database does not hold yet, counted in the same transaction, and a retry does not
publish the events to the event broker a second time.

This module runs inside the Rasa environment and imports nothing of the application.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Optional, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import DEFAULT_SOCKET_TIMEOUT_IN_SECONDS, LockError, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs

logger = logging.getLogger(__name__)

#: seconds a ticket lives unless its process renews it
DEFAULT_LEASE_SECONDS = 3.0
#: renewals per lease
RENEWALS_PER_LEASE = 6
#: seconds between two looks of a waiting message at the lock
POLL_SECONDS = 0.2
#: attempts of one lock change when other processes change the same lock at the same moment
TRANSACTION_ATTEMPTS = 20

#: attempts of a tracker store read or write
ATTEMPTS = 3
#: seconds before the second and third attempt
BACKOFF_SECONDS = (0.2, 0.6)
#: seconds to wait for PostgreSQL to accept a connection
CONNECT_TIMEOUT_SECONDS = 3

T = TypeVar("T")
_RETRYING: contextvars.ContextVar[bool] = contextvars.ContextVar("tracker_store_retrying", default=False)


class LeaseRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store with renewed leases and atomic changes (see the module's docstring).

    ``endpoints.yml``::

        lock_store:
          type: bot.rasa_runtime.stores.LeaseRedisLockStore
          url: 127.0.0.1
          port: 6379
          db: 1
          key_prefix: shop
          socket_timeout: 1       # seconds Redis may take to answer (Rasa's default: 10)
          lease_seconds: 3        # optional
    """

    def __init__(self, endpoint_config: Any = None, **kwargs: Any) -> None:
        options = dict(getattr(endpoint_config, "kwargs", None) or {})
        options.update(kwargs)
        self.lease = float(options.pop("lease_seconds", DEFAULT_LEASE_SECONDS))
        if not 0 < self.lease <= 600:
            raise ValueError(f"lease_seconds={self.lease}: give the lease in seconds, above 0 and at most 600")
        host = options.pop("host", None) or getattr(endpoint_config, "url", None) or "localhost"
        super().__init__(
            host=host,
            port=int(options.pop("port", 6379)),
            db=int(options.pop("db", 1)),
            password=options.pop("password", None),
            use_ssl=bool(options.pop("use_ssl", False)),
            key_prefix=options.pop("key_prefix", None),
            socket_timeout=float(options.pop("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS)),
        )
        if options:
            logger.warning("lock store: ignored unknown settings %s", ", ".join(sorted(options)))

    # ----------------------------------------------------------------- one lock, changed atomically

    def _change(
        self, conversation_id: str, change: Callable[[Optional[TicketLock]], tuple[Optional[TicketLock], T]]
    ) -> T:
        """Apply ``change`` (current lock or None → new lock or None to delete it, result) in one transaction."""
        from redis.exceptions import WatchError

        key = self.key_prefix + conversation_id
        for _ in range(TRANSACTION_ATTEMPTS):
            with self.red.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    current = TicketLock.from_dict(json.loads(raw)) if raw else None
                    new, result = change(current)
                    pipe.multi()
                    if new is None or not new.tickets:
                        pipe.delete(key)
                    else:
                        pipe.set(key, new.dumps())
                    pipe.execute()
                    return result
                except WatchError:
                    continue  # another process changed this lock meanwhile: read it again
        raise LockError(f"the lock of conversation '{conversation_id}' kept changing; gave up")

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = DEFAULT_LEASE_SECONDS) -> int:
        """A new ticket (a lease of ``lock_lifetime`` seconds) at the end of the conversation's queue."""

        def issue(current: Optional[TicketLock]) -> tuple[TicketLock, int]:
            lock = current or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)  # drops expired tickets first

        try:
            return self._change(conversation_id, issue)
        except LockError:
            raise
        except Exception as error:  # Redis unreachable: as Rasa's lock store says it
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(current: Optional[TicketLock]) -> tuple[Optional[TicketLock], None]:
            if current is not None:
                current.remove_expired_tickets()
            return current, None

        self._change(conversation_id, drop_expired)

    def renew(self, conversation_id: str, ticket: int) -> bool:
        """Extend ``ticket`` by a lease from now; False if it is no longer in the queue."""

        def extend(current: Optional[TicketLock]) -> tuple[Optional[TicketLock], bool]:
            found = next((t for t in current.tickets if t.number == ticket), None) if current else None
            if found is not None:
                found.expires = time.time() + self.lease
            return current, found is not None

        return self._change(conversation_id, extend)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Take ``ticket_number`` out of the queue; the lock goes when no ticket is left."""

        def release(current: Optional[TicketLock]) -> tuple[Optional[TicketLock], None]:
            if current is not None:
                current.remove_ticket_for(ticket_number)  # also drops expired tickets
            return current, None

        self._change(conversation_id, release)

    # ----------------------------------------------------------------- the lock around one message

    async def _keep_alive(self, conversation_id: str, ticket: int) -> None:
        interval = self.lease / RENEWALS_PER_LEASE
        warned = False
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - renewed > self.lease:
                return  # Redis has not answered for a whole lease: the ticket is gone; stop asking (each try blocks)
            try:
                if not self.renew(conversation_id, ticket):
                    logger.warning(
                        "conversation %s: its ticket %d expired before it was renewed (the event loop was "
                        "blocked for more than the %g s lease)",
                        conversation_id,
                        ticket,
                        self.lease,
                    )
                    return
                renewed = time.monotonic()
            except Exception as error:  # Redis went away mid-turn: the turn goes on, the lease runs out
                if not warned:
                    logger.warning("conversation %s: could not renew its lock (%s)", conversation_id, error)
                    warned = True

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = 0, wait_time_in_seconds: float = POLL_SECONDS
    ) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock: wait for the tickets ahead, renewing this one's lease meanwhile.

        ``lock_lifetime`` is ignored (the lease is renewed while this process is alive);
        ``wait_time_in_seconds`` is at most :data:`POLL_SECONDS`.
        """
        ticket = self.issue_ticket(conversation_id, self.lease)
        renewing = asyncio.ensure_future(self._keep_alive(conversation_id, ticket))
        try:
            yield await self._acquire_lock(conversation_id, ticket, min(wait_time_in_seconds, POLL_SECONDS))
        finally:
            renewing.cancel()
            try:
                self.cleanup(conversation_id, ticket)
            except Exception as error:  # the turn is done; the ticket's lease runs out by itself
                logger.warning(
                    "conversation %s: could not release its lock (%s); it expires within %g s",
                    conversation_id,
                    error,
                    self.lease,
                )


# --------------------------------------------------------------------------- tracker store


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a lost or refused database connection (worth another attempt)."""
    import sqlalchemy.exc

    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError))


async def with_retries(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    transient: Callable[[BaseException], bool] = is_transient,
    backoff: tuple[float, ...] = BACKOFF_SECONDS,
) -> T:
    """``attempt()``, tried again after each of ``backoff``'s pauses while it fails with a transient error."""
    for pause in (*backoff, None):
        try:
            return await attempt()
        except Exception as error:
            if pause is None or not transient(error):
                raise
            logger.warning("tracker store: %s failed (%s); trying again in %g s", what, error, pause)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


class ResilientSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with connections checked before use and retried reads and writes.

    ``endpoints.yml`` takes the keys of Rasa's ``type: SQL`` store::

        tracker_store:
          type: bot.rasa_runtime.stores.ResilientSQLTrackerStore
          dialect: postgresql
          url: 127.0.0.1
          db: tracker
          username: postgres
          login_db: postgres
    """

    engine: Any
    sessionmaker: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import sqlalchemy as sa

        super().__init__(*args, **kwargs)
        url = self.engine.url
        options = create_engine_kwargs(url)
        if url.get_backend_name() == "postgresql":
            options["connect_args"] = {**options.get("connect_args", {}), "connect_timeout": CONNECT_TIMEOUT_SECONDS}
        # Rasa's engine (after creating the database) has neither the pool settings nor a check
        self.engine.dispose()
        self.engine = sa.create_engine(url, pool_pre_ping=True, **options)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def stream_events(self, tracker: Any) -> None:
        if not _RETRYING.get():  # a retried save publishes nothing twice
            await super().stream_events(tracker)

    async def save(self, tracker: Any) -> None:
        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            attempts += 1
            token = _RETRYING.set(attempts > 1)
            try:
                await SQLTrackerStore.save(self, tracker)
            finally:
                _RETRYING.reset(token)

        await with_retries(f"saving conversation {tracker.sender_id}", attempt)

    async def retrieve(self, sender_id: str) -> Any:
        return await with_retries(
            f"reading conversation {sender_id}", lambda: SQLTrackerStore.retrieve(self, sender_id)
        )

    async def retrieve_full_tracker(self, conversation_id: str) -> Any:
        return await with_retries(
            f"reading conversation {conversation_id}",
            lambda: SQLTrackerStore.retrieve_full_tracker(self, conversation_id),
        )
