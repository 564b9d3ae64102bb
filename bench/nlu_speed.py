"""NLU speed: the MiniLM forward pass with onnxruntime vs the numpy reference pass, in the same run.

Loads one trained model in the Rasa environment and parses customer messages
one at a time with ``Agent.parse_message`` (what ``POST /model/parse`` runs),
switching the model's ``MiniLMFeaturizer`` message by message between the
numpy pass, the float32 ONNX graph and the int8 one (the order rotates), so
all see the machine at the same moments. Times the featurizer's ``process``
and the whole parse; prints medians, 95th percentiles and the ratios to the
numpy pass, and how often an arm gave another intent than numpy. The machine
is shared: compare the ratios, and the medians over the percentiles. (The
model's classifier was trained on one of these; int8's accuracy is
``bench/nlu_int8.py``'s question, not this one's.)

Messages are the assistant's own NLU training examples (timing needs no
labels) plus the latency bench's customer messages, shuffled with a fixed
seed; each arm parses ``--n`` of them after ``--warmup``.

    .venv/bin/python bench/nlu_speed.py [--model models/x.tar.gz] [--n 300] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
#: (label, backend, precision) of the featurizer in each arm
ARMS = [("numpy", "numpy", "float32"), ("onnx", "onnx", "float32"), ("onnx int8", "onnx", "int8")]
LATENCY_MESSAGES = [
    "where is my order 581580?",
    "how many points do I have",
    "show me my recent orders",
    "any deals for me?",
    "how much is the lunch bag?",
    "I want to return an item",
    "what goes with the jumbo bag",
    "when should I reorder?",
    "can I talk to a person",
    "what are your opening hours",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- in the Rasa environment --------------------------------------------------------------


def worker(model: str, n: int, warmup: int, out_file: str) -> None:
    """Parse messages alternating the featurizer's backend; write the timings as JSON."""
    import asyncio
    import random

    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.rasa_runtime.nlu.minilm import MiniLMFeaturizer

    featurizers: list[Any] = []
    featurize_time: list[float] = []
    original = MiniLMFeaturizer.process

    def process(self: Any, messages: Any) -> Any:
        if self not in featurizers:
            featurizers.append(self)
        start = time.perf_counter()
        result = original(self, messages)
        featurize_time.append(time.perf_counter() - start)
        return result

    MiniLMFeaturizer.process = process  # type: ignore[method-assign]
    files = sorted((ROOT / "data" / "nlu").glob("*.yml"))
    texts = sorted({e.get("text") for f in files for e in load_data(str(f)).intent_examples})
    random.Random(15).shuffle(texts)
    texts = (LATENCY_MESSAGES + texts) * (1 + (n + warmup) // max(1, len(texts) + len(LATENCY_MESSAGES)))
    agent = Agent.load(model)
    asyncio.run(agent.parse_message("hello"))
    if len(featurizers) != 1:
        sys.exit(f"expected one MiniLMFeaturizer in {model}, found {len(featurizers)}")
    featurizer = featurizers[0]
    threads = featurizer._config["runtime_threads"]
    config = featurizer._config  # the bench switches the loaded model's featurizer in place
    found = {}
    for label, backend, precision in ARMS:  # load every encoder before timing
        config.update(backend=backend, precision=precision)
        found[label] = type(featurizer._encoder(threads)).__name__
    if found["onnx"] == found["numpy"]:
        sys.exit(f"onnxruntime is not usable in the Rasa environment: both backends are {found['onnx']}")

    timings: dict[str, dict[str, list[float]]] = {a[0]: {"featurizer": [], "parse": []} for a in ARMS}
    intents: dict[str, list[str]] = {a[0]: [] for a in ARMS}

    async def parse_all() -> None:
        for i, text in enumerate(texts[: n + warmup]):
            turn = i % len(ARMS)
            for label, backend, precision in ARMS[turn:] + ARMS[:turn]:
                config.update(backend=backend, precision=precision)
                featurize_time.clear()
                start = time.perf_counter()
                parsed = await agent.parse_message(text)
                elapsed = time.perf_counter() - start
                if i >= warmup:
                    timings[label]["parse"].append(elapsed)
                    timings[label]["featurizer"].append(sum(featurize_time))
                    intents[label].append(parsed["intent"]["name"])

    asyncio.run(parse_all())
    Path(out_file).write_text(json.dumps({"timings": timings, "intents": intents, "encoders": found}))


# -- in the application environment -------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a trained model (default: the newest in models/)")
    parser.add_argument("--n", type=int, default=300, help="messages timed per backend (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="messages per backend before timing (default 20)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # re-entered in the Rasa environment
        model, n, warmup, out = args.worker
        worker(model, int(n), int(warmup), out)
        return
    if args.n < 1 or args.warmup < 0:
        parser.error("--n must be at least 1 and --warmup at least 0")
    if not RASA_PYTHON.exists():
        sys.exit("the Rasa environment .venv-rasa is missing: run `make env`")
    model = args.model
    if model is None:
        found = sorted((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not found:
            sys.exit("no trained model in models/: run `make train` or pass --model")
        model = found[-1]
    if not model.is_file():
        sys.exit(f"{model}: no such model file")

    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "timings.json"
        command = [str(RASA_PYTHON), __file__, "--worker", str(model.resolve()), str(args.n), str(args.warmup)]
        command.append(str(out))
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            sys.exit(done.stderr[-3000:] or done.stdout[-3000:])
        report = json.loads(out.read_text())
    load_after = os.getloadavg()

    timings, intents = report["timings"], report["intents"]
    print(f"model {model.name}; {args.n} messages per arm after {args.warmup} warm-up, arms rotating")
    print(f"encoders: {report['encoders']}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print()
    print("| measure | arm | p50 | p95 | numpy/arm p50 | numpy/arm p95 | intent ≠ numpy |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for key, measure in (("featurizer", "MiniLMFeaturizer.process"), ("parse", "Agent.parse_message")):
        base50, base95 = (percentile(timings["numpy"][key], q) for q in (0.5, 0.95))
        for label, _, _ in ARMS:
            p50, p95 = (percentile(timings[label][key], q) for q in (0.5, 0.95))
            differ = sum(x != y for x, y in zip(intents["numpy"], intents[label]))
            print(
                f"| {measure} | {label} | {1000 * p50:.1f} ms | {1000 * p95:.1f} ms | "
                f"{base50 / p50:.2f}× | {base95 / p95:.2f}× | {differ} of {len(intents[label])} |"
            )


if __name__ == "__main__":
    main()
