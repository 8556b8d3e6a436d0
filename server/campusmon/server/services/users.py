"""Users, roles, passwords (Argon2id), API tokens (stored hashed), the audit log, login throttling."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..console_models import ROLES, ApiToken, AuditEntry, User
from ..db import Database, as_utc, utcnow
from . import Actor, Conflict, Invalid, NotFound, Page, PageRequest

_log = logging.getLogger(__name__)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
TOKEN_PREFIX = "cmt_"
#: what each role may do, from least to most
RANK = {"viewer": 0, "technician": 1, "admin": 2}
_hasher = PasswordHasher()  # Argon2id with argon2-cffi's RFC 9106 "low memory" profile


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None
    session_epoch: int = 0

    def can(self, role: str) -> bool:
        return not self.disabled and RANK[self.role] >= RANK[role]

    @property
    def shown(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: dict[str, Any]
    after: dict[str, Any]
    client: str


def _user(u: User) -> UserView:
    return UserView(
        u.id,
        u.username,
        u.display_name,
        u.role,
        u.disabled,
        as_utc(u.created_at) or utcnow(),
        as_utc(u.last_login_at),
        u.session_epoch,
    )


def _json(value: dict[str, Any] | None) -> str:
    return json.dumps(value or {}, ensure_ascii=False, default=str, sort_keys=True)


def audit(
    s: Session,
    actor: Actor,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """One audit row in the caller's transaction: it is written exactly when the change is."""
    s.add(
        AuditEntry(
            at=utcnow(),
            actor=actor.label[:200],
            action=action[:64],
            target=target[:200],
            before=_json(before),
            after=_json(after),
            client=actor.client[:64],
        )
    )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise Invalid("a password has at most 1024 characters")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- accounts ---------------------------------------------------------------------------------
    def add(
        self, username: str, password: str, role: str, *, actor: Actor, display_name: str = ""
    ) -> UserView:
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise Invalid("a user name is 2-64 of a-z 0-9 . _ - (starting with a letter or digit)")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        check_password(password)
        with self.db.session() as s:
            if s.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict(f"user {username!r} exists")
            user = User(
                username=username,
                display_name=display_name.strip()[:100],
                role=role,
                password_hash=_hasher.hash(password),
                disabled=False,
                session_epoch=0,
                created_at=utcnow(),
            )
            s.add(user)
            s.flush()
            audit(s, actor, "user.add", f"user:{username}", None, {"role": role, "name": display_name})
            return _user(user)

    def _get(self, s: Session, username: str) -> User:
        user = s.scalars(select(User).where(User.username == username.strip().lower())).first()
        if user is None:
            raise NotFound(f"no user {username!r}")
        return user

    def get(self, username: str) -> UserView:
        with self.db.session() as s:
            return _user(self._get(s, username))

    def by_id(self, user_id: int) -> UserView | None:
        with self.db.session() as s:
            user = s.get(User, user_id)
            return None if user is None else _user(user)

    def all(self) -> list[UserView]:
        with self.db.session() as s:
            return [_user(u) for u in s.scalars(select(User).order_by(User.username))]

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count(User.id))) or 0)

    def set_password(self, username: str, password: str, *, actor: Actor) -> None:
        check_password(password)
        with self.db.session() as s:
            user = self._get(s, username)
            user.password_hash = _hasher.hash(password)
            user.session_epoch += 1  # every open session of this user ends
            audit(s, actor, "user.passwd", f"user:{user.username}")

    def set_role(self, username: str, role: str, *, actor: Actor) -> None:
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}")
        with self.db.session() as s:
            user = self._get(s, username)
            before = user.role
            user.role = role
            user.session_epoch += 1
            audit(s, actor, "user.role", f"user:{user.username}", {"role": before}, {"role": role})

    def set_disabled(self, username: str, disabled: bool, *, actor: Actor) -> None:
        with self.db.session() as s:
            user = self._get(s, username)
            before = user.disabled
            user.disabled = disabled
            user.session_epoch += 1
            for t in s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
                if disabled and t.revoked_at is None:
                    t.revoked_at = utcnow()
            audit(
                s,
                actor,
                "user.disable" if disabled else "user.enable",
                f"user:{user.username}",
                {"disabled": before},
                {"disabled": disabled},
            )

    def authenticate(self, username: str, password: str) -> UserView | None:
        """The user if the password is right and the account active; None otherwise (same time)."""
        with self.db.session() as s:
            user = s.scalars(select(User).where(User.username == username.strip().lower())).first()
            if user is None:
                _hasher.hash(password)  # as slow as a wrong password: user names do not leak by timing
                return None
            try:
                _hasher.verify(user.password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            if user.disabled:
                return None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            user.last_login_at = utcnow()
            return _user(user)

    # -- API tokens ------------------------------------------------------------------------------
    def create_token(self, username: str, name: str, *, actor: Actor) -> tuple[TokenView, str]:
        """A new token for scripts; the secret is returned once and only its hash is kept."""
        name = name.strip()[:100] or "token"
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as s:
            user = self._get(s, username)
            if user.disabled:
                raise Invalid(f"user {user.username!r} is disabled")
            row = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=hash_token(secret),
                prefix=secret[:12],
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            audit(s, actor, "token.create", f"user:{user.username}", None, {"token": name, "id": row.id})
            return self._token(row), secret

    @staticmethod
    def _token(t: ApiToken) -> TokenView:
        return TokenView(
            t.id,
            t.name,
            t.prefix,
            as_utc(t.created_at) or utcnow(),
            as_utc(t.last_used_at),
            t.revoked_at is not None,
        )

    def tokens(self, username: str) -> list[TokenView]:
        with self.db.session() as s:
            user = self._get(s, username)
            rows = s.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
            return [self._token(t) for t in rows]

    def revoke_token(self, username: str, token_id: int, *, actor: Actor) -> None:
        with self.db.session() as s:
            user = self._get(s, username)
            row = s.get(ApiToken, token_id)
            if row is None or row.user_id != user.id:
                raise NotFound(f"no token #{token_id} of {user.username}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                audit(s, actor, "token.revoke", f"user:{user.username}", None, {"id": token_id})

    def by_token(self, secret: str) -> UserView | None:
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self.db.session() as s:
            row = s.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()
            if row is None or row.revoked_at is not None:
                return None
            user = s.get(User, row.user_id)
            if user is None or user.disabled:
                return None
            now = utcnow()
            last = as_utc(row.last_used_at)
            if last is None or (now - last).total_seconds() > 60:  # not one write per request
                row.last_used_at = now
            return _user(user)

    # -- audit log -------------------------------------------------------------------------------
    def audit_log(self, page: PageRequest, actor: str | None = None) -> Page[AuditView]:
        with self.db.session() as s:
            q = select(AuditEntry)
            if actor:
                q = q.where(AuditEntry.actor == actor)
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = s.scalars(q.order_by(AuditEntry.id.desc()).offset(page.offset).limit(page.per_page))
            items = [
                AuditView(
                    e.id,
                    as_utc(e.at) or utcnow(),
                    e.actor,
                    e.action,
                    e.target,
                    json.loads(e.before or "{}"),
                    json.loads(e.after or "{}"),
                    e.client,
                )
                for e in rows
            ]
        return Page(items, total, page.page, page.per_page)


class LoginThrottle:
    """Wrong passwords in a row, per user name and per client address; past the limit, a lock.

    Kept in memory: a restart forgets it, which only gives an attacker a fresh 20 tries per restart."""

    def __init__(
        self, max_failures: int, lock_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, client: str) -> tuple[str, str]:
        return f"u:{username.strip().lower()}", f"c:{client}"

    def locked_for(self, username: str, client: str) -> float:
        """Seconds until another try is allowed (0: go ahead)."""
        now = self.clock()
        with self._lock:
            wait = 0.0
            for key in self._keys(username, client):
                n, last = self._failures.get(key, (0, 0.0))
                if n >= self.max_failures:
                    left = last + self.lock_seconds - now
                    if left <= 0:
                        del self._failures[key]
                    else:
                        wait = max(wait, left)
            return wait

    def failed(self, username: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded: forget the oldest half
                for key, _v in sorted(self._failures.items(), key=lambda kv: kv[1][1])[:50_000]:
                    del self._failures[key]
            for key in self._keys(username, client):
                n, _last = self._failures.get(key, (0, 0.0))
                self._failures[key] = (n + 1, now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            for key in self._keys(username, client):
                self._failures.pop(key, None)
