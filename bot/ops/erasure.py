"""Completing customers' privacy requests everywhere their data went, not only in the store.

A customer's data leaves the store in four ways: Rasa's SQL tracker store
keeps every event of their conversations (messages, the e-mail address and
order numbers they typed, the name and identity token slots); operators'
triage files and the training data made from them keep masked copies of their
messages, named by keyed hashes of the conversation; and the servers' logs
under ``var/log`` may name them. ``crm privacy export`` and ``crm privacy
delete`` call :func:`export_customer` and :func:`delete_customer`.

Which conversations are the customer's:

- the ones the store links to them (``conversations.customer_id``);
- for a deletion, also every conversation whose events hold their e-mail
  address, one of their order numbers, or a token signed for them (the chat
  page's session token or the action server's identity token): an anonymous
  conversation before they verified, one the store no longer links, someone
  trying their address. For an export only the proven ones (linked, or a
  token signed for them) are included: a conversation in which somebody else
  typed their order number is not theirs to read.

Order of a deletion, so that a failure never leaves the request marked done
with data left behind: read what identifies the customer, purge the tracker
store (one transaction of its own), clean the training data, triage files and
logs (each file replaced atomically), then erase the store and complete the
request in one transaction (:func:`analytics.usecases.privacy.complete_deletion`). A
failure before the last step leaves the request open; running the command
again finishes it.

One subject, kept in one module although it is a little over 500 lines: every
place a customer's data went, and the order in which it is erased.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import jwt
import yaml
from sqlalchemy import Engine, delete, func, inspect, or_, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from analytics.core.errors import InvalidInput
from analytics.security.digests import conversation_name
from analytics.security.tokens import ALGORITHM, AUDIENCE, CONVERSATION_AUDIENCE
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases.privacy import (
    ErasureReport,
    PrivacyRequestView,
    PrivacySubject,
    complete_deletion,
    complete_export,
    customer_data,
    privacy_subject,
)
from bot.ops.annotate import plain_text, read_merged, write_merged
from bot.ops.project import Project, read_yaml
from bot.ops.tracker import WARMUP_PREFIX, TrackerStoreError, events, tracker_engine

#: A JSON Web Token as the chat page and the action server sign them (header.payload.signature, base64url).
JWT_SHAPE = re.compile(r"eyJ[\w-]{5,100}\.[\w-]{5,600}\.[\w-]{5,100}")
#: Keys of Rasa's event JSON whose values are ids or times, never what a customer typed.
_NOT_CONTENT = frozenset({"event", "timestamp", "message_id", "input_channel", "policy", "confidence"})
_CHUNK = 500


# --------------------------------------------------------------------------- what names the customer


@dataclass(frozen=True)
class Identifiers:
    """What names one customer in free text: e-mail address, full name, order numbers, conversation ids."""

    email: str
    name: str
    order_numbers: tuple[str, ...]
    senders: tuple[str, ...] = ()

    @classmethod
    def of(cls, subject: PrivacySubject, senders: Iterable[str] = ()) -> Identifiers:
        every = tuple(sorted(set(subject.senders) | set(senders)))
        return cls(subject.email, subject.name, subject.order_numbers, every)

    def _pattern(self) -> Optional[re.Pattern[str]]:
        parts = []
        if self.email.strip():
            parts.append(re.escape(self.email.strip()))
        words = self.name.split()
        if len(words) > 1 or (words and len(words[0]) > 3):
            parts.append(r"(?<!\w)" + r"\s{1,3}".join(re.escape(w) for w in words) + r"(?!\w)")
        if self.order_numbers:
            numbers = "|".join(re.escape(n.lstrip("Cc")) for n in sorted(set(self.order_numbers)))
            parts.append(rf"(?<![0-9A-Za-z])[Cc]?(?:{numbers})(?![0-9A-Za-z])")
        # short sender ids ("me", "42") would blank unrelated lines; the store's are longer
        parts += [re.escape(s) for s in self.senders if len(s) >= 6]
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def matcher(self) -> Matcher:
        return Matcher(self._pattern())


@dataclass(frozen=True)
class Matcher:
    pattern: Optional[re.Pattern[str]]

    def __call__(self, text: str) -> bool:
        return self.pattern is not None and self.pattern.search(text) is not None


def conversation_hashes(senders: Iterable[str]) -> set[str]:
    """The names operators' files give these conversations: the keyed hash, and the bare SHA-256 that
    triage files written before the keyed hash used."""
    found = set()
    for sender in senders:
        found.add(conversation_name(sender))
        found.add(hashlib.sha256(sender.encode("utf-8")).hexdigest()[:16])
    return found


# --------------------------------------------------------------------------- the tracker store


def tracker_url(project: Project, explicit: Optional[str] = None) -> URL:
    """The SQL tracker store's URL: ``explicit`` (``--tracker-store`` / ``CRM_TRACKER_STORE_URL``) or endpoints.yml."""
    return project.tracker_store_url(explicit=explicit)


def open_tracker(url: URL) -> Optional[Engine]:
    """An engine on the tracker store, or ``None`` when there is nothing there yet (no file, no events table).

    Raises
    ------
    TrackerStoreError
        The tracker store cannot be read.
    """
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    engine = tracker_engine(url)
    try:
        if not inspect(engine).has_table(events.name):
            engine.dispose()
            return None
    except SQLAlchemyError as exc:
        raise TrackerStoreError(exc) from exc
    return engine


def _strings(value: Any, key: str = "") -> Iterator[str]:
    if key in _NOT_CONTENT:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, key)


def _token_names(token: str, customer_id: int, secret: str) -> bool:
    """The token is one this installation signed (expired or not) for ``customer_id``."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"verify_exp": False, "verify_aud": False, "require": ["sub", "aud"]},
        )
    except jwt.PyJWTError:
        return False
    return claims.get("aud") in (AUDIENCE, CONVERSATION_AUDIENCE) and str(claims.get("sub")) == str(customer_id)


def find_conversations(
    engine: Optional[Engine], subject: PrivacySubject, token_secret: str, *, proven_only: bool = False
) -> dict[str, tuple[str, ...]]:
    """The customer's conversations in the tracker store: sender id -> why (``linked``, ``token``,
    ``email``, ``order_number``). ``proven_only``: the linked ones and those with a token signed for
    them. Conversations the store links are listed even when the tracker store has no events of them."""
    found: dict[str, set[str]] = {sender: {"linked"} for sender in subject.senders}
    if engine is not None:
        email = subject.email.strip().lower()
        needles = ["eyj"] if proven_only else ["eyj", email, *subject.order_numbers]
        lowered = func.lower(events.c.data)
        query = select(events.c.sender_id, events.c.data).where(
            or_(*(lowered.contains(n.lower(), autoescape=True) for n in needles if n))
        )
        numbers = "|".join(re.escape(n.lstrip("Cc")) for n in subject.order_numbers)
        number = re.compile(rf"(?<![0-9A-Za-z])[Cc]?(?:{numbers})(?![0-9A-Za-z])") if numbers else None
        verdicts: dict[str, bool] = {}
        with engine.connect() as conn:
            for sender, data in conn.execution_options(stream_results=True, yield_per=5_000).execute(query):
                if sender.startswith(WARMUP_PREFIX):
                    continue
                try:
                    parsed = json.loads(data or "null")
                except ValueError:
                    parsed = data
                for text in _strings(parsed):
                    for token in JWT_SHAPE.findall(text):
                        if token not in verdicts:
                            verdicts[token] = _token_names(token, subject.customer_id, token_secret)
                        if verdicts[token]:
                            found.setdefault(sender, set()).add("token")
                    if proven_only:
                        continue
                    if email and email in text.lower():
                        found.setdefault(sender, set()).add("email")
                    if number is not None and number.search(text):
                        found.setdefault(sender, set()).add("order_number")
    return {sender: tuple(sorted(why)) for sender, why in sorted(found.items())}


def tracker_events(engine: Optional[Engine], senders: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every event of these conversations, oldest first, with Rasa's JSON parsed."""
    out: dict[str, list[dict[str, Any]]] = {sender: [] for sender in senders}
    if engine is None or not senders:
        return out
    with engine.connect() as conn:
        for start in range(0, len(senders), _CHUNK):
            chunk = list(senders[start : start + _CHUNK])
            rows = conn.execute(select(events).where(events.c.sender_id.in_(chunk)).order_by(events.c.id))
            for row in rows:
                try:
                    data = json.loads(row.data) if row.data else None
                except ValueError:
                    data = row.data
                out[row.sender_id].append(
                    {
                        "id": row.id,
                        "type": row.type_name,
                        "timestamp": row.timestamp,
                        "at": _iso(row.timestamp),
                        "intent": row.intent_name,
                        "action": row.action_name,
                        "data": data,
                    }
                )
    return out


def _iso(timestamp: Optional[float]) -> Optional[str]:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(float(timestamp), timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def purge_tracker(engine: Optional[Engine], senders: Sequence[str]) -> int:
    """Delete every event of these conversations, in one transaction; return how many."""
    if engine is None or not senders:
        return 0
    deleted = 0
    with engine.begin() as conn:
        for start in range(0, len(senders), _CHUNK):
            chunk = list(senders[start : start + _CHUNK])
            result = conn.execute(delete(events).where(events.c.sender_id.in_(chunk)))
            deleted += int(result.rowcount)
    return deleted


# --------------------------------------------------------------------------- operators' files


def scrub_training_data(path: Path, hashes: set[str], names_customer: Matcher) -> int:
    """Remove the examples of ``path`` (``data/nlu/from_conversations.yml``) that came from these
    conversations or still name the customer; return how many."""
    if not path.exists():
        return 0
    examples = read_merged(path)
    kept = [
        e
        for e in examples
        if not hashes.intersection(str(s) for s in e.metadata.get("senders") or [])
        and not names_customer(plain_text(e.text))
    ]
    if len(kept) != len(examples):
        write_merged(path, kept)
    return len(examples) - len(kept)


def triage_files(folder: Path) -> list[Path]:
    """Candidate triage files: every ``.yml`` under ``folder`` (``var/nlu``); those without a ``groups:``
    list are left alone by :func:`scrub_triage_file`."""
    return sorted(folder.rglob("*.yml")) if folder.exists() else []


def scrub_triage_file(path: Path, hashes: set[str], names_customer: Matcher) -> int:
    """Remove the examples of a triage file that came from these conversations or name the customer
    (groups left empty go too); return how many. Other files are left alone."""
    try:
        doc = read_yaml(path)
    except (yaml.YAMLError, InvalidInput, UnicodeDecodeError):  # not a triage file
        return 0
    groups = doc.get("groups")
    if not isinstance(groups, list):
        return 0
    removed = 0
    kept_groups = []
    for group in groups:
        if not isinstance(group, dict):
            kept_groups.append(group)
            continue
        examples = group.get("examples") or []
        kept = [
            e
            for e in examples
            if not (
                isinstance(e, dict)
                and (
                    hashes.intersection(str(s) for s in e.get("senders") or [])
                    or names_customer(str(e.get("text") or ""))
                )
            )
        ]
        removed += len(examples) - len(kept)
        if kept:
            group["examples"] = kept
            group["count"] = sum(int(e.get("seen") or 1) for e in kept if isinstance(e, dict))
            kept_groups.append(group)
    if removed:
        header = "".join(
            line for line in path.read_text(encoding="utf-8").splitlines(keepends=True) if line.startswith("#")
        )
        rest = {k: v for k, v in doc.items() if k != "groups"}
        body = yaml.safe_dump(rest, sort_keys=False, allow_unicode=True, width=120) if rest else ""
        body += yaml.safe_dump(
            {"groups": kept_groups}, sort_keys=False, allow_unicode=True, width=120, default_flow_style=None
        )
        _replace_text(path, header + body)
    return removed


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class LogScrub:
    deleted: tuple[Path, ...] = ()
    lines_blanked: int = 0
    files_changed: tuple[Path, ...] = ()


def scrub_logs(folder: Path, names_customer: Matcher, retention_days: float, now: Optional[float] = None) -> LogScrub:
    """Delete log files under ``folder`` last written more than ``retention_days`` ago; in the others,
    blank every line that names the customer.

    Lines are blanked in place with as many bytes as they had (``[erased]`` and spaces), so a server
    still appending to the file keeps writing at the right place.
    """
    if not folder.exists():
        return LogScrub()
    cutoff = (now if now is not None else time.time()) - retention_days * 86400
    deleted, changed, blanked = [], [], 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.stat().st_mtime < cutoff:
            path.unlink()
            deleted.append(path)
            continue
        lines = _blank_lines(path, names_customer)
        if lines:
            blanked += lines
            changed.append(path)
    return LogScrub(tuple(deleted), blanked, tuple(changed))


def _blank_lines(path: Path, names_customer: Matcher) -> int:
    data = path.read_bytes()
    spans = []
    offset = 0
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        if body and names_customer(body.decode("utf-8", errors="replace")):
            spans.append((offset, len(body)))
        offset += len(line)
    if not spans:
        return 0
    with path.open("r+b") as fh:
        for start, length in spans:
            fh.seek(start)
            fh.write(b"[erased]".ljust(length)[:length] if length >= 8 else b"*" * length)
        fh.flush()
        os.fsync(fh.fileno())
    return len(spans)


# --------------------------------------------------------------------------- the two commands


@dataclass(frozen=True)
class ExportResult:
    request: PrivacyRequestView
    path: Path
    rows: dict[str, int]
    conversations: int
    tracker_events: int


def write_private_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON readable by its owner only (0600), atomically: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def export_customer(
    uow: SqlAlchemyUnitOfWork,
    request_id: int,
    *,
    tracker: Optional[Engine],
    out: Path,
    token_secret: str,
    now: Optional[datetime] = None,
) -> ExportResult:
    """Complete export request ``request_id``: one JSON file with the store's rows about the customer and
    every event of their conversations in the tracker store, then mark the request completed.

    Raises the errors of :func:`analytics.usecases.privacy.customer_data` for a bad request id, and
    :class:`~bot.ops.project.TrackerStoreError` when a database fails (nothing is exported then).
    """
    try:
        data = customer_data(uow, request_id, now)
        subject = privacy_subject(uow, request_id, "export")
        senders = list(find_conversations(tracker, subject, token_secret, proven_only=True))
        conversations = tracker_events(tracker, senders)
        data["tracker_events"] = conversations
        rows = {
            key: len(value) if isinstance(value, list) else int(value is not None)
            for key, value in data.items()
            if key in ("orders", "returns", "behaviour_events", "scores", "offers", "conversations", "privacy_requests")
        }
        write_private_json(out, data)
        view = complete_export(uow, request_id, f"exported to {out.name}", now)
        return ExportResult(view, out, rows, len(conversations), sum(len(v) for v in conversations.values()))
    except SQLAlchemyError as exc:
        raise TrackerStoreError(exc) from exc


@dataclass(frozen=True)
class DeletionResult:
    request: PrivacyRequestView
    already_completed: bool
    store: Optional[ErasureReport] = None
    conversations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """The customer's conversations found (sender id -> why); their events are purged."""
    tracker_events_deleted: int = 0
    training_examples_removed: int = 0
    triage_examples_removed: dict[Path, int] = field(default_factory=dict)
    logs: LogScrub = LogScrub()


def delete_customer(
    uow: SqlAlchemyUnitOfWork,
    request_id: int,
    *,
    tracker: Optional[Engine],
    project: Project,
    token_secret: str,
    triage_dir: Path,
    log_dir: Path,
    log_retention_days: float,
    now: Optional[datetime] = None,
) -> DeletionResult:
    """Complete deletion request ``request_id`` everywhere (see the module's docstring for the order).

    Raises the errors of :func:`analytics.usecases.privacy.privacy_subject` for a bad request id, and
    :class:`~bot.ops.project.TrackerStoreError` when a database fails (then nothing in the store has changed).
    """
    try:
        subject = privacy_subject(uow, request_id, "deletion")
        if subject.request.existing:
            return DeletionResult(subject.request, already_completed=True)
        found = find_conversations(tracker, subject, token_secret)
        senders = sorted(found)
        purged = purge_tracker(tracker, senders)
        hashes = conversation_hashes(senders)
        names_customer = Identifiers.of(subject, senders).matcher()
        training = scrub_training_data(project.from_conversations, hashes, names_customer)
        triage = {
            path: n for path in triage_files(triage_dir) if (n := scrub_triage_file(path, hashes, names_customer))
        }
        logs = scrub_logs(log_dir, names_customer, log_retention_days)
        report = complete_deletion(uow, request_id, now, also_senders=senders)
        return DeletionResult(
            request=report.request,
            already_completed=report.request.existing,
            store=report,
            conversations=found,
            tracker_events_deleted=purged,
            training_examples_removed=training,
            triage_examples_removed=triage,
            logs=logs,
        )
    except SQLAlchemyError as exc:
        raise TrackerStoreError(exc) from exc
