"""The reference scenario's steps 1-7, 11 and 12 over HTTP, as members would run them."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from api.models import Piece
from tests.api.conftest import Network
from tests.api.support import admit, invoice_form, pdf, upload


def test_scenario_over_http(network: Network) -> None:
    c = network.client
    # 1. The operator admits everyone; members get credentials.
    huaxin = admit(network, "huaxin", ["CORE_FIRM"])
    delta = admit(network, "delta", ["SUPPLIER"])
    eastern = admit(network, "eastern", ["SUPPLIER"])
    bank_a = admit(network, "bank-a", ["BANK"])
    bank_b = admit(network, "bank-b", ["BANK"])
    cpa = admit(network, "cpa", ["AUDITOR"])
    for bank in (bank_a, bank_b):
        r = c.post(
            "/settlement/deposits?wait=true",
            json={"to_org_id": bank.org_id, "amount": "5000000.00"},
            headers=bank.headers,
        )
        assert r.status_code == 201, r.text
    r = c.post(
        "/settlement/deposits?wait=true",
        json={"to_org_id": huaxin.org_id, "amount": "2000000.00"},
        headers=bank_a.headers,
    )
    assert r.status_code == 201, r.text

    # 2. Delta uploads INV-1001: 1,000,000.00 CNY due in 90 days, with its PDF.
    form = invoice_form("INV-1001", huaxin, "1000000.00")
    document = pdf("original scan")
    r = upload(network, delta, form, document)
    assert r.status_code == 201, r.text
    invoice = r.json()["result"]
    assert invoice["status"] == "registered" and invoice["amount_minor"] == 100_000_000
    invoice_id = invoice["id"]

    # 3. The same invoice again, re-scanned: refused as a duplicate; nothing recorded changes.
    r = upload(network, delta, {**form, "invoice_number": "inv 1001"}, pdf("re-scan, other bytes"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_invoice"
    assert (
        c.get(f"/invoices/{invoice_id}", headers=delta.headers).json()["document_sha256"]
        == hashlib.sha256(document).hexdigest()
    )

    # 4. Huaxin confirms.
    r = c.post(f"/invoices/{invoice_id}/confirm?wait=true", headers=huaxin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["status"] == "confirmed"

    # 5. Delta splits off 300,000.00 and pays Eastern with it.
    r = c.post(
        f"/receivables/{invoice_id}/split?wait=true",
        json={"amounts": ["300000.00", "700000.00"]},
        headers=delta.headers,
    )
    assert r.status_code == 200, r.text
    parts = {p["amount_minor"]: p for p in r.json()["result"] if p["parent_id"] == invoice_id}
    eastern_piece, delta_piece = parts[30_000_000]["id"], parts[70_000_000]["id"]
    r = c.post(
        f"/receivables/{eastern_piece}/transfer?wait=true",
        json={"to_credit_code": eastern.credit_code},
        headers=delta.headers,
    )
    assert r.status_code == 200 and r.json()["result"]["holder_org"] == eastern.chain_org_id

    # 6. Eastern asks Bank A; Bank A sees it and funds at 4.5 %: cash and piece move together.
    due_at = parts[30_000_000]["due_at"]
    r = c.post(
        f"/receivables/{eastern_piece}/financing-requests?wait=true",
        json={"bank_credit_code": bank_a.credit_code, "max_rate_ppm": 50_000, "expires_at": due_at - 86_400},
        headers=eastern.headers,
    )
    assert r.status_code == 201, r.text
    requests = c.get("/financing-requests", headers=bank_a.headers).json()
    assert [q["piece_id"] for q in requests["data"]] == [eastern_piece]
    assert c.get("/financing-requests", headers=bank_b.headers).json()["count"] == 0
    quote = c.get(f"/receivables/{eastern_piece}/quote?rate_ppm=45000", headers=bank_a.headers).json()
    before = c.get(f"/settlement/balances/{eastern.org_id}", headers=eastern.headers).json()["balance_minor"]
    r = c.post(
        f"/receivables/{eastern_piece}/fund?wait=true", json={"rate_ppm": 45_000}, headers=bank_a.headers
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["result"]["holder_org"] == bank_a.chain_org_id and r.json()["result"]["lock"] == "financed"
    )
    after = c.get(f"/settlement/balances/{eastern.org_id}", headers=eastern.headers).json()["balance_minor"]
    assert after - before == quote["price_minor"] == 30_000_000 - quote["discount_minor"]
    assert quote["discount_days"] in (89, 90)

    # 7. Bank B cannot fund it again; Delta cannot split 700,000.00 into more than it is.
    r = c.post(
        f"/receivables/{eastern_piece}/fund?wait=true", json={"rate_ppm": 40_000}, headers=bank_b.headers
    )
    assert r.status_code in (404, 409), r.text  # Bank B may not even see it: it was addressed to Bank A
    r = c.post(
        f"/receivables/{delta_piece}/split?wait=true",
        json={"amounts": ["400000.00", "400000.00"]},
        headers=delta.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "split_sum_mismatch"

    # 11. At maturity Huaxin repays: Bank A gets 300,000.00, Delta 700,000.00, in one transaction.
    network.rpc("evm_increaseTime", [91 * 86_400])
    network.rpc("evm_mine", [])
    balances = {
        m.name: c.get(f"/settlement/balances/{m.org_id}", headers=m.headers).json()["balance_minor"]
        for m in (bank_a, delta)
    }
    r = c.post(
        "/repayments?wait=true", json={"piece_ids": [eastern_piece, delta_piece]}, headers=huaxin.headers
    )
    assert r.status_code == 200, r.text
    assert c.get(f"/settlement/balances/{bank_a.org_id}", headers=bank_a.headers).json()["balance_minor"] == (
        balances["bank-a"] + 30_000_000
    )
    assert c.get(f"/settlement/balances/{delta.org_id}", headers=delta.headers).json()["balance_minor"] == (
        balances["delta"] + 70_000_000
    )
    assert c.get(f"/invoices/{invoice_id}", headers=huaxin.headers).json()["status"] == "settled"

    # 12. CPA verifies the PDF, walks the history, reconciles; a row altered behind the API is caught.
    r = c.post(
        "/audit/documents/verify",
        data={"invoice_id": invoice_id},
        files={"document": ("x.pdf", document, "application/pdf")},
        headers=cpa.headers,
    )
    assert r.status_code == 200 and r.json()["anchored"] is True
    r = c.post(
        "/audit/documents/verify",
        files={"document": ("x.pdf", pdf("forged"), "application/pdf")},
        headers=cpa.headers,
    )
    assert r.json()["anchored"] is False
    history = c.get(f"/audit/receivables/{invoice_id}/history", headers=cpa.headers).json()
    names = [e["event"] for e in history["events"]]
    for expected in (
        "ReceivableRegistered",
        "ReceivableConfirmed",
        "PieceTransferred",
        "PieceFinanced",
        "PieceRepaid",
    ):
        assert expected in names
    assert history["tree"][invoice_id] == [eastern_piece, delta_piece]
    report = c.get("/audit/reconciliation", headers=cpa.headers).json()
    assert report["consistent"] is True, report["mismatches"]
    with Session(c.app.state.runtime.engine) as session:
        row = session.get(Piece, delta_piece)
        assert row is not None
        row.amount_minor = 80_000_000
        session.add(row)
        session.commit()
    report = c.get("/audit/reconciliation", headers=cpa.headers).json()
    assert report["consistent"] is False
    assert {
        "kind": "piece",
        "id": delta_piece,
        "field": "amount_minor",
        "database": 80_000_000,
        "chain": 70_000_000,
    } in report["mismatches"]
