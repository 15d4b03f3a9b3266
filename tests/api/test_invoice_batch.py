"""Bulk upload and bulk confirmation: many invoices in one request and one transaction, all or none."""

from __future__ import annotations

import json

from sqlmodel import Session, func, select

from api.models import Invoice, OutboxEntry
from tests.api.conftest import Network
from tests.api.support import Member, admit, invoice_form, pdf


def _batch(network: Network, seller: Member, forms: list[dict[str, object]], docs: list[bytes]):  # noqa: ANN202
    return network.client.post(
        "/invoices/batch?wait=true",
        data={"invoices": json.dumps(forms)},
        files=[("documents", (f"inv{i}.pdf", d, "application/pdf")) for i, d in enumerate(docs)],
        headers=seller.headers,
    )


def test_invoice_batch_registers_and_confirms_in_one_transaction_each(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    forms = [invoice_form(f"B-{i}", huaxin, f"{1000 + i}.00") for i in range(20)]
    r = _batch(network, delta, forms, [pdf(f"doc {i}") for i in range(20)])
    assert r.status_code == 201, r.text
    ids = [row["id"] for row in r.json()["result"]]
    assert len(ids) == 20 and {row["status"] for row in r.json()["result"]} == {"registered"}

    r = network.client.post(
        "/invoices/confirm-batch?wait=true", json={"invoice_ids": ids}, headers=huaxin.headers
    )
    assert r.status_code == 200, r.text
    assert {row["status"] for row in r.json()["result"]} == {"confirmed"}
    with Session(network.client.app.state.runtime.engine) as session:
        functions = session.exec(
            select(OutboxEntry.function).where(OutboxEntry.subject_type == "invoice_batch")
        ).all()
    assert sorted(functions) == ["confirmBatch", "registerBatch"]


def test_invoice_batch_with_a_duplicate_records_nothing(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    same = invoice_form("DUP-1", huaxin, "500.00")
    r = _batch(
        network, delta, [invoice_form("OK-1", huaxin, "100.00"), same, same], [pdf("a"), pdf("b"), pdf("c")]
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "duplicate_invoice" and r.json()["error"]["details"]["index"] == 2
    with Session(network.client.app.state.runtime.engine) as session:
        assert session.exec(select(func.count()).select_from(Invoice)).one() == 0
        assert (
            session.exec(
                select(func.count())
                .select_from(OutboxEntry)
                .where(OutboxEntry.subject_type == "invoice_batch")
            ).one()
            == 0
        )


def test_invoice_batch_document_count_must_match(network: Network) -> None:
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    r = _batch(
        network, delta, [invoice_form("X-1", huaxin, "1.00"), invoice_form("X-2", huaxin, "2.00")], [pdf("a")]
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "document_count_mismatch"
