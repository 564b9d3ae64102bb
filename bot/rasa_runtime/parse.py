"""Parse a test set with a trained model, as the running assistant would. Runs in ``.venv-rasa``.

    .venv-rasa/bin/python -m bot.rasa_runtime.parse MODEL TEST_DATA OUT.jsonl

Writes one JSON line per intent example: the text, the intent it is labelled
with (the base name for retrieval intents, as Rasa's evaluation uses), and the
intent the model gives it *after* the FallbackClassifier: ``nlu_fallback``
when the assistant would say "sorry, I did not understand". ``rasa test nlu``
undoes fallback predictions before scoring (rasa/nlu/test.py, ``get_eval_data``),
which would hide a model that falls back on what customers say; the gate wants
what the customer sees. The best real intent and its confidence are kept too.

It runs in the Rasa environment; the release gate in the main environment
runs it as a subprocess (:func:`bot.ops.gate.evaluate_model`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence


async def _parse_all(model: str, data_path: str, out_path: str) -> int:
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(model)
    data = load_data(data_path)
    count = 0
    with open(out_path, "w", encoding="utf-8") as out:
        for example in data.intent_examples:
            text = example.get("text")
            parsed = await agent.parse_message(text)
            intent = parsed.get("intent") or {}
            real = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
            best = real[0] if real else {"name": None, "confidence": 0.0}
            record = {
                "text": text,
                "intent": example.get("intent"),
                "predicted": intent.get("name"),
                "confidence": float(intent.get("confidence") or 0.0),
                "best": best.get("name"),
                "best_confidence": float(best.get("confidence") or 0.0),
            }
            out.write(json.dumps(record) + "\n")
            count += 1
    return count


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    count = asyncio.run(_parse_all(*args))
    print(f"parsed {count} examples", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
