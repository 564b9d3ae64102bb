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


class DatabaseSettings(BaseSettings):
    """Timeouts and retries of the customer store's connections, the ``db`` section of :class:`Settings`
    (:mod:`analytics.store.db`, :mod:`analytics.store.retry`). Its variables are ``CRM_DB_*``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    connect_timeout_seconds: int = Field(
        default=5,
        ge=1,
        validation_alias="CRM_DB_CONNECT_TIMEOUT_SECONDS",
        description="PostgreSQL: give up connecting after this long (a server that does not answer).",
    )
    statement_timeout_ms: int = Field(
        default=15_000,
        ge=0,
        validation_alias="CRM_DB_STATEMENT_TIMEOUT_MS",
        description="PostgreSQL: the server cancels a statement of the serving processes (web app, action server) "
        "that runs longer (0: no limit).",
    )
    batch_statement_timeout_ms: int = Field(
        default=1_800_000,
        ge=0,
        validation_alias="CRM_DB_BATCH_STATEMENT_TIMEOUT_MS",
        description="PostgreSQL: the same for the CLI and the scheduled jobs, whose imports and refreshes run "
        "long statements on purpose (0: no limit).",
    )
    pool_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias="CRM_DB_POOL_TIMEOUT_SECONDS",
        description="How long a request waits for a free pooled connection before failing.",
    )
    sqlite_busy_seconds: float = Field(
        default=15.0,
        ge=0,
        validation_alias="CRM_DB_SQLITE_BUSY_SECONDS",
        description="SQLite: how long a writer waits for another's write lock before failing (busy timeout).",
    )
    retries: int = Field(
        default=2,
        ge=0,
        le=10,
        validation_alias="CRM_DB_RETRIES",
        description="Retries of a unit of work that failed on a transient error (lost connection, serialization "
        "failure) before committing anything; never of one whose commit may have happened.",
    )
    retry_backoff_seconds: float = Field(
        default=0.2,
        ge=0,
        validation_alias="CRM_DB_RETRY_BACKOFF_SECONDS",
        description="Wait before the first retry; doubled before each next one.",
    )


class JobSettings(BaseSettings):
    """The scheduled jobs of ``crm jobs run`` (:mod:`bot.jobs`), the ``jobs`` section of :class:`Settings`.

    Schedules are five-field crontab lines (minute hour day month weekday) in ``timezone``; an empty one
    turns its job off. They are checked when the scheduler starts.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    analytics_refresh: str = Field(
        default="30 2 * * *",
        validation_alias="CRM_JOB_ANALYTICS_REFRESH",
        description="Customers' scores (`crm analytics refresh`): nightly.",
    )
    recommend_refresh: str = Field(
        default="0 3 * * *",
        validation_alias="CRM_JOB_RECOMMEND_REFRESH",
        description="The recommender and basket rules (`crm recommend refresh`): nightly, after the scores.",
    )
    forecast: str = Field(
        default="30 3 * * 1",
        validation_alias="CRM_JOB_FORECAST",
        description="Weekly demand forecasts (`crm forecast demand`): Monday nights.",
    )
    nlu_triage: str = Field(
        default="15 * * * *",
        validation_alias="CRM_JOB_NLU_TRIAGE",
        description="What the bot misunderstood in the last day (`crm nlu triage --since 1d`): hourly.",
    )
    timezone: str = Field(default="UTC", validation_alias="CRM_JOBS_TIMEZONE")
    lease_seconds: float = Field(
        default=300.0,
        ge=5,
        validation_alias="CRM_JOBS_LEASE_SECONDS",
        description="A running job's lock lasts this long unless its runner renews it (every third of it): how "
        "long a crashed runner blocks the job.",
    )


class ProductionSettings(BaseSettings):
    """The production profile of ``crm serve --production`` (``make run-prod``), the ``production`` section of
    :class:`Settings`: PostgreSQL, Redis, several Rasa processes and the nginx gateway (``bot/production.py``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/crm_prod",
        validation_alias="CRM_PROD_DATABASE_URL",
        description="The customer store (created if missing, through `admin_database`).",
    )
    tracker_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/crm_prod_tracker",
        validation_alias="CRM_PROD_TRACKER_URL",
        description="Rasa's SQL tracker store, a database of its own (created if missing).",
    )
    admin_database: str = Field(
        default="test",
        validation_alias="CRM_PROD_ADMIN_DATABASE",
        description="An existing database of the same server to connect to when creating the two above.",
    )
    lock_store_url: str = Field(
        default="redis://127.0.0.1:6379/1",
        validation_alias="CRM_PROD_LOCK_STORE_URL",
        description="Redis for Rasa's lock store, shared by every Rasa process.",
    )
    limits_url: str = Field(
        default="redis://127.0.0.1:6379/2",
        validation_alias="CRM_PROD_LIMITS_URL",
        description="Redis for the identity, login and handoff limits (unless CRM_RATE_LIMIT_STORAGE names one).",
    )
    event_broker_url: str = Field(
        default="amqp://guest:guest@127.0.0.1:5672/",
        validation_alias="CRM_PROD_EVENT_BROKER_URL",
        description="RabbitMQ that Rasa publishes its tracker events to; the agent console follows them live.",
    )
    event_queue: str = Field(
        default="rasa_events",
        validation_alias="CRM_PROD_EVENT_QUEUE",
        description="The durable queue Rasa declares for its events (bound its length with a RabbitMQ policy).",
    )
    rasa_processes: int = Field(default=2, ge=1, le=16, validation_alias="CRM_PROD_RASA_PROCESSES")
    rasa_sanic_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        validation_alias="CRM_PROD_RASA_WORKERS",
        description="SANIC_WORKERS of each Rasa process. Above 1, socket.io's polling transport breaks "
        "(a session lives in one worker and the kernel picks the worker): prefer more processes.",
    )
    action_processes: int = Field(
        default=2,
        ge=1,
        le=16,
        validation_alias="CRM_PROD_ACTION_PROCESSES",
        description="Action-server processes, each a supervisord program on its own loopback port; Rasa reaches "
        "them through one loopback port of the gateway, which passes a call to another process when one refuses "
        "the connection (a crashed process is restarted meanwhile).",
    )
    action_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        validation_alias="CRM_PROD_ACTION_WORKERS",
        description="Sanic workers of each action-server process. Above 1, Sanic's manager listens on the port "
        "before its workers can answer, so a restarted process takes calls it leaves waiting until its workers "
        "have started: prefer more processes.",
    )
    gateway_host: str = Field(
        default="127.0.0.1",
        validation_alias="CRM_PROD_GATEWAY_HOST",
        description="Address the gateway listens on (0.0.0.0 to serve other machines).",
    )
    gateway_port: int = Field(default=8080, validation_alias="CRM_PROD_GATEWAY_PORT")
    tls_certificate: Optional[Path] = Field(
        default=None,
        validation_alias="CRM_PROD_TLS_CERT",
        description="PEM certificate chain: with tls_key, the gateway also serves HTTPS on tls_port.",
    )
    tls_key: Optional[Path] = Field(default=None, validation_alias="CRM_PROD_TLS_KEY")
    tls_port: int = Field(default=8443, validation_alias="CRM_PROD_TLS_PORT")
    chat_rate_per_second: int = Field(
        default=5,
        ge=1,
        validation_alias="CRM_PROD_CHAT_RATE",
        description="Requests per second one client address may make to the chat channels (burst: 4x).",
    )
    web_rate_per_second: int = Field(
        default=20,
        ge=1,
        validation_alias="CRM_PROD_WEB_RATE",
        description="Requests per second one client address may make to the web app's pages (burst: 4x).",
    )
    nginx_bin: Path = Field(default=Path("/usr/sbin/nginx"), validation_alias="CRM_NGINX_BIN")


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
    event_broker_url: str = Field(
        default="",
        validation_alias="CRM_EVENT_BROKER_URL",
        description="RabbitMQ where Rasa's event broker (endpoints.yml `event_broker: type: pika`) publishes, e.g. "
        "amqp://guest:guest@127.0.0.1:5672/: open consoles then get conversations' events pushed (server-sent "
        "events). Empty: the console polls every second.",
    )
    event_broker_exchange: str = Field(
        default="rasa-exchange",
        validation_alias="CRM_EVENT_BROKER_EXCHANGE",
        description="The fanout exchange Rasa's pika broker publishes to (Rasa 3.6: rasa-exchange); each web app "
        "process reads it through a queue of its own.",
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
    # --- timeouts and retries of the customer store: its own CRM_DB_* variables
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    # --- the scheduled jobs (`crm jobs run`): their own CRM_JOB_* variables
    jobs: JobSettings = Field(default_factory=JobSettings)
    # --- the NLU operations loop (bot/ops): its own variables, read into this section
    ops: OpsSettings = Field(default_factory=OpsSettings)
    # --- the production profile (`make run-prod`): its own CRM_PROD_* variables
    production: ProductionSettings = Field(default_factory=ProductionSettings)

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
