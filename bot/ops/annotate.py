"""Merge the operator's labels into the training data: masked, without duplicates, with their source.

Labels come from the triage file (``label:`` of a group, or of one example,
which wins), from a separate labels file, or from prompts
(:func:`label_interactively`). Each labelled example is

1. masked again (:func:`bot.ops.masking.mask_message`: e-mails, card, phone
   and order numbers, street addresses, postcodes, long digit runs, the names
   given and the names the message introduces) so no personal data becomes
   training data even if the triage file was edited by hand;
2. compared, as the classifier sees it (case, spacing and punctuation around
   words ignored), with every training example and with the held-out test set:
   an example already taught is skipped, one taught as another intent is
   skipped as a conflict, and a held-out example is never trained on (the
   regression gate would stop measuring anything);
3. annotated with the entities the rule-based extractors find (the regular
   expressions of the training data and the catalogue's entity-ruler
   patterns), exactly as the rest of the data is;
4. written to ``data/nlu/from_conversations.yml``, one block per example, with
   Rasa's intent-level ``metadata``: the tracker events it came from, hashes of
   the conversations, how often it was seen, who labelled it and when.

The file is rewritten as a whole, sorted by intent and first event, so a
merge of the same labels twice changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import yaml

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput
from bot.ops.masking import mask_message
from bot.ops.project import Project, read_yaml

SKIP = "skip"
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]{1,300})\](?:\([^)]{1,100}\)|\{[^}]{1,300}\})")

FILE_HEADER = """\
# Training examples from real conversations, labelled by operators (`crm nlu annotate`).
#
# Written by bot/ops/annotate.py: each block is one customer message, masked (e-mail addresses,
# phone and order numbers, names), with the tracker events it came from (`event_ids`,
# `message_ids`), hashes of the conversations (`senders`), how often customers wrote it (`seen`)
# and who labelled it when. A merge rewrites the whole file, sorted; remove a block to untrain it.
"""


def example_key(text: str) -> str:
    """The text as the classifier sees it (the same rule as tests/unit/test_nlu_data.py).

    Examples
    --------
    >>> example_key("Where's my  ORDER?")
    "where's my order"
    """
    return " ".join(re.sub(r"[^\w@£'/-]+", " ", text.lower()).split())


def plain_text(annotated: str) -> str:
    """An example without Rasa's inline entity annotations."""
    return _ANNOTATION.sub(lambda m: m.group("text"), annotated)


@dataclass(frozen=True)
class LabelledExample:
    """A customer message and the intent an operator gave it."""

    text: str
    intent: str
    event_ids: tuple[int, ...] = ()
    message_ids: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()
    seen: int = 1


@dataclass(frozen=True)
class MergedExample:
    intent: str
    text: str  # with inline entity annotations
    metadata: dict[str, Any]


@dataclass(frozen=True)
class MergeResult:
    path: Path
    added: tuple[MergedExample, ...]
    skipped: tuple[tuple[str, str], ...]  # (text, why)
    total: int

    @property
    def by_intent(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for example in self.added:
            counts[example.intent] = counts.get(example.intent, 0) + 1
        return counts


@dataclass(frozen=True)
class TaughtExample:
    intent: str
    text: str
    source: str


# --------------------------------------------------------------------------- reading training data


def _block_examples(block: dict[str, Any]) -> list[str]:
    examples = block.get("examples") or ""
    if isinstance(examples, list):
        return [str(e.get("text", "")).strip() for e in examples if isinstance(e, dict)]
    lines = []
    for line in str(examples).splitlines():
        line = line.strip()
        if line.startswith("- "):
            lines.append(line[2:].strip())
    return lines


def read_examples(path: Path) -> list[TaughtExample]:
    """Every intent example of one Rasa NLU YAML file (entity annotations removed)."""
    data = read_yaml(path)
    return [
        TaughtExample(str(block["intent"]), plain_text(text), path.name)
        for block in data.get("nlu") or []
        if isinstance(block, dict) and "intent" in block
        for text in _block_examples(block)
    ]


def taught_examples(project: Project) -> list[TaughtExample]:
    """The training data's examples outside the conversations file."""
    own = project.from_conversations.resolve()
    found = []
    for path in sorted(project.data.rglob("*.yml")):
        if path.resolve() == own:
            continue
        try:
            data = read_yaml(path)
        except (InvalidInput, yaml.YAMLError):
            continue
        if data.get("nlu"):
            found.extend(read_examples(path))
    return found


# --------------------------------------------------------------------------- entities


class EntityAnnotator:
    """Marks the entities the project's rule-based extractors would find.

    Parameters
    ----------
    regexes : sequence of (entity, pattern)
        The ``regex:`` blocks of the training data (case-insensitive, as
        Rasa's ``RegexEntityExtractor`` with ``case_sensitive: false``).
    ruler : optional
        A :class:`bot.ops.catalog_patterns.PhraseRuler` for products and categories.
    """

    def __init__(self, regexes: Sequence[tuple[str, re.Pattern[str]]], ruler: Any = None) -> None:
        self.regexes = list(regexes)
        self.ruler = ruler

    @classmethod
    def for_project(cls, project: Project) -> EntityAnnotator:
        regexes = []
        for path in sorted(project.nlu_dir.glob("*.yml")) if project.nlu_dir.exists() else []:
            for block in read_yaml(path).get("nlu") or []:
                if isinstance(block, dict) and "regex" in block:
                    for pattern in _block_examples(block):
                        regexes.append((str(block["regex"]), re.compile(pattern, re.IGNORECASE)))
        ruler = None
        if project.patterns.exists():
            from bot.ops.catalog_patterns import PhraseRuler, read_patterns

            ruler = PhraseRuler(read_patterns(project.patterns))
        return cls(regexes, ruler)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        found = {(m.start(), m.end(), name) for name, pattern in self.regexes for m in pattern.finditer(text)}
        if self.ruler is not None:
            found |= {(m.start, m.end, m.label) for m in self.ruler.find(text)}
        return sorted(s for s in found if s[0] < s[1])

    def annotate(self, text: str) -> Optional[str]:
        """``text`` with ``[span](entity)`` marks; ``None`` when spans overlap (Rasa cannot write that)."""
        spans = self.spans(text)
        out, cursor = [], 0
        for start, end, name in spans:
            if start < cursor:
                return None
            out.append(text[cursor:start])
            out.append(f"[{text[start:end]}]({name})")
            cursor = end
        out.append(text[cursor:])
        return "".join(out)


# --------------------------------------------------------------------------- labels


def apply_labels_file(triage: dict[str, Any], labels_path: Path) -> dict[str, Any]:
    """Copy labels from a labels file into the triage document.

    The labels file maps group numbers, and optionally single examples by
    their first event id, to intents (or ``skip``)::

        groups: {1: order_status, 2: skip}
        examples: {1234: return_request}
    """
    labels = read_yaml(labels_path)
    groups = {int(k): v for k, v in (labels.get("groups") or {}).items()}
    examples = {int(k): v for k, v in (labels.get("examples") or {}).items()}
    known_groups = {int(g.get("group", 0)) for g in triage["groups"]}
    unknown = sorted(set(groups) - known_groups)
    if unknown:
        raise InvalidInput(f"{labels_path}: no group {unknown} in the triage file.")
    for group in triage["groups"]:
        if int(group.get("group", 0)) in groups:
            group["label"] = groups[int(group["group"])]
        for example in group.get("examples") or []:
            first = (example.get("event_ids") or [None])[0]
            if first in examples:
                example["label"] = examples[first]
    return triage


def labelled_examples(triage: dict[str, Any], intents: set[str]) -> tuple[list[LabelledExample], list[str]]:
    """The examples that carry a label (their own, else their group's), and labels that name no intent."""
    found, problems = [], []
    for group in triage["groups"]:
        for example in group.get("examples") or []:
            label = example.get("label") or group.get("label")
            if label is None or str(label).strip() == "":
                continue
            label = str(label).strip()
            if label == SKIP:
                continue
            if label not in intents:
                problems.append(f"group {group.get('group')}: {label!r} is not an intent of the domain")
                continue
            found.append(
                LabelledExample(
                    text=str(example.get("text") or ""),
                    intent=label,
                    event_ids=tuple(int(i) for i in example.get("event_ids") or []),
                    message_ids=tuple(str(i) for i in example.get("message_ids") or []),
                    senders=tuple(str(s) for s in example.get("senders") or []),
                    seen=int(example.get("seen") or 1),
                )
            )
    return found, problems


def label_interactively(
    triage: dict[str, Any],
    intents: set[str],
    ask: Callable[[str], str],
    say: Callable[[str], None],
    save: Optional[Callable[[dict[str, Any]], None]] = None,
) -> dict[str, Any]:
    """Ask a label for every unlabelled group; ``save`` is called after each answer (resume later).

    Answers: an intent, Enter for the suggestion (or the prediction), ``s`` to
    skip the group, ``e`` to label its examples one by one, ``?`` to list the
    intents, ``q`` to stop here.
    """
    for group in triage["groups"]:
        if group.get("label"):
            continue
        say("")
        say(
            f"group {group.get('group')}: {group.get('count')} message(s) in {group.get('conversations')} "
            f"conversation(s); predicted {group.get('predicted')}; {group.get('reasons')}"
        )
        for example in (group.get("examples") or [])[:8]:
            say(f"    {example.get('seen', 1):>3}×  {example.get('text')}")
        default = group.get("suggested") or next(iter(group.get("predicted") or {}), None)
        while True:
            answer = ask(f"intent [{default}] (s skip, e each, ? list, q quit): ").strip()
            if answer == "?":
                say(", ".join(sorted(intents)))
                continue
            if answer == "q":
                return triage
            if answer == "s":
                group["label"] = SKIP
                break
            if answer == "e":
                for example in group.get("examples") or []:
                    while True:
                        one = ask(f"  {example.get('text')!r} intent (s skip): ").strip()
                        if one == "s":
                            example["label"] = SKIP
                            break
                        if one in intents:
                            example["label"] = one
                            break
                        say(f"  {one!r} is not an intent; ? lists them")
                group["label"] = SKIP  # examples without their own label stay out
                break
            choice = answer or default
            if choice in intents:
                group["label"] = choice
                break
            say(f"{choice!r} is not an intent; ? lists them")
        if save is not None:
            save(triage)
    return triage


# --------------------------------------------------------------------------- merging


def read_merged(path: Path) -> list[MergedExample]:
    """The examples of a conversations file as written by :func:`render_file` (none if it is missing)."""
    return _read_own(path)


def write_merged(path: Path, examples: Iterable[MergedExample]) -> None:
    """Rewrite a conversations file with ``examples``, atomically (a reader sees the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(render_file(examples), encoding="utf-8")
    tmp.replace(path)


def _read_own(path: Path) -> list[MergedExample]:
    if not path.exists():
        return []
    merged = []
    for block in read_yaml(path).get("nlu") or []:
        if isinstance(block, dict) and "intent" in block:
            for text in _block_examples(block):
                merged.append(MergedExample(str(block["intent"]), text, dict(block.get("metadata") or {})))
    return merged


def render_file(examples: Iterable[MergedExample]) -> str:
    """The conversations file: one block per example, sorted by intent and first event."""

    def order(e: MergedExample) -> tuple[str, int, str]:
        ids = e.metadata.get("event_ids") or [0]
        return (e.intent, int(ids[0]), e.text)

    lines = [FILE_HEADER, 'version: "3.1"\n']
    examples = sorted(examples, key=order)
    if not examples:
        return "".join(lines) + "\nnlu: []\n"
    lines.append("\nnlu:\n")
    for example in examples:
        meta = yaml.safe_dump(example.metadata, default_flow_style=True, sort_keys=False, width=10**6).strip()
        lines.append(f"  - intent: {example.intent}\n")
        lines.append(f"    metadata: {meta}\n")
        lines.append("    examples: |\n")
        lines.append(f"      - {example.text}\n")
    return "".join(lines)


def merge_labels(
    project: Project,
    labelled: Sequence[LabelledExample],
    *,
    operator: str,
    names: Iterable[str] = (),
    now: Optional[datetime] = None,
    annotator: Optional[EntityAnnotator] = None,
) -> MergeResult:
    """Write the labelled examples into the project's conversations file.

    Returns
    -------
    MergeResult
        What was added, and every example left out with the reason.
    """
    now = now or utc_now().replace(microsecond=0)
    names = tuple(names)
    annotator = annotator or EntityAnnotator.for_project(project)
    taught = {example_key(e.text): e for e in taught_examples(project)}
    held_out = {example_key(e.text) for e in read_examples(project.holdout)} if project.holdout.exists() else set()
    existing = _read_own(project.from_conversations)
    own = {example_key(plain_text(e.text)): e for e in existing}

    skipped: list[tuple[str, str]] = []
    wanted: dict[str, list[tuple[LabelledExample, str]]] = {}
    for item in labelled:
        text = mask_message(item.text, names)
        key = example_key(text)
        if not key:
            skipped.append((item.text, "nothing left to learn from once masked"))
            continue
        wanted.setdefault(key, []).append((item, text))

    added: list[MergedExample] = []
    for key, items in wanted.items():
        item, text = items[0]
        intents = {i.intent for i, _ in items}
        if len(intents) > 1:
            skipped.append((text, f"labelled as {' and '.join(sorted(intents))}: decide on one"))
            continue
        if key in held_out:
            skipped.append((text, "it is in the held-out test set, which is never trained on"))
            continue
        if key in taught:
            first = taught[key]
            why = "already taught" if first.intent == item.intent else f"already taught as {first.intent}"
            skipped.append((text, f"{why} ({first.source})"))
            continue
        if key in own:
            why = "already merged" if own[key].intent == item.intent else f"already merged as {own[key].intent}"
            skipped.append((text, why))
            continue
        if "[" in text or "]" in text:
            skipped.append((text, "square brackets would read as entity annotations; add it by hand"))
            continue
        annotated = annotator.annotate(text)
        if annotated is None:
            skipped.append((text, "entities overlap; add it by hand"))
            continue
        metadata = {
            "source": "conversation",
            "event_ids": sorted({i for it, _ in items for i in it.event_ids})[:20],
            "message_ids": sorted({m for it, _ in items for m in it.message_ids})[:20],
            "senders": sorted({s for it, _ in items for s in it.senders})[:20],
            "seen": sum(it.seen for it, _ in items),
            "labelled_by": operator,
            "labelled_at": now.isoformat(timespec="seconds"),
        }
        merged = MergedExample(item.intent, annotated, metadata)
        added.append(merged)
        own[key] = merged

    if added:
        write_merged(project.from_conversations, [*existing, *added])
    return MergeResult(project.from_conversations, tuple(added), tuple(skipped), len(existing) + len(added))


#: Name particles that are ordinary words too ("the delivery van"): masked only inside a full name.
