"""Who may read ``/metrics`` of the web app and the action server.

The metrics say how busy the shop is and how its assistant fares; they are for
the operators' Prometheus, not for the public. A scraper is let in when it is on
this machine (a loopback address, reached directly: a request that went through
a proxy, which carries forwarding headers, is refused even from loopback, so a
gateway on the same machine cannot open it to the world) or when it sends the
bearer token of ``CRM_METRICS_TOKEN`` (a Prometheus on another machine).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Optional

#: headers a reverse proxy adds: their presence means the loopback peer is only relaying someone else
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_loopback(address: Optional[str]) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def may_scrape(client: Optional[str], headers: Mapping[str, str], token: str) -> bool:
    """Whether a request from ``client`` with ``headers`` may read the metrics (``token``: CRM_METRICS_TOKEN)."""
    if token:
        supplied = (headers.get("authorization") or "").encode()
        if hmac.compare_digest(supplied, f"Bearer {token}".encode()):
            return True
    forwarded = any(headers.get(name) for name in FORWARDING_HEADERS)
    return is_loopback(client) and not forwarded
