"""Choose the NLU's typo settings on validation data carved from the training data.

The assistant's pipeline can normalise spelling before classifying
(``bot.rasa_runtime.nlu.spelling.SpellingNormaliser``) and train on noisy and
product-swapped copies of its examples (``bot.rasa_runtime.nlu.augment.TypoAugmenter``).
Whether each pays, and how many copies, is decided here, never on a test set:

1. the intent examples of ``data/nlu/`` are split per intent, 80% to train and
   20% to validate (seed 0; retrieval intents by sub-intent);
2. the validation messages are scored as written and *typed by a different
   hand*: :class:`EvalTypist` makes the errors the training noise does not
   (ie/ei swaps, dropped double letters, vowel mix-ups, two words run
   together, letters missing at word ends), besides lower case and missing
   apostrophes, so the noisy score does not reward learning one noise model;
3. each variant of the pipeline (``VARIANTS``) is trained with ``rasa train
   nlu`` on the 80% in a fresh process and parses both validation sets as the
   running bot would (a fallback is a miss);
4. the chosen variant has the best macro-F1 on the typed set among those
   within one point of the best on the clean set.

    .venv/bin/python bench/nlu_robustness.py            # about 10 minutes on 2 cores

Output on 2026-12-07 is in BENCHMARKS.md; ``config.yml`` uses the choice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
VALIDATION_SHARE = 0.2
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")

#: the pipeline's typo components in each variant (the rest of config.yml stays as it is)
VARIANTS: dict[str, dict[str, Any]] = {
    "neither (the pipeline before)": {"normaliser": False, "copies": 0, "product_copies": 0},
    "spelling normaliser": {"normaliser": True, "copies": 0, "product_copies": 0},
    "1 typed copy": {"normaliser": False, "copies": 1, "product_copies": 0},
    "normaliser + 1 typed copy": {"normaliser": True, "copies": 1, "product_copies": 0},
    "normaliser + 2 product swaps": {"normaliser": True, "copies": 0, "product_copies": 2},
    "normaliser keeping every English word + 2 product swaps": {
        "normaliser": True,
        "common_words": 100_000,
        "copies": 0,
        "product_copies": 2,
    },
    "normaliser + 1 typed copy + 2 product swaps": {"normaliser": True, "copies": 1, "product_copies": 2},
    "normaliser + 2 typed copies + 2 product swaps": {"normaliser": True, "copies": 2, "product_copies": 2},
}


class EvalTypist:
    """Typing errors unlike the training noise's, for a fair test of robustness."""

    def __init__(self, seed: int, rate: float = 0.2) -> None:
        self.rng = random.Random(seed)
        self.rate = rate

    def word(self, w: str) -> str:
        r = self.rng.random()
        if len(w) < 4 or not w.isalpha():
            return w
        if "ie" in w and r < 0.3:
            return w.replace("ie", "ei", 1)
        if "ei" in w and r < 0.3:
            return w.replace("ei", "ie", 1)
        doubles = [i for i in range(len(w) - 1) if w[i] == w[i + 1]]
        if doubles and r < 0.5:
            i = self.rng.choice(doubles)
            return w[:i] + w[i + 1 :]
        vowels = [i for i, c in enumerate(w[1:], 1) if c in "aeiou"]
        if vowels and r < 0.75:
            i = self.rng.choice(vowels)
            return w[:i] + self.rng.choice([v for v in "aeiou" if v != w[i]]) + w[i + 1 :]
        return w[:-1]

    def type_out(self, text: str) -> str:
        text = text.lower().replace("'", "").replace("’", "") if self.rng.random() < 0.8 else text
        words = text.split()
        out: list[str] = []
        for w in words:
            core = w.strip(".,!?")
            if core.isalpha() and self.rng.random() < self.rate:
                w = w.replace(core, self.word(core))
            if out and out[-1].isalpha() and w.isalpha() and self.rng.random() < 0.04:
                out[-1] += w  # two words run together
                continue
            out.append(w)
        return " ".join(out)


def read_examples() -> tuple[dict[str, list[str]], list[Path]]:
    """Intent (or retrieval sub-intent) -> example lines as written; and the non-example data files."""
    examples: dict[str, list[str]] = defaultdict(list)
    others: list[Path] = []
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = [i for i in data.get("nlu") or [] if "intent" in i]
        if not items:
            others.append(path)
            continue
        for item in items:
            for line in str(item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    examples[item["intent"]].append(line[2:])
        if data.get("responses") or any("intent" not in i for i in data.get("nlu") or []):
            others.append(path)
    return examples, others


def split(examples: dict[str, list[str]], seed: int = 0) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    rng = random.Random(seed)
    train: dict[str, list[str]] = {}
    held: list[tuple[str, str]] = []
    for intent, lines in sorted(examples.items()):
        lines = list(lines)
        rng.shuffle(lines)
        n = max(1, round(len(lines) * VALIDATION_SHARE)) if len(lines) >= 3 else 0
        train[intent] = lines[n:]
        held += [(intent.split("/")[0], ANNOTATION.sub(r"\1", line)) for line in lines[:n]]
    return train, held


def write_training(train: dict[str, list[str]], others: list[Path], out: Path) -> None:
    out.mkdir(parents=True)
    nlu = [{"intent": intent, "examples": "".join(f"- {x}\n" for x in lines)} for intent, lines in train.items()]
    (out / "examples.yml").write_text(yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True, width=10**6))
    for path in others:  # synonyms, regexes, the FAQ responses (their examples come from the split above)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        kept = {"version": "3.1", "nlu": [i for i in data.get("nlu") or [] if "intent" not in i]}
        if data.get("responses"):
            kept["responses"] = data["responses"]
        (out / f"other_{path.name}").write_text(yaml.safe_dump(kept, allow_unicode=True, width=10**6))


def variant_config(settings: dict[str, Any], out: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = []
    for component in config["pipeline"]:
        name = component["name"]
        if name == "bot.rasa_runtime.nlu.augment.TypoAugmenter":
            if settings["copies"] or settings["product_copies"]:
                pipeline.append(
                    {**component, "copies": settings["copies"], "product_copies": settings["product_copies"]}
                )
            continue
        if name == "bot.rasa_runtime.nlu.spelling.SpellingNormaliser":
            if not settings["normaliser"]:
                continue
            component = {**component, "common_words": settings.get("common_words", 15000)}
        pipeline.append(component)
    config["pipeline"] = pipeline
    config["policies"] = []
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def worker_parse(model: str, texts_file: str, out_file: str) -> None:
    """(In the Rasa environment.) The intent each message gets, ``nlu_fallback`` included."""
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    texts = json.loads(Path(texts_file).read_text())

    async def parse_all() -> list[str]:
        return [(await agent.parse_message(t))["intent"]["name"] for t in texts]

    Path(out_file).write_text(json.dumps(asyncio.run(parse_all())))


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    labels = sorted(set(truth))
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted))
        scores.append(2 * tp / max(1, 2 * tp + fp + fn))
    return sum(scores) / len(scores)


def run(args: list[str], env: dict[str, str], timeout: int = 1800) -> None:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def rasa_env() -> dict[str, str]:
    """The environment the Rasa processes run in."""
    return dict(
        os.environ,
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=str(ROOT),
    )


def validation_sets(held: list[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
    """The true intents, the validation messages as written and as :class:`EvalTypist` types them."""
    truth = [intent for intent, _ in held]
    clean = [text for _, text in held]
    typed = [EvalTypist(seed=1000 + i).type_out(text) for i, text in enumerate(clean)]
    return truth, clean, typed


def train_and_score(
    config: Path, slug: str, work: Path, truth: list[str]
) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Train ``config`` on ``work/data`` and parse ``work/{clean,typed}.json`` in fresh processes.

    Returns (macro-F1, accuracy, fallback share) per set, and the seconds ``rasa train nlu`` took.
    """
    env = rasa_env()
    started = time.perf_counter()
    run(
        [str(RASA_BIN), "train", "nlu", "--config", str(config), "--nlu", str(work / "data"),
         "--out", str(work / "models"), "--fixed-model-name", slug],
        {**env, "RASA_CACHE_DIRECTORY": str(work / f"cache-{slug}")},
    )  # fmt: skip
    seconds = time.perf_counter() - started
    model = work / "models" / f"{slug}.tar.gz"
    scores = {}
    for kind in ("clean", "typed"):
        out = work / f"{slug}-{kind}.out.json"
        run([str(RASA_PYTHON), __file__, "--worker", str(model), str(work / f"{kind}.json"), str(out)], env)
        predicted = json.loads(out.read_text())
        scores[kind] = (
            macro_f1(truth, predicted),
            sum(t == p for t, p in zip(truth, predicted)) / len(truth),
            sum(p == "nlu_fallback" for p in predicted) / len(truth),
        )
    return scores, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", help="variants to run (names of VARIANTS)")
    args = parser.parse_args()
    if args.worker:
        worker_parse(*args.worker)
        return
    examples, others = read_examples()
    train, held = split(examples)
    truth, clean, typed = validation_sets(held)
    changed = sum(a != b for a, b in zip(clean, typed))
    print(f"{sum(map(len, train.values()))} training examples, {len(held)} validation ({changed} typed differently)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nlu-robustness-") as tmp:
        work = Path(tmp)
        write_training(train, others, work / "data")
        (work / "clean.json").write_text(json.dumps(clean))
        (work / "typed.json").write_text(json.dumps(typed))
        for name, settings in VARIANTS.items():
            if args.only and name not in args.only:
                continue
            slug = re.sub(r"\W+", "-", name)
            config = variant_config(settings, work / f"{slug}.yml")
            scores, seconds = train_and_score(config, slug, work, truth)
            rows.append((name, scores, seconds))
            print(
                f"{name:48s} clean F1 {scores['clean'][0]:.3f}  typed F1 {scores['typed'][0]:.3f}  "
                f"typed fallbacks {scores['typed'][2]:.1%}  train {seconds:.0f} s",
                flush=True,
            )
    header = ["variant", "clean macro-F1", "clean accuracy", "typed macro-F1", "typed accuracy", "typed fallbacks"]
    print("\n| " + " | ".join([*header, "`rasa train nlu`"]) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s, seconds in rows:
        print(
            f"| {name} | {s['clean'][0]:.3f} | {s['clean'][1]:.1%} | {s['typed'][0]:.3f} | {s['typed'][1]:.1%} | "
            f"{s['typed'][2]:.1%} | {seconds:.0f} s |"
        )
    best_clean = max(s["clean"][0] for _, s, _ in rows)
    eligible = [(s["typed"][0], name) for name, s, _ in rows if s["clean"][0] >= best_clean - 0.01]
    print(f"\nchosen: {max(eligible)[1]} (best typed macro-F1 within 0.01 of the best clean macro-F1)")


if __name__ == "__main__":
    main()
