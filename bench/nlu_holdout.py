"""The assistant's held-out NLU scores, for one or more trained models in the same run.

``tests/data/nlu_holdout.yml`` (never trained on) is parsed as the running bot
parses it (``Agent.parse_message``, so products and categories from the spaCy
ruler count too and a fallback is a miss). Intent macro-F1; entities are right
when type, start and end match (the sentiment marker, which spans the whole
message, is scored on its own labelled set). ``tests/e2e/test_nlu_quality.py``
checks the same figures against thresholds.

    .venv/bin/python bench/nlu_holdout.py models/old.tar.gz models/new.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
HOLDOUT = ROOT / "tests" / "data" / "nlu_holdout.yml"

WORKER = """
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data

async def main(model, data, out):
    agent = Agent.load(model)
    rows = []
    for example in load_data(data).intent_examples:
        parsed = await agent.parse_message(example.get("text"))
        rows.append({
            "intent": example.get("intent"),
            "predicted": parsed["intent"]["name"],
            "expected": [[e["start"], e["end"], e["entity"]] for e in example.get("entities") or []],
            "found": [[e["start"], e["end"], e["entity"]] for e in parsed["entities"] if e["entity"] != "sentiment"],
        })
    open(out, "w").write(json.dumps(rows))

asyncio.run(main(*sys.argv[1:4]))
"""


def score(rows: list[dict[str, object]]) -> dict[str, float]:
    from sklearn.metrics import f1_score

    truth = [str(r["intent"]).split("/")[0] for r in rows]
    predicted = [str(r["predicted"]) for r in rows]
    tp = fp = fn = 0
    for r in rows:
        expected = {tuple(e) for e in r["expected"]}  # type: ignore[attr-defined]
        found = {tuple(e) for e in r["found"]}  # type: ignore[attr-defined]
        tp, fp, fn = tp + len(expected & found), fp + len(found - expected), fn + len(expected - found)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {
        "messages": len(rows),
        "intent_macro_f1": f1_score(truth, predicted, average="macro"),
        "intent_accuracy": sum(t == p for t, p in zip(truth, predicted)) / len(rows),
        "fallbacks": sum(p == "nlu_fallback" for p in predicted),
        "entity_precision": precision,
        "entity_recall": recall,
        "entity_f1": 2 * precision * recall / max(1e-12, precision + recall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="trained models (.tar.gz), scored in this order")
    models = [m.resolve() for m in parser.parse_args().models]
    missing = [str(m) for m in models if not m.is_file()]
    if missing:
        parser.error(f"no trained model at {', '.join(missing)} (train one with `rasa train`)")
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    print("| model | intent macro-F1 | intent accuracy | fallbacks | entity P | entity R | entity F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            out = Path(tmp) / "rows.json"
            done = subprocess.run(
                [str(RASA_PYTHON), "-c", WORKER, str(model), str(HOLDOUT), str(out)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if done.returncode != 0:
                sys.exit(done.stderr[-3000:])
            s = score(json.loads(out.read_text()))
            print(
                f"| {model.name} | {s['intent_macro_f1']:.3f} | {s['intent_accuracy']:.1%} | {s['fallbacks']} | "
                f"{s['entity_precision']:.3f} | {s['entity_recall']:.3f} | {s['entity_f1']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
