"""The one clock of the product: naive UTC.

The store keeps times as naive UTC (``DateTime`` columns without a zone), so
every "now" the code compares with them comes from here. Functions that depend
on the time take an optional ``now`` and fall back to :func:`utc_now`, which
keeps them testable without patching.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """The current time as naive UTC, the form the store keeps.

    Examples
    --------
    >>> utc_now().tzinfo is None
    True
    """
    return datetime.now(timezone.utc).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as naive UTC: an aware time converted, a naive one taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
