"""One settings object for the whole product, read from the environment.

Every value can be overridden with an environment variable of the same name
(``DATABASE_URL``, ``CRM_SAMPLE_PATH`` ...) or in a ``.env`` file in the
working directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Runtime configuration. Construct it directly in tests to override values."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'crm.sqlite3'}",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL of the customer store.",
    )
    sql_echo: bool = Field(default=False, validation_alias="CRM_SQL_ECHO")
    sample_path: Path = Field(
        default=PROJECT_ROOT / "data" / "retail" / "online_retail_sample.csv.gz",
        validation_alias="CRM_SAMPLE_PATH",
        description="The small attributed Online Retail sample shipped with the project.",
    )
    artifacts_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "artifacts",
        validation_alias="CRM_ARTIFACTS_DIR",
        description="Versioned fitted models (recommender, basket rules) the action server loads.",
    )
    full_dataset_path: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail_uci" / "online_retail_all_rows.csv.gz",
        validation_alias="CRM_FULL_DATASET_PATH",
        description="The full UCI Online Retail file, when it is available.",
    )
    token_secret: str = Field(
        default="",
        validation_alias="CRM_TOKEN_SECRET",
        description=(
            "Secret that signs customers' chat-session tokens (HS256). Empty: a random one is created "
            "once in var/token-secret and shared by every process of this installation."
        ),
    )
    token_ttl_seconds: int = Field(
        default=900, validation_alias="CRM_TOKEN_TTL_SECONDS", description="Lifetime of a session token."
    )
    var_dir: Path = Field(default=PROJECT_ROOT / "var", validation_alias="CRM_VAR_DIR")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
