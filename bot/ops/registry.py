"""Every model of the assistant with its metrics and data hash, which one is live, and the audit log.

Tables ``model_versions`` and ``model_audit`` of the customer store
(:mod:`analytics.store.models`). Services take a unit of work and return
frozen dataclasses; each commits its own change together with the audit
entry that records it, so the log cannot miss a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from analytics.errors import InvalidInput, NotAllowed, NotFound
from analytics.store.models import ModelAction, ModelAudit, ModelStatus, ModelVersion
from analytics.store.uow import SqlAlchemyUnitOfWork
from bot.ops.gate import Evaluation
from bot.ops.project import Project, file_sha256


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
    def evaluation(self) -> Optional[Evaluation]:
        return Evaluation.from_dict(self.metrics) if self.metrics else None

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
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


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
    uow.session.add(
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
    row = uow.session.scalar(select(ModelVersion).where(ModelVersion.name == ref))
    if row is None:
        raise ModelNotFound(ref)
    return row


def _live_row(uow: SqlAlchemyUnitOfWork) -> Optional[ModelVersion]:
    return uow.session.scalar(select(ModelVersion).where(ModelVersion.status == ModelStatus.LIVE))


def model_name_of(path: Path) -> str:
    name = path.name
    return name[: -len(".tar.gz")] if name.endswith(".tar.gz") else path.stem


# --------------------------------------------------------------------------- writing


def register_model(
    uow: SqlAlchemyUnitOfWork,
    project: Project,
    path: Path,
    *,
    operator: str,
    data_hash: Optional[str] = None,
    config: Optional[Path] = None,
    trained: bool = False,
    detail: Optional[dict[str, Any]] = None,
) -> ModelInfo:
    """Add a model file to the registry as a candidate (the same file twice is one model).

    ``trained`` records the entry as a training run (``train``) rather than an
    existing file brought in (``register``).
    """
    if not path.exists():
        raise InvalidInput(f"model file {path} does not exist.")
    sha = file_sha256(path)
    with uow:
        same = uow.session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha))
        if same is not None:
            return _info(same)
        name = model_name_of(path)
        if uow.session.scalar(select(ModelVersion).where(ModelVersion.name == name)) is not None:
            raise InvalidInput(f"another model is already registered as {name!r}; rename {path.name}.")
        row = ModelVersion(
            name=name,
            path=project.relative(path),
            sha256=sha,
            data_hash=data_hash,
            config=project.relative(config) if config else None,
            status=ModelStatus.CANDIDATE,
            created_at=_now(),
            created_by=operator,
        )
        uow.session.add(row)
        uow.session.flush()
        action = ModelAction.TRAIN if trained else ModelAction.REGISTER
        _audit(uow, action, operator, row, detail={"path": row.path, "data_hash": data_hash, **(detail or {})})
        uow.commit()
        return _info(row)


def record_evaluation(uow: SqlAlchemyUnitOfWork, name: str, evaluation: Evaluation, *, operator: str) -> ModelInfo:
    """Keep ``evaluation`` as the model's metrics and log who ran it."""
    with uow:
        row = _row(uow, name)
        row.metrics = evaluation.as_dict()
        conv = evaluation.conversations
        _audit(
            uow,
            ModelAction.EVALUATE,
            operator,
            row,
            detail={
                "macro_f1": evaluation.macro_f1,
                "accuracy": evaluation.accuracy,
                "holdout_hash": evaluation.holdout_hash,
                "conversation_tests": f"{conv.passed}/{conv.total}" if conv.ran else conv.note,
                "report_dir": evaluation.report_dir,
            },
        )
        uow.commit()
        return _info(row)


def record(
    uow: SqlAlchemyUnitOfWork,
    action: ModelAction,
    *,
    operator: str,
    model: Optional[str] = None,
    reason: Optional[str] = None,
    detail: Optional[dict[str, Any]] = None,
) -> None:
    """Log an action that changes no model (a refusal, a failed swap, merged labels)."""
    with uow:
        row = _row(uow, model) if model else None
        _audit(uow, action, operator, row, reason=reason, detail=detail)
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
        live = _live_row(uow)
        if live is not None and live.id == row.id:
            raise NotAllowed(f"{name} is already the live model.")
        if live is not None:
            live.status = ModelStatus.RETIRED
            uow.session.flush()
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
        live = _live_row(uow)
        if live is None:
            raise NotAllowed("no model is live: there is nothing to roll back.")
        if live.replaced_id is None:
            raise NotAllowed(f"{live.name} was the first model published: there is no earlier model to roll back to.")
        previous = uow.session.get(ModelVersion, live.replaced_id)
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
        uow.session.flush()
        previous.status = ModelStatus.LIVE
        _audit(
            uow, ModelAction.ROLLBACK, operator, previous, reason=reason, detail={"from": live.name, **(detail or {})}
        )
        uow.commit()
        return _info(previous)


# --------------------------------------------------------------------------- reading


def get_model(uow: SqlAlchemyUnitOfWork, ref: str) -> ModelInfo:
    with uow:
        return _info(_row(uow, ref))


def find_model(uow: SqlAlchemyUnitOfWork, project: Project, ref: str) -> Optional[ModelInfo]:
    """A registered model by name, or by the file it was registered from."""
    with uow:
        row = uow.session.scalar(select(ModelVersion).where(ModelVersion.name == ref))
        if row is None and Path(ref).exists():
            sha = file_sha256(Path(ref))
            row = uow.session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha))
        return None if row is None else _info(row)


class ModelFileChanged(NotAllowed):
    """A registered model's file no longer holds what was registered (or is gone)."""


def registered_file(uow: SqlAlchemyUnitOfWork, project: Project, ref: str) -> tuple[ModelInfo, Path]:
    """The checked file of a registered model named ``ref`` or stored at the path ``ref``.

    ``ref`` is a registry name, or a path (relative ones from the project) that
    resolves, symlinks followed, to the very file a model was registered from.
    Unlike :func:`find_model`, a file elsewhere is never matched by its content:
    only what the registry points at can be loaded. The file must still have
    the registered SHA-256. Returns the model and the resolved path to load.

    Raises
    ------
    ModelNotFound
        No registered model has that name or that file.
    ModelFileChanged
        The model's file is missing or its content differs from the registered hash.
    """
    if not ref or "\x00" in ref:  # no name holds a NUL, and PostgreSQL refuses it in a query
        raise ModelNotFound(ref)
    with uow:
        row = uow.session.scalar(select(ModelVersion).where(ModelVersion.name == ref))
        if row is None:
            try:
                target = project.resolve(ref).resolve()
            except (OSError, ValueError, RuntimeError):  # a symlink loop, a name too long: no file of ours
                raise ModelNotFound(ref) from None
            rows = uow.session.scalars(select(ModelVersion).order_by(ModelVersion.id))
            row = next((r for r in rows if project.resolve(r.path).resolve() == target), None)
        if row is None:
            raise ModelNotFound(ref)
        info = _info(row)
    path = project.resolve(info.path).resolve()
    if not path.is_file():
        raise ModelFileChanged(f"the file of model {info.name} ({path}) is missing.")
    if file_sha256(path) != info.sha256:
        raise ModelFileChanged(
            f"the file of model {info.name} ({path}) has changed since it was registered; it is not loaded."
        )
    return info, path


def file_resolver(uow: SqlAlchemyUnitOfWork, project: Project) -> Callable[[str], Path]:
    """``ref -> path`` by :func:`registered_file`, for the switchboard's admin API (:func:`bot.ops.swap.admin_app`).

    Each call has its own session (calls may come from several threads at
    once); a store that cannot be read, or has no registry, refuses the model.
    """

    def resolve(ref: str) -> Path:
        try:
            return registered_file(SqlAlchemyUnitOfWork(uow.session_factory), project, ref)[1]
        except SQLAlchemyError as exc:
            raise NotAllowed(
                f"the model registry cannot be read ({exc.__class__.__name__}); if the store has none, "
                "run `crm db upgrade`."
            ) from None

    return resolve


def live_model(uow: SqlAlchemyUnitOfWork) -> Optional[ModelInfo]:
    with uow:
        row = _live_row(uow)
        return None if row is None else _info(row)


def list_models(uow: SqlAlchemyUnitOfWork) -> list[ModelInfo]:
    with uow:
        return [_info(r) for r in uow.session.scalars(select(ModelVersion).order_by(ModelVersion.id))]


def audit_log(uow: SqlAlchemyUnitOfWork, *, limit: int = 50) -> list[AuditEntry]:
    """The newest entries first."""
    with uow:
        rows = uow.session.execute(
            select(ModelAudit, ModelVersion.name)
            .outerjoin(ModelVersion, ModelAudit.model_id == ModelVersion.id)
            .order_by(ModelAudit.id.desc())
            .limit(limit)
        ).all()
        return [
            AuditEntry(a.id, a.at, a.operator, a.action.value, name, a.reason, dict(a.detail or {})) for a, name in rows
        ]
