"""Publishing a model and rolling it back: the gate, the swap and the registry, in that order.

:func:`publish_model` evaluates the candidate and the live model on the same
test sets (reusing evaluations made on the test sets as they are now),
applies :func:`bot.ops.gate.decide`, and only then swaps the running servers
(when a switchboard runs) and marks the candidate live. A refusal is logged
and raised; ``force`` publishes anyway but only with a reason, which is logged
with the refused checks. :func:`rollback_model` puts back the model the live
one replaced, in one step, without a gate: it is the way back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from analytics.core.errors import InvalidInput, NotAllowed
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import operations
from analytics.usecases.operations import ModelInfo, ModelNotFound
from bot.ops import registry
from bot.ops.admin import SwitchClient
from bot.ops.gate import Evaluation, GateDecision, decide, evaluate_model, is_current, test_set_hashes
from bot.ops.project import Project
from bot.ops.swap import SwapFailed

#: Shortest reason accepted for overriding the gate.
MIN_REASON = 10

Evaluator = Callable[[Project, Path, Path], Evaluation]
Say = Callable[[str], None]


class PublishRefused(NotAllowed):
    """The gate refused the candidate; ``decision`` says why."""

    def __init__(self, model: str, decision: GateDecision) -> None:
        super().__init__(f"{model} is not published: " + "; ".join(decision.reasons))
        self.decision = decision


@dataclass(frozen=True)
class PublishOutcome:
    model: ModelInfo
    decision: GateDecision
    forced: bool
    swap: Optional[dict[str, Any]]


@dataclass(frozen=True)
class RollbackOutcome:
    model: ModelInfo
    previous: ModelInfo
    swap: Optional[dict[str, Any]]


def resolve_model(uow: SqlAlchemyUnitOfWork, project: Project, ref: str, *, operator: str) -> ModelInfo:
    """A registered model by name or file; a file not yet registered is registered now."""
    found = registry.find_model(uow, project, ref)
    if found is not None:
        return found
    path = Path(ref)
    if not path.exists():
        raise ModelNotFound(ref)
    return registry.register_model(uow, project, path, operator=operator)


def ensure_evaluation(
    uow: SqlAlchemyUnitOfWork,
    project: Project,
    model: ModelInfo,
    *,
    operator: str,
    evaluate: Evaluator = evaluate_model,
    say: Say = lambda _: None,
    fresh: bool = False,
) -> tuple[ModelInfo, Evaluation]:
    """The model's evaluation on the current test sets, running it (and recording it) if needed."""
    current = registry.evaluation_of(model)
    if not fresh and current is not None and is_current(current, project):
        return model, current
    path = project.resolve(model.path)
    if not path.exists():
        raise InvalidInput(f"the file of model {model.name} ({path}) is missing.")
    say(f"evaluating {model.name} on the held-out set and the conversation tests ...")
    holdout_hash, tests_hash = test_set_hashes(project)
    out = project.models / model.name / "eval" / f"{holdout_hash[:10]}-{(tests_hash or 'none')[:10]}"
    evaluation = evaluate(project, path, out)
    return registry.record_evaluation(uow, model.name, evaluation, operator=operator), evaluation


def gate(
    uow: SqlAlchemyUnitOfWork,
    project: Project,
    candidate: ModelInfo,
    *,
    operator: str,
    max_drop: float,
    against: Optional[ModelInfo] = None,
    evaluate: Evaluator = evaluate_model,
    say: Say = lambda _: None,
) -> tuple[GateDecision, Evaluation, Optional[Evaluation]]:
    """Evaluate both models on the same test sets and decide."""
    live = against if against is not None else operations.live_model(uow)
    candidate, cand_eval = ensure_evaluation(uow, project, candidate, operator=operator, evaluate=evaluate, say=say)
    live_eval = None
    if live is not None and live.id != candidate.id:
        live, live_eval = ensure_evaluation(uow, project, live, operator=operator, evaluate=evaluate, say=say)
    return decide(cand_eval, live_eval, max_drop=max_drop), cand_eval, live_eval


def publish_model(
    uow: SqlAlchemyUnitOfWork,
    project: Project,
    ref: str,
    *,
    operator: str,
    max_drop: float,
    switch: Optional[SwitchClient],
    force: bool = False,
    reason: Optional[str] = None,
    evaluate: Evaluator = evaluate_model,
    say: Say = lambda _: None,
) -> PublishOutcome:
    """Gate, swap, then mark live.

    Raises
    ------
    PublishRefused
        The gate refused and ``force`` was not given (logged as ``refuse``).
    InvalidInput
        ``force`` without a reason of at least ten characters.
    SwapFailed
        The running servers could not load the model (logged as ``fail``; the old model stays live).
    """
    reason = (reason or "").strip() or None
    if force and (reason is None or len(reason) < MIN_REASON):
        raise InvalidInput(
            f"--force needs --reason: say why a model the gate refuses must go live (at least {MIN_REASON} characters)."
        )
    candidate = resolve_model(uow, project, ref, operator=operator)
    live = operations.live_model(uow)
    if live is not None and live.id == candidate.id:
        raise NotAllowed(f"{candidate.name} is already the live model.")
    decision, _, _ = gate(uow, project, candidate, operator=operator, max_drop=max_drop, evaluate=evaluate, say=say)
    if not decision.passed and not force:
        operations.record(uow, "refuse", operator=operator, model=candidate.name, detail=decision.as_dict())
        raise PublishRefused(candidate.name, decision)
    forced = force and not decision.passed

    swap: Optional[dict[str, Any]] = None
    if switch is not None and switch.status() is not None:
        say(f"loading {candidate.name} into a new Rasa server and switching to it ...")
        try:
            swap = switch.swap(project.resolve(candidate.path))
        except (SwapFailed, NotAllowed) as exc:
            operations.record(uow, "fail", operator=operator, model=candidate.name, detail={"error": str(exc)})
            raise
    detail = {"gate": decision.as_dict(), "forced": forced, "swap": swap}
    published = operations.mark_published(uow, candidate.name, operator=operator, reason=reason, detail=detail)
    return PublishOutcome(published, decision, forced, swap)


def rollback_model(
    uow: SqlAlchemyUnitOfWork,
    project: Project,
    *,
    operator: str,
    switch: Optional[SwitchClient],
    reason: Optional[str] = None,
    say: Say = lambda _: None,
) -> RollbackOutcome:
    """Put the model the live one replaced back into service."""
    live, previous = operations.rollback_target(uow)
    path = project.resolve(previous.path)
    if not path.exists():
        raise InvalidInput(f"the file of model {previous.name} ({path}) is missing; it cannot be put back.")
    swap: Optional[dict[str, Any]] = None
    if switch is not None and switch.status() is not None:
        say(f"loading {previous.name} into a new Rasa server and switching to it ...")
        try:
            swap = switch.swap(path)
        except (SwapFailed, NotAllowed) as exc:
            operations.record(uow, "fail", operator=operator, model=previous.name, detail={"error": str(exc)})
            raise
    restored = operations.mark_rolled_back(uow, operator=operator, reason=reason, detail={"swap": swap})
    return RollbackOutcome(restored, live, swap)
