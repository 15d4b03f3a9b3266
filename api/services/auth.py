"""API keys: issued once in clear, stored as SHA-256, found by prefix, revocable at once.

Keys are 256-bit random secrets, so a fast hash is the right one (a slow password hash buys
nothing against brute force of 2^256 and costs every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from api.models import ApiKey, Member, Organisation
from api.models.base import utcnow
from api.services.errors import Forbidden, NotFound, Unauthenticated

TOKEN_PREFIX = "scf"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the member, its organisation, and the key used."""

    member: Member
    org: Organisation
    key_id: int

    @property
    def chain_org_id(self) -> int:
        return self.org.chain_org_id or 0

    def has(self, role: int) -> bool:
        return bool(self.org.roles & role) and self.org.status == "active"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key(session: Session, *, member: Member, token: str | None = None) -> tuple[ApiKey, str]:
    """Create a key for `member`; return it and the token, shown to the caller once."""
    if token is None:
        prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    else:  # bootstrap token from the environment, in the same format
        _, prefix, secret = _split(token)
    key = ApiKey(member_id=member.id or 0, prefix=prefix, secret_hash=_hash(secret))
    session.add(key)
    session.flush()
    return key, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        raise Unauthenticated("invalid_token", "the API key is malformed")
    return parts[0], parts[1], parts[2]


_MEMBER_COLUMNS = tuple(Member.__table__.columns)  # type: ignore[attr-defined]
_ORG_COLUMNS = tuple(Organisation.__table__.columns)  # type: ignore[attr-defined]
# One indexed lookup per request: the key by its prefix, with its member and organisation as they
# are now. Outer joins, so a key whose member is gone reads as "member disabled", as before.
_LOOKUP = (
    select(ApiKey.id, ApiKey.secret_hash, ApiKey.revoked_at, *_MEMBER_COLUMNS, *_ORG_COLUMNS)  # type: ignore[call-overload]
    .select_from(ApiKey)
    .outerjoin(Member, col(Member.id) == col(ApiKey.member_id))
    .outerjoin(Organisation, col(Organisation.id) == col(Member.org_id))
    .where(col(ApiKey.prefix) == bindparam("prefix"))
)
_CACHE_SIZE = 4096
_principals: OrderedDict[tuple[object, ...], Principal] = OrderedDict()
_principals_lock = threading.Lock()


def authenticate(session: Session, token: str) -> Principal:
    """The principal behind `token`; a revoked key or a disabled member is refused.

    The key, its member and its organisation are read on every request (one indexed query), so
    a revocation, a disabled member or a suspended organisation takes effect at the next request,
    in every process. Only building the Principal is cached, keyed by the whole row just read: any
    change to it is a different key.
    """
    _, prefix, secret = _split(token)
    row = session.connection().execute(_LOOKUP, {"prefix": prefix}).first()
    if row is None or row[2] is not None or not hmac.compare_digest(row[1], _hash(secret)):
        raise Unauthenticated("invalid_token", "the API key is unknown or revoked")
    values = tuple(row)
    member = _fields(_MEMBER_COLUMNS, values[3 : 3 + len(_MEMBER_COLUMNS)])
    if member["id"] is None or member["disabled"]:
        raise Unauthenticated("member_disabled", "the member is disabled")
    with _principals_lock:
        principal = _principals.get(values)
        if principal is not None:
            _principals.move_to_end(values)
            return principal
    org = _fields(_ORG_COLUMNS, values[3 + len(_MEMBER_COLUMNS) :])
    principal = Principal(
        member=Member.model_validate(member), org=Organisation.model_validate(org), key_id=values[0]
    )
    with _principals_lock:
        _principals[values] = principal
        while len(_principals) > _CACHE_SIZE:
            _principals.popitem(last=False)
    return principal


def _fields(columns: tuple[Any, ...], values: tuple[object, ...]) -> dict[str, Any]:
    return {c.name: v for c, v in zip(columns, values, strict=True)}


def revoke_key(session: Session, *, principal: Principal, key_id: int, operator: bool) -> ApiKey:
    """Revoke a key: the member's own, or (operator) anyone's."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("api_key_not_found", f"no API key {key_id}")
    if not operator and key.member_id != principal.member.id:
        raise Forbidden("not_your_key", "members revoke only their own keys")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
    return key


def rotate_key(session: Session, *, principal: Principal) -> tuple[ApiKey, str]:
    """Issue a new key for the caller and revoke the one it called with."""
    old = session.get(ApiKey, principal.key_id)
    if old is not None:
        old.revoked_at = utcnow()
        session.add(old)
    return issue_key(session, member=principal.member)
