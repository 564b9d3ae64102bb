"""The catalogue's entity-ruler patterns file (``data/catalog_patterns.jsonl``): its one format.

One JSON object a line, in the format of spaCy's ``EntityRuler``:
``{"label": "product" | "category", "pattern": "<lower-case phrase>", "id": "<value>"}``.
The application environment writes it from the store
(:mod:`bot.ops.catalog_patterns`); the Rasa environment reads it to build the
spaCy pipeline (:mod:`bot.rasa_runtime.nlu.build_spacy`) and, as plain word
lists, in the spelling normaliser and the training-copy augmenter. This module
needs only the standard library, so both environments import it.

Examples
--------
>>> Pattern("product", "lunch bag", "lunch bag").as_json()
'{"label": "product", "pattern": "lunch bag", "id": "lunch bag"}'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PRODUCT = "product"
CATEGORY = "category"
LABELS = (PRODUCT, CATEGORY)


class PatternsFileError(ValueError):
    """The patterns file is missing, empty or malformed; the message names the line."""


@dataclass(frozen=True, order=True)
class Pattern:
    """One entity-ruler pattern: ``pattern`` (lower case) is found as ``label`` with value ``id``."""

    label: str
    pattern: str
    id: str

    def as_json(self) -> str:
        return json.dumps({"label": self.label, "pattern": self.pattern, "id": self.id}, ensure_ascii=False)


def read_patterns(path: str | Path) -> list[Pattern]:
    """Read and check a patterns file.

    Raises
    ------
    PatternsFileError
        The file is missing or empty, a line is not a JSON object with string
        ``label`` (``product`` or ``category``), ``pattern`` and ``id``, or a
        pattern appears twice. The message gives the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise PatternsFileError(
            f"{path}: no such patterns file; write it with "
            f"`.venv/bin/python -m bot.ops.catalog_patterns {path} data/nlu/synonyms.yml`."
        )
    patterns: list[Pattern] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PatternsFileError(f"{path}, line {number}: not JSON ({exc.msg}).") from exc
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("label", "pattern", "id")):
            raise PatternsFileError(
                f'{path}, line {number}: expected {{"label": ..., "pattern": ..., "id": ...}} strings.'
            )
        if entry["label"] not in LABELS:
            raise PatternsFileError(
                f"{path}, line {number}: label {entry['label']!r} is not one of {', '.join(LABELS)}."
            )
        surface = " ".join(entry["pattern"].lower().split())
        if not surface or not entry["id"].strip():
            raise PatternsFileError(f"{path}, line {number}: empty pattern or id.")
        if surface in seen:
            raise PatternsFileError(f"{path}, line {number}: pattern {surface!r} already on line {seen[surface]}.")
        seen[surface] = number
        patterns.append(Pattern(entry["label"], surface, entry["id"]))
    if not patterns:
        raise PatternsFileError(f"{path}: the patterns file is empty.")
    return patterns


def pattern_phrases(path: str | Path, *, label: str | None = None, token_patterns: bool = True) -> list[str]:
    """The phrases of an entity-ruler JSONL file as plain text, for word lists (no checks beyond JSON).

    Reads any spaCy ``EntityRuler`` file, not only ours: a token pattern
    (``[{"LOWER": "lunch"}, {"LOWER": "bag"}]``) gives its words joined by
    spaces unless ``token_patterns`` is false; ``label`` keeps one label only.
    """
    phrases: list[str] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        if label is not None and entry.get("label") != label:
            continue
        pattern = entry.get("pattern")
        if isinstance(pattern, str):
            phrases.append(pattern)
        elif token_patterns and isinstance(pattern, list):
            phrases.append(" ".join(str(t.get("LOWER") or t.get("TEXT") or "") for t in pattern if isinstance(t, dict)))
    return phrases
