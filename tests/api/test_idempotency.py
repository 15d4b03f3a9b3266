"""Idempotency-Key: the same key and request replay the first answer, refusals too; another request: 409."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.support import invoice_form, pdf
from tests.api.world import (
    OPERATOR,
    World,
    another_member,
    build_world,
    outbox_count,
    post_invoice,
    running_network,
)

# POSTs that take no Idempotency-Key, and why.
NOT_IDEMPOTENT = {
    "/organisations/{org_id}/members": "answers with a new API key, which must not be stored to replay",
    "/me/api-keys/rotate": "answers with a new API key, which must not be stored to replay",
    "/audit/documents/verify": "a read: it records nothing",
    "/webhooks": "answers with the signing secret, which must not be stored to replay",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_network(Path(tmp_path_factory.mktemp("idempotency"))) as net:
        yield build_world(
            net,
            roles={"core_a": ["CORE_FIRM"], "sup_a": ["SUPPLIER"], "bank_a": ["BANK"], "spare": ["SUPPLIER"]},
            objects={
                "confirmed": ("sup_a", "core_a", "confirmed"),
                "registered": ("sup_a", "core_a", "registered"),
            },
        )


def _key(world: World, label: str) -> str:
    return f"{label}-{outbox_count(world.net)}-{id(world)}"


def test_every_write_declares_an_idempotency_key(world: World) -> None:
    paths = world.net.client.app.openapi()["paths"]
    missing = []
    for path, operations in paths.items():
        post = operations.get("post")
        if post is None or path in NOT_IDEMPOTENT:
            continue
        headers = {p["name"] for p in post.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" not in headers:
            missing.append(path)
    assert not missing


def test_same_key_same_body_replays_the_first_answer_and_records_once(world: World) -> None:
    c, bank = world.net.client, world["bank_a"]
    key = _key(world, "deposit")
    body = {"to_org_id": world["sup_a"].org_id, "amount": "10.00"}
    before = outbox_count(world.net)
    first = c.post("/settlement/deposits", json=body, headers={**bank.headers, "Idempotency-Key": key})
    assert first.status_code == 202 and "Idempotent-Replay" not in first.headers
    for _ in range(2):
        again = c.post("/settlement/deposits", json=body, headers={**bank.headers, "Idempotency-Key": key})
        assert again.status_code == 202 and again.headers["Idempotent-Replay"] == "true"
        assert again.json() == first.json()
    assert outbox_count(world.net) == before + 1
    # Same key, another request: refused, nothing recorded.
    other = c.post(
        "/settlement/deposits",
        json={**body, "amount": "11.00"},
        headers={**bank.headers, "Idempotency-Key": key},
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert outbox_count(world.net) == before + 1


def test_uploads_replay_by_fields_and_document(world: World) -> None:
    sup = world["sup_a"]
    key = _key(world, "upload")
    form = invoice_form("IDEM-1", world["core_a"], "77.00")
    headers = {**sup.headers, "Idempotency-Key": key}
    before = outbox_count(world.net)

    def send(document: bytes, fields: dict[str, object] = form) -> object:
        return world.net.client.post(
            "/invoices?wait=true",
            data={"invoice": json.dumps(fields)},
            files={"document": ("invoice.pdf", document, "application/pdf")},
            headers=headers,
        )

    first = send(pdf("idempotent upload"))
    assert first.status_code == 201, first.text
    again = send(pdf("idempotent upload"))
    assert again.status_code == 201 and again.headers["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    assert outbox_count(world.net) == before + 1
    for document, fields in (
        (pdf("another scan"), form),
        (pdf("idempotent upload"), {**form, "amount": "78.00"}),
    ):
        r = send(document, fields)
        assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert outbox_count(world.net) == before + 1
    # Without the key, the same upload is the duplicate it is.
    r = post_invoice(world.net, sup, form, pdf("idempotent upload"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_invoice"


def test_refusals_are_replayed_too(world: World) -> None:
    c, sup = world.net.client, world["sup_a"]
    piece = world.invoices["confirmed"]
    key = _key(world, "split")
    headers = {**sup.headers, "Idempotency-Key": key}
    before = outbox_count(world.net)
    bad = {"amounts": ["1.00", "2.00"]}
    first = c.post(f"/receivables/{piece}/split", json=bad, headers=headers)
    assert first.status_code == 422 and first.json()["error"]["code"] == "split_sum_mismatch"
    again = c.post(f"/receivables/{piece}/split", json=bad, headers=headers)
    assert again.status_code == 422 and again.headers["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    # The refusal is the answer for this key: a corrected request needs a new key.
    whole = c.get(f"/receivables/{piece}", headers=sup.headers).json()["amount_minor"]
    good = {"amounts": ["1.00", f"{(whole - 100) / 100:.2f}"]}
    r = c.post(f"/receivables/{piece}/split", json=good, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
    assert outbox_count(world.net) == before
    # Role refusals are answers as well.
    core = {**world["core_a"].headers, "Idempotency-Key": key}
    for _ in range(2):
        r = c.post("/settlement/deposits", json={"to_org_id": 1, "amount": "1.00"}, headers=core)
        assert r.status_code == 403
    assert r.headers["Idempotent-Replay"] == "true"


def test_keys_are_per_member(world: World) -> None:
    c, bank = world.net.client, world["bank_a"]
    colleague = another_member(world.net, bank)
    key = _key(world, "shared")
    body = {"to_org_id": world["sup_a"].org_id, "amount": "3.00"}
    before = outbox_count(world.net)
    mine = c.post("/settlement/deposits", json=body, headers={**bank.headers, "Idempotency-Key": key})
    theirs = c.post("/settlement/deposits", json=body, headers={**colleague.headers, "Idempotency-Key": key})
    assert mine.status_code == theirs.status_code == 202
    assert "Idempotent-Replay" not in theirs.headers
    assert mine.json()["operation"]["id"] != theirs.json()["operation"]["id"]
    # Another organisation's member, another request, the same key string: its own answer.
    sup = world["sup_a"]
    r = c.post(
        f"/receivables/{world.invoices['confirmed']}/split",
        json={"amounts": ["5.00"]},
        headers={**sup.headers, "Idempotency-Key": key},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    assert outbox_count(world.net) == before + 2


def test_the_newly_idempotent_writes_replay(world: World) -> None:
    """Reject, signed confirmation, suspend and reinstate take the key like every other write."""
    c = world.net.client
    spare = world["spare"].org_id
    key = _key(world, "suspend")
    before = outbox_count(world.net)
    first = c.post(f"/organisations/{spare}/suspend", headers={**OPERATOR, "Idempotency-Key": key})
    again = c.post(f"/organisations/{spare}/suspend", headers={**OPERATOR, "Idempotency-Key": key})
    assert first.status_code == again.status_code == 202 and again.json() == first.json()
    other = c.post(f"/organisations/{spare}/reinstate", headers={**OPERATOR, "Idempotency-Key": key})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    invoice = world.invoices["registered"]
    core = {**world["core_a"].headers, "Idempotency-Key": key}
    first = c.post(f"/invoices/{invoice}/reject", json={"reason": "wrong goods"}, headers=core)
    again = c.post(f"/invoices/{invoice}/reject", json={"reason": "wrong goods"}, headers=core)
    assert first.status_code == again.status_code == 202 and again.headers["Idempotent-Replay"] == "true"
    assert outbox_count(world.net) == before + 2


@pytest.mark.parametrize("key", [" ", "k" * 129])
def test_blank_or_overlong_keys_are_refused(world: World, key: str) -> None:
    before = outbox_count(world.net)
    r = world.net.client.post(
        "/settlement/deposits",
        json={"to_org_id": world["sup_a"].org_id, "amount": "1.00"},
        headers={**world["bank_a"].headers, "Idempotency-Key": key},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] in (
        "invalid_idempotency_key",
        "validation_failed",
    )
    assert outbox_count(world.net) == before
