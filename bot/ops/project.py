"""Where a Rasa project keeps what the NLU loop reads and writes.

The operators' commands work on this repository; the end-to-end test and the
benchmarks work on a small project in a temporary folder with the same layout.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from analytics.core.errors import InvalidInput
from bot.ops.tracker import TrackerStoreError

#: Files under ``data/`` that make the model: training data, rules, stories, entity patterns.
TRAINING_SUFFIXES = (".yml", ".yaml", ".json", ".jsonl")
_ENV_VAR = re.compile(r"\$\{([^}]{1,100})\}")


#: Tracker stores that live outside the Rasa process, so a second server sees the same conversations.
SHARED_TRACKER_STORES = {"sql", "redis", "mongod", "mongo", "dynamo"}


@dataclass(frozen=True)
class Project:
    """A Rasa project on disk.

    Parameters
    ----------
    root : Path
        The folder with ``config.yml``, ``domain.yml``, ``endpoints.yml`` and ``data/``.

    Examples
    --------
    >>> Project(Path("/srv/bot")).holdout
    PosixPath('/srv/bot/tests/data/nlu_holdout.yml')
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def nlu_dir(self) -> Path:
        return self.data / "nlu"

    @property
    def from_conversations(self) -> Path:
        """The one training-data file the annotation step writes."""
        return self.nlu_dir / "from_conversations.yml"

    @property
    def patterns(self) -> Path:
        """Entity-ruler patterns of products and categories (optional)."""
        return self.data / "catalog_patterns.jsonl"

    @property
    def holdout(self) -> Path:
        return self.root / "tests" / "data" / "nlu_holdout.yml"

    @property
    def conversation_tests(self) -> Path:
        return self.root / "tests" / "conversations"

    @property
    def models(self) -> Path:
        """Every model the loop trains or registers, with its evaluation reports beside it."""
        return self.root / "models" / "nlu"

    @property
    def endpoints(self) -> Path:
        return self.root / "endpoints.yml"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.yml"

    @property
    def var(self) -> Path:
        return self.root / "var"

    def relative(self, path: Path) -> str:
        """``path`` relative to the project when it is inside it (what the registry stores), else absolute."""
        path = path.resolve()
        try:
            return str(path.relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def resolve(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def training_files(self, config: Optional[Path] = None) -> list[Path]:
        """The files a model is trained from, in a fixed order."""
        files = [config or self.config, self.domain]
        files += sorted(p for p in self.data.rglob("*") if p.is_file() and p.suffix in TRAINING_SUFFIXES)
        return [f for f in files if f.exists()]

    def data_hash(self, config: Optional[Path] = None) -> str:
        """SHA-256 over the names and contents of :meth:`training_files`: equal hashes, equal training input."""
        return files_hash(self.training_files(config), self.root)

    def intents(self) -> set[str]:
        """Intents a label may name: the domain's, plus ``base/sub`` for retrieval intents with a response."""
        domain = read_yaml(self.domain)
        names = {str(i) if not isinstance(i, dict) else str(next(iter(i))) for i in domain.get("intents") or []}
        responses = set((domain.get("responses") or {}).keys())
        for path in self.nlu_dir.glob("*.yml") if self.nlu_dir.exists() else []:
            responses |= set((read_yaml(path).get("responses") or {}).keys())
        for response in responses:
            if response.startswith("utter_") and "/" in response:
                base, sub = response[len("utter_") :].split("/", 1)
                if base in names:
                    names.add(f"{base}/{sub}")
        return names

    def read_endpoints(self, path: Optional[Path] = None) -> dict[str, Any]:
        """``endpoints.yml`` with ``${VAR}`` replaced from the environment, as Rasa reads it."""
        path = path or self.endpoints
        if not path.exists():
            return {}
        text = _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), path.read_text(encoding="utf-8"))
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise InvalidInput(f"{path} is not a YAML mapping.")
        return data

    def tracker_store_url(self, endpoints: Optional[Path] = None, *, explicit: Optional[str] = None) -> URL:
        """SQLAlchemy URL of the SQL tracker store: ``explicit`` if given, else what ``endpoints.yml`` configures.

        Raises
        ------
        InvalidInput
            When the endpoints configure no SQL tracker store (Rasa then keeps
            conversations in memory, and there is nothing to triage).
        TrackerStoreError
            When the URL cannot be parsed.
        """
        try:
            if explicit:
                url = make_url(explicit)
                return url.set(drivername="postgresql+psycopg") if url.drivername in ("postgresql", "postgres") else url
            store = self.read_endpoints(endpoints).get("tracker_store") or {}
            if str(store.get("type", "")).lower() != "sql":
                raise InvalidInput(
                    "endpoints.yml configures no SQL tracker store (tracker_store: {type: SQL, ...}); "
                    "set one, or pass the store's URL with --tracker-store / CRM_TRACKER_STORE_URL."
                )
            return sql_tracker_url(store, self.root)
        except SQLAlchemyError as exc:
            raise TrackerStoreError(exc) from exc

    def sql_tracker_or_none(self, endpoints: Optional[Path] = None) -> Optional[URL]:
        """The SQL tracker store's URL, or ``None`` when the endpoints configure none."""
        try:
            return self.tracker_store_url(endpoints)
        except InvalidInput:
            return None


def sql_tracker_url(store: dict[str, Any], root: Path) -> URL:
    """The SQLAlchemy 2.0 URL for a Rasa ``tracker_store: {type: SQL}`` block (psycopg 3 for PostgreSQL)."""
    dialect = str(store.get("dialect") or "sqlite")
    host = store.get("url")
    db = str(store.get("db") or "rasa.db")
    if host and "://" in str(host):
        url = make_url(str(host))
    elif dialect.startswith("sqlite"):
        path = Path(db)
        url = URL.create("sqlite", database=str(path if path.is_absolute() else root / path))
    else:
        url = URL.create(
            dialect,
            username=store.get("username"),
            password=store.get("password"),
            host=str(host) if host else None,
            port=int(store["port"]) if store.get("port") else None,
            database=db,
            query={str(k): str(v) for k, v in (store.get("query") or {}).items()},
        )
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def project_of(obj: object) -> Project:
    """The project the ``crm nlu`` callback put in the command context."""
    if not isinstance(obj, Project):
        raise TypeError("crm nlu commands run under `crm nlu`, which sets the project")
    return obj


def read_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a YAML mapping.")
    return data


def files_hash(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        try:
            name = str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            name = path.name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def current_operator(explicit: Optional[str] = None) -> str:
    """Who is acting: the ``--operator`` given, else the operating-system user."""
    if explicit and explicit.strip():
        return explicit.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}"
