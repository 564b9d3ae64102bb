"""Personal columns encrypted at rest, and keyed hashes that find or remember a value without keeping it.

Two keys, both 32 or more random bytes, each from a setting or else an
installation secret created once under ``var/`` (:mod:`analytics.core.files`):

- the **data key** (``CRM_DATA_KEY``, else ``var/data-key``) encrypts the
  customers' names and e-mail addresses and orders' delivery addresses with
  AES-256-GCM: a random 96-bit nonce per value and the column's name as
  associated data (a value copied into another column does not decrypt). A
  value is stored as ``v1:`` and the URL-safe base64 of nonce, ciphertext and
  tag. :class:`EncryptedText` does it inside SQLAlchemy, so the ORM and Core
  selects of the column read and write plaintext; raw SQL sees ciphertext.
- the **index key** (``CRM_INDEX_KEY``, else ``var/index-key``) makes keyed
  hashes (HMAC-SHA256) of identifiers: the blind index that finds a customer
  by e-mail (:func:`email_index`), the tombstones of erased customers
  (:func:`identity_digest`) and the names of conversations in operators'
  files (:func:`conversation_digest`). Without the key a hash cannot be
  matched against a guessed address or customer number.

Each secret goes through HKDF-SHA256 with a label of its use, so a configured
passphrase-like secret still gives a uniform 256-bit key. Losing the data key
loses the encrypted columns: back it up with the database.

An engine uses the keys :func:`attach_keys` gave it (``make_engine(url,
keys=...)``); any other engine uses the process's keys, read once from the
settings on first use (:func:`default_keys`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from analytics.core.errors import CRMError
from analytics.core.text import fold_email

if TYPE_CHECKING:
    from analytics.core.settings import Settings

PREFIX = "v1:"
NONCE_BYTES = 12
_DIALECT_ATTRIBUTE = "crm_data_keys"


class DataKeyError(CRMError):
    """A stored value does not decrypt with this installation's data key (another key, or a damaged value)."""


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"shop-assistant " + label).derive(
        secret.encode("utf-8")
    )


@dataclass(frozen=True, repr=False)
class DataKeys:
    """The installation's data key (AES-256-GCM) and index key (HMAC-SHA256), as raw bytes."""

    data: bytes
    index: bytes

    def __repr__(self) -> str:  # never print a key
        return "DataKeys(<hidden>)"

    @classmethod
    def from_secrets(cls, data_secret: str, index_secret: str) -> DataKeys:
        if not data_secret or not index_secret:
            raise CRMError("both the data key and the index key are needed.")
        if data_secret == index_secret:
            raise CRMError("CRM_DATA_KEY and CRM_INDEX_KEY must differ: one encrypts, the other makes hashes.")
        return cls(_derive(data_secret, b"customer data v1"), _derive(index_secret, b"identifier index v1"))

    @classmethod
    def from_settings(cls, settings: Settings) -> DataKeys:
        """``CRM_DATA_KEY`` / ``CRM_INDEX_KEY``, or the installation's ``var/data-key`` / ``var/index-key``."""
        from analytics.core.files import installation_secret

        return cls.from_secrets(
            installation_secret(settings, "data-key", settings.data_key),
            installation_secret(settings, "index-key", settings.index_key),
        )

    # ------------------------------------------------------------------ encryption

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.data).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, stored: str, context: str) -> str:
        if not stored.startswith(PREFIX):
            raise DataKeyError(
                f"a value of {context} is not encrypted: migrate the store (`crm db upgrade`) before using it."
            )
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
            opened = AESGCM(self.data).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error):
            raise DataKeyError(
                f"a value of {context} does not decrypt with this installation's data key: the store was "
                "encrypted with another CRM_DATA_KEY (or var/data-key); use that key."
            ) from None
        return opened.decode("utf-8")

    # ------------------------------------------------------------------ keyed hashes

    def digest(self, kind: str, value: str) -> str:
        """HMAC-SHA256 of ``kind`` and ``value`` under the index key, as 64 hex digits."""
        message = kind.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self.index, message, hashlib.sha256).hexdigest()


def email_index(keys: DataKeys, email: str) -> str:
    """The blind index of an e-mail address: equal for equal addresses (any case), useless without the key."""
    return keys.digest("email", fold_email(email))


def identity_digest(keys: DataKeys, kind: str, value: str) -> str:
    """A tombstone's hash of an erased customer's identifier (``kind``: ``email`` or ``external_ref``)."""
    if kind == "email":
        return email_index(keys, value)
    return keys.digest(kind, str(value).strip())


def conversation_digest(keys: DataKeys, sender_id: str) -> str:
    """The name of a conversation in operators' files: 16 hex digits of a keyed hash of its sender id."""
    return keys.digest("conversation", sender_id)[:16]


# ---------------------------------------------------------------------- which keys an engine uses

_default: Optional[DataKeys] = None
_lock = threading.Lock()


def default_keys() -> DataKeys:
    """The process's keys, read from the settings (and created under ``var/`` if needed) on first use."""
    global _default
    with _lock:
        if _default is None:
            from analytics.core.settings import get_settings

            _default = DataKeys.from_settings(get_settings())
        return _default


def use_default_keys(keys: Optional[DataKeys]) -> None:
    """Replace the process's keys (``None``: read them from the settings again on next use)."""
    global _default
    with _lock:
        _default = keys


def attach_keys(engine: Engine, keys: DataKeys) -> Engine:
    """Make ``engine`` encrypt and hash with ``keys`` instead of the process's keys."""
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, keys)
    return engine


def keys_for(bind: Any) -> DataKeys:
    """The keys of an engine, connection, session bind or dialect."""
    dialect = bind if isinstance(bind, Dialect) else getattr(bind, "dialect", None)
    found = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    return found if isinstance(found, DataKeys) else default_keys()


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted (AES-256-GCM) with the engine's data key; reads give the plaintext.

    ``context`` names the column (``customers.email``) and is bound into each
    value. Comparing the column with a value in SQL never matches (every
    encryption differs): look values up by a keyed hash (a blind index) instead.
    """

    impl = Text
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Optional[str], dialect: Dialect) -> Optional[str]:
        if value is None:
            return None
        return keys_for(dialect).encrypt(str(value), self.context)

    def process_result_value(self, value: Optional[str], dialect: Dialect) -> Optional[str]:
        if value is None:
            return None
        return keys_for(dialect).decrypt(value, self.context)
