"""The assistant's models and the audit log of what operators did with them (``model_versions``, ``model_audit``)."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from analytics.store.models import ModelAudit, ModelStatus, ModelVersion


class ModelRegistryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def exists(self) -> bool:
        """Whether the store has the registry's tables (migration 0005)."""
        return inspect(self.session.connection()).has_table(ModelVersion.__tablename__)

    def get(self, model_id: int) -> Optional[ModelVersion]:
        return self.session.get(ModelVersion, model_id)

    def by_name(self, name: str) -> Optional[ModelVersion]:
        return self.session.scalar(select(ModelVersion).where(ModelVersion.name == name))

    def by_sha256(self, sha256: str) -> Optional[ModelVersion]:
        return self.session.scalar(select(ModelVersion).where(ModelVersion.sha256 == sha256))

    def live(self) -> Optional[ModelVersion]:
        return self.session.scalar(select(ModelVersion).where(ModelVersion.status == ModelStatus.LIVE))

    def all(self) -> list[ModelVersion]:
        """Every model, oldest first."""
        return list(self.session.scalars(select(ModelVersion).order_by(ModelVersion.id)))

    def add(self, row: ModelVersion) -> ModelVersion:
        """Add ``row`` and give it its id."""
        self.session.add(row)
        self.session.flush()
        return row

    def flush(self) -> None:
        """Write pending changes now (the unique live model: retire the old one before marking the new one)."""
        self.session.flush()

    def log(self, entry: ModelAudit) -> None:
        self.session.add(entry)

    def audit(self, limit: int) -> list[tuple[ModelAudit, Optional[str]]]:
        """The newest ``limit`` audit entries with the name of their model, newest first."""
        rows = self.session.execute(
            select(ModelAudit, ModelVersion.name)
            .outerjoin(ModelVersion, ModelAudit.model_id == ModelVersion.id)
            .order_by(ModelAudit.id.desc())
            .limit(limit)
        ).all()
        return [(audit, name) for audit, name in rows]
