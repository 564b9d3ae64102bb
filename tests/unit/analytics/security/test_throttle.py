"""Which client address a limit counts against."""

from __future__ import annotations

import pytest

from analytics.security.throttle import client_key


@pytest.mark.parametrize("address", ["203.0.113.7", "2001:db8::1", " 198.51.100.4 "])
def test_a_remote_address_is_counted(address: str) -> None:
    assert client_key(address) == address.strip()


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "0.0.0.0", "testclient", "", None, 42, "203.0.113.7, 10.0.0.1"]
)
def test_a_local_proxy_or_anything_that_is_not_an_address_is_not(address: object) -> None:
    # counting a gateway's own address would lock every customer out together
    assert client_key(address) is None
