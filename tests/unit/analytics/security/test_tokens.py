"""Customer session tokens: only a valid, unexpired token signed with our secret names a customer."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from analytics.core.errors import InvalidInput
from analytics.core.settings import Settings
from analytics.security.tokens import AUDIENCE, sign_customer_token, token_secret, verify_customer_token

SECRET = "s" * 40


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(CRM_TOKEN_SECRET=SECRET, CRM_VAR_DIR=tmp_path)


def test_a_signed_token_names_its_customer(settings: Settings) -> None:
    token = sign_customer_token(17850, settings=settings, now=1_000_000)
    assert verify_customer_token(token, settings=settings, now=1_000_010) == 17850


def test_an_expired_token_names_nobody(settings: Settings) -> None:
    token = sign_customer_token(17850, settings=settings, now=1_000_000, ttl=60)
    assert verify_customer_token(token, settings=settings, now=1_000_061) is None


def test_a_token_signed_with_another_secret_is_refused(settings: Settings) -> None:
    forged = jwt.encode({"sub": "12347", "aud": AUDIENCE, "exp": 2_000_000_000}, "x" * 40, algorithm="HS256")
    assert verify_customer_token(forged, settings=settings) is None


def test_an_unsigned_token_is_refused(settings: Settings) -> None:
    unsigned = jwt.encode({"sub": "12347", "aud": AUDIENCE, "exp": 2_000_000_000}, None, algorithm="none")
    assert verify_customer_token(unsigned, settings=settings) is None


def test_a_tampered_customer_id_is_refused(settings: Settings) -> None:
    header, _payload, signature = sign_customer_token(17850, settings=settings).split(".")
    other = jwt.utils.base64url_encode(b'{"sub":"12347","aud":"shop-assistant","exp":2000000000}').decode()
    assert verify_customer_token(f"{header}.{other}.{signature}", settings=settings) is None


@pytest.mark.parametrize("garbage", [None, "", "not-a-token", 42, {"sub": 1}])
def test_garbage_names_nobody(settings: Settings, garbage: object) -> None:
    assert verify_customer_token(garbage, settings=settings) is None


def test_without_a_configured_secret_one_is_created_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(CRM_TOKEN_SECRET="", CRM_VAR_DIR=tmp_path)
    first = token_secret(settings)
    assert first == token_secret(settings) and len(first) == 64
    assert (tmp_path / "token-secret").stat().st_mode & 0o077 == 0


def test_a_short_secret_is_refused_with_advice(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="at least 32"):
        token_secret(Settings(CRM_TOKEN_SECRET="short", CRM_VAR_DIR=tmp_path))
