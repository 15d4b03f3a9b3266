"""API keys: issued once in clear, stored as SHA-256, found by prefix, revocable at once.

Keys are 256-bit random secrets, so a fast hash is the right one (a slow password hash buys
nothing against brute force of 2^256 and costs every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlmodel import Session, select

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


def authenticate(session: Session, token: str) -> Principal:
    """The principal behind `token`; a revoked key or a disabled member is refused."""
    _, prefix, secret = _split(token)
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise Unauthenticated("invalid_token", "the API key is unknown or revoked")
    member = session.get(Member, key.member_id)
    if member is None or member.disabled:
        raise Unauthenticated("member_disabled", "the member is disabled")
    org = session.get(Organisation, member.org_id)
    assert org is not None
    return Principal(member=member, org=org, key_id=key.id or 0)


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
