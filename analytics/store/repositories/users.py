"""Staff accounts of the agent console (``users``)."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.models import User


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int) -> Optional[User]:
        return self.session.get(User, user_id)

    def by_username(self, username: str) -> Optional[User]:
        return self.session.scalars(select(User).where(User.username == username)).one_or_none()

    def all(self) -> list[User]:
        """Every account, by user name."""
        return list(self.session.scalars(select(User).order_by(User.username)))

    def add(self, user: User) -> User:
        """Add ``user`` and flush, so it has its id."""
        self.session.add(user)
        self.session.flush()
        return user

    def flush(self) -> None:
        """Write pending changes of loaded accounts now (to see constraint errors inside the use case)."""
        self.session.flush()
