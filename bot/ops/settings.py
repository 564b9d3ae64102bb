"""Settings of the NLU operations loop, read from the environment like :mod:`analytics.settings`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.secrets import installation_secret
from analytics.settings import Settings, get_settings


class OpsSettings(BaseSettings):
    """Runtime configuration of ``crm nlu``. Construct it directly in tests to override values."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    tracker_store_url: Optional[str] = Field(
        default=None,
        validation_alias="CRM_TRACKER_STORE_URL",
        description="SQLAlchemy URL of Rasa's SQL tracker store; default: read from endpoints.yml.",
    )
    max_macro_f1_drop: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        validation_alias="CRM_NLU_MAX_F1_DROP",
        description="The regression gate refuses a candidate whose held-out macro-F1 is lower than the live "
        "model's by more than this.",
    )
    admin_url: str = Field(
        default="http://127.0.0.1:5006",
        validation_alias="CRM_OPS_ADMIN_URL",
        description="Where `crm nlu serve` listens for swap requests (loopback only).",
    )
    admin_token: str = Field(
        default="",
        validation_alias="CRM_OPS_TOKEN",
        description="The admin API's bearer token (at least 32 bytes). Empty: one is created once in "
        "<var>/admin-token, which `crm nlu serve` and `crm nlu publish|rollback` share.",
    )
    lock_store_url: str = Field(
        default="redis://127.0.0.1:6379/1",
        validation_alias="CRM_LOCK_STORE_URL",
        description="Redis for Rasa's lock store when endpoints.yml has none: two servers must share locks.",
    )
    names_file: Optional[Path] = Field(
        default=None,
        validation_alias="CRM_PII_NAMES_FILE",
        description="Extra names to mask in training data, one per line.",
    )
    drain_seconds: float = Field(
        default=30.0,
        validation_alias="CRM_SWAP_DRAIN_SECONDS",
        description="How long the old server may finish requests it holds before it is stopped.",
    )
    load_timeout_seconds: float = Field(default=600.0, validation_alias="CRM_SWAP_LOAD_TIMEOUT")
    load_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        validation_alias="CRM_SWAP_LOAD_NICENESS",
        description="CPU niceness of a new Rasa server while it loads (0: none), so serving keeps the CPU.",
    )


@lru_cache(maxsize=1)
def get_ops_settings() -> OpsSettings:
    """The process-wide settings, read once on first use."""
    return OpsSettings()


def admin_token(ops: Optional[OpsSettings] = None, settings: Optional[Settings] = None) -> str:
    """The token of the switchboard's admin API: ``CRM_OPS_TOKEN``, else ``<var>/admin-token`` (created once).

    Raises
    ------
    InvalidInput
        The configured token, or the file, holds fewer than 32 bytes.
    """
    ops = ops or get_ops_settings()
    return installation_secret(settings or get_settings(), "admin-token", ops.admin_token)
