"""Values derived from a store and kept in memory for a while, one per store (engine)."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class PerStoreCache(Generic[T]):
    """One value per store (engine), rebuilt when older than ``ttl`` seconds."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: weakref.WeakKeyDictionary[Engine, tuple[float, T]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, engine: Engine, build: Callable[[], T]) -> T:
        with self._lock:
            entry = self._entries.get(engine)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        value = build()  # outside the lock: two first callers may both build, which is harmless
        with self._lock:
            self._entries[engine] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
