"""Bad input for every endpoint family: a 4xx with a machine-readable code, never a 500; nothing changes."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import invoice_form, pdf, today
from tests.api.world import OPERATOR, World, build_world, outbox_count, post_invoice, running_network, settle

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32
MAX_DOCUMENT = 64 * 1024
MAX_BODY = 256 * 1024
UNKNOWN_ID = "0x" + "ab" * 32
NON_HEX_ID = "0x" + "zz" * 32


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    overrides = {"max_document_bytes": MAX_DOCUMENT, "max_body_bytes": MAX_BODY}
    with running_network(Path(tmp_path_factory.mktemp("bad-input")), **overrides) as net:
        yield build_world(
            net,
            roles={k: ["CORE_FIRM"] if k == "core_a" else v for k, v in _ROLES.items()},
            objects={
                "registered": ("sup_a", "core_a", "registered"),
                "confirmed": ("sup_a", "core_a", "confirmed"),
                "requested": ("sup_a", "core_a", "requested"),
            },
        )


_ROLES = {
    "core_a": ["CORE_FIRM"],
    "sup_a": ["SUPPLIER"],
    "sup_b": ["SUPPLIER"],
    "bank_a": ["BANK"],
    "auditor": ["AUDITOR"],
}


@dataclass(frozen=True)
class Bad:
    """One refused request: who sends it, what, and the status and code it must get."""

    who: str
    method: str
    path: str
    status: int
    code: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_numbers = itertools.count()


def _form(w: World, **changes: Any) -> dict[str, Any]:
    form = invoice_form(f"BAD-{next(_numbers)}", w["core_a"], "100.00")
    form.update(changes)
    return form


def _upload(form: Any, document: bytes = b"", name: str = "invoice.pdf") -> dict[str, Any]:
    invoice = form if isinstance(form, str) else json.dumps(form)
    return {
        "data": {"invoice": invoice},
        "files": {"document": (name, document or pdf(invoice[:60]), "application/pdf")},
    }


def _raw(text: str) -> dict[str, Any]:
    return {"content": text, "headers": {"Content-Type": "application/json"}}


def _invoice_cases(w: World) -> list[Bad]:
    i = w.invoices
    reg = i["registered"]
    far = (today() + dt.timedelta(days=366)).isoformat()
    past = (today() - dt.timedelta(days=1)).isoformat()
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    bad_check = w["core_a"].credit_code[:-1] + ("0" if w["core_a"].credit_code[-1] != "0" else "1")
    cases = [
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload("{not json")),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload("[1, 2]")),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload(_form(w, amount=100))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload(_form(w, issue_date="2024-13-45"))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload(_form(w, line_items="many"))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload(_form(w, surprise=True))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_invoice", _upload({"invoice_number": "X"})),
        Bad("sup_a", "POST", "/invoices", 422, "validation_failed", {"data": {"invoice": "{}"}}),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            422,
            "validation_failed",
            {"files": {"document": ("a.pdf", pdf("x"))}},
        ),
        Bad("sup_a", "POST", "/invoices", 422, "validation_failed", _raw('{"invoice": {}}')),
        Bad("sup_a", "POST", "/invoices", 422, "unsupported_currency", _upload(_form(w, currency="USD"))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_due_date", _upload(_form(w, due_date=past))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_due_date", _upload(_form(w, due_date=far))),
        Bad("sup_a", "POST", "/invoices", 422, "invalid_issue_date", _upload(_form(w, issue_date=tomorrow))),
        Bad(
            "sup_a", "POST", "/invoices", 422, "unknown_buyer", _upload(_form(w, buyer_credit_code=bad_check))
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            422,
            "unknown_buyer",
            _upload(_form(w, buyer_credit_code=w["sup_b"].credit_code)),  # admitted, but not a core firm
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            422,
            "empty_document",
            {"data": _upload(_form(w))["data"], "files": {"document": ("a.pdf", b"", "application/pdf")}},
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            422,
            "unsupported_document_type",
            _upload(_form(w), b"plain text pretending to be a PDF"),
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            422,
            "unsupported_document_type",
            _upload(_form(w), b"<html><body>%PDF-1.4</body></html>"),
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            413,
            "document_too_large",
            _upload(_form(w), b"%PDF-1.4\n" + b"0" * MAX_DOCUMENT),
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            413,
            "request_too_large",
            _upload(_form(w), b"%PDF-1.4\n" + b"0" * MAX_BODY),
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices",
            413,
            "request_too_large",
            {"content": b"x", "headers": {"Content-Length": "not a number"}},
        ),
    ]
    for amount in ("1.001", "-5", "abc", "0", "0.00", "NaN", "Infinity", "1e400", ""):
        cases.append(
            Bad("sup_a", "POST", "/invoices", 422, "invalid_amount", _upload(_form(w, amount=amount)))
        )
    signature = {"signer": w["core_a"].account, "deadline": 2**32, "signature": "0x" + "11" * 65}
    for body in (
        {**signature, "signature": "0x1234"},
        {**signature, "signature": "0x" + "zz" * 65},
        {**signature, "deadline": -1},
        {**signature, "deadline": "tomorrow"},
        {**signature, "signer": "0x1234"},
        {**signature, "extra": 1},
        {"signer": w["core_a"].account},
    ):
        cases.append(
            Bad(
                "core_a",
                "POST",
                f"/invoices/{reg}/confirm-signature",
                422,
                "validation_failed",
                {"json": body},
            )
        )
    for body in ({"reason": ""}, {"reason": "x" * 33}, {"reason": 5}, {}, {"reason": "ok", "more": 1}):
        cases.append(
            Bad("core_a", "POST", f"/invoices/{reg}/reject", 422, "validation_failed", {"json": body})
        )
    cases += [
        Bad("core_a", "POST", f"/invoices/{reg}/reject", 422, "validation_failed", _raw("{")),
        Bad("core_a", "GET", f"/invoices/{reg}/confirmation-typed-data", 422, "validation_failed"),
        Bad(
            "core_a",
            "GET",
            f"/invoices/{reg}/confirmation-typed-data?signer=0x12&deadline=5",
            422,
            "validation_failed",
        ),
        Bad(
            "core_a",
            "GET",
            f"/invoices/{reg}/confirmation-typed-data?signer={w['core_a'].account}&deadline=0",
            422,
            "validation_failed",
        ),
        Bad(
            "core_a",
            "POST",
            "/invoices/confirm-batch",
            422,
            "validation_failed",
            {"json": {"invoice_ids": "x"}},
        ),
        Bad(
            "core_a",
            "POST",
            "/invoices/confirm-batch",
            422,
            "invalid_batch",
            {"json": {"invoice_ids": [reg, reg]}},
        ),
        Bad(
            "core_a",
            "POST",
            "/invoices/confirm-batch",
            404,
            "invoice_not_found",
            {"json": {"invoice_ids": [UNKNOWN_ID]}},
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices/batch",
            422,
            "invalid_invoice",
            {"data": {"invoices": "{}"}, "files": [("documents", ("a.pdf", pdf("b"), "application/pdf"))]},
        ),
        Bad(
            "sup_a",
            "POST",
            "/invoices/batch",
            422,
            "document_count_mismatch",
            {
                "data": {"invoices": json.dumps([_form(w), _form(w, invoice_number="B2")])},
                "files": [("documents", ("a.pdf", pdf("c"), "application/pdf"))],
            },
        ),
    ]
    for bad_id in (UNKNOWN_ID, NON_HEX_ID, "nothex", "0x12"):
        cases += [
            Bad("core_a", "GET", f"/invoices/{bad_id}", 404, "invoice_not_found"),
            Bad("core_a", "GET", f"/invoices/{bad_id}/document", 404, "invoice_not_found"),
            Bad("core_a", "POST", f"/invoices/{bad_id}/confirm", 404, "invoice_not_found"),
            Bad(
                "core_a",
                "POST",
                f"/invoices/{bad_id}/reject",
                404,
                "invoice_not_found",
                {"json": {"reason": "x"}},
            ),
            Bad(
                "core_a",
                "POST",
                f"/invoices/{bad_id}/confirm-signature",
                404,
                "invoice_not_found",
                {"json": signature},
            ),
        ]
    return cases


def _receivable_cases(w: World) -> list[Bad]:
    i = w.invoices
    piece, requested = i["confirmed"], i["requested"]
    due = w.get(f"/receivables/{piece}", w["auditor"]).json()["due_at"]
    amount = w.get(f"/receivables/{piece}", w["auditor"]).json()["amount"]
    bad_check = w["sup_b"].credit_code[:-1] + ("0" if w["sup_b"].credit_code[-1] != "0" else "1")
    request = {
        "bank_credit_code": w["bank_a"].credit_code,
        "max_rate_ppm": 50_000,
        "expires_at": due - 86_400,
    }
    split = f"/receivables/{piece}/split"
    cases = [
        Bad("sup_a", "POST", split, 422, "validation_failed", _raw("{amounts: [}")),
        Bad("sup_a", "POST", split, 422, "validation_failed", {"json": {}}),
        Bad("sup_a", "POST", split, 422, "validation_failed", {"json": {"amounts": "1.00,2.00"}}),
        Bad("sup_a", "POST", split, 422, "validation_failed", {"json": {"amounts": [1, 2]}}),
        Bad("sup_a", "POST", split, 422, "validation_failed", {"json": {"amounts": [amount]}}),
        Bad("sup_a", "POST", split, 422, "validation_failed", {"json": {"amounts": ["1.00"] * 17}}),
        Bad(
            "sup_a", "POST", split, 422, "validation_failed", {"json": {"amounts": ["1.00", "2.00"], "x": 1}}
        ),
        Bad("sup_a", "POST", split, 422, "split_sum_mismatch", {"json": {"amounts": ["1.00", "2.00"]}}),
        Bad("sup_a", "POST", split, 422, "split_sum_mismatch", {"json": {"amounts": [amount, "0.01"]}}),
    ]
    for part in ("1.001", "-5", "abc", "0"):
        cases.append(
            Bad("sup_a", "POST", split, 422, "invalid_amount", {"json": {"amounts": [part, amount]}})
        )
    transfer = f"/receivables/{piece}/transfer"
    cases += [
        Bad("sup_a", "POST", transfer, 422, "validation_failed", {"json": {"to_credit_code": 12}}),
        Bad("sup_a", "POST", transfer, 422, "validation_failed", {"json": {"to": w["sup_b"].credit_code}}),
        Bad("sup_a", "POST", transfer, 422, "unknown_supplier", {"json": {"to_credit_code": bad_check}}),
        Bad(
            "sup_a",
            "POST",
            transfer,
            422,
            "unknown_supplier",
            {"json": {"to_credit_code": w["bank_a"].credit_code}},
        ),
        Bad(
            "sup_a",
            "POST",
            transfer,
            422,
            "self_transfer",
            {"json": {"to_credit_code": w["sup_a"].credit_code}},
        ),
    ]
    ask = f"/receivables/{piece}/financing-requests"
    for body in (
        {**request, "max_rate_ppm": 0},
        {**request, "max_rate_ppm": 1_000_001},
        {**request, "max_rate_ppm": "4.5%"},
        {**request, "expires_at": "soon"},
        {**request, "expires_at": -1},
        {**request, "bank_credit_code": "short"},
        {**request, "note": "hello"},
        {"max_rate_ppm": 50_000},
    ):
        cases.append(Bad("sup_a", "POST", ask, 422, "validation_failed", {"json": body}))
    cases += [
        Bad("sup_a", "POST", ask, 422, "invalid_expiry", {"json": {**request, "expires_at": due + 1}}),
        Bad("sup_a", "POST", ask, 422, "unknown_bank", {"json": {**request, "bank_credit_code": bad_check}}),
        Bad(
            "sup_a",
            "POST",
            ask,
            422,
            "unknown_bank",
            {"json": {**request, "bank_credit_code": w["sup_b"].credit_code}},
        ),
        Bad("sup_a", "DELETE", f"/receivables/{piece}/financing-request", 409, "no_finance_request"),
        Bad(
            "sup_a",
            "POST",
            f"/receivables/{requested}/split",
            409,
            "receivable_finance_requested",
            {"json": {"amounts": ["1.00", "1.00"]}},
        ),
        Bad(
            "bank_a",
            "POST",
            f"/receivables/{piece}/fund",
            404,  # the bank is not asked: the piece does not exist for it
            "receivable_not_found",
            {"json": {"rate_ppm": 1}},
        ),
        Bad(
            "bank_a",
            "POST",
            f"/receivables/{requested}/fund",
            422,
            "validation_failed",
            {"json": {"rate_ppm": 0}},
        ),
        Bad(
            "bank_a",
            "POST",
            f"/receivables/{requested}/fund",
            422,
            "validation_failed",
            {"json": {"rate_ppm": 2_000_000}},
        ),
        Bad("bank_a", "POST", f"/receivables/{requested}/fund", 422, "validation_failed", {"json": {}}),
        Bad("bank_a", "POST", f"/receivables/{requested}/fund", 422, "validation_failed", _raw("rate=5")),
        Bad("bank_a", "GET", f"/receivables/{requested}/quote", 422, "validation_failed"),
        Bad("bank_a", "GET", f"/receivables/{requested}/quote?rate_ppm=0", 422, "validation_failed"),
        Bad("bank_a", "GET", f"/receivables/{requested}/quote?rate_ppm=abc", 422, "validation_failed"),
        Bad("core_a", "POST", "/repayments", 422, "validation_failed", {"json": {"piece_ids": []}}),
        Bad(
            "core_a", "POST", "/repayments", 422, "validation_failed", {"json": {"piece_ids": [piece] * 129}}
        ),
        Bad("core_a", "POST", "/repayments", 422, "validation_failed", {"json": {"piece_ids": piece}}),
        Bad("core_a", "GET", "/receivables?limit=0", 422, "validation_failed"),
        Bad("core_a", "GET", "/receivables?offset=-1", 422, "validation_failed"),
        Bad("core_a", "GET", "/invoices?limit=1000", 422, "validation_failed"),
    ]
    for bad_id in (UNKNOWN_ID, NON_HEX_ID, "nothex"):
        cases += [
            Bad("sup_a", "GET", f"/receivables/{bad_id}", 404, "receivable_not_found"),
            Bad(
                "sup_a",
                "POST",
                f"/receivables/{bad_id}/split",
                404,
                "receivable_not_found",
                {"json": {"amounts": ["1.00", "1.00"]}},
            ),
            Bad(
                "sup_a",
                "POST",
                f"/receivables/{bad_id}/transfer",
                404,
                "receivable_not_found",
                {"json": {"to_credit_code": w["sup_b"].credit_code}},
            ),
            Bad(
                "sup_a",
                "POST",
                f"/receivables/{bad_id}/financing-requests",
                404,
                "receivable_not_found",
                {"json": request},
            ),
            Bad("sup_a", "DELETE", f"/receivables/{bad_id}/financing-request", 404, "receivable_not_found"),
            Bad(
                "bank_a",
                "POST",
                f"/receivables/{bad_id}/fund",
                404,
                "receivable_not_found",
                {"json": {"rate_ppm": 1000}},
            ),
            Bad("bank_a", "GET", f"/receivables/{bad_id}/quote?rate_ppm=1000", 404, "receivable_not_found"),
            Bad(
                "core_a",
                "POST",
                "/repayments",
                404,
                "receivable_not_found",
                {"json": {"piece_ids": [bad_id]}},
            ),
        ]
    return cases


def _other_cases(w: World) -> list[Bad]:
    bank, sup = w["bank_a"], w["sup_a"]
    code = w["sup_b"].credit_code
    bad_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    org = {"name": "newco", "credit_code": code, "roles": ["SUPPLIER"]}
    cases = [
        Bad("operator", "POST", "/organisations", 422, "validation_failed", _raw('{"name": ')),
        Bad(
            "operator",
            "POST",
            "/organisations",
            422,
            "validation_failed",
            {"json": {**org, "roles": "SUPPLIER"}},
        ),
        Bad("operator", "POST", "/organisations", 422, "validation_failed", {"json": {**org, "roles": []}}),
        Bad("operator", "POST", "/organisations", 422, "validation_failed", {"json": {**org, "name": 5}}),
        Bad("operator", "POST", "/organisations", 422, "validation_failed", {"json": {"name": "x"}}),
        Bad("operator", "POST", "/organisations", 422, "validation_failed", {"json": {**org, "admin": True}}),
        Bad(
            "operator",
            "POST",
            "/organisations",
            422,
            "validation_failed",
            {"json": {**org, "credit_code": "1"}},
        ),
        Bad(
            "operator",
            "POST",
            "/organisations",
            422,
            "invalid_credit_code",
            {"json": {**org, "credit_code": bad_check}},
        ),
        Bad("operator", "POST", "/organisations", 422, "invalid_roles", {"json": {**org, "roles": ["KING"]}}),
        Bad(
            "operator",
            "POST",
            "/organisations",
            422,
            "invalid_roles",
            {"json": {**org, "roles": ["OPERATOR"]}},
        ),
        Bad("operator", "POST", "/organisations", 409, "organisation_exists", {"json": org}),
        Bad(
            "operator",
            "POST",
            "/organisations",
            413,
            "request_too_large",
            {"json": {**org, "name": "x" * MAX_BODY}},
        ),
        Bad(
            "operator",
            "POST",
            "/organisations/999999/members",
            404,
            "organisation_not_found",
            {"json": {"name": "x"}},
        ),
        Bad(
            "operator",
            "POST",
            "/organisations/abc/members",
            422,
            "validation_failed",
            {"json": {"name": "x"}},
        ),
        Bad(
            "operator",
            "POST",
            f"/organisations/{sup.org_id}/members",
            422,
            "validation_failed",
            {"json": {"name": ""}},
        ),
        Bad("operator", "POST", "/organisations/999999/suspend", 404, "organisation_not_found"),
        Bad("operator", "POST", "/organisations/1/suspend", 409, "operator_lockout"),
        Bad("operator", "GET", "/organisations/999999", 404, "organisation_not_found"),
        Bad("operator", "GET", "/organisations?role=KING", 422, "invalid_roles"),
        Bad("operator", "GET", "/operations/not-an-operation", 404, "operation_not_found"),
        Bad("sup_a", "DELETE", "/api-keys/abc", 422, "validation_failed"),
        Bad("sup_a", "DELETE", "/api-keys/999999", 404, "api_key_not_found"),
        Bad("sup_a", "GET", "/no/such/endpoint", 404, "not_found"),
        Bad("sup_a", "PATCH", "/invoices", 405, "method_not_allowed"),
    ]
    deposit = {"to_org_id": sup.org_id, "amount": "1.00"}
    for amount in ("1.001", "-5", "abc", "0"):
        cases.append(
            Bad(
                "bank_a",
                "POST",
                "/settlement/deposits",
                422,
                "invalid_amount",
                {"json": {**deposit, "amount": amount}},
            )
        )
    cases += [
        Bad("bank_a", "POST", "/settlement/deposits", 422, "validation_failed", _raw("[")),
        Bad(
            "bank_a",
            "POST",
            "/settlement/deposits",
            422,
            "validation_failed",
            {"json": {**deposit, "to_org_id": 0}},
        ),
        Bad(
            "bank_a",
            "POST",
            "/settlement/deposits",
            422,
            "validation_failed",
            {"json": {**deposit, "amount": 5}},
        ),
        Bad("bank_a", "POST", "/settlement/deposits", 422, "validation_failed", {"json": {"amount": "1.00"}}),
        Bad(
            "bank_a",
            "POST",
            "/settlement/deposits",
            422,
            "validation_failed",
            {"json": {**deposit, "memo": "x"}},
        ),
        Bad(
            "bank_a",
            "POST",
            "/settlement/deposits",
            404,
            "organisation_not_found",
            {"json": {**deposit, "to_org_id": 999999}},
        ),
        Bad(
            "bank_a",
            "POST",
            "/settlement/deposits",
            413,
            "request_too_large",
            {"json": {**deposit, "memo": "x" * MAX_BODY}},
        ),
        Bad("bank_a", "GET", "/settlement/balances/abc", 422, "validation_failed"),
        Bad("bank_a", "GET", "/settlement/balances/999999", 404, "organisation_not_found"),
        Bad("bank_a", "GET", f"/settlement/movements/{bank.org_id}?limit=0", 422, "validation_failed"),
        Bad("auditor", "POST", "/audit/documents/verify", 422, "document_required"),
        Bad(
            "auditor",
            "POST",
            "/audit/documents/verify",
            422,
            "validation_failed",
            {"data": {"sha256": "xyz"}},
        ),
        Bad(
            "auditor",
            "POST",
            "/audit/documents/verify",
            422,
            "validation_failed",
            {"data": {"sha256": "ab" * 32, "invoice_id": "0x12"}},
        ),
        Bad(
            "auditor",
            "POST",
            "/audit/documents/verify",
            413,
            "document_too_large",
            {"files": {"document": ("big.pdf", b"%PDF-" + b"0" * MAX_DOCUMENT, "application/pdf")}},
        ),
        Bad(
            "auditor",
            "POST",
            "/audit/documents/verify",
            404,
            "invoice_not_on_chain",
            {"data": {"sha256": "ab" * 32, "invoice_id": UNKNOWN_ID}},
        ),
        Bad("auditor", "GET", f"/audit/receivables/{UNKNOWN_ID}/history", 404, "invoice_not_on_chain"),
        Bad("auditor", "GET", f"/audit/receivables/{NON_HEX_ID}/history", 422, "invalid_id"),
        Bad("auditor", "GET", "/audit/receivables/0x12/history", 422, "invalid_id"),
        Bad("sup_a", "POST", "/webhooks", 422, "validation_failed", _raw("{")),
        Bad("sup_a", "POST", "/webhooks", 422, "validation_failed", {"json": {"url": 5}}),
        Bad("sup_a", "POST", "/webhooks", 422, "invalid_webhook_url", {"json": {"url": "ftp://x.example/h"}}),
        Bad(
            "sup_a",
            "POST",
            "/webhooks",
            422,
            "webhook_url_not_public",
            {"json": {"url": "http://127.0.0.1/h"}},
        ),
        Bad("sup_a", "DELETE", "/webhooks/999999", 404, "webhook_not_found"),
        Bad("sup_a", "GET", "/notifications?types=nonsense", 422, "unknown_event_type"),
    ]
    return cases


def _snapshot(w: World) -> tuple[Any, ...]:
    """Everything a refusal must leave alone: the outbox, and every invoice and piece as auditors see it."""
    auditor = w["auditor"]
    invoices = w.get("/invoices?limit=200", auditor).json()
    pieces = w.get("/receivables?limit=200", auditor).json()
    organisations = w.get("/organisations?limit=200", auditor).json()
    return outbox_count(w.net), invoices, pieces, organisations


@pytest.mark.parametrize("family", ["invoices", "receivables", "organisations, settlement, audit, keys"])
def test_bad_input_is_refused_with_a_code_and_changes_nothing(world: World, family: str) -> None:
    settle(world.net)
    make = {"invoices": _invoice_cases, "receivables": _receivable_cases}.get(family, _other_cases)
    cases = make(world)
    before = _snapshot(world)
    wrong = []
    for case in cases:
        headers = OPERATOR if case.who == "operator" else world[case.who].headers
        kwargs = dict(case.kwargs)
        headers = {**headers, **kwargs.pop("headers", {})}
        r = world.net.client.request(case.method, case.path, headers=headers, **kwargs)
        try:
            code = r.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if (r.status_code, code) != (case.status, case.code):
            wrong.append(f"{case.who} {case.method} {case.path[:80]}: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)
    assert _snapshot(world) == before
    print(f"\nbad input ({family}): {len(cases)} requests refused, nothing recorded changed")


def test_documents_are_typed_by_content_not_by_name(world: World) -> None:
    c, sup = world.net.client, world["sup_a"]
    before = outbox_count(world.net)
    form = invoice_form("PNG-AS-PDF", world["core_a"], "12.00")
    r = post_invoice(
        world.net, sup, form, PNG, query="?wait=true"
    )  # named invoice.pdf, sent as application/pdf
    assert r.status_code == 201, r.text
    assert outbox_count(world.net) == before + 1
    document = c.get(f"/invoices/{r.json()['result']['id']}/document", headers=sup.headers)
    assert document.status_code == 200 and document.content == PNG
    assert document.headers["content-type"] == "image/png"


def test_a_lying_content_length_is_not_a_way_around_the_body_limit(world: World) -> None:
    """A body streamed without Content-Length still meets the limit (no 500, nothing recorded)."""
    before = _snapshot(world)
    body = json.dumps({"to_org_id": world["sup_a"].org_id, "amount": "1.00", "memo": "x" * MAX_BODY}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65_536):
            yield body[start : start + 65_536]

    r = world.net.client.post(
        "/settlement/deposits",
        content=chunks(),
        headers={**world["bank_a"].headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text
    assert _snapshot(world) == before


# -- rate limits ---------------------------------------------------------------------------------


def test_rate_limit_per_member_answers_429_with_retry_after(tmp_path: Path) -> None:
    with running_network(tmp_path, rate_limit_per_minute=5) as net:
        c = net.client
        r = c.post("/organisations/1/members", json={"name": "second"}, headers=OPERATOR)
        assert r.status_code == 201, r.text
        other = {"Authorization": f"Bearer {r.json()['api_key']}"}
        statuses = [c.get("/me", headers=OPERATOR).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
        r = c.get("/me", headers=OPERATOR)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        # Writes are limited too, and refused before they are recorded.
        before = outbox_count(net)
        r = c.post(
            "/organisations", json={"name": "x", "credit_code": "x" * 18, "roles": ["BANK"]}, headers=OPERATOR
        )
        assert r.status_code == 429 and outbox_count(net) == before
        # Per member: another member of the same organisation still has its budget.
        assert c.get("/me", headers=other).status_code == 200
        # Health checks are not rate limited.
        assert {c.get("/health").status_code for _ in range(8)} == {200}
