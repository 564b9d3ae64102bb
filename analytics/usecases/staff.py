"""Staff accounts of the agent console: create them, check a password, list and disable them.

Passwords are kept only as argon2id hashes (argon2-cffi, its default cost:
64 MiB, 3 passes), rehashed on the next login when the library's defaults
get stronger. A login with an unknown name costs the same as one with a
wrong password (a dummy hash is checked), so the timing does not tell which
names exist. Two roles: ``agent`` serves conversations; ``operator`` does
that too and also sees the handoff report and the staff list.

Examples
--------
>>> create_user(uow, "alice", "correct horse battery", role="agent")   # doctest: +SKIP
UserView(id=1, username='alice', role='agent', active=True, ...)
>>> authenticate(uow, "alice", "wrong")                                 # doctest: +SKIP
None
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from analytics.core.clock import utc_now
from analytics.core.errors import InvalidInput, NotFound
from analytics.store.models import User, UserRole
from analytics.store.uow import SqlAlchemyUnitOfWork

ROLES = tuple(role.value for role in UserRole)
MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")

#: Accounts ``crm users demo`` creates for the demo (documented in the README; never for production).
DEMO_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("alice", "agent", "alice-demo-password", "Alice"),
    ("olivia", "operator", "olivia-demo-password", "Olivia"),
)


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime
    #: the name customers see ("Alice"); ``None``: they see only "customer service"
    display_name: Optional[str] = None
    #: console sessions issued before this moment no longer count (naive UTC)
    sessions_valid_after: Optional[datetime] = None

    @property
    def is_operator(self) -> bool:
        return self.role == UserRole.OPERATOR.value

    def session_is_current(self, issued_at: datetime) -> bool:
        """Whether a console session issued at ``issued_at`` (naive UTC) survives the account's last sign-out."""
        return self.active and (self.sessions_valid_after is None or issued_at >= self.sessions_valid_after)


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not a password of anyone")


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        role=user.role.value,
        active=user.active,
        created_at=user.created_at,
        display_name=user.display_name,
        sessions_valid_after=user.sessions_valid_after,
    )


def normalise_display_name(name: Optional[str]) -> Optional[str]:
    """The name customers will see, trimmed; ``None`` for none; :class:`InvalidInput` unless 1-64 printable
    characters."""
    if name is None or not str(name).strip():
        return None
    cleaned = " ".join(str(name).split())
    if len(cleaned) > 64 or not cleaned.isprintable() or any(ch in cleaned for ch in "<>"):
        raise InvalidInput(f"{name!r} cannot be a display name: use up to 64 printable characters, no < or >.")
    return cleaned


def normalise_username(username: str) -> str:
    """``username`` trimmed and lower-cased; :class:`InvalidInput` unless it is 2–64 of ``a-z 0-9 . _ -``."""
    cleaned = str(username).strip().lower()
    if not USERNAME.match(cleaned):
        raise InvalidInput(
            f"{username!r} cannot be a user name: use 2 to 64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return cleaned


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is {len(password)} characters long; use at least {MIN_PASSWORD_LENGTH}.")
    if len(password) > 1024:
        raise InvalidInput("the password is longer than 1024 characters.")


def _role(role: str) -> UserRole:
    try:
        return UserRole(str(role).strip().lower())
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(ROLES)}.") from None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the same password hashes differently each time)."""
    _check_password(password)
    return _hasher().hash(password)


def _by_name(uow: SqlAlchemyUnitOfWork, username: str) -> Optional[User]:
    return uow.users.by_username(username)


def create_user(
    uow: SqlAlchemyUnitOfWork,
    username: str,
    password: str,
    role: str = "agent",
    now: Optional[datetime] = None,
    display_name: Optional[str] = None,
) -> UserView:
    """Add a staff account.

    Parameters
    ----------
    uow : SqlAlchemyUnitOfWork
    username : str
        Lower-cased; see :func:`normalise_username`.
    password : str
        At least :data:`MIN_PASSWORD_LENGTH` characters; only its hash is stored.
    role : {"agent", "operator"}
    now : datetime, optional
        Creation time (naive UTC); default now.
    display_name : str, optional
        The name customers see in the chat; the login name is never shown to them.

    Raises
    ------
    InvalidInput
        A bad name, role or password, or a name that is taken.
    """
    name = normalise_username(username)
    wanted_role = _role(role)
    shown = normalise_display_name(display_name)
    hashed = hash_password(password)
    with uow:
        if _by_name(uow, name) is not None:
            raise InvalidInput(f"there is already a user called {name!r}.")
        user = User(
            username=name,
            password_hash=hashed,
            role=wanted_role,
            active=True,
            created_at=now or utc_now(),
            display_name=shown,
        )
        uow.users.add(user)
        view = _view(user)
        uow.commit()
        return view


def authenticate(uow: SqlAlchemyUnitOfWork, username: str, password: str) -> Optional[UserView]:
    """The active account ``username`` if ``password`` is its password, else ``None``.

    Unknown names, disabled accounts and wrong passwords all give ``None`` and
    cost one hash verification each.
    """
    try:
        name = normalise_username(username)
    except InvalidInput:
        name = ""
    with uow:
        user = _by_name(uow, name) if name else None
        stored = user.password_hash if user is not None else _dummy_hash()
        try:
            _hasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if _hasher().check_needs_rehash(stored):
            user.password_hash = _hasher().hash(password)
            uow.commit()
        return _view(user)


def get_user(uow: SqlAlchemyUnitOfWork, user_id: int) -> Optional[UserView]:
    """The account with this id (active or not), or ``None``."""
    with uow:
        user = uow.users.get(user_id)
        return _view(user) if user is not None else None


def list_users(uow: SqlAlchemyUnitOfWork) -> list[UserView]:
    with uow:
        return [_view(u) for u in uow.users.all()]


def _update(uow: SqlAlchemyUnitOfWork, username: str, **values: object) -> UserView:
    name = normalise_username(username)
    with uow:
        user = _by_name(uow, name)
        if user is None:
            raise NotFound(f"there is no user called {name!r}.")
        for key, value in values.items():
            setattr(user, key, value)
        uow.users.flush()
        view = _view(user)
        uow.commit()
        return view


def set_active(uow: SqlAlchemyUnitOfWork, username: str, active: bool) -> UserView:
    """Enable or disable an account; a disabled account cannot log in and its open sessions stop working."""
    return _update(uow, username, active=active)


def set_password(uow: SqlAlchemyUnitOfWork, username: str, password: str) -> UserView:
    """A new password; every open console session of the account ends."""
    return _update(uow, username, password_hash=hash_password(password), sessions_valid_after=utc_now())


def set_display_name(uow: SqlAlchemyUnitOfWork, username: str, display_name: Optional[str]) -> UserView:
    return _update(uow, username, display_name=normalise_display_name(display_name))


def sign_out(uow: SqlAlchemyUnitOfWork, user_id: int, now: Optional[datetime] = None) -> None:
    """End every open console session of the account (its signed cookies stop working at once)."""
    with uow:
        user = uow.users.get(user_id)
        if user is not None:
            user.sessions_valid_after = now or utc_now()
            uow.commit()


def is_documented_demo_login(username: str, password: str) -> bool:
    """Whether these are the credentials the README documents for a demo account (alice, olivia).

    Outside the demo (``CRM_DEMO`` unset) such a login is refused even if the account exists: its
    password is public. An operator who keeps the account sets a new password first.
    """
    name = username.strip().lower()
    return any(
        name == demo and hmac.compare_digest(password.encode("utf-8"), documented.encode("utf-8"))
        for demo, _role, documented, _shown in DEMO_USERS
    )


def ensure_demo_users(uow: SqlAlchemyUnitOfWork, now: Optional[datetime] = None) -> list[UserView]:
    """Create the :data:`DEMO_USERS` that do not exist yet; returns the ones created."""
    existing = {u.username for u in list_users(uow)}
    return [
        create_user(uow, name, password, role=role, now=now, display_name=shown)
        for name, role, password, shown in DEMO_USERS
        if name not in existing
    ]
