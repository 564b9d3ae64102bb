"""Choose the intent classifier's settings on validation data carved from the training data.

``bot.rasa_runtime.nlu.classifier.LinearIntentClassifier``'s defaults (C 1.0,
dense_weight 1.5, class_weight null, none_quantile 0.1, word n-grams 1-2,
character n-grams 1-4) were chosen on Banking77's validation split, not on the
shop's messages. They are checked here the way ``bench/nlu_robustness.py``
checks the typo settings, with its split, training and scoring, never on a test
set:

1. the intent examples of ``data/nlu/`` are split per intent, 80% to train and
   20% to validate, twice (seeds 0 and 1), to average out the luck of one split;
2. each validation set is scored as written (clean) and as
   ``nlu_robustness.EvalTypist`` types it (typed);
3. each variant (``VARIANTS``: the current defaults, then one setting changed
   at a time) is ``config.yml`` with that change to the classifier's entry,
   trained with ``rasa train nlu`` on the 80% in a fresh process, parsing both
   validation sets as the running bot would (a fallback is a miss);
4. rule, fixed before the run: keep the current defaults unless a variant beats
   them by at least 0.5 point (0.005) of mean clean macro-F1 without losing more
   than 0.5 point of mean typed macro-F1; if several qualify, the one with the
   best mean clean macro-F1.

    .venv/bin/python bench/nlu_classifier_tune.py       # about 20 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.nlu_robustness import read_examples, split, train_and_score, validation_sets, write_training  # noqa: E402

CLASSIFIER = "bot.rasa_runtime.nlu.classifier.LinearIntentClassifier"
SEEDS = (0, 1)
MARGIN = 0.005  # half a point of macro-F1

#: changes to the classifier's entry in config.yml (the first is none: the current defaults)
VARIANTS: dict[str, dict[str, Any]] = {
    "current defaults": {},
    "C 0.5": {"C": 0.5},
    "C 2.0": {"C": 2.0},
    "dense_weight 1.0": {"dense_weight": 1.0},
    "dense_weight 2.0": {"dense_weight": 2.0},
    "class_weight balanced": {"class_weight": "balanced"},
    "none_quantile 0.05": {"none_quantile": 0.05},
}


def classifier_config(overrides: dict[str, Any], out: Path) -> Path:
    """``config.yml`` with ``overrides`` on the classifier's entry and no dialogue policies."""
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    entries = [c for c in config["pipeline"] if c["name"] == CLASSIFIER]
    if len(entries) != 1:
        sys.exit(f"config.yml must have exactly one {CLASSIFIER} entry")
    entries[0].update(overrides)
    config["policies"] = []
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def choose(means: dict[str, tuple[float, float]]) -> str:
    """The decision rule of the docstring; ``means`` maps a variant to (clean, typed) mean macro-F1."""
    base_clean, base_typed = means["current defaults"]
    qualified = [
        (clean, name)
        for name, (clean, typed) in means.items()
        if name != "current defaults" and clean >= base_clean + MARGIN - 1e-12 and typed >= base_typed - MARGIN - 1e-12
    ]
    return max(qualified)[1] if qualified else "current defaults"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="variants to run (names of VARIANTS; always with the defaults)")
    args = parser.parse_args()
    names = [n for n in VARIANTS if not args.only or n in args.only or n == "current defaults"]
    examples, others = read_examples()
    results: dict[str, dict[int, dict[str, tuple[float, float, float]]]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="nlu-classifier-tune-") as tmp:
        for seed in SEEDS:
            work = Path(tmp) / f"seed{seed}"
            train, held = split(examples, seed=seed)
            truth, clean, typed = validation_sets(held)
            print(f"seed {seed}: {sum(map(len, train.values()))} training examples, {len(held)} validation", flush=True)
            write_training(train, others, work / "data")
            (work / "clean.json").write_text(json.dumps(clean))
            (work / "typed.json").write_text(json.dumps(typed))
            for name in names:
                slug = re.sub(r"\W+", "-", name)
                config = classifier_config(VARIANTS[name], work / f"{slug}.yml")
                scores, seconds = train_and_score(config, slug, work, truth)
                results[name][seed] = scores
                print(
                    f"  {name:24s} clean F1 {scores['clean'][0]:.4f}  typed F1 {scores['typed'][0]:.4f}  "
                    f"typed fallbacks {scores['typed'][2]:.1%}  train {seconds:.0f} s",
                    flush=True,
                )
    means = {
        name: tuple(sum(results[name][s][kind][0] for s in SEEDS) / len(SEEDS) for kind in ("clean", "typed"))
        for name in names
    }
    per_seed = " | ".join(f"clean / typed, seed {s}" for s in SEEDS)
    print(f"\n| variant | clean macro-F1 (mean) | typed macro-F1 (mean) | {per_seed} |")
    print("|---|---:|---:|" + "---:|" * len(SEEDS))
    for name in names:
        cells = " | ".join(f"{results[name][s]['clean'][0]:.4f} / {results[name][s]['typed'][0]:.4f}" for s in SEEDS)
        print(f"| {name} | {means[name][0]:.4f} | {means[name][1]:.4f} | {cells} |")
    chosen = choose({n: (m[0], m[1]) for n, m in means.items()})
    print(
        f"\nchosen: {chosen} {VARIANTS[chosen] or ''} (defaults unless a variant gains >= 0.005 mean clean macro-F1 "
        "and loses <= 0.005 mean typed macro-F1; the best clean mean among those)"
    )


if __name__ == "__main__":
    main()
