"""How well VADER's compound score finds upset customers, on a small labelled set.

The assistant offers a person when a message is strongly negative
(``bot.rasa_runtime.nlu.sentiment.VaderSentimentExtractor`` adds the entity
``sentiment: negative`` when VADER's compound score is at or below a
threshold). This script chooses that threshold on the *development* split of
``tests/data/sentiment_labelled.csv`` and reports precision, recall and F1 on
the *test* split, which played no part in the choice.

The labelled set: 150 short messages written for this shop (order tracking,
returns, gifts, loyalty), 75 labelled ``negative`` and 75 ``not``. A message
is ``negative`` when its writer is upset (angry, exasperated, distressed)
about the shop, an order or the bot, so that offering a person would be
welcome. A problem reported calmly ("the mug arrived with a small chip,
could I get a replacement?") is ``not``: the bot's own flows handle it. The
``kind`` column names what makes a message easy or hard: ``plain``,
``caps``, ``emoji``, ``negation``, ``sarcasm``, ``no_lexicon`` (upset without
a sentiment word, e.g. "this is a complete shambles"), ``calm_problem``,
``domain_word`` (a product name with a dark word: "skull design tea
towels"), ``request`` and ``positive``. Within each label and kind, messages
alternate between ``dev`` and ``test``.

The threshold maximises F0.5 on dev (precision counts twice as much as
recall) over a 0.05 grid from -0.95 to -0.05; a tie goes to the lower
threshold. Precision comes first because a wrong offer interrupts a calm
customer and takes an agent's time, while a missed upset message still has the
other ways to a person (the ``complain`` intent, two misunderstandings in a
row, asking for one). Zero is not on the grid: a compound of 0 means VADER
found no sentiment word at all. For comparison the script also scores VADER's
usual cut (compound <= -0.05 is negative) on test.

Run from the project root, in the main environment (vaderSentiment 3.3.2)::

    .venv/bin/python bench/sentiment_eval.py            # the figures
    .venv/bin/python bench/sentiment_eval.py --errors   # also every misclassified test message
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "sentiment_labelled.csv"
LABELS = ("negative", "not")
SPLITS = ("dev", "test")
#: VADER's own suggestion for "negative" (its README: compound <= -0.05)
VADER_DEFAULT_CUT = -0.05
GRID = tuple(round(-0.95 + 0.05 * i, 2) for i in range(19))
BETA = 0.5


@dataclass(frozen=True)
class Labelled:
    """One message of the labelled set."""

    text: str
    label: str
    kind: str
    split: str

    @property
    def negative(self) -> bool:
        return self.label == "negative"


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default); (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Scores:
    """Detection of ``negative`` messages at one threshold."""

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return self.fbeta(1.0)

    def fbeta(self, beta: float) -> float:
        """The F-score that weighs recall ``beta`` times as much as precision."""
        p, r = self.precision, self.recall
        b2 = beta * beta
        return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


def load_labelled(path: Path = LABELLED) -> list[Labelled]:
    """Read the labelled set, refusing unknown labels or splits and empty or repeated texts.

    Parameters
    ----------
    path
        A CSV file with the columns ``text``, ``label``, ``kind`` and ``split``.

    Returns
    -------
    list of Labelled
        The messages, in file order.

    Examples
    --------
    >>> rows = load_labelled()
    >>> sorted({row.split for row in rows})
    ['dev', 'test']
    """
    rows: list[Labelled] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        for line, record in enumerate(csv.DictReader(fh), start=2):
            row = Labelled(record["text"].strip(), record["label"], record["kind"], record["split"])
            if not row.text:
                raise ValueError(f"{path}:{line}: empty text")
            if row.label not in LABELS:
                raise ValueError(f"{path}:{line}: label must be one of {LABELS}, got {row.label!r}")
            if row.split not in SPLITS:
                raise ValueError(f"{path}:{line}: split must be one of {SPLITS}, got {row.split!r}")
            if row.text.casefold() in seen:
                raise ValueError(f"{path}:{line}: {row.text!r} appears twice")
            seen.add(row.text.casefold())
            rows.append(row)
    return rows


def compound_scores(texts: Sequence[str]) -> list[float]:
    """VADER's compound score (-1 most negative, +1 most positive) of each text."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return [float(analyzer.polarity_scores(text)["compound"]) for text in texts]


def score_at(threshold: float, compounds: Sequence[float], negative: Sequence[bool]) -> Scores:
    """Count hits and misses when ``compound <= threshold`` means negative."""
    flagged = [c <= threshold for c in compounds]
    pairs = Counter(zip(flagged, negative))
    return Scores(threshold, pairs[True, True], pairs[True, False], pairs[False, True], pairs[False, False])


def choose_threshold(
    compounds: Sequence[float], negative: Sequence[bool], grid: Sequence[float] = GRID, beta: float = BETA
) -> Scores:
    """The grid threshold with the best F-beta (ties: the lowest threshold) and its scores.

    Parameters
    ----------
    compounds
        VADER compound scores of the messages.
    negative
        Whether each message is labelled ``negative``.
    grid
        The candidate thresholds.
    beta
        Weight of recall against precision (0.5: precision counts twice).

    Returns
    -------
    Scores
        The chosen threshold and its counts on these messages.

    Examples
    --------
    >>> choose_threshold([-0.9, -0.6, -0.2, 0.0], [True, True, False, False], grid=[-0.7, -0.5, -0.1]).threshold
    -0.5
    """
    if not compounds or len(compounds) != len(negative):
        raise ValueError("choose_threshold needs one label per score and at least one score")
    candidates = [score_at(t, compounds, negative) for t in grid]
    return max(candidates, key=lambda s: (s.fbeta(beta), -s.threshold))


@dataclass(frozen=True)
class Evaluation:
    """The threshold chosen on dev, its scores on dev and test, and VADER's default cut on test."""

    dev: Scores
    test: Scores
    test_default_cut: Scores
    test_errors: list[tuple[Labelled, float]]


def evaluate(rows: Sequence[Labelled]) -> Evaluation:
    """Choose the threshold on the dev rows, then score the test rows with it."""
    compounds = compound_scores([row.text for row in rows])
    dev = [(row, c) for row, c in zip(rows, compounds) if row.split == "dev"]
    test = [(row, c) for row, c in zip(rows, compounds) if row.split == "test"]
    chosen = choose_threshold([c for _, c in dev], [row.negative for row, _ in dev])
    test_compounds = [c for _, c in test]
    test_negative = [row.negative for row, _ in test]
    errors = [(row, c) for row, c in test if (c <= chosen.threshold) != row.negative]
    return Evaluation(
        dev=chosen,
        test=score_at(chosen.threshold, test_compounds, test_negative),
        test_default_cut=score_at(VADER_DEFAULT_CUT, test_compounds, test_negative),
        test_errors=errors,
    )


def _with_interval(value: float, successes: int, trials: int) -> str:
    low, high = wilson_interval(successes, trials)
    return f"{value:.2f} ({low:.2f}–{high:.2f})"


def _line(name: str, scores: Scores, n: int) -> str:
    precision = _with_interval(scores.precision, scores.tp, scores.tp + scores.fp)
    recall = _with_interval(scores.recall, scores.tp, scores.tp + scores.fn)
    return (
        f"| {name} | {n} | {scores.threshold:+.2f} | {precision} | {recall} | "
        f"{scores.f1:.2f} | {scores.fbeta(BETA):.2f} | {scores.tp} / {scores.fp} / {scores.fn} / {scores.tn} |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=LABELLED, help="the labelled set")
    parser.add_argument("--errors", action="store_true", help="list every misclassified test message")
    args = parser.parse_args(argv)

    rows = load_labelled(args.csv)
    result = evaluate(rows)
    n_dev = sum(row.split == "dev" for row in rows)
    n_test = len(rows) - n_dev
    print(f"labelled messages: {len(rows)} ({sum(r.negative for r in rows)} negative); dev {n_dev}, test {n_test}")
    print(f"threshold chosen on dev: compound <= {result.dev.threshold:+.2f}\n")
    print("| split | messages | threshold | precision (95% CI) | recall (95% CI) | F1 | F0.5 | TP / FP / FN / TN |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    print(_line("dev (choice)", result.dev, n_dev))
    print(_line("test", result.test, n_test))
    print(_line("test, VADER's usual cut", result.test_default_cut, n_test))
    missed = Counter(row.kind for row, _ in result.test_errors)
    print("\ntest errors by kind: " + (", ".join(f"{k} {v}" for k, v in missed.most_common()) or "none"))
    if args.errors:
        for row, compound in result.test_errors:
            print(f"  {compound:+.3f}  {row.label:8s} {row.kind:12s} {row.text}")


if __name__ == "__main__":
    main()
