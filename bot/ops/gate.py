"""The regression gate: is a candidate model at least as good as the live one?

Both models are evaluated the same way (:func:`evaluate_model`):

- on the held-out NLU test set (``tests/data/nlu_holdout.yml``, versioned, never
  trained on): every example is parsed by the model as the running assistant
  would (:mod:`bot.rasa_runtime.parse`, in the Rasa environment), and per-intent
  precision, recall and F1 and a confusion-matrix PNG are computed from that.
  A message the model falls back on (``nlu_fallback``) counts as a miss of its
  intent, as the customer sees it. (``rasa test nlu`` undoes fallback
  predictions before scoring, so a model that falls back on everything scores
  like one that answers: measured here, a pipeline with ``FallbackClassifier``
  at 0.97 scored macro-F1 1.000 with ``rasa test nlu`` on the end-to-end test's
  held-out set.) Macro-F1 is the mean F1 over the intents of the test set;
- on the conversation tests (the stories in ``tests/conversations/``, when the
  folder exists) with ``rasa test core --e2e``: the customer's words go through
  the NLU and every predicted intent and action must match the story. (Without
  ``--e2e`` Rasa takes the stories' intent labels and never runs the NLU; with
  it, Rasa reads only files named ``test_*.yml`` and reports success when there
  are none, so the files are copied under such names first.)

:func:`decide` refuses the candidate when its macro-F1 is lower than the live
model's by more than the configured margin, or when any conversation test
fails. An evaluation is kept with the model (``ModelVersion.metrics``) together
with the hashes of the test files, and reused while they are unchanged, so both
sides of a comparison are always measured on the same test set.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from analytics.core.clock import utc_now
from bot.ops.project import Project, files_hash
from bot.ops.train import RasaFailed, rasa_python_command, run_rasa, tail

#: Keys of a scikit-learn classification report that are not labels.
_SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}
#: Per-intent F1 drops larger than this are pointed out (they do not refuse on their own).
INTENT_DROP_NOTE = 0.05
FALLBACK = "nlu_fallback"


@dataclass(frozen=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ConversationTests:
    """Result of the conversation tests; ``ran`` is False when there are none (``note`` says why)."""

    ran: bool
    passed: int = 0
    total: int = 0
    failed: tuple[str, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.ran or (self.passed == self.total and not self.failed)


@dataclass(frozen=True)
class Evaluation:
    """How one model scored on the held-out set and the conversation tests."""

    holdout_hash: str
    tests_hash: Optional[str]
    macro_f1: float
    accuracy: float
    intents: tuple[IntentScore, ...]
    conversations: ConversationTests
    report_dir: str
    confusion_png: Optional[str]
    evaluated_at: str
    seconds: float = 0.0
    examples: int = 0
    fallbacks: int = 0

    def score(self, intent: str) -> Optional[IntentScore]:
        return next((s for s in self.intents if s.intent == intent), None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["conversations"]["failed"] = list(self.conversations.failed)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        conv = dict(data.get("conversations") or {})
        conv["failed"] = tuple(conv.get("failed") or ())
        return cls(
            holdout_hash=str(data["holdout_hash"]),
            tests_hash=data.get("tests_hash"),
            macro_f1=float(data["macro_f1"]),
            accuracy=float(data["accuracy"]),
            intents=tuple(IntentScore(**s) for s in data.get("intents") or []),
            conversations=ConversationTests(**conv),
            report_dir=str(data.get("report_dir") or ""),
            confusion_png=data.get("confusion_png"),
            evaluated_at=str(data.get("evaluated_at") or ""),
            seconds=float(data.get("seconds") or 0.0),
            examples=int(data.get("examples") or 0),
            fallbacks=int(data.get("fallbacks") or 0),
        )


@dataclass(frozen=True)
class GateDecision:
    """Whether the candidate may go live; ``reasons`` say why not, ``notes`` what else to know."""

    passed: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    candidate_macro_f1: float
    live_macro_f1: Optional[float]
    max_drop: float

    @property
    def delta(self) -> Optional[float]:
        return None if self.live_macro_f1 is None else self.candidate_macro_f1 - self.live_macro_f1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}


# --------------------------------------------------------------------------- test sets


def conversation_test_files(project: Project) -> list[Path]:
    """The YAML files with ``stories:`` under the conversation-tests folder."""
    folder = project.conversation_tests
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(p for p in folder.rglob("*.y*ml") if p.is_file()):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict) and data.get("stories"):
            found.append(path)
    return found


def stage_conversation_tests(files: Sequence[Path], folder: Path, target: Path) -> Path:
    """Copy the tests into ``target`` as ``test_*.yml``: with ``--e2e`` Rasa reads only files named so.

    (Without the prefix ``rasa test`` finds no test and reports success: a trap
    this copy takes away.)
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in files:
        name = "_".join(path.relative_to(folder).parts)
        shutil.copyfile(path, target / (name if name.startswith("test_") else f"test_{name}"))
    return target


def test_set_hashes(project: Project) -> tuple[str, Optional[str]]:
    """Hashes of the held-out set and of the conversation tests (``None`` without tests)."""
    if not project.holdout.exists():
        raise RasaFailed(f"the held-out test set {project.holdout} does not exist.")
    files = conversation_test_files(project)
    return files_hash([project.holdout], project.root), files_hash(files, project.root) if files else None


def is_current(evaluation: Optional[Evaluation], project: Project) -> bool:
    """The evaluation was made on the test sets as they are now."""
    return evaluation is not None and (evaluation.holdout_hash, evaluation.tests_hash) == test_set_hashes(project)


# --------------------------------------------------------------------------- reading Rasa's reports


def read_intent_report(path: Path) -> tuple[float, float, tuple[IntentScore, ...]]:
    """Macro-F1 over the labels with support, accuracy and per-intent scores from ``intent_report.json``."""
    report = json.loads(path.read_text(encoding="utf-8"))
    scores = tuple(
        IntentScore(
            intent=label,
            precision=round(float(row.get("precision", 0.0)), 4),
            recall=round(float(row.get("recall", 0.0)), 4),
            f1=round(float(row.get("f1-score", 0.0)), 4),
            support=int(row.get("support", 0)),
        )
        for label, row in sorted(report.items())
        if label not in _SUMMARY_KEYS and isinstance(row, dict)
    )
    tested = [s for s in scores if s.support > 0]
    macro = sum(s.f1 for s in tested) / len(tested) if tested else 0.0
    accuracy = report.get("accuracy")
    if not isinstance(accuracy, (int, float)):
        total = sum(s.support for s in tested)
        accuracy = sum(s.recall * s.support for s in tested) / total if total else 0.0
    return round(macro, 4), round(float(accuracy), 4), scores


def read_story_results(out: Path) -> ConversationTests:
    report = json.loads((out / "story_report.json").read_text(encoding="utf-8"))
    summary = report.get("conversation_accuracy") or {}
    failed: list[str] = []
    failed_file = out / "failed_test_stories.yml"
    if failed_file.exists():
        stories = (yaml.safe_load(failed_file.read_text(encoding="utf-8")) or {}) if failed_file.stat().st_size else {}
        if isinstance(stories, dict):
            # Rasa appends " (<file>)" to each name
            failed = [
                re.sub(r"\s{1,3}\([^()]{0,500}\)$", "", str(s.get("story")))
                for s in stories.get("stories") or []
                if isinstance(s, dict)
            ]
    total = int(summary.get("total", 0))
    return ConversationTests(ran=True, passed=int(summary.get("correct", 0)), total=total, failed=tuple(failed))


# --------------------------------------------------------------------------- evaluating


def score_predictions(
    records: Sequence[dict[str, Any]],
) -> tuple[dict[str, Any], list[str], list[list[int]]]:
    """Per-intent precision, recall, F1 and support, accuracy and macro-F1 over the tested intents.

    Returns the report (shaped like scikit-learn's ``classification_report``
    dict, as Rasa writes it), the confusion matrix's labels (tested intents,
    then those only predicted, e.g. ``nlu_fallback``) and the matrix (rows: true).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    truth = [str(r["intent"]) for r in records]
    predicted = [str(r["predicted"]) for r in records]
    tested = sorted(set(truth))
    labels = tested + sorted(set(predicted) - set(tested))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    report: dict[str, Any] = {
        label: {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": int(n)}
        for label, p, r, f, n in zip(labels, precision, recall, f1, support)
    }
    report["accuracy"] = sum(t == p for t, p in zip(truth, predicted)) / len(truth) if truth else 0.0
    report["macro avg"] = {"f1-score": sum(report[t]["f1-score"] for t in tested) / len(tested) if tested else 0.0}
    matrix = confusion_matrix(truth, predicted, labels=labels).tolist()
    return report, labels, matrix


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], path: Path, title: str) -> Path:
    """The confusion matrix as a PNG: true intents down, predicted across, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(6.0, 0.32 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size, size))
    try:
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels=labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels=labels, fontsize=7)
        ax.set_xlabel("predicted (nlu_fallback: the assistant did not understand)")
        ax.set_ylabel("true intent")
        ax.set_title(title, fontsize=9)
        peak = max((max(row) for row in matrix), default=0) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=6,
                            color="white" if count > peak / 2 else "black")  # fmt: skip
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return path


def evaluate_model(project: Project, model: Path, out: Path) -> Evaluation:
    """Evaluate ``model`` on the held-out set and the conversation tests; reports go to ``out``.

    Writes ``out/nlu/predictions.jsonl`` (every held-out example and what the
    model made of it), ``intent_report.json``, ``intent_errors.json`` and
    ``intent_confusion_matrix.png``; ``out/core/`` holds Rasa's story reports.

    Raises
    ------
    RasaFailed
        When Rasa itself fails (not when the model scores badly).
    """
    started = time.perf_counter()
    holdout_hash, tests_hash = test_set_hashes(project)
    nlu_out = out / "nlu"
    nlu_out.mkdir(parents=True, exist_ok=True)
    predictions = nlu_out / "predictions.jsonl"
    log = out / "parse-holdout.log"
    code = run_rasa(
        ["-m", "bot.rasa_runtime.parse", str(model), str(project.holdout), str(predictions)],
        cwd=project.root,
        log=log,
        program=rasa_python_command(),
    )
    if code != 0 or not predictions.exists():
        raise RasaFailed(f"parsing the held-out set with {model.name} failed (log: {log}):\n{tail(log)}")
    records = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not records:
        raise RasaFailed(f"the held-out set {project.holdout} has no intent examples.")
    report, labels, matrix = score_predictions(records)
    (nlu_out / "intent_report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    errors = [r for r in records if r["intent"] != r["predicted"]]
    (nlu_out / "intent_errors.json").write_text(json.dumps(errors, indent=2), encoding="utf-8")
    png = plot_confusion(labels, matrix, nlu_out / "intent_confusion_matrix.png", f"{model.name}: held-out intents")
    macro, accuracy, scores = read_intent_report(nlu_out / "intent_report.json")

    files = conversation_test_files(project)
    folder = project.relative(project.conversation_tests)
    if not project.conversation_tests.is_dir():
        conversations = ConversationTests(ran=False, note=f"{folder}/ does not exist")
    elif not files:
        conversations = ConversationTests(ran=False, note=f"no stories in {folder}/")
    else:
        core_out = out / "core"
        log = out / "test-core.log"
        staged = stage_conversation_tests(files, project.conversation_tests, out / "conversation-tests")
        code = run_rasa(
            ["test", "core", "--e2e", "--stories", str(staged), "--model", str(model), "--out", str(core_out)],
            cwd=project.root,
            log=log,
        )  # fmt: skip
        if code != 0 or not (core_out / "story_report.json").exists():
            raise RasaFailed(f"`rasa test core` failed on {model.name} (log: {log}):\n{tail(log)}")
        conversations = read_story_results(core_out)
    return Evaluation(
        holdout_hash=holdout_hash,
        tests_hash=tests_hash,
        macro_f1=macro,
        accuracy=accuracy,
        intents=scores,
        conversations=conversations,
        report_dir=project.relative(out),
        confusion_png=project.relative(png),
        evaluated_at=utc_now().replace(microsecond=0).isoformat(),
        seconds=round(time.perf_counter() - started, 1),
        examples=len(records),
        fallbacks=sum(r["predicted"] == FALLBACK for r in records),
    )


# --------------------------------------------------------------------------- deciding


def decide(candidate: Evaluation, live: Optional[Evaluation], *, max_drop: float) -> GateDecision:
    """Refuse a candidate that scores worse than the live model or fails a conversation test.

    Parameters
    ----------
    candidate, live : Evaluation
        ``live`` is ``None`` before anything was published.
    max_drop : float
        The largest fall of held-out macro-F1 accepted (e.g. 0.01).

    Examples
    --------
    >>> tests = ConversationTests(ran=False)
    >>> def ev(f1):
    ...     return Evaluation("h", None, f1, f1, (), tests, "", None, "")
    >>> decide(ev(0.80), ev(0.90), max_drop=0.01).passed
    False
    >>> decide(ev(0.895), ev(0.90), max_drop=0.01).passed
    True
    """
    reasons: list[str] = []
    notes: list[str] = []
    conv = candidate.conversations
    if conv.ran and not conv.ok:
        names = "; ".join(conv.failed[:5]) + (" ..." if len(conv.failed) > 5 else "")
        reasons.append(f"{conv.total - conv.passed} of {conv.total} conversation tests fail: {names}")
    elif conv.ran:
        notes.append(f"all {conv.total} conversation tests pass")
    else:
        notes.append(f"conversation tests skipped: {conv.note}")
    if live is None:
        notes.append("no live model to compare with")
    else:
        if (candidate.holdout_hash, candidate.tests_hash) != (live.holdout_hash, live.tests_hash):
            reasons.append("the two models were evaluated on different test sets; evaluate both again")
        delta = candidate.macro_f1 - live.macro_f1
        if delta < -max_drop - 1e-9:
            reasons.append(
                f"held-out macro-F1 falls from {live.macro_f1:.4f} to {candidate.macro_f1:.4f} ({delta:+.4f}), "
                f"more than the {max_drop:.4f} allowed"
            )
        else:
            notes.append(f"held-out macro-F1 {live.macro_f1:.4f} -> {candidate.macro_f1:.4f} ({delta:+.4f})")
        for before in live.intents:
            after = candidate.score(before.intent)
            if before.support and after is not None and before.f1 - after.f1 > INTENT_DROP_NOTE:
                notes.append(f"{before.intent}: F1 {before.f1:.3f} -> {after.f1:.3f}")
    return GateDecision(
        passed=not reasons,
        reasons=tuple(reasons),
        notes=tuple(notes),
        candidate_macro_f1=candidate.macro_f1,
        live_macro_f1=None if live is None else live.macro_f1,
        max_drop=max_drop,
    )


@dataclass(frozen=True)
class Comparison:
    """Per-intent scores of two models side by side (for the CLI table)."""

    rows: tuple[tuple[str, Optional[IntentScore], Optional[IntentScore]], ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, candidate: Evaluation, live: Optional[Evaluation]) -> Comparison:
        intents = sorted(
            {s.intent for s in candidate.intents if s.support}
            | {s.intent for s in (live.intents if live else ()) if s.support}
        )
        return cls(tuple((i, candidate.score(i), live.score(i) if live else None) for i in intents))
