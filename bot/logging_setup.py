"""Logs of the server processes: one JSON object a line, with the conversation being handled.

The web app and the action server call :func:`configure_json_logging` once when
their process starts (the action server in each worker). Everything logged
through the standard :mod:`logging` module, ours and the libraries' (uvicorn,
Sanic, rasa-sdk), comes out as JSON with ``timestamp``, ``level``, ``logger``
and ``event``; while a turn or a console request is handled, every line also
carries ``conversation_id`` (the tracker's sender id), bound with
:func:`conversation` in a context variable, so concurrent requests never mix
them up. The ``crm`` CLI does not call it and keeps its human-readable output.

What is logged is no more personal than before: messages still go through the
masking of :mod:`analytics.security.masking` where they carry customers' words.
"""

from __future__ import annotations

import logging
import sys
from contextlib import AbstractContextManager
from typing import IO, Any, Optional

import structlog
from structlog.typing import Processor

#: loggers that libraries configure with their own handlers; theirs go through ours instead
LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sanic.root", "sanic.error", "sanic.access")
#: loggers that say every HTTP call at INFO: the health checks' polls would fill the log
CHATTY_LOGGERS = ("httpx", "httpcore")

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _JsonHandler(logging.StreamHandler):
    """The root handler :func:`configure_json_logging` installs (recognised, so a second call replaces it)."""


def json_formatter() -> logging.Formatter:
    """A formatter that renders any :class:`logging.LogRecord` as one JSON object, with the bound context."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_json_logging(level: int = logging.INFO, stream: Optional[IO[str]] = None) -> None:
    """Send every log record of this process to ``stream`` (default: standard error) as JSON lines.

    Idempotent: a second call replaces the handler of the first (tests pass their own stream).
    """
    handler = _JsonHandler(stream or sys.stderr)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def conversation(sender_id: Optional[str]) -> AbstractContextManager[Any]:
    """Within the block, every log line of this task (or thread) carries ``conversation_id=sender_id``."""
    if not sender_id:
        return structlog.contextvars.bound_contextvars()
    return structlog.contextvars.bound_contextvars(conversation_id=sender_id)


def bind_conversation(sender_id: Optional[str]) -> None:
    """Tag the rest of the current request's log lines with ``sender_id`` (its context ends with the request)."""
    if sender_id:
        structlog.contextvars.bind_contextvars(conversation_id=sender_id)
