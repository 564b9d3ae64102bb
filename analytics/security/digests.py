"""Names for conversations in operators' files that give nothing away.

A conversation is named by a keyed hash (HMAC-SHA256 with the installation's
index key, :func:`analytics.store.crypto.conversation_digest`) of its sender id:
without the key, nobody can test a guessed sender id (a customer number, an
e-mail address a channel derived it from) against the names in a triage file.
"""

from __future__ import annotations

from analytics.store.crypto import conversation_digest, default_keys


def conversation_name(sender_id: str) -> str:
    """The name of the conversation ``sender_id`` in operators' files: 16 hex digits, stable per installation."""
    return conversation_digest(default_keys(), sender_id)
