"""Invoice documents: type checked by content, stored content-addressed by SHA-256."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Magic numbers of the formats members may upload; the file name and declared type are ignored.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
# The media types a stored document can have, as downloads answer with them.
DOCUMENT_TYPES: tuple[str, ...] = tuple(sorted({media_type for _, media_type in _SIGNATURES}))


def sniff_media_type(content: bytes) -> str | None:
    """The media type `content` really has, or None if it is not an accepted document type."""
    for magic, media_type in _SIGNATURES:
        if content.startswith(magic):
            return media_type
    return None


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class DocumentStore:
    """Files under `root/<sha[:2]>/<sha>`; writing the same content twice is a no-op."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Store `content` durably; return its SHA-256 hex."""
        digest = sha256_hex(content)
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a crash, not only the bytes
        finally:
            os.close(directory)
        return digest

    def put_many(self, contents: list[bytes]) -> list[str]:
        """Store many documents durably; the fsyncs run in parallel (they wait on the disk, not the CPU)."""
        pending: dict[str, bytes] = {}
        for content in contents:
            digest = sha256_hex(content)
            if not self.path(digest).exists():
                pending[digest] = content
        if len(pending) <= 1:
            for content in pending.values():
                self.put(content)
        else:
            with ThreadPoolExecutor(max_workers=min(16, len(pending))) as pool:
                list(pool.map(self.put, pending.values()))
        return [sha256_hex(c) for c in contents]

    def get(self, sha256: str) -> bytes:
        """The content stored under `sha256` (FileNotFoundError if absent)."""
        return self.path(sha256).read_bytes()
