"""What every repository shares."""

from __future__ import annotations

from sqlalchemy import Delete
from sqlalchemy.orm import Session


def delete_where(session: Session, stmt: Delete) -> int:
    """Run a bulk DELETE without synchronising the session; return how many rows it deleted."""
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
