"""The model registry seen from a Rasa project: model files, their hashes and paths, and which file may be loaded.

The registry itself (models, metrics, which one is live, the audit log) is
:mod:`analytics.usecases.operations`; this module adds what needs the project
on disk: it hashes model files, stores their paths relative to the project,
and resolves a name or a path to a registered file whose content is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from sqlalchemy.exc import SQLAlchemyError

from analytics.core.errors import InvalidInput, NotAllowed
from analytics.core.files import file_sha256
from analytics.store.bootstrap import store_for_url
from analytics.store.uow import SqlAlchemyUnitOfWork
from analytics.usecases import operations
from analytics.usecases.operations import ModelInfo, ModelNotFound
from bot.ops.gate import Evaluation
from bot.ops.project import Project


def model_name_of(path: Path) -> str:
    name = path.name
    return name[: -len(".tar.gz")] if name.endswith(".tar.gz") else path.stem


def evaluation_of(model: ModelInfo) -> Optional[Evaluation]:
    """The evaluation recorded with ``model``, if any."""
    return Evaluation.from_dict(model.metrics) if model.metrics else None


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
    return operations.register_model(
        uow,
        name=model_name_of(path),
        path=project.relative(path),
        sha256=file_sha256(path),
        operator=operator,
        data_hash=data_hash,
        config=project.relative(config) if config else None,
        trained=trained,
        detail=detail,
        file_name=path.name,
    )


def record_evaluation(uow: SqlAlchemyUnitOfWork, name: str, evaluation: Evaluation, *, operator: str) -> ModelInfo:
    """Keep ``evaluation`` as the model's metrics and log who ran it."""
    conv = evaluation.conversations
    return operations.record_evaluation(
        uow,
        name,
        evaluation.as_dict(),
        operator=operator,
        detail={
            "macro_f1": evaluation.macro_f1,
            "accuracy": evaluation.accuracy,
            "holdout_hash": evaluation.holdout_hash,
            "conversation_tests": f"{conv.passed}/{conv.total}" if conv.ran else conv.note,
            "report_dir": evaluation.report_dir,
        },
    )


def find_model(uow: SqlAlchemyUnitOfWork, project: Project, ref: str) -> Optional[ModelInfo]:
    """A registered model by name, or by the file it was registered from."""
    found = operations.model_named(uow, ref)
    if found is None and Path(ref).exists():
        found = operations.model_with_sha256(uow, file_sha256(Path(ref)))
    return found


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
    info = operations.model_named(uow, ref)
    if info is None:
        try:
            target = project.resolve(ref).resolve()
        except (OSError, ValueError, RuntimeError):  # a symlink loop, a name too long: no file of ours
            raise ModelNotFound(ref) from None
        models = operations.list_models(uow)
        info = next((m for m in models if project.resolve(m.path).resolve() == target), None)
    if info is None:
        raise ModelNotFound(ref)
    path = project.resolve(info.path).resolve()
    if not path.is_file():
        raise ModelFileChanged(f"the file of model {info.name} ({path}) is missing.")
    if file_sha256(path) != info.sha256:
        raise ModelFileChanged(
            f"the file of model {info.name} ({path}) has changed since it was registered; it is not loaded."
        )
    return info, path


def file_resolver(uow: SqlAlchemyUnitOfWork, project: Project) -> Callable[[str], Path]:
    """``ref -> path`` by :func:`registered_file`, for the switchboard's admin API (:func:`bot.ops.admin.admin_app`).

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


def live_model_file(project: Project, database_url: str) -> Optional[Path]:
    """The file of the registry's live model, or ``None`` (no store, no schema, nothing published, file gone).

    For starting servers: ``crm serve`` and ``crm nlu serve`` load this one rather than the newest
    file, so a rollback survives a restart.
    """
    store = store_for_url(database_url)
    try:
        if not store.is_initialised():
            return None
        live = operations.live_model(store.unit_of_work())
    except SQLAlchemyError:
        return None
    finally:
        store.engine.dispose()
    path = project.resolve(live.path) if live else None
    return path if path is not None and path.exists() else None
