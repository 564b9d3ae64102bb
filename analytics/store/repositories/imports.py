"""The log of data imports (``import_runs``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from analytics.store.models import ImportRun


class ImportRunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: ImportRun) -> None:
        self.session.add(run)
