"""The document store: content-addressed, durable, and never a partial file under a digest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from api import documents
from api.documents import DocumentStore


def _docs(n: int, tag: str) -> list[bytes]:
    return [b"%PDF-1.4\n% " + f"{tag}-{i}".encode() + b"\n%%EOF\n" for i in range(n)]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("flushed", [True, False], ids=["syncfs", "fsync-threads"])
def test_put_many_stores_each_document_under_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flushed: bool
) -> None:
    if flushed and documents._SYNCFS is None:
        pytest.skip("syncfs(2) is Linux only")
    if not flushed:
        monkeypatch.setattr(documents, "_SYNCFS", None)
    store = DocumentStore(tmp_path)
    contents = _docs(40, "a")
    contents.append(contents[3])  # the same document twice in one batch

    digests = store.put_many(contents)

    assert digests == [hashlib.sha256(c).hexdigest() for c in contents]
    assert _files(tmp_path) == {store.path(d) for d in set(digests)}  # no temporary file left
    for digest, content in zip(digests, contents, strict=True):
        assert store.get(digest) == content
    # Storing again (and with new documents) keeps what is there and adds the rest.
    more = _docs(5, "b")
    store.put_many(contents[:10] + more)
    assert len(_files(tmp_path)) == 40 + 5
    assert all(store.get(hashlib.sha256(c).hexdigest()) == c for c in more)


def test_a_failed_flush_leaves_no_document_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if documents._SYNCFS is None:
        pytest.skip("syncfs(2) is Linux only")
    store = DocumentStore(tmp_path)
    kept = store.put_many(_docs(3, "kept"))

    def broken(_path: Path) -> None:
        raise OSError(5, "syncfs failed: Input/output error")

    monkeypatch.setattr(documents, "_syncfs", broken)
    with pytest.raises(OSError, match="Input/output"):
        store.put_many(_docs(10, "lost"))

    # Nothing of the failed batch is visible under a digest; what was stored before is intact.
    assert _files(tmp_path) == {store.path(d) for d in kept}
