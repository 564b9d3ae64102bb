"""Key/value settings the store keeps about itself (``store_settings``)."""

from __future__ import annotations

from typing import Optional

from sqlalchemy.orm import Session

from analytics.store.models import (
    StoreSetting,
)


class StoreSettingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> Optional[str]:
        row = self.session.get(StoreSetting, key)
        return row.value if row else None

    def set(self, key: str, value: str) -> None:
        row = self.session.get(StoreSetting, key)
        if row is None:
            self.session.add(StoreSetting(key=key, value=value))
        else:
            row.value = value
