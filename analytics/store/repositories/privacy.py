"""Data-protection requests and the tombstones of erased customers (``privacy_requests``, ``erased_identities``)."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.store.crypto import identity_digest, keys_for
from analytics.store.models import (
    ErasedIdentity,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
)


class PrivacyRequestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_for_update(self, request_id: int) -> Optional[PrivacyRequest]:
        return self.session.scalar(
            select(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    def open_for(self, customer_id: int, kind: PrivacyRequestKind) -> Optional[PrivacyRequest]:
        """The customer's oldest request of ``kind`` still waiting for an operator, if any."""
        return self.session.scalar(
            select(PrivacyRequest)
            .where(
                PrivacyRequest.customer_id == customer_id,
                PrivacyRequest.kind == kind,
                PrivacyRequest.status == PrivacyRequestStatus.REQUESTED,
            )
            .order_by(PrivacyRequest.id)
            .limit(1)
        )

    def all_open_for(self, customer_id: int) -> list[PrivacyRequest]:
        return list(
            self.session.scalars(
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.customer_id == customer_id,
                    PrivacyRequest.status == PrivacyRequestStatus.REQUESTED,
                )
                .order_by(PrivacyRequest.id)
            )
        )

    def add(self, request: PrivacyRequest) -> PrivacyRequest:
        self.session.add(request)
        self.session.flush()
        return request

    def get(self, request_id: int) -> Optional[PrivacyRequest]:
        return self.session.get(PrivacyRequest, request_id)

    def all_open(self) -> list[PrivacyRequest]:
        """Every request still waiting for an operator, oldest first."""
        return list(
            self.session.scalars(
                select(PrivacyRequest)
                .where(PrivacyRequest.status == PrivacyRequestStatus.REQUESTED)
                .order_by(PrivacyRequest.requested_at, PrivacyRequest.id)
            )
        )

    def of_customer(self, customer_id: int) -> list[PrivacyRequest]:
        return list(
            self.session.scalars(
                select(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id).order_by(PrivacyRequest.id)
            )
        )


class ErasedIdentityRepository:
    """Tombstones of erased customers: keyed hashes of their e-mail address and source customer number."""

    KINDS = ("email", "external_ref")

    def __init__(self, session: Session) -> None:
        self.session = session

    def digest(self, kind: str, value: str) -> str:
        if kind not in self.KINDS:
            raise ValueError(f"unknown identifier kind {kind!r}; one of {self.KINDS}")
        return identity_digest(keys_for(self.session.get_bind()), kind, value)

    def remember(self, kind: str, value: str, now: datetime) -> bool:
        """Keep the hash of an erased customer's identifier; ``False`` if it was already kept."""
        digest = self.digest(kind, value)
        found = self.session.scalar(
            select(ErasedIdentity.id).where(ErasedIdentity.kind == kind, ErasedIdentity.digest == digest)
        )
        if found is not None:
            return False
        self.session.add(ErasedIdentity(kind=kind, digest=digest, erased_at=now))
        self.session.flush()
        return True

    def digests(self, kind: str) -> set[str]:
        """Every kept hash of one kind (the import compares a whole file's customers at once)."""
        return set(self.session.scalars(select(ErasedIdentity.digest).where(ErasedIdentity.kind == kind)))

    def is_erased(self, kind: str, value: str) -> bool:
        digest = self.digest(kind, value)
        return (
            self.session.scalar(
                select(ErasedIdentity.id).where(ErasedIdentity.kind == kind, ErasedIdentity.digest == digest)
            )
            is not None
        )
