"""Console users: names, roles, argon2 password hashes, login throttling.

* Roles (issue 12): ``operator`` handles incidents, inspections, reports and complaints; ``inspector``
  sees and records the results of their own inspection tasks (no incident decisions); ``leader`` reads
  everything and changes nothing; ``admin`` manages users.
* Passwords are hashed with argon2id (argon2-cffi's :class:`~argon2.PasswordHasher` defaults, RFC 9106
  low-memory profile); hashes are re-computed on login when the parameters changed. No default user or
  password exists: the first user is made with ``envmon users add NAME --role admin --password-stdin``.
* Throttling: failed logins are stored; ``MAX_FAILURES_PER_USER`` failures for one name or
  ``MAX_FAILURES_PER_CLIENT`` from one client address within ``THROTTLE_WINDOW`` block further attempts
  until the oldest failure leaves the window (also for the right password: the block is the point).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Boolean, DateTime, Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from monitoring.db import Base, session_scope

ROLES: dict[str, str] = {
    "operator": "值班/业务人员",
    "inspector": "执法检查人员",
    "leader": "局领导（只读）",
    "admin": "系统管理员",
}
MIN_PASSWORD_LENGTH = 10
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
THROTTLE_WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()


class UserError(ValueError):
    """A user request that cannot be done (unknown role, short password, existing name …)."""


class LoginThrottled(Exception):
    """Too many failed logins; ``retry_after`` seconds until the next attempt is considered."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class ConsoleUser(Base):
    __tablename__ = "console_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16))
    #: the inspector directory id (monitoring/data/inspectors.yaml) of an inspector account
    inspector_id: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    __tablename__ = "console_login_failure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    #: sha256 of the client address: enough to count, not kept in clear
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    role: str
    inspector_id: str | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def role_zh(self) -> str:
        return ROLES[self.role]

    @property
    def label(self) -> str:
        return self.display_name or self.name


def _utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _user(row: ConsoleUser) -> User:
    return User(row.name, row.display_name or "", row.role, row.inspector_id, bool(row.active),
                _utc(row.created_at), _utc(row.last_login_at))  # type: ignore[arg-type]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise UserError("the password must not start or end with white space")


def add_user(sql_url: str, name: str, *, role: str, password: str, display_name: str = "",
             inspector_id: str | None = None, now: datetime | None = None) -> User:
    """Create a user with an argon2 hash of ``password``."""
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise UserError(f"user name {name!r} must be 1–64 characters without spaces")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    if role == "inspector" and not inspector_id:
        inspector_id = None
    _check_password(password)
    now = now or datetime.now(UTC)
    with session_scope(sql_url) as s:
        if s.scalar(select(ConsoleUser).where(ConsoleUser.name == name)) is not None:
            raise UserError(f"user {name!r} exists already")
        row = ConsoleUser(name=name, display_name=display_name.strip(), role=role, inspector_id=inspector_id,
                          password_hash=_hasher.hash(password), active=True, created_at=now)
        s.add(row)
        s.flush()
        return _user(row)


def set_password(sql_url: str, name: str, password: str) -> None:
    _check_password(password)
    with session_scope(sql_url) as s:
        row = s.scalar(select(ConsoleUser).where(ConsoleUser.name == name))
        if row is None:
            raise UserError(f"no user {name!r}")
        row.password_hash = _hasher.hash(password)


def disable_user(sql_url: str, name: str, *, now: datetime | None = None) -> User:
    """Disable a user: the next request of any open session of theirs is refused."""
    with session_scope(sql_url) as s:
        row = s.scalar(select(ConsoleUser).where(ConsoleUser.name == name))
        if row is None:
            raise UserError(f"no user {name!r}")
        if not row.active:
            raise UserError(f"user {name!r} is disabled already")
        row.active, row.disabled_at = False, now or datetime.now(UTC)
        return _user(row)


def list_users(sql_url: str) -> list[User]:
    with session_scope(sql_url) as s:
        return [_user(r) for r in s.scalars(select(ConsoleUser).order_by(ConsoleUser.name))]


def first_admin_hint(sql_url: str, data_dir: object | None = None) -> str | None:
    """The line ``envmon up`` prints while no console user exists: how to create the first admin
    (no default account exists anywhere); None once any user exists."""
    from monitoring.db import init_db

    init_db(sql_url)
    with session_scope(sql_url) as s:
        if s.scalar(select(func.count()).select_from(ConsoleUser)):
            return None
    env = f"ENVMON_DATA_DIR={data_dir} " if data_dir is not None else ""
    return ("no console user exists yet — create the first admin (password read from stdin):\n"
            f"    {env}envmon users add NAME --role admin --password-stdin")


def get_active_user(sql_url: str, name: str) -> User | None:
    """The user of a session, or None when unknown or disabled."""
    with session_scope(sql_url) as s:
        row = s.scalar(select(ConsoleUser).where(ConsoleUser.name == name, ConsoleUser.active.is_(True)))
        return _user(row) if row else None


def client_key(address: str | None) -> str:
    return hashlib.sha256((address or "?").encode()).hexdigest()


def authenticate(sql_url: str, name: str, password: str, *, client: str | None,
                 now: datetime | None = None) -> User | None:
    """The user when ``name``/``password`` match an active user, else None (a failure is recorded).

    Raises :class:`LoginThrottled` while too many failures are in the window (see module docstring).
    """
    now = now or datetime.now(UTC)
    since = now - THROTTLE_WINDOW
    ckey = client_key(client)
    name = name.strip()[:64]
    with session_scope(sql_url) as s:
        s.execute(delete(LoginFailure).where(LoginFailure.at < now - 4 * THROTTLE_WINDOW))
        for col, key, limit in ((LoginFailure.name, name, MAX_FAILURES_PER_USER),
                                (LoginFailure.client, ckey, MAX_FAILURES_PER_CLIENT)):
            count, oldest = s.execute(select(func.count(), func.min(LoginFailure.at))
                                      .where(col == key, LoginFailure.at >= since)).one()
            if count >= limit:
                retry = (_utc(oldest) + THROTTLE_WINDOW - now).total_seconds()  # type: ignore[operator]
                raise LoginThrottled(max(1, int(retry) + 1))
        row = s.scalar(select(ConsoleUser).where(ConsoleUser.name == name))
        ok = False
        if row is not None and row.active:
            try:
                ok = _hasher.verify(row.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                ok = False
        else:
            # same work for unknown names, so timing does not tell which names exist
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
        if not ok:
            s.add(LoginFailure(name=name, client=ckey, at=now))
            return None
        if _hasher.check_needs_rehash(row.password_hash):  # type: ignore[union-attr]
            row.password_hash = _hasher.hash(password)  # type: ignore[union-attr]
        row.last_login_at = now  # type: ignore[union-attr]
        s.execute(delete(LoginFailure).where(LoginFailure.name == name))
        return _user(row)  # type: ignore[arg-type]


_DUMMY_HASH = _hasher.hash("not a password of anybody")
