"""What operators' tools (:mod:`bot.ops`, :mod:`bot.cli`) ask the store: the model registry, customers' names, counts.

The model registry keeps every model of the assistant with its metrics and data
hash, which one is live, and the audit log. Functions take a unit of work and
plain values (the caller hashes files and makes paths relative to its project)
and return frozen dataclasses; each change commits together with the audit
entry that records it, so the log cannot miss a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from analytics.core.clock import utc_now
from analytics.core.errors import CRMError, InvalidInput, NotAllowed, NotFound
from analytics.store.bootstrap import Store
from analytics.store.models import ModelAction, ModelAudit, ModelStatus, ModelVersion
from analytics.store.uow import SqlAlchemyUnitOfWork


class StoreNotReady(CRMError):
    """The customer store cannot be used yet; the message says what to do."""


class StoreUnreachable(StoreNotReady):
    """The store does not answer (or a query of it failed)."""

    def __init__(self, where: str, error: Exception) -> None:
        cause = getattr(error, "orig", None) or error
        super().__init__(f"cannot reach the store at {where}: {error.__class__.__name__}: {cause}")


class StoreWithoutSchema(StoreNotReady):
    def __init__(self, where: str) -> None:
        super().__init__(f"the store at {where} has no schema yet; run `crm db upgrade` (or `make store`) first.")


def checked_store(store: Store) -> Store:
    """``store``, once it answers and has its schema.

    Raises
    ------
    StoreUnreachable, StoreWithoutSchema
    """
    try:
        ready = store.is_initialised()
    except SQLAlchemyError as exc:
        raise StoreUnreachable(store.where(), exc) from exc
    if not ready:
        raise StoreWithoutSchema(store.where())
    return store


def ping_store(uow: SqlAlchemyUnitOfWork) -> None:
    """Ask the store a trivial question (a health check); :class:`StoreUnreachable` if it does not answer."""
    try:
        with uow:
            uow.session.execute(select(1))
    except SQLAlchemyError as exc:
        raise StoreUnreachable("the configured store", exc) from exc


class ModelNotFound(NotFound):
    def __init__(self, ref: str) -> None:
        super().__init__(f"No model {ref!r} is registered; `crm nlu models` lists them.")
        self.ref = ref


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    path: str
    sha256: str
    data_hash: Optional[str]
    config: Optional[str]
    status: str
    created_at: datetime
    created_by: str
    metrics: Optional[dict[str, Any]]
    published_at: Optional[datetime]
    published_by: Optional[str]
    replaced_id: Optional[int]

    @property
    def macro_f1(self) -> Optional[float]:
        return None if not self.metrics else float(self.metrics["macro_f1"])


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    operator: str
    action: str
    model: Optional[str]
    reason: Optional[str]
    detail: dict[str, Any]


def _now() -> datetime:
    return utc_now().replace(microsecond=0)


def _info(row: ModelVersion) -> ModelInfo:
    return ModelInfo(
        id=row.id,
        name=row.name,
        path=row.path,
        sha256=row.sha256,
        data_hash=row.data_hash,
        config=row.config,
        status=row.status.value,
        created_at=row.created_at,
        created_by=row.created_by,
        metrics=row.metrics,
        published_at=row.published_at,
        published_by=row.published_by,
        replaced_id=row.replaced_id,
    )


def _audit(
    uow: SqlAlchemyUnitOfWork,
    action: ModelAction,
    operator: str,
    model: Optional[ModelVersion] = None,
    *,
    reason: Optional[str] = None,
    detail: Optional[dict[str, Any]] = None,
) -> None:
    uow.models.log(
        ModelAudit(
            at=_now(),
            operator=operator,
            action=action,
            model_id=None if model is None else model.id,
            reason=reason,
            detail=detail or {},
        )
    )


def _row(uow: SqlAlchemyUnitOfWork, ref: str) -> ModelVersion:
    row = uow.models.by_name(ref)
    if row is None:
        raise ModelNotFound(ref)
    return row


# --------------------------------------------------------------------------- writing


def register_model(
    uow: SqlAlchemyUnitOfWork,
    *,
    name: str,
    path: str,
    sha256: str,
    operator: str,
    data_hash: Optional[str] = None,
    config: Optional[str] = None,
    trained: bool = False,
    detail: Optional[dict[str, Any]] = None,
    file_name: Optional[str] = None,
) -> ModelInfo:
    """Add a model file (``path``, with content hash ``sha256``) as a candidate; the same content twice is one model.

    ``trained`` records the entry as a training run (``train``) rather than an
    existing file brought in (``register``); ``file_name`` names the file in the refusal of a taken name.
    """
    with uow:
        same = uow.models.by_sha256(sha256)
        if same is not None:
            return _info(same)
        if uow.models.by_name(name) is not None:
            raise InvalidInput(f"another model is already registered as {name!r}; rename {file_name or path}.")
        row = uow.models.add(
            ModelVersion(
                name=name,
                path=path,
                sha256=sha256,
                data_hash=data_hash,
                config=config,
                status=ModelStatus.CANDIDATE,
                created_at=_now(),
                created_by=operator,
            )
        )
        action = ModelAction.TRAIN if trained else ModelAction.REGISTER
        _audit(uow, action, operator, row, detail={"path": row.path, "data_hash": data_hash, **(detail or {})})
        uow.commit()
        return _info(row)


def record_evaluation(
    uow: SqlAlchemyUnitOfWork, name: str, metrics: dict[str, Any], *, operator: str, detail: dict[str, Any]
) -> ModelInfo:
    """Keep ``metrics`` as the model's evaluation and log who ran it (``detail``: its summary)."""
    with uow:
        row = _row(uow, name)
        row.metrics = metrics
        _audit(uow, ModelAction.EVALUATE, operator, row, detail=detail)
        uow.commit()
        return _info(row)


def record(
    uow: SqlAlchemyUnitOfWork,
    action: str,
    *,
    operator: str,
    model: Optional[str] = None,
    reason: Optional[str] = None,
    detail: Optional[dict[str, Any]] = None,
) -> None:
    """Log an action that changes no model: ``refuse``, ``fail`` (a failed swap), ``annotate`` (merged labels)."""
    with uow:
        row = _row(uow, model) if model else None
        _audit(uow, ModelAction(action), operator, row, reason=reason, detail=detail)
        uow.commit()


def mark_published(
    uow: SqlAlchemyUnitOfWork,
    name: str,
    *,
    operator: str,
    reason: Optional[str] = None,
    detail: Optional[dict[str, Any]] = None,
) -> ModelInfo:
    """Make ``name`` the live model; the one it replaces becomes ``retired`` and is where a rollback goes."""
    with uow:
        row = _row(uow, name)
        live = uow.models.live()
        if live is not None and live.id == row.id:
            raise NotAllowed(f"{name} is already the live model.")
        if live is not None:
            live.status = ModelStatus.RETIRED
            uow.models.flush()
        row.status = ModelStatus.LIVE
        row.published_at = _now()
        row.published_by = operator
        row.replaced_id = None if live is None else live.id
        _audit(
            uow,
            ModelAction.PUBLISH,
            operator,
            row,
            reason=reason,
            detail={"replaced": None if live is None else live.name, **(detail or {})},
        )
        uow.commit()
        return _info(row)


def rollback_target(uow: SqlAlchemyUnitOfWork) -> tuple[ModelInfo, ModelInfo]:
    """The live model and the one it replaced.

    Raises
    ------
    NotAllowed
        When nothing is live or the live model replaced nothing.
    """
    with uow:
        live = uow.models.live()
        if live is None:
            raise NotAllowed("no model is live: there is nothing to roll back.")
        if live.replaced_id is None:
            raise NotAllowed(f"{live.name} was the first model published: there is no earlier model to roll back to.")
        previous = uow.models.get(live.replaced_id)
        if previous is None:  # pragma: no cover - rows are never deleted
            raise NotAllowed(f"the model {live.name} replaced is no longer registered.")
        return _info(live), _info(previous)


def mark_rolled_back(
    uow: SqlAlchemyUnitOfWork,
    *,
    operator: str,
    reason: Optional[str] = None,
    detail: Optional[dict[str, Any]] = None,
) -> ModelInfo:
    """Put back the model the live one replaced; the live one becomes ``rolled_back``."""
    live_info, previous_info = rollback_target(uow)
    with uow:
        live = _row(uow, live_info.name)
        previous = _row(uow, previous_info.name)
        live.status = ModelStatus.ROLLED_BACK
        uow.models.flush()
        previous.status = ModelStatus.LIVE
        _audit(
            uow, ModelAction.ROLLBACK, operator, previous, reason=reason, detail={"from": live.name, **(detail or {})}
        )
        uow.commit()
        return _info(previous)


# --------------------------------------------------------------------------- reading


def has_registry(uow: SqlAlchemyUnitOfWork) -> bool:
    """Whether the store holds the model registry (``crm db upgrade`` creates it)."""
    with uow:
        return uow.models.exists()


def get_model(uow: SqlAlchemyUnitOfWork, ref: str) -> ModelInfo:
    with uow:
        return _info(_row(uow, ref))


def model_named(uow: SqlAlchemyUnitOfWork, name: str) -> Optional[ModelInfo]:
    with uow:
        row = uow.models.by_name(name)
        return None if row is None else _info(row)


def model_with_sha256(uow: SqlAlchemyUnitOfWork, sha256: str) -> Optional[ModelInfo]:
    """The model registered from a file with this content, if any."""
    with uow:
        row = uow.models.by_sha256(sha256)
        return None if row is None else _info(row)


def live_model(uow: SqlAlchemyUnitOfWork) -> Optional[ModelInfo]:
    with uow:
        row = uow.models.live()
        return None if row is None else _info(row)


def list_models(uow: SqlAlchemyUnitOfWork) -> list[ModelInfo]:
    """Every model, oldest first."""
    with uow:
        return [_info(r) for r in uow.models.all()]


def audit_log(uow: SqlAlchemyUnitOfWork, *, limit: int = 50) -> list[AuditEntry]:
    """The newest entries first."""
    with uow:
        return [
            AuditEntry(a.id, a.at, a.operator, a.action.value, name, a.reason, dict(a.detail or {}))
            for a, name in uow.models.audit(limit)
        ]


def customer_names(uow: SqlAlchemyUnitOfWork) -> list[str]:
    """The store's customers' names, which training data and triage files must not keep.

    Raises
    ------
    StoreUnreachable
        The store could not be read.
    """
    try:
        with uow:
            return uow.customers.names()
    except SQLAlchemyError as exc:
        raise StoreUnreachable(uow.engine.url.render_as_string(hide_password=True), exc) from exc


def customer_id_of(uow: SqlAlchemyUnitOfWork, external_ref: str) -> Optional[int]:
    """The store's id of the customer with this shop number (e.g. ``17850``), if there is one."""
    with uow:
        found = uow.customers.by_external_ref(external_ref)
        return None if found is None else found.id


def order_count(uow: SqlAlchemyUnitOfWork) -> int:
    with uow:
        return uow.orders.count()


def scored_customer_count(uow: SqlAlchemyUnitOfWork) -> int:
    """How many customers have stored scores (``crm analytics refresh`` writes them)."""
    with uow:
        return uow.scores.count()
