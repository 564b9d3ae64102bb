"""Build the assistant's spaCy pipeline from the catalog patterns (Rasa environment).

    .venv-rasa/bin/python -m bot.rasa_runtime.nlu.build_spacy data/catalog_patterns.jsonl var/spacy/shop_en

The pipeline is ``spacy.blank("en")`` with

* a lookup ``lemmatizer`` (tables from spacy-lookups-data, saved with the
  pipeline, so loading it needs no extra package), for Rasa's featurizers;
* an ``entity_ruler`` with the patterns of ``data/catalog_patterns.jsonl``
  (written by the application's :mod:`bot.ops.catalog_patterns`; labels
  ``product`` and ``category``), matching lower-cased tokens, so case does not
  matter; where matches overlap the longest wins.

No vectors, tagger or parser: Rasa's ``SpacyNLP`` loads it by path for
``SpacyTokenizer`` and ``SpacyEntityExtractor``. The output folder is replaced
as a whole, so running the command twice leaves the same pipeline. A missing
or invalid patterns file stops with one line on stderr and exit status 2.

This module imports spaCy and runs only in ``.venv-rasa``; the patterns are
read with :func:`bot.rasa_runtime.nlu.patterns.read_patterns` (standard library only).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.rasa_runtime.nlu.patterns import Pattern, PatternsFileError, read_patterns

if TYPE_CHECKING:
    from spacy.language import Language

USAGE = "usage: python -m bot.rasa_runtime.nlu.build_spacy PATTERNS.jsonl OUTPUT_DIR"


def build_pipeline(patterns: Sequence[Pattern]) -> Language:
    """``spacy.blank("en")`` + lookup lemmatizer + entity ruler with ``patterns``.

    Raises
    ------
    RuntimeError
        spacy-lookups-data is not installed (the lemmatizer has no tables).
    """
    import spacy

    nlp = spacy.blank("en")
    # the ruler goes first: it turns its phrases into Docs with the components before it
    ruler = nlp.add_pipe(
        "entity_ruler",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True, "validate": True},
    )
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    try:
        nlp.initialize()
    except (ValueError, OSError) as exc:  # spaCy raises ValueError [E1004] without the lookup tables
        raise RuntimeError(f"cannot initialise the lemmatizer ({exc}); install spacy-lookups-data") from exc
    ruler.add_patterns([{"label": p.label, "pattern": p.pattern, "id": p.id} for p in patterns])
    return nlp


def build(patterns_path: str | Path, out_dir: str | Path) -> int:
    """Build the pipeline from ``patterns_path`` and save it to ``out_dir``; return the number of patterns.

    The pipeline is written next to ``out_dir`` first and then moved into
    place, so a failed build leaves the previous one untouched.
    """
    patterns = read_patterns(patterns_path)
    nlp = build_pipeline(patterns)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        nlp.to_disk(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return len(patterns)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        count = build(args[0], args[1])
    except (PatternsFileError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"spaCy pipeline with {count} patterns -> {args[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
