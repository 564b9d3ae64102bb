"""Does the int8 MiniLM graph keep the intents? Scored on the validation split, never on a test set.

``MiniLMFeaturizer`` can run its ONNX graph with the matrix products
quantised to int8 (``precision: int8``). Its vectors are close to the float32
ones (cosine ≈ 0.99), not equal, so whether that is good enough is measured:
the NLU pipeline of ``config.yml`` is trained twice with ``rasa train nlu``
on the same 80% of ``data/nlu/`` (the split, the typist and the scoring of
``bench/nlu_robustness.py``), once in float32 and once in int8, and both parse
the held-back 20% as written and as typed by another hand. A fallback is a
miss.

    .venv/bin/python bench/nlu_int8.py            # about 10 minutes on 2 shared cores
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nlu_robustness import (  # noqa: E402
    RASA_BIN,
    RASA_PYTHON,
    EvalTypist,
    macro_f1,
    read_examples,
    run,
    split,
    worker_parse,
    write_training,
)

FEATURIZER = "bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer"
PRECISIONS = ("float32", "int8")


def precision_config(precision: str, out: Path) -> Path:
    """``config.yml``'s NLU pipeline with the MiniLM graph in ``precision`` (no policies: NLU only)."""
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    found = [c for c in config["pipeline"] if c["name"] == FEATURIZER]
    if len(found) != 1:
        sys.exit(f"config.yml has {len(found)} {FEATURIZER} components; expected one")
    found[0].update(backend="onnx", precision=precision)
    config["policies"] = []
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_parse(*args.worker)
        return
    if not RASA_PYTHON.exists():
        sys.exit("the Rasa environment .venv-rasa is missing: run `make env`")
    examples, others = read_examples()
    train, held = split(examples)
    truth = [intent for intent, _ in held]
    clean = [text for _, text in held]
    typed = [EvalTypist(seed=1000 + i).type_out(text) for i, text in enumerate(clean)]
    print(f"{sum(map(len, train.values()))} training examples, {len(held)} validation", flush=True)
    env = dict(
        os.environ,
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=str(ROOT),
    )
    predictions: dict[str, dict[str, list[str]]] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="nlu-int8-") as tmp:
        work = Path(tmp)
        write_training(train, others, work / "data")
        (work / "clean.json").write_text(json.dumps(clean))
        (work / "typed.json").write_text(json.dumps(typed))
        for precision in PRECISIONS:
            config = precision_config(precision, work / f"{precision}.yml")
            started = time.perf_counter()
            run(
                [str(RASA_BIN), "train", "nlu", "--config", str(config), "--nlu", str(work / "data"),
                 "--out", str(work / "models"), "--fixed-model-name", precision],
                {**env, "RASA_CACHE_DIRECTORY": str(work / f"cache-{precision}")},
            )  # fmt: skip
            seconds = time.perf_counter() - started
            model = work / "models" / f"{precision}.tar.gz"
            predictions[precision] = {}
            scores = {}
            for kind in ("clean", "typed"):
                out = work / f"{precision}-{kind}.out.json"
                run([str(RASA_PYTHON), __file__, "--worker", str(model), str(work / f"{kind}.json"), str(out)], env)
                predicted = json.loads(out.read_text())
                predictions[precision][kind] = predicted
                scores[kind] = (
                    macro_f1(truth, predicted),
                    sum(t == p for t, p in zip(truth, predicted)) / len(truth),
                    sum(p == "nlu_fallback" for p in predicted) / len(truth),
                )
            rows.append((precision, scores, seconds))
            print(f"{precision}: clean F1 {scores['clean'][0]:.3f}, typed F1 {scores['typed'][0]:.3f}", flush=True)
    print("\n| MiniLM graph | clean macro-F1 | clean accuracy | typed macro-F1 | typed accuracy | typed fallbacks |")
    print("|---|---:|---:|---:|---:|---:|")
    for precision, s, _ in rows:
        print(
            f"| {precision} | {s['clean'][0]:.3f} | {s['clean'][1]:.1%} | {s['typed'][0]:.3f} | "
            f"{s['typed'][1]:.1%} | {s['typed'][2]:.1%} |"
        )
    for kind in ("clean", "typed"):
        a, b = predictions["float32"][kind], predictions["int8"][kind]
        print(f"{kind}: {sum(x != y for x, y in zip(a, b))} of {len(a)} messages get another intent in int8")
    fp32, int8 = rows[0][1], rows[1][1]
    holds = all(int8[kind][0] >= fp32[kind][0] and int8[kind][1] >= fp32[kind][1] for kind in ("clean", "typed"))
    print(f"\nint8 {'keeps' if holds else 'does not keep'} the float32 macro-F1 and accuracy on both validation sets")


if __name__ == "__main__":
    main()
