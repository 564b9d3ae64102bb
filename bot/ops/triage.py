"""Find what the assistant misunderstood, from Rasa's SQL tracker store.

Rasa's ``SQLTrackerStore`` writes every event of every conversation as one row
of its ``events`` table (``id, sender_id, type_name, timestamp, intent_name,
action_name, data``); a customer's message is a ``user`` row whose JSON
``data.parse_data`` holds the intent the NLU chose, its confidence and the
ranking. This module reads that table directly with SQLAlchemy (no Rasa
import) and flags a customer message when

- ``low_confidence``: the best intent's confidence is below ``min_confidence``;
- ``fallback``: the NLU fell back (``nlu_fallback``), or the bot answered it
  with a fallback action or asked to rephrase (``utter_default``);
- ``rephrase``: it follows a misunderstood message (one of the two above) of
  the same conversation within ``rephrase_seconds``: the customer said it
  again in other words. The misunderstood message gets ``rephrased``, and the
  intent of a confident rephrasing becomes its *suggested* label;
- ``handoff``: the customer asked for a person (or the bot handed over) within
  ``handoff_seconds`` after it and it was misunderstood, or it is the message
  just before the handoff (a confident answer the customer gave up on).

The predicted intent reported is the best real intent, also when
``nlu_fallback`` won. Texts are masked (:func:`bot.ops.masking.mask_message`:
e-mails, card, phone and order numbers, long digit runs, street addresses and postcodes, the
names given, the ``customer_name`` the conversation revealed and names the
customer introduced anywhere in it) before anything leaves this module, and
conversations are named by a keyed hash of their sender id
(:func:`analytics.security.digests.conversation_name`).

Similar messages are grouped: TF-IDF over character 3–5-grams inside word
boundaries (robust to typos and word order), cosine similarity, and "leader"
groups (:func:`similarity_groups`): the most frequent message not yet grouped
takes every ungrouped message at least ``similarity`` alike to it. Cheap,
deterministic, and no chaining of unrelated messages through in-between ones.
Groups with the most misunderstood messages come first; a group of confident
rephrasings only (``rephrase``) comes after them.

The annotation file the operator labels is :mod:`bot.ops.triage_file`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import (
    URL,
    Engine,
    and_,
    case,
    create_engine,
    or_,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput
from analytics.security.digests import conversation_name
from analytics.security.masking import introduced_names
from bot.ops.masking import NameMasker, mask_message
from bot.ops.tracker import WARMUP_PREFIX, TrackerStoreError, events

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = frozenset(
    {"action_default_fallback", "action_handle_fallback", "action_two_stage_fallback", "utter_ask_rephrase"}
)
#: Responses that say the bot did not understand (see _rows).
FALLBACK_RESPONSES = ("utter_default", "utter_offer_human_rephrase")
HANDOFF_INTENTS = frozenset({"human_handoff"})
HANDOFF_ACTIONS = frozenset({"action_handoff"})
#: A handoff right after these is not a sign that they were misunderstood.
NEUTRAL_INTENTS = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "human_handoff"})
#: Slots whose values are names to mask in the rest of the conversation.
NAME_SLOTS = frozenset({"customer_name"})
REASONS = ("low_confidence", "fallback", "rephrase", "rephrased", "handoff")


@dataclass(frozen=True)
class TriageOptions:
    """What counts as misunderstood, and how alike two messages must be to share a group."""

    min_confidence: float = 0.6
    since: Optional[datetime] = None
    rephrase_seconds: float = 120.0
    handoff_seconds: float = 300.0
    similarity: float = 0.5
    max_messages: int = 50_000
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlaggedMessage:
    """One customer message the bot probably misunderstood (text masked)."""

    event_id: int
    sender: str
    at: datetime
    text: str
    predicted: str
    confidence: float
    fell_back: bool
    reasons: tuple[str, ...]
    rephrased_as: Optional[str] = None
    message_id: str = ""


@dataclass(frozen=True)
class Group:
    """Similar flagged messages."""

    number: int
    messages: tuple[FlaggedMessage, ...]

    @property
    def count(self) -> int:
        return len(self.messages)

    @property
    def conversations(self) -> int:
        return len({m.sender for m in self.messages})

    @property
    def predicted(self) -> dict[str, int]:
        return dict(Counter(m.predicted for m in self.messages).most_common())

    @property
    def reasons(self) -> dict[str, int]:
        counts = Counter(r for m in self.messages for r in m.reasons)
        return {r: counts[r] for r in REASONS if counts[r]}

    @property
    def suggested(self) -> Optional[str]:
        """The intent customers' confident rephrasings of these messages got, if any."""
        counts = Counter(m.rephrased_as for m in self.messages if m.rephrased_as)
        return counts.most_common(1)[0][0] if counts else None

    @property
    def representative(self) -> str:
        counts = Counter(m.text for m in self.messages)
        return min(counts, key=lambda t: (-counts[t], len(t), t))


@dataclass(frozen=True)
class TriageReport:
    source: str
    generated_at: datetime
    options: TriageOptions
    events_read: int
    conversations: int
    user_messages: int
    groups: tuple[Group, ...]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> int:
        return sum(g.count for g in self.groups)


@dataclass
class _Turn:
    event_id: int
    at: float
    text: str
    predicted: str
    confidence: float
    fell_back: bool = False
    handoff: bool = False
    message_id: str = ""
    reasons: list[str] = field(default_factory=list)
    rephrased_as: Optional[str] = None


# --------------------------------------------------------------------------- reading


def _parse_user(data: Optional[str]) -> tuple[str, str, float, bool, str]:
    """Text, best real intent, its confidence, whether the NLU fell back and Rasa's message id."""
    try:
        parsed = json.loads(data or "{}")
    except ValueError:
        return "", "", 0.0, False, ""
    parse = parsed.get("parse_data") or {}
    text = str(parsed.get("text") or parse.get("text") or "")
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    fell_back = name == FALLBACK_INTENT
    if fell_back:
        # FallbackClassifier puts nlu_fallback first; the ranking still holds what the classifier thought
        real = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
        if real:
            name, confidence = str(real[0].get("name") or ""), float(real[0].get("confidence") or 0.0)
        else:
            name, confidence = FALLBACK_INTENT, 0.0
    return text, name, confidence, fell_back, str(parse.get("message_id") or "")


def _slot_name(data: Optional[str]) -> Optional[str]:
    try:
        parsed = json.loads(data or "{}")
    except ValueError:
        return None
    if parsed.get("name") in NAME_SLOTS and isinstance(parsed.get("value"), str):
        return str(parsed["value"])
    return None


def _rows(engine: Engine, since: Optional[datetime]) -> Iterator[Any]:
    # the bot's "sorry, I didn't understand" (every message goes to one action, action_respond, whose
    # replies say what it did): only those bot events are read, by a text match on their JSON
    rephrase = or_(*(events.c.data.like(f'%"utter_action": "{name}"%') for name in FALLBACK_RESPONSES))
    wanted = or_(
        events.c.type_name.in_(("user", "action", "slot", "pause")), and_(events.c.type_name == "bot", rephrase)
    )
    # only user and slot events need their JSON: leave the rest in the database
    data = case((events.c.type_name.in_(("user", "slot")), events.c.data), else_=None).label("data")
    query = select(events.c.id, events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.action_name, data)
    query = query.where(wanted)
    if since is not None:
        query = query.where(events.c.timestamp >= _epoch(since))
    query = query.order_by(events.c.sender_id, events.c.id)
    with engine.connect() as conn:
        yield from conn.execution_options(stream_results=True, yield_per=10_000).execute(query)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _conversation_turns(rows: Iterable[Any]) -> tuple[list[_Turn], set[str]]:
    turns: list[_Turn] = []
    names: set[str] = set()
    for row in rows:
        kind = row.type_name
        if kind == "user":
            text, predicted, confidence, fell_back, message_id = _parse_user(row.data)
            turns.append(_Turn(row.id, float(row.timestamp or 0.0), text, predicted, confidence, fell_back))
            turns[-1].message_id = message_id
            turns[-1].handoff = predicted in HANDOFF_INTENTS and not fell_back
        elif kind == "slot":
            if name := _slot_name(row.data):
                names.add(name)
        elif not turns:
            continue
        elif kind == "pause" or row.action_name in HANDOFF_ACTIONS:
            turns[-1].handoff = True
        elif row.action_name in FALLBACK_ACTIONS or kind == "bot":
            turns[-1].fell_back = True
    return turns, names


def _flag(turns: list[_Turn], options: TriageOptions) -> None:
    def misunderstood(turn: _Turn) -> bool:
        return turn.fell_back or turn.confidence < options.min_confidence

    for turn in turns:
        if turn.confidence < options.min_confidence:
            turn.reasons.append("low_confidence")
        if turn.fell_back:
            turn.reasons.append("fallback")
    for before, after in itertools.pairwise(turns):
        # asking for a person, saying no or goodbye is not saying the same thing again
        said_again = not after.handoff and (misunderstood(after) or after.predicted not in NEUTRAL_INTENTS)
        if misunderstood(before) and said_again and after.at - before.at <= options.rephrase_seconds:
            after.reasons.append("rephrase")
            before.reasons.append("rephrased")
            if not misunderstood(after) and before.rephrased_as is None:
                before.rephrased_as = after.predicted
    for h, handoff in enumerate(turns):
        if not handoff.handoff:
            continue
        for j in range(h - 1, -1, -1):
            turn = turns[j]
            if handoff.at - turn.at > options.handoff_seconds or turn.handoff:
                break
            just_before = j == h - 1 and turn.predicted not in NEUTRAL_INTENTS
            if (misunderstood(turn) or just_before) and "handoff" not in turn.reasons:
                turn.reasons.append("handoff")


def find_misunderstood(engine: Engine, options: TriageOptions = TriageOptions()) -> tuple[list[FlaggedMessage], dict]:
    """Every flagged customer message of the tracker store, masked, oldest first, and reading counts."""
    flagged: list[FlaggedMessage] = []
    counts = {"events": 0, "conversations": 0, "user_messages": 0}
    base_names = NameMasker(options.names)
    for sender_id, group in itertools.groupby(_rows(engine, options.since), key=lambda r: r.sender_id):
        rows = list(group)
        counts["events"] += len(rows)
        if sender_id.startswith(WARMUP_PREFIX):
            continue
        counts["conversations"] += 1
        turns, names = _conversation_turns(rows)
        counts["user_messages"] += len(turns)
        _flag(turns, options)
        who = conversation_name(sender_id)
        if any(turn.reasons for turn in turns):
            # a name the customer gave in one message is masked in all of them
            names.update(name for turn in turns for name in introduced_names(turn.text))
        all_names = base_names.with_names(names)
        for turn in turns:
            if turn.reasons and turn.text.strip():
                flagged.append(
                    FlaggedMessage(
                        event_id=turn.event_id,
                        sender=who,
                        at=datetime.fromtimestamp(turn.at, timezone.utc).replace(tzinfo=None),
                        text=mask_message(turn.text, all_names),
                        predicted=turn.predicted,
                        confidence=round(turn.confidence, 4),
                        fell_back=turn.fell_back,
                        reasons=tuple(r for r in REASONS if r in turn.reasons),
                        rephrased_as=turn.rephrased_as,
                        message_id=turn.message_id,
                    )
                )
    flagged.sort(key=lambda m: m.event_id)
    return flagged, counts


# --------------------------------------------------------------------------- grouping


def normalise(text: str) -> str:
    """The text as a classifier sees it: case, spacing and punctuation around words do not matter."""
    return " ".join(re.sub(r"[^\w@£'/*-]+", " ", text.lower()).split())


def similarity_groups(
    texts: Sequence[str], threshold: float, *, weights: Optional[Sequence[int]] = None, chunk: int = 2048
) -> np.ndarray:
    """Group number of each text, by "leader" grouping on cosine similarity of char n-gram TF-IDF.

    Texts are taken from the most frequent (``weights``) to the least; a text
    not yet in a group starts one and takes every ungrouped text at least
    ``threshold`` alike to *it*. Unlike connected components, two unrelated
    messages cannot end up together through a chain of in-between ones
    (measured on 100,000 synthetic events: connected components at 0.5 put
    4,293 of 4,930 flagged messages, from eight different requests, in one group).

    Examples
    --------
    >>> similarity_groups(["where is my parcel", "where is my parcel?", "bye"], 0.5).tolist()
    [0, 0, 1]
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=int)
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput(f"similarity must be in (0, 1], got {threshold}")
    try:
        matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
    except ValueError:  # nothing but one- and two-letter texts
        return np.arange(n)
    neighbours: list[np.ndarray] = []
    for start in range(0, n, chunk):
        block = (matrix[start : start + chunk] @ matrix.T).tocsr()
        for row in range(block.shape[0]):
            cols = block.indices[block.indptr[row] : block.indptr[row + 1]]
            values = block.data[block.indptr[row] : block.indptr[row + 1]]
            neighbours.append(cols[values >= threshold - 1e-9])
    order = np.argsort(-np.asarray(weights if weights is not None else np.ones(n)), kind="stable")
    labels = np.full(n, -1, dtype=int)
    group = 0
    for leader in order:
        if labels[leader] >= 0:
            continue
        labels[leader] = group
        members = neighbours[leader]
        labels[members[labels[members] < 0]] = group
        group += 1
    # number the groups in the order of the texts, so equal input gives equal output
    _, first = np.unique(labels, return_index=True)
    renumber = {old: new for new, old in enumerate(labels[np.sort(first)])}
    return np.array([renumber[label] for label in labels])


#: Reasons that say the bot itself got the message wrong (a rephrasing may well be understood).
MISSED = frozenset({"low_confidence", "fallback", "handoff"})


def group_messages(messages: Sequence[FlaggedMessage], threshold: float) -> tuple[Group, ...]:
    """Similar messages together: the groups with most misunderstood messages first."""
    by_key: dict[str, list[FlaggedMessage]] = defaultdict(list)
    for message in messages:
        by_key[normalise(message.text)].append(message)
    keys = list(by_key)
    labels = similarity_groups(keys, threshold, weights=[len(by_key[k]) for k in keys])
    members: dict[int, list[FlaggedMessage]] = defaultdict(list)
    for key, label in zip(keys, labels):
        members[int(label)].extend(by_key[key])

    def rank(ms: list[FlaggedMessage]) -> tuple[int, int, int]:
        missed = sum(1 for m in ms if MISSED.intersection(m.reasons))
        return (-missed, -len(ms), min(m.event_id for m in ms))

    ordered = sorted(members.values(), key=rank)
    return tuple(
        Group(number=i, messages=tuple(sorted(ms, key=lambda m: m.event_id))) for i, ms in enumerate(ordered, 1)
    )


def triage_tracker_store(url: URL, options: TriageOptions = TriageOptions()) -> TriageReport:
    """:func:`triage` of the SQL tracker store at ``url``.

    Raises
    ------
    InvalidInput
        ``url`` names a SQLite file that does not exist (the assistant has not run with the SQL tracker store).
    TrackerStoreError
        The tracker store could not be read.
    """
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise InvalidInput(
            f"no tracker store at {url.database}: the assistant has not run with the SQL tracker store yet."
        )
    try:
        return triage(create_engine(url), options, source=url.render_as_string(hide_password=True))
    except SQLAlchemyError as exc:
        raise TrackerStoreError(exc) from exc


def triage(engine: Engine, options: TriageOptions = TriageOptions(), *, source: str = "") -> TriageReport:
    """Read the tracker store, flag misunderstood messages and group them.

    Parameters
    ----------
    engine : Engine
        SQLAlchemy engine on the database of Rasa's SQL tracker store.
    options : TriageOptions
        Thresholds and windows; ``max_messages`` keeps the newest flagged messages only.
    source : str
        How to name the store in the report (a URL without its password).

    Returns
    -------
    TriageReport
        Groups of masked messages, the biggest first.
    """
    started = time.perf_counter()
    flagged, counts = find_misunderstood(engine, options)
    read = time.perf_counter()
    if len(flagged) > options.max_messages:
        flagged = flagged[-options.max_messages :]
    groups = group_messages(flagged, options.similarity)
    done = time.perf_counter()
    return TriageReport(
        source=source,
        generated_at=utc_now().replace(microsecond=0),
        options=options,
        events_read=counts["events"],
        conversations=counts["conversations"],
        user_messages=counts["user_messages"],
        groups=groups,
        seconds={"read": round(read - started, 3), "group": round(done - read, 3), "total": round(done - started, 3)},
    )


def parse_since(value: Optional[str], now: Optional[datetime] = None) -> Optional[datetime]:
    """``7d``, ``12h``, ``30m`` ago, or an ISO date/time (UTC); ``None`` for everything.

    Examples
    --------
    >>> parse_since("2d", now=datetime(2026, 1, 3))
    datetime.datetime(2026, 1, 1, 0, 0)
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    now = now or utc_now()
    match = re.fullmatch(r"(\d{1,6}(?:\.\d{1,3})?)\s{0,3}([dhm])", value)
    if match:
        amount = float(match.group(1))
        unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
        return now - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--since {value!r}: give a duration (7d, 12h, 30m) or an ISO date (2026-11-01)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
