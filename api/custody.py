"""Custodial signing keys: one per organisation, encrypted at rest with the master key (AES-256-GCM).

The master key comes from the environment or a secret file; it is never logged or returned, and
neither is any private key. The organisation id is bound into each ciphertext as associated data,
so a ciphertext copied to another organisation's row does not decrypt.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.errors import ScfError


class CustodyError(ScfError):
    """The master key is missing or wrong, or a key does not decrypt."""

    code = "custody_error"


class MasterKey:
    """The key that encrypts custodial keys. Its repr never shows the key."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise CustodyError("the master key must be 32 bytes (base64-encoded)")
        self._aead = AESGCM(raw)

    def __repr__(self) -> str:
        return "MasterKey(***)"

    @classmethod
    def load(cls, value: str | None, file: Path | None) -> MasterKey:
        """From a base64 value, else from a file holding it."""
        if value is None and file is not None:
            value = file.read_text(encoding="utf-8").strip()
        if not value:
            raise CustodyError("no master key: set SCF_API_MASTER_KEY or SCF_API_MASTER_KEY_FILE")
        try:
            return cls(base64.b64decode(value, validate=True))
        except ValueError as exc:
            raise CustodyError("the master key is not valid base64") from exc

    @staticmethod
    def generate() -> str:
        """A new random master key, base64."""
        return base64.b64encode(os.urandom(32)).decode()

    def seal(self, org_id: int, account: LocalAccount) -> str:
        """Encrypt `account`'s private key for organisation `org_id`."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, bytes(account.key), _aad(org_id))
        return base64.b64encode(nonce + sealed).decode()

    def open(self, org_id: int, ciphertext: str) -> LocalAccount:
        """Decrypt organisation `org_id`'s key."""
        raw = base64.b64decode(ciphertext)
        try:
            key = self._aead.decrypt(raw[:12], raw[12:], _aad(org_id))
        except InvalidTag as exc:
            raise CustodyError(f"custodial key of organisation {org_id} does not decrypt") from exc
        return Account.from_key(key)


def seal_secret(master_key: MasterKey, context: str, secret: str) -> str:
    """Encrypt a short secret (a webhook signing secret) bound to `context` (e.g. "webhook:7")."""
    nonce = os.urandom(12)
    sealed = master_key._aead.encrypt(nonce, secret.encode(), context.encode())  # noqa: SLF001
    return base64.b64encode(nonce + sealed).decode()


def open_secret(master_key: MasterKey, context: str, sealed: str) -> str:
    """Decrypt a secret sealed by `seal_secret` for the same `context`."""
    raw = base64.b64decode(sealed)
    try:
        return master_key._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()  # noqa: SLF001
    except InvalidTag as exc:
        raise CustodyError(f"secret for {context} does not decrypt") from exc


def new_account() -> LocalAccount:
    """A fresh random signing key."""
    return Account.create()


def _aad(org_id: int) -> bytes:
    return f"scfnet-custody:{org_id}".encode()
