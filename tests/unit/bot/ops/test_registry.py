"""The model registry, the regression gate and the audit log (bot/ops/registry.py, gate.py, publish.py).

Rasa is not run here: an evaluator stands in for `rasa test` and returns the
scores each model file is given, so these tests are about the rules an
operator relies on: a worse model is refused unless forced with a reason, and
both the refusal and the override are logged; rollback puts back the model
that was live before; every model keeps its metrics and the hash of its data.
The registry is in the customer store: on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from analytics.core.errors import InvalidInput, NotAllowed
from analytics.store.bootstrap import store_for_url
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import operations
from bot.ops import registry
from bot.ops.gate import (
    ConversationTests,
    Evaluation,
    IntentScore,
    conversation_test_files,
    decide,
    read_intent_report,
    read_story_results,
    score_predictions,
    stage_conversation_tests,
)
from bot.ops.project import Project
from bot.ops.publish import PublishRefused, publish_model, rollback_model
from bot.ops.swap import SwapFailed

MARGIN = 0.01


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "data" / "nlu").mkdir(parents=True)
    (tmp_path / "tests" / "data").mkdir(parents=True)
    (tmp_path / "models" / "nlu").mkdir(parents=True)
    (tmp_path / "config.yml").write_text("pipeline: []\npolicies: []\n")
    (tmp_path / "domain.yml").write_text("intents: [greet, order_status]\n")
    (tmp_path / "data" / "nlu" / "base.yml").write_text("nlu:\n  - intent: greet\n    examples: |\n      - hi\n")
    (tmp_path / "data" / "nlu" / "README.md").write_text("notes\n")
    (tmp_path / "tests" / "data" / "nlu_holdout.yml").write_text(
        "nlu:\n  - intent: greet\n    examples: |\n      - hello\n"
    )
    return Project(tmp_path)


def model_file(project: Project, name: str) -> Path:
    path = project.models / f"{name}.tar.gz"
    path.write_bytes(f"model {name}".encode())
    return path


@dataclass
class FakeEvaluator:
    """Scores by model name: macro-F1 and whether the conversation tests pass."""

    scores: dict[str, tuple[float, bool]]
    calls: list[str] = field(default_factory=list)

    def __call__(self, project: Project, model: Path, out: Path) -> Evaluation:
        name = model.name.removesuffix(".tar.gz")
        self.calls.append(name)
        f1, conversations_pass = self.scores[name]
        from bot.ops.gate import test_set_hashes

        holdout, tests = test_set_hashes(project)
        return Evaluation(
            holdout_hash=holdout,
            tests_hash=tests,
            macro_f1=f1,
            accuracy=f1,
            intents=(IntentScore("greet", f1, f1, f1, 10), IntentScore("order_status", f1, f1, f1, 10)),
            conversations=ConversationTests(
                ran=True, passed=2 if conversations_pass else 1, total=2, failed=() if conversations_pass else ("x",)
            ),
            report_dir=str(out),
            confusion_png=None,
            evaluated_at="2026-11-24T07:00:00",
        )


@dataclass
class FakeSwitch:
    """A running switchboard: records the models it loads; can be told to fail."""

    loaded: list[str] = field(default_factory=list)
    fail: bool = False
    #: what the switchboard's admin API checks before loading (bot.ops.registry.file_resolver)
    accept: Optional[Callable[[str], Path]] = None

    def status(self) -> Optional[dict[str, Any]]:
        return {"live": {"model": self.loaded[-1] if self.loaded else None}}

    def swap(self, model: Path) -> dict[str, Any]:
        if self.fail:
            raise SwapFailed("rasa-2 exited with status 1")
        if self.accept is not None:
            model = self.accept(str(model.resolve()))  # as SwitchClient sends it
        self.loaded.append(model.name)
        return {"load_seconds": 1.0, "warmup_seconds": 0.1, "switched_at": "2026-11-24T07:00:00"}


def publish(uow: SqlAlchemyUnitOfWork, project: Project, name: str, evaluator: FakeEvaluator, **kw: Any) -> Any:
    kw.setdefault("switch", None)
    return publish_model(
        uow, project, str(project.models / f"{name}.tar.gz"), operator="olivia", max_drop=MARGIN,
        evaluate=evaluator, **kw,
    )  # fmt: skip


def actions(uow: SqlAlchemyUnitOfWork) -> list[tuple[str, str, Optional[str]]]:
    return [(e.action, e.operator, e.model) for e in reversed(operations.audit_log(uow))]


# --------------------------------------------------------------------------- data hash and registration


def test_the_data_hash_follows_the_training_data_and_nothing_else(project: Project) -> None:
    first = project.data_hash()
    (project.nlu_dir / "README.md").write_text("other notes\n")
    assert project.data_hash() == first
    (project.nlu_dir / "base.yml").write_text("nlu:\n  - intent: greet\n    examples: |\n      - hi\n      - hey\n")
    assert project.data_hash() != first
    assert project.data_hash() == project.data_hash()


def test_a_model_file_is_registered_once_with_who_and_its_data_hash(
    uow: SqlAlchemyUnitOfWork, project: Project
) -> None:
    path = model_file(project, "nlu-a")
    info = registry.register_model(uow, project, path, operator="olivia", data_hash="d" * 64, trained=True)
    again = registry.register_model(uow, project, path, operator="sam")
    assert again.id == info.id
    assert (info.name, info.status, info.created_by, info.data_hash, info.path) == (
        "nlu-a", "candidate", "olivia", "d" * 64, "models/nlu/nlu-a.tar.gz",
    )  # fmt: skip
    assert actions(uow) == [("train", "olivia", "nlu-a")]


def test_only_a_registered_model_file_with_its_registered_content_can_be_loaded(
    uow: SqlAlchemyUnitOfWork, project: Project, tmp_path: Path
) -> None:
    path = model_file(project, "a")
    registry.register_model(uow, project, path, operator="olivia")
    link = tmp_path / "latest.tar.gz"
    link.symlink_to(path)
    for ref in ("a", str(path), "models/nlu/a.tar.gz", str(link)):
        info, found = registry.registered_file(uow, project, ref)
        assert (info.name, found) == ("a", path.resolve()), ref
    copy = tmp_path / "copy.tar.gz"  # the same bytes elsewhere: the registry points at one file only
    copy.write_bytes(path.read_bytes())
    for ref in (str(copy), "b", "../../etc/passwd", "/etc/passwd", "a\x00", ""):
        with pytest.raises(operations.ModelNotFound):
            registry.registered_file(uow, project, ref)
    path.write_bytes(b"a pickle someone put in its place")
    with pytest.raises(registry.ModelFileChanged, match="has changed since it was registered"):
        registry.registered_file(uow, project, "a")
    path.unlink()
    with pytest.raises(registry.ModelFileChanged, match="missing"):
        registry.registered_file(uow, project, str(link))


def test_the_switchboard_refuses_every_model_when_the_store_has_no_registry(project: Project, tmp_path: Path) -> None:
    empty = store_for_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}").unit_of_work()
    resolve = registry.file_resolver(empty, project)
    with pytest.raises(NotAllowed, match="crm db upgrade"):
        resolve(str(model_file(project, "a")))
    empty.engine.dispose()


# --------------------------------------------------------------------------- the gate


def test_the_first_model_is_published_when_its_conversation_tests_pass(
    uow: SqlAlchemyUnitOfWork, project: Project
) -> None:
    model_file(project, "a")
    outcome = publish(uow, project, "a", FakeEvaluator({"a": (0.80, True)}))
    assert outcome.decision.passed and not outcome.forced
    assert "no live model to compare with" in outcome.decision.notes
    assert operations.live_model(uow).name == "a"  # type: ignore[union-attr]


def test_a_better_model_replaces_the_live_one_which_is_kept(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "b")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.86, True)})
    publish(uow, project, "a", evaluator)
    outcome = publish(uow, project, "b", evaluator)
    assert outcome.decision.delta == pytest.approx(0.06)
    statuses = {m.name: (m.status, m.macro_f1) for m in operations.list_models(uow)}
    assert statuses == {"a": ("retired", 0.80), "b": ("live", 0.86)}


def test_a_worse_model_is_refused_and_the_refusal_is_logged(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "worse")
    evaluator = FakeEvaluator({"a": (0.90, True), "worse": (0.70, True)})
    publish(uow, project, "a", evaluator)
    with pytest.raises(PublishRefused, match=r"macro-F1 falls from 0.9000 to 0.7000 \(-0.2000\)"):
        publish(uow, project, "worse", evaluator)
    assert operations.live_model(uow).name == "a"  # type: ignore[union-attr]
    refusal = operations.audit_log(uow)[0]
    assert (refusal.action, refusal.model, refusal.operator) == ("refuse", "worse", "olivia")
    assert refusal.detail["passed"] is False and "macro-F1 falls" in refusal.detail["reasons"][0]


def test_a_failing_conversation_test_refuses_even_a_better_model(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "b")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.95, False)})
    publish(uow, project, "a", evaluator)
    with pytest.raises(PublishRefused, match="1 of 2 conversation tests fail: x"):
        publish(uow, project, "b", evaluator)


def test_forcing_past_the_gate_needs_a_reason_which_is_logged(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "worse")
    evaluator = FakeEvaluator({"a": (0.90, True), "worse": (0.70, True)})
    publish(uow, project, "a", evaluator)
    with pytest.raises(InvalidInput, match="--force needs --reason"):
        publish(uow, project, "worse", evaluator, force=True)
    with pytest.raises(InvalidInput, match="--force needs --reason"):
        publish(uow, project, "worse", evaluator, force=True, reason="because")
    reason = "the live model mislabels every refund request; hotfix"
    outcome = publish(uow, project, "worse", evaluator, force=True, reason=reason)
    assert outcome.forced and not outcome.decision.passed
    entry = operations.audit_log(uow)[0]
    assert (entry.action, entry.model, entry.reason, entry.detail["forced"]) == ("publish", "worse", reason, True)
    assert "macro-F1 falls" in entry.detail["gate"]["reasons"][0]


@pytest.mark.parametrize(("candidate", "passed"), [(0.895, True), (0.8899, False)])
def test_the_margin_is_the_largest_drop_accepted(candidate: float, passed: bool) -> None:
    def ev(f1: float) -> Evaluation:
        return Evaluation("h", None, f1, f1, (), ConversationTests(ran=False, note="none"), "", None, "")

    assert decide(ev(candidate), ev(0.90), max_drop=0.005 + 0.005).passed is passed


def test_models_evaluated_on_different_test_sets_are_not_compared() -> None:
    tests = ConversationTests(ran=False)
    old = Evaluation("holdout-v1", None, 0.9, 0.9, (), tests, "", None, "")
    new = Evaluation("holdout-v2", None, 0.9, 0.9, (), tests, "", None, "")
    assert not decide(new, old, max_drop=MARGIN).passed


def test_evaluations_are_reused_until_the_held_out_set_changes(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "b"), model_file(project, "c")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.85, True), "c": (0.86, True)})
    publish(uow, project, "a", evaluator)
    publish(uow, project, "b", evaluator)
    assert evaluator.calls == ["a", "b"]  # the live model's evaluation was reused
    project.holdout.write_text("nlu:\n  - intent: greet\n    examples: |\n      - hello\n      - good day\n")
    publish(uow, project, "c", evaluator)
    assert evaluator.calls == ["a", "b", "c", "b"]  # both measured on the new set


# --------------------------------------------------------------------------- swap and rollback


def test_publishing_swaps_the_running_servers_and_a_failed_swap_changes_nothing(
    uow: SqlAlchemyUnitOfWork, project: Project
) -> None:
    model_file(project, "a"), model_file(project, "b")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.86, True)})
    switch = FakeSwitch()
    publish(uow, project, "a", evaluator, switch=switch)
    assert switch.loaded == ["a.tar.gz"]
    switch.fail = True
    with pytest.raises(SwapFailed):
        publish(uow, project, "b", evaluator, switch=switch)
    assert operations.live_model(uow).name == "a"  # type: ignore[union-attr]
    assert operations.audit_log(uow)[0].action == "fail"


def test_the_files_publish_and_rollback_swap_to_are_ones_the_switchboard_accepts(
    uow: SqlAlchemyUnitOfWork, project: Project, tmp_path: Path
) -> None:
    model_file(project, "a")
    elsewhere = tmp_path / "elsewhere" / "b.tar.gz"  # a file outside the project, registered when published
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"model b")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.86, True)})
    switch = FakeSwitch(accept=registry.file_resolver(uow, project))
    publish(uow, project, "a", evaluator, switch=switch)
    publish_model(uow, project, str(elsewhere), operator="olivia", max_drop=MARGIN, evaluate=evaluator, switch=switch)
    rollback_model(uow, project, operator="sam", switch=switch)
    assert switch.loaded == ["a.tar.gz", "b.tar.gz", "a.tar.gz"]


def test_rollback_puts_back_the_model_the_live_one_replaced(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    for name in ("a", "b", "c"):
        model_file(project, name)
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.85, True), "c": (0.86, True)})
    switch = FakeSwitch()
    for name in ("a", "b", "c"):
        publish(uow, project, name, evaluator, switch=switch)
    outcome = rollback_model(uow, project, operator="sam", switch=switch, reason="customers complain about c")
    assert (outcome.model.name, outcome.previous.name) == ("b", "c")
    assert switch.loaded[-1] == "b.tar.gz"
    rollback_model(uow, project, operator="sam", switch=switch)
    assert operations.live_model(uow).name == "a"  # type: ignore[union-attr]
    with pytest.raises(NotAllowed, match="no earlier model"):
        rollback_model(uow, project, operator="sam", switch=switch)
    statuses = {m.name: m.status for m in operations.list_models(uow)}
    assert statuses == {"a": "live", "b": "rolled_back", "c": "rolled_back"}
    log = actions(uow)
    assert log[-2:] == [("rollback", "sam", "b"), ("rollback", "sam", "a")]
    assert operations.audit_log(uow)[1].reason == "customers complain about c"


def test_the_audit_log_says_who_did_what_to_which_model(uow: SqlAlchemyUnitOfWork, project: Project) -> None:
    model_file(project, "a"), model_file(project, "b")
    evaluator = FakeEvaluator({"a": (0.80, True), "b": (0.50, True)})
    publish(uow, project, "a", evaluator)
    with pytest.raises(PublishRefused):
        publish(uow, project, "b", evaluator)
    assert actions(uow) == [
        ("register", "olivia", "a"),
        ("evaluate", "olivia", "a"),
        ("publish", "olivia", "a"),
        ("register", "olivia", "b"),
        ("evaluate", "olivia", "b"),
        ("refuse", "olivia", "b"),
    ]


# --------------------------------------------------------------------------- Rasa's report


def test_macro_f1_is_over_the_tested_intents_and_a_fallback_is_a_miss(tmp_path: Path) -> None:
    report = tmp_path / "intent_report.json"
    report.write_text(
        '{"greet": {"precision": 1.0, "recall": 0.5, "f1-score": 0.6667, "support": 2},'
        ' "order_status": {"precision": 1.0, "recall": 1.0, "f1-score": 1.0, "support": 2},'
        ' "nlu_fallback": {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0},'
        ' "accuracy": 0.75, "macro avg": {"f1-score": 0.5556}, "weighted avg": {"f1-score": 0.8333}}'
    )
    macro, accuracy, scores = read_intent_report(report)
    assert (macro, accuracy) == (pytest.approx(0.8334, abs=1e-4), 0.75)
    assert [s.intent for s in scores] == ["greet", "nlu_fallback", "order_status"]


def test_a_held_out_message_the_assistant_falls_back_on_is_a_miss_of_its_intent() -> None:
    records = [
        {"intent": "greet", "predicted": "greet"},
        {"intent": "greet", "predicted": "nlu_fallback"},
        {"intent": "order_status", "predicted": "order_status"},
        {"intent": "order_status", "predicted": "order_status"},
    ]
    report, labels, matrix = score_predictions(records)
    assert labels == ["greet", "order_status", "nlu_fallback"]
    assert report["greet"]["recall"] == 0.5 and report["accuracy"] == 0.75
    assert report["macro avg"]["f1-score"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert matrix == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]


def test_conversation_tests_run_whatever_their_file_names(project: Project, tmp_path: Path) -> None:
    folder = project.conversation_tests
    (folder / "flows").mkdir(parents=True)
    (folder / "stories.yml").write_text("stories:\n  - story: greet\n    steps:\n      - intent: greet\n")
    (folder / "flows" / "test_orders.yml").write_text("stories:\n  - story: order\n    steps:\n      - intent: greet\n")
    (folder / "notes.yml").write_text("just: notes\n")
    files = conversation_test_files(project)
    assert [p.name for p in files] == ["test_orders.yml", "stories.yml"]
    staged = stage_conversation_tests(files, folder, tmp_path / "staged")
    assert sorted(p.name for p in staged.iterdir()) == ["test_flows_test_orders.yml", "test_stories.yml"]


def test_failed_stories_are_named_without_rasas_file_suffix(tmp_path: Path) -> None:
    (tmp_path / "story_report.json").write_text('{"conversation_accuracy": {"correct": 1, "total": 2}}')
    (tmp_path / "failed_test_stories.yml").write_text(
        'version: "3.1"\nstories:\n- story: return an item (/tmp/x/test_stories.yml)\n  steps: []\n'
    )
    result = read_story_results(tmp_path)
    assert (result.passed, result.total, result.failed, result.ok) == (1, 2, ("return an item",), False)
