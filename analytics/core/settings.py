"""One settings object for the whole product, read from the environment.

Every value can be overridden with an environment variable of the same name
(``DATABASE_URL``, ``CRM_SAMPLE_PATH`` ...) or in a ``.env`` file in the
working directory.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class OpsSettings(BaseSettings):
    """The NLU operations loop (``crm nlu``: triage, gate, swaps), the ``ops`` section of :class:`Settings`.

    Its variables keep their names (``CRM_OPS_TOKEN`` ...); construct it directly in tests to override values.
    """

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


class Settings(BaseSettings):
    """Runtime configuration. Construct it directly in tests to override values."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        validation_alias="CRM_ENV",
        description=(
            "production: refuses the demo (CRM_DEMO), marks cookies Secure and needs a shared store for "
            "attempt limits (CRM_RATE_LIMIT_STORAGE=redis://...)."
        ),
    )
    demo: bool = Field(
        default=False,
        validation_alias="CRM_DEMO",
        description=(
            "Local demo: the chat page's password-less sign-in as a sample customer and the documented demo "
            "staff accounts. `make run` sets it; production refuses it."
        ),
    )
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
    rasa_bin: Path = Field(
        default=PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa",
        validation_alias="CRM_RASA_BIN",
        description="The rasa script of Rasa's own environment; the servers and training run its Python.",
    )
    # --- the web chat page and the agent console (bot/web)
    rasa_url: str = Field(
        default="http://127.0.0.1:5005",
        validation_alias="CRM_RASA_URL",
        description="The Rasa server as the web app's back end reaches it (HTTP API, with rasa_token).",
    )
    rasa_socket_url: str = Field(
        default="",
        validation_alias="CRM_RASA_SOCKET_URL",
        description="The Rasa server as customers' browsers reach it (socket.io). Empty: the same as CRM_RASA_URL.",
    )
    rasa_token: str = Field(
        default="",
        validation_alias="CRM_RASA_TOKEN",
        description=(
            "Key of Rasa's HTTP API (clients send JWTs signed with it). Empty: a random one is created once in "
            "var/rasa-token, which `crm serve` and the web app share."
        ),
    )
    web_secret: str = Field(
        default="",
        validation_alias="CRM_WEB_SECRET",
        description="Secret that signs the web app's cookies. Empty: a random one is created once in var/web-secret.",
    )
    web_secure_cookies: bool = Field(
        default=False,
        validation_alias="CRM_WEB_SECURE_COOKIES",
        description="Mark cookies Secure (always in production; set it wherever the web app is served over HTTPS).",
    )
    console_session_hours: float = Field(
        default=8.0, validation_alias="CRM_CONSOLE_SESSION_HOURS", description="How long an agent stays logged in."
    )
    action_token: str = Field(
        default="",
        validation_alias="CRM_ACTION_TOKEN",
        description=(
            "Bearer token the Rasa server sends the action server (and the only key it opens). Empty: a random "
            "one is created once in var/action-token."
        ),
    )
    action_host: str = Field(
        default="127.0.0.1",
        validation_alias="CRM_ACTION_HOST",
        description="Address the action server listens on: loopback, or a private network in production.",
    )
    action_workers: int = Field(
        default=1,
        validation_alias="CRM_ACTION_WORKERS",
        description="Worker processes of the action server (`python -m bot.action_server --workers` overrides it).",
    )
    action_url: str = Field(
        default="http://127.0.0.1:5055",
        validation_alias="CRM_ACTION_URL",
        description="The action server as the web app's health check reaches it (its open `/health`).",
    )
    metrics_token: str = Field(
        default="",
        validation_alias="CRM_METRICS_TOKEN",
        description=(
            "Bearer token that opens `/metrics` of the web app and the action server to a scraper on another "
            "machine. Empty: `/metrics` answers loopback clients only (requests through a proxy are refused)."
        ),
    )
    identity_idle_seconds: int = Field(
        default=1800,
        ge=60,
        le=1800,
        validation_alias="CRM_IDENTITY_IDLE_SECONDS",
        description="A verified customer stays verified in a conversation for this long after their last message.",
    )
    rate_limit_storage: str = Field(
        default="memory://",
        validation_alias="CRM_RATE_LIMIT_STORAGE",
        description=(
            "Where failed identity checks and logins are counted: memory:// (one process) or "
            "redis://host:6379/N (shared by every process; required in production)."
        ),
    )
    identity_limit_conversation: str = Field(
        default="3 per 15 minutes",
        validation_alias="CRM_IDENTITY_LIMIT_CONVERSATION",
        description="Failed identity checks allowed in one conversation (new conversations and /restart included).",
    )
    identity_limit_email: str = Field(
        default="5 per hour",
        validation_alias="CRM_IDENTITY_LIMIT_EMAIL",
        description="Failed identity checks allowed with one e-mail address, from anywhere.",
    )
    identity_limit_customer: str = Field(
        default="5 per hour",
        validation_alias="CRM_IDENTITY_LIMIT_CUSTOMER",
        description="Failed identity checks allowed against one customer's order numbers, from anywhere.",
    )
    identity_limit_client: str = Field(
        default="10 per hour",
        validation_alias="CRM_IDENTITY_LIMIT_CLIENT",
        description="Failed identity checks allowed from one network address, across conversations.",
    )
    login_limit_username: str = Field(
        default="5 per 15 minutes",
        validation_alias="CRM_LOGIN_LIMIT_USERNAME",
        description="Failed console logins allowed for one user name (then refused without checking the password).",
    )
    login_limit_client: str = Field(
        default="30 per hour",
        validation_alias="CRM_LOGIN_LIMIT_CLIENT",
        description="Failed console logins allowed from one network address.",
    )
    handoff_limit_client: str = Field(
        default="3 per hour",
        validation_alias="CRM_HANDOFF_LIMIT_CLIENT",
        description="New requests for a person allowed from one network address (across conversations).",
    )
    handoff_queue_max: int = Field(
        default=200,
        ge=1,
        validation_alias="CRM_HANDOFF_QUEUE_MAX",
        description="Handoffs that may wait for an agent at once; beyond it customers are asked to write instead.",
    )
    # --- privacy: encryption at rest, keyed hashes, retention (analytics/store/crypto.py, bot/ops/erasure.py)
    data_key: str = Field(
        default="",
        validation_alias="CRM_DATA_KEY",
        description=(
            "Key that encrypts customers' names, e-mail addresses and delivery addresses in the store (AES-256-GCM). "
            "Empty: a random one is created once in var/data-key. Losing it loses those columns: back it up."
        ),
    )
    index_key: str = Field(
        default="",
        validation_alias="CRM_INDEX_KEY",
        description=(
            "Key of the keyed hashes (HMAC-SHA256) that find a customer by e-mail, remember erased customers "
            "and name conversations in operators' files. Empty: a random one is created once in var/index-key."
        ),
    )
    log_retention_days: float = Field(
        default=30.0,
        gt=0,
        validation_alias="CRM_LOG_RETENTION_DAYS",
        description=(
            "Log files under var/log last modified longer ago than this are deleted when a customer's data is "
            "erased (`crm privacy delete`); lines naming the customer are blanked in the newer ones."
        ),
    )
    exports_dir: Path = Field(
        default=PROJECT_ROOT / "var" / "exports",
        validation_alias="CRM_EXPORTS_DIR",
        description="Where `crm privacy export` writes a customer's data (one JSON file per request, mode 0600).",
    )
    demo_customers: str = Field(
        default="17850,12748,12347",
        validation_alias="CRM_DEMO_CUSTOMERS",
        description="Shop numbers of the customers the chat page's demo login offers (comma-separated).",
    )
    # --- the NLU operations loop (bot/ops): its own variables, read into this section
    ops: OpsSettings = Field(default_factory=OpsSettings)

    @model_validator(mode="after")
    def _production_is_closed(self) -> Settings:
        if self.environment == "production":
            if self.demo:
                raise ValueError(
                    "CRM_DEMO is set with CRM_ENV=production: the demo's password-less sign-in and documented "
                    "staff passwords must never run in production; unset CRM_DEMO."
                )
            if not self.rate_limit_storage.startswith(("redis://", "rediss://", "redis+sentinel://")):
                raise ValueError(
                    "CRM_ENV=production needs CRM_RATE_LIMIT_STORAGE=redis://host:6379/N, so every process "
                    f"counts failed identity checks and logins together (it is {self.rate_limit_storage!r})."
                )
            self.web_secure_cookies = True
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once on first use."""
    return Settings()
