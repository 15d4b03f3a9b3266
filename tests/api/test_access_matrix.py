"""Who may call what: each role, a revoked key and no key against every endpoint; objects across orgs.

The matrix iterates the app's OpenAPI, so an endpoint added without a row here fails the test. Each
write that a role may make is made for real (on an object kept for that cell) and runs after the
refusals of its row, so that no refusal depends on whether an allowed write has landed yet.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from chain.devnet import dev_credit_code
from tests.api.support import Member, invoice_form, pdf
from tests.api.world import (
    OPERATOR,
    Goods,
    World,
    another_member,
    build_goods,
    build_world,
    key_id,
    lot_body,
    outbox_count,
    proof_server,
    running_network,
    settle,
)

ROLES = ("operator", "core_firm", "supplier", "bank", "warehouse", "auditor", "oracle")
CALLERS = ROLES + ("revoked", "anonymous")
# The organisation standing for each role: the natural party of the world's objects.
ORG_OF = {
    "core_firm": "core_a",
    "supplier": "sup_a",
    "bank": "bank_a",
    "warehouse": "warehouse",
    "auditor": "auditor",
    "oracle": "oracle",
}
SIGNATURE = "0x" + "11" * 65
ZERO_ADDRESS = "0x" + "00" * 20
_serial = itertools.count()

Body = Callable[["Ctx", str], dict[str, Any]]


@dataclass
class Ctx:
    """The world plus what the matrix adds to it: ids to fill paths with, members by role."""

    world: World
    ids: dict[str, Any]
    members: dict[str, Member | None]  # None: the operator's bootstrap member


@dataclass(frozen=True)
class Row:
    """Expected statuses in ROLES order; revoked and anonymous callers get 401 unless `public`."""

    expect: str
    path: str
    body: Body | None = None
    public: bool = False
    fresh: bool = False  # the call spends the caller's key: make a new member for it
    stream: bool = False  # server-sent events: read the status and the first frame only

    def statuses(self) -> dict[str, int]:
        codes = [int(s) for s in self.expect.split()]
        assert len(codes) == len(ROLES), self.expect
        expected = dict(zip(ROLES, codes, strict=True))
        expected["revoked"] = expected["anonymous"] = 200 if self.public else 401
        return expected


# -- request bodies ------------------------------------------------------------------------------


def new_org(_: Ctx, role: str) -> dict[str, Any]:
    name = f"matrix-{role}-{next(_serial)}"
    return {"json": {"name": name, "credit_code": dev_credit_code(name), "roles": ["SUPPLIER"]}}


def new_member(_: Ctx, role: str) -> dict[str, Any]:
    return {"json": {"name": f"matrix member by {role}"}}


def new_account(_: Ctx, __: str) -> dict[str, Any]:
    return {"json": {"address": Account.create().address}}


def oracle_key(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"address": ctx.ids["oracle_key_add"]}}


def new_invoice(ctx: Ctx, role: str) -> dict[str, Any]:
    form = invoice_form(f"MX-{role}-{next(_serial)}", ctx.world["core_a"], "10.00")
    return {
        "data": {"invoice": json.dumps(form)},
        "files": {"document": ("invoice.pdf", pdf(f"matrix {role} {next(_serial)}"), "application/pdf")},
    }


def new_batch(ctx: Ctx, role: str) -> dict[str, Any]:
    form = invoice_form(f"MB-{role}-{next(_serial)}", ctx.world["core_a"], "10.00")
    return {
        "data": {"invoices": json.dumps([form])},
        "files": [("documents", ("a.pdf", pdf(f"batch {role} {next(_serial)}"), "application/pdf"))],
    }


def confirm_batch(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"invoice_ids": [ctx.ids["reg_batch"]]}}


def typed_data_query(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"params": {"signer": ctx.world["core_a"].account, "deadline": 2**32}}


def signed(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"signer": ctx.world["core_a"].account, "deadline": 2**32, "signature": SIGNATURE}}


def rejection(_: Ctx, __: str) -> dict[str, Any]:
    return {"json": {"reason": "goods not received"}}


def split_parts(ctx: Ctx, _: str) -> dict[str, Any]:
    whole = ctx.ids["split_amount_minor"]
    return {"json": {"amounts": ["1.00", f"{(whole - 100) / 100:.2f}"]}}


def transfer_to_b(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"to_credit_code": ctx.world["sup_b"].credit_code}}


def financing_request(ctx: Ctx, _: str) -> dict[str, Any]:
    bank = ctx.world["bank_a"].credit_code
    return {"json": {"bank_credit_code": bank, "max_rate_ppm": 60_000, "expires_at": ctx.ids["expires_at"]}}


def quote_rate(_: Ctx, __: str) -> dict[str, Any]:
    return {"params": {"rate_ppm": 45_000}}


def fund_rate(_: Ctx, __: str) -> dict[str, Any]:
    return {"json": {"rate_ppm": 45_000}}


def repayment(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"piece_ids": [ctx.ids["repay"]]}}


def deposit(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"to_org_id": ctx.world["sup_a"].org_id, "amount": "1.00"}}


def verify_hash(_: Ctx, __: str) -> dict[str, Any]:
    return {"data": {"sha256": hashlib.sha256(b"nothing").hexdigest()}}


def webhook(_: Ctx, __: str) -> dict[str, Any]:
    return {"json": {"url": "https://hooks.example.com/scf", "event_types": []}}


def new_lot(_: Ctx, role: str) -> dict[str, Any]:
    return {"json": lot_body(f"MXL-{role}-{next(_serial)}", 1)}


def receipt_form(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"data": {"owner_credit_code": ctx.world["sup_a"].credit_code, "document_sha256": "cd" * 32}}


def receipt_to_b(ctx: Ctx, _: str) -> dict[str, Any]:
    return {"json": {"to_credit_code": ctx.world["sup_b"].credit_code}}


def pledge_to_a(ctx: Ctx, _: str) -> dict[str, Any]:
    until = int(time.time()) + 30 * 86_400
    return {"json": {"bank_credit_code": ctx.world["bank_a"].credit_code, "pledged_until": until}}


# -- the matrix ----------------------------------------------------------------------------------

#                                         operator core supplier bank warehouse auditor oracle
MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/health"): Row("200 200 200 200 200 200 200", "/health", public=True),
    ("GET", "/ready"): Row("200 200 200 200 200 200 200", "/ready", public=True),
    # organisations and members: the operator manages, everyone looks up
    ("POST", "/organisations"): Row("202 403 403 403 403 403 403", "/organisations", new_org),
    ("GET", "/organisations"): Row("200 200 200 200 200 200 200", "/organisations"),
    ("GET", "/organisations/{org_id}"): Row("200 200 200 200 200 200 200", "/organisations/{sup_a_org}"),
    ("POST", "/organisations/{org_id}/suspend"): Row(
        "202 403 403 403 403 403 403", "/organisations/{spare_org}/suspend"
    ),
    ("POST", "/organisations/{org_id}/reinstate"): Row(
        "202 403 403 403 403 403 403", "/organisations/{spare_org}/reinstate"
    ),
    ("POST", "/organisations/{org_id}/members"): Row(
        "201 403 403 403 403 403 403", "/organisations/{spare_org}/members", new_member
    ),
    # accounts (keys held outside the API): the operator binds and removes them; the organisation
    # itself, the operator and auditors list them
    ("GET", "/organisations/{org_id}/accounts"): Row(
        "200 404 200 404 404 200 404", "/organisations/{sup_a_org}/accounts"
    ),
    ("POST", "/organisations/{org_id}/accounts"): Row(
        "202 403 403 403 403 403 403", "/organisations/{spare_org}/accounts", new_account
    ),
    ("DELETE", "/organisations/{org_id}/accounts/{address}"): Row(
        "202 403 403 403 403 403 403", "/organisations/{spare_org}/accounts/{spare_account}"
    ),
    # the goods oracle's signers: the operator manages them, the operator and auditors read them
    ("GET", "/oracle/signers"): Row("200 403 403 403 403 200 403", "/oracle/signers"),
    ("POST", "/oracle/signers"): Row("202 403 403 403 403 403 403", "/oracle/signers", oracle_key),
    ("DELETE", "/oracle/signers/{address}"): Row(
        "202 403 403 403 403 403 403", "/oracle/signers/{oracle_key_remove}"
    ),
    ("GET", "/me"): Row("200 200 200 200 200 200 200", "/me"),
    ("POST", "/me/api-keys/rotate"): Row("201 201 201 201 201 201 201", "/me/api-keys/rotate", fresh=True),
    ("DELETE", "/api-keys/{key_id}"): Row("204 204 204 204 204 204 204", "/api-keys/{own_key}", fresh=True),
    # the supplier's upload operation: its own organisation, the operator (runs the relay), auditors
    ("GET", "/operations/{operation_id}"): Row("200 404 200 404 404 200 404", "/operations/{upload_op}"),
    # invoices: suppliers upload, the debtor confirms or rejects, parties and auditors read
    ("POST", "/invoices"): Row("403 403 202 403 403 403 403", "/invoices", new_invoice),
    ("GET", "/invoices"): Row("200 200 200 200 200 200 200", "/invoices"),
    ("POST", "/invoices/batch"): Row("403 403 202 403 403 403 403", "/invoices/batch", new_batch),
    ("POST", "/invoices/confirm-batch"): Row(
        "404 202 403 404 404 403 404", "/invoices/confirm-batch", confirm_batch
    ),
    ("GET", "/invoices/{invoice_id}"): Row("404 200 200 200 404 200 404", "/invoices/{view}"),
    ("GET", "/invoices/{invoice_id}/document"): Row(
        "404 200 200 200 404 200 404", "/invoices/{view}/document"
    ),
    ("POST", "/invoices/{invoice_id}/confirm"): Row(
        "404 202 403 404 404 403 404", "/invoices/{reg_confirm}/confirm"
    ),
    ("GET", "/invoices/{invoice_id}/confirmation-typed-data"): Row(
        "404 200 200 200 404 200 404", "/invoices/{view}/confirmation-typed-data", typed_data_query
    ),
    ("POST", "/invoices/{invoice_id}/confirm-signature"): Row(
        "404 202 403 404 404 403 404", "/invoices/{reg_sig}/confirm-signature", signed
    ),
    ("POST", "/invoices/{invoice_id}/reject"): Row(
        "404 202 403 404 404 403 404", "/invoices/{reg_reject}/reject", rejection
    ),
    # receivables: the holder splits, transfers and asks for money; the addressed bank funds
    ("GET", "/receivables"): Row("200 200 200 200 200 200 200", "/receivables"),
    ("GET", "/receivables/{piece_id}"): Row("404 200 200 200 404 200 404", "/receivables/{view}"),
    ("POST", "/receivables/{piece_id}/split"): Row(
        "404 403 202 404 404 403 404", "/receivables/{split}/split", split_parts
    ),
    ("POST", "/receivables/{piece_id}/transfer"): Row(
        "404 403 202 404 404 403 404", "/receivables/{transfer}/transfer", transfer_to_b
    ),
    ("POST", "/receivables/{piece_id}/financing-requests"): Row(
        "404 403 202 404 404 403 404", "/receivables/{request}/financing-requests", financing_request
    ),
    ("DELETE", "/receivables/{piece_id}/financing-request"): Row(
        "404 403 202 403 404 403 404", "/receivables/{cancel}/financing-request"
    ),
    ("GET", "/receivables/{piece_id}/quote"): Row(
        "404 200 200 200 404 200 404", "/receivables/{view}/quote", quote_rate
    ),
    ("POST", "/receivables/{piece_id}/fund"): Row(
        "403 403 403 202 403 403 403", "/receivables/{fund}/fund", fund_rate
    ),
    ("GET", "/financing-requests"): Row("200 200 200 200 200 200 200", "/financing-requests"),
    ("POST", "/repayments"): Row("403 202 403 403 403 403 403", "/repayments", repayment),
    # settlement: an organisation's own money (auditors: anyone's); banks mint deposits
    ("GET", "/settlement/balances/{org_id}"): Row(
        "404 404 200 404 404 200 404", "/settlement/balances/{sup_a_org}"
    ),
    ("GET", "/settlement/movements/{org_id}"): Row(
        "404 404 200 404 404 200 404", "/settlement/movements/{sup_a_org}"
    ),
    ("POST", "/settlement/deposits"): Row("403 403 403 202 403 403 403", "/settlement/deposits", deposit),
    # audit: auditors only
    ("POST", "/audit/documents/verify"): Row(
        "403 403 403 403 403 200 403", "/audit/documents/verify", verify_hash
    ),
    ("GET", "/audit/receivables/{root_id}/history"): Row(
        "403 403 403 403 403 200 403", "/audit/receivables/{view}/history"
    ),
    ("GET", "/audit/reconciliation"): Row("403 403 403 403 403 200 403", "/audit/reconciliation"),
    # notifications: organisations that trade or finance follow their own
    ("POST", "/webhooks"): Row("403 201 201 201 201 403 403", "/webhooks", webhook),
    ("GET", "/webhooks"): Row("200 200 200 200 200 200 200", "/webhooks"),
    ("DELETE", "/webhooks/{webhook_id}"): Row("404 404 204 404 404 404 404", "/webhooks/{hook_delete}"),
    ("GET", "/webhooks/{webhook_id}/deliveries"): Row(
        "404 404 200 404 404 404 404", "/webhooks/{hook_keep}/deliveries"
    ),
    ("GET", "/notifications"): Row("200 200 200 200 200 200 200", "/notifications"),
    ("GET", "/events/stream"): Row("200 200 200 200 200 200 200", "/events/stream", stream=True),
    # goods: warehouses register lots and issue receipts; parties (and auditors, the operator) read;
    # the owner transfers, pledges, surrenders; the pledgee bank releases or enforces
    ("POST", "/lots"): Row("403 403 403 403 202 403 403", "/lots", new_lot),
    ("GET", "/lots"): Row("200 200 200 200 200 200 200", "/lots"),
    ("GET", "/lots/{lot}"): Row("200 404 200 200 200 200 404", "/lots/{g_view}"),
    ("POST", "/lots/{lot}/receipt"): Row(
        "403 403 403 403 202 403 403", "/lots/{g_issue}/receipt", receipt_form
    ),
    # reading proofs: auditors and the lot's parties; the operator sees the lot but is no party
    ("GET", "/lots/{lot}/readings/{device}/{seq}/proof"): Row(
        "403 404 200 200 200 200 404", "/lots/{g_view}/readings/{g_device}/1/proof"
    ),
    ("GET", "/receipts"): Row("200 200 200 200 200 200 200", "/receipts"),
    ("GET", "/receipts/{receipt_id}"): Row("200 404 200 200 200 200 404", "/receipts/{g_view}"),
    ("POST", "/receipts/{receipt_id}/transfer"): Row(
        "403 404 202 404 403 403 404", "/receipts/{g_transfer}/transfer", receipt_to_b
    ),
    ("POST", "/receipts/{receipt_id}/pledge"): Row(
        "403 404 202 404 403 403 404", "/receipts/{g_pledge}/pledge", pledge_to_a
    ),
    ("POST", "/receipts/{receipt_id}/release"): Row(
        "403 404 403 202 403 403 404", "/receipts/{g_release}/release"
    ),
    ("POST", "/receipts/{receipt_id}/enforce"): Row(
        "403 404 403 202 403 403 404", "/receipts/{g_enforce}/enforce"
    ),
    ("POST", "/receipts/{receipt_id}/surrender"): Row(
        "403 404 202 404 403 403 404", "/receipts/{g_surrender}/surrender"
    ),
    ("GET", "/alerts"): Row("200 200 200 200 200 200 200", "/alerts"),
}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with proof_server() as proofs:
        with running_network(Path(tmp_path_factory.mktemp("matrix")), oracle_proof_urls=[proofs.url]) as net:
            built = build_world(net)
            built.goods = build_goods(built, proofs)
            yield built


def _goods(world: World) -> Goods:
    assert world.goods is not None
    return world.goods


def _context(world: World) -> Ctx:
    c = world.net.client
    sup_a = world["sup_a"]
    hooks = []
    for _ in range(2):
        r = c.post(
            "/webhooks", json={"url": "https://hooks.example.com/a", "event_types": []}, headers=sup_a.headers
        )
        assert r.status_code == 201, r.text
        hooks.append(r.json()["id"])
    split_piece = c.get(f"/receivables/{world.invoices['split']}", headers=sup_a.headers).json()
    ids: dict[str, Any] = {
        **world.invoices,
        "sup_a_org": sup_a.org_id,
        "spare_org": world["spare"].org_id,
        "upload_op": world.uploads["registered"],
        "hook_delete": hooks[0],
        "hook_keep": hooks[1],
        "split_amount_minor": split_piece["amount_minor"],
        "expires_at": split_piece["due_at"] - 86_400,
        **_goods(world).lots,
        "g_device": _goods(world).references["g_view"] + "-d0",
    }
    # Keys held outside the API: one of the spare organisation's to remove, two of the oracle's, one
    # made a signer (to remove) and one not yet (to add).
    keys = {
        name: Account.create().address for name in ("spare_account", "oracle_key_add", "oracle_key_remove")
    }
    for name, address in keys.items():
        org = world["spare" if name == "spare_account" else "oracle"]
        r = c.post(
            f"/organisations/{org.org_id}/accounts?wait=true", json={"address": address}, headers=OPERATOR
        )
        assert r.status_code == 201, r.text
    r = c.post("/oracle/signers?wait=true", json={"address": keys["oracle_key_remove"]}, headers=OPERATOR)
    assert r.status_code == 200, r.text
    ids.update(keys)
    members: dict[str, Member | None] = {"operator": None}
    members.update({role: world[org] for role, org in ORG_OF.items()})
    revoked = another_member(world.net, sup_a)
    r = c.delete(f"/api-keys/{key_id(world.net, revoked)}", headers=revoked.headers)
    assert r.status_code == 204, r.text
    members["revoked"] = revoked
    return Ctx(world, ids, members)


def _fresh(ctx: Ctx, role: str) -> Member:
    """A new member of the role's organisation (the operator's own for the operator)."""
    if role == "operator":
        me = ctx.world.net.client.get("/me", headers=OPERATOR).json()
        org = me["organisation"]
        r = ctx.world.net.client.post(
            f"/organisations/{org['id']}/members", json={"name": "op"}, headers=OPERATOR
        )
        assert r.status_code == 201, r.text
        return Member("operator", org["id"], org["chain_org_id"], org["credit_code"], r.json()["api_key"], "")
    return another_member(ctx.world.net, ctx.world[ORG_OF[role]])


def _call(ctx: Ctx, method: str, row: Row, caller: str) -> tuple[int, dict[str, str], Any]:
    """Send the row's request as `caller`; the status, headers and JSON body (None if not JSON)."""
    c = ctx.world.net.client
    ids = {"own_key": 1, **ctx.ids}
    if caller == "anonymous":
        headers: dict[str, str] = {}
    elif row.fresh and caller in ROLES:
        member = _fresh(ctx, caller)
        headers = member.headers
        ids["own_key"] = key_id(ctx.world.net, member)
    else:
        member_or_none = ctx.members[caller]
        headers = OPERATOR if member_or_none is None else member_or_none.headers
    kwargs = row.body(ctx, caller) if row.body else {}
    url = row.path.format(**ids)
    if row.stream:
        with c.stream(method, url, headers=headers, **kwargs) as r:
            if r.status_code == 200:
                first = next(r.iter_text())
                assert first.startswith("retry:"), first
                return r.status_code, dict(r.headers), None
            r.read()
            return r.status_code, dict(r.headers), r.json()
    r = c.request(method, url, headers=headers, **kwargs)
    try:
        body = r.json()
    except ValueError:
        body = None
    return r.status_code, dict(r.headers), body


def _problems(caller: str, expected: int, status: int, headers: dict[str, str], body: Any) -> str | None:
    if status != expected:
        return f"got {status}, expected {expected}: {str(body)[:160]}"
    if expected >= 400:
        code = (body or {}).get("error", {}).get("code")
        if not isinstance(code, str) or not code:
            return f"{status} without a machine-readable code: {body}"
        if expected == 401:
            wanted = "missing_token" if caller == "anonymous" else "invalid_token"
            if code != wanted or headers.get("www-authenticate") != "Bearer":
                return f"401 with code {code} / WWW-Authenticate {headers.get('www-authenticate')}"
    return None


def test_role_endpoint_matrix_matches_the_table(world: World) -> None:
    paths = world.net.client.app.openapi()["paths"]
    declared = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert declared - MATRIX.keys() == set(), "endpoints without a row in the access matrix"
    assert MATRIX.keys() - declared == set(), "matrix rows for endpoints that no longer exist"

    ctx = _context(world)
    mismatches: list[str] = []
    cells = 0
    for (method, path), row in MATRIX.items():
        expected = row.statuses()
        # Refusals first: an allowed write may change the object once it lands.
        for caller in sorted(CALLERS, key=lambda who: expected[who] < 400):
            status, headers, body = _call(ctx, method, row, caller)
            cells += 1
            problem = _problems(caller, expected[caller], status, headers, body)
            if problem:
                mismatches.append(f"{method} {path} as {caller}: {problem}")
    print(f"\naccess matrix: {len(MATRIX)} endpoints x {len(CALLERS)} callers = {cells} cells")
    assert not mismatches, "\n".join(mismatches)
    assert cells == len(MATRIX) * len(CALLERS) == len(declared) * 9

    # The writes the table allows were accepted for real and none of them was refused on chain
    # except the confirmation carrying a made-up signature.
    settle(world.net)
    r = world.get("/operations/{}".format(ctx.ids["upload_op"]), world["sup_a"])
    assert r.json()["status"] == "confirmed"


# -- objects across organisations ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    who: str  # a world organisation, or "operator"
    method: str
    path: str
    expect: int
    body: dict[str, Any] | None = None


def _cross_org_cases(w: World) -> list[Case]:
    i = w.invoices
    due = w.get(f"/receivables/{i['view']}", w["auditor"]).json()["due_at"]
    req = {"max_rate_ppm": 50_000, "expires_at": due - 86_400}
    b_code = w["sup_b"].credit_code
    cases: list[Case] = []
    # Supplier B against supplier A's invoices and pieces: 404, existence not disclosed.
    for inv in ("registered", "view"):
        cases += [
            Case("sup_b", "GET", f"/invoices/{i[inv]}", 404),
            Case("sup_b", "GET", f"/invoices/{i[inv]}/document", 404),
            Case("sup_b", "POST", f"/invoices/{i[inv]}/confirm", 404),
            Case("sup_b", "POST", f"/invoices/{i[inv]}/reject", 404, {"reason": "no"}),
        ]
    for piece in ("view", "split", "funded"):
        cases += [
            Case("sup_b", "GET", f"/receivables/{i[piece]}", 404),
            Case("sup_b", "POST", f"/receivables/{i[piece]}/split", 404, {"amounts": ["1.00", "1.00"]}),
            Case("sup_b", "POST", f"/receivables/{i[piece]}/transfer", 404, {"to_credit_code": b_code}),
            Case("sup_b", "POST", f"/receivables/{i[piece]}/financing-requests", 404, req),
            Case("sup_b", "DELETE", f"/receivables/{i[piece]}/financing-request", 404),
            Case("sup_b", "GET", f"/receivables/{i[piece]}/quote?rate_ppm=1000", 404),
        ]
    cases += [
        Case("sup_b", "GET", f"/operations/{w.uploads['registered']}", 404),
        Case("sup_b", "GET", f"/settlement/balances/{w['sup_a'].org_id}", 404),
        Case("sup_b", "GET", f"/settlement/movements/{w['sup_a'].org_id}", 404),
        Case("sup_a", "GET", f"/invoices/{i['b_confirmed']}", 404),
        Case("sup_a", "GET", f"/receivables/{i['b_confirmed']}", 404),
        Case("sup_a", "POST", f"/receivables/{i['b_confirmed']}/split", 404, {"amounts": ["1.00", "1.00"]}),
    ]
    # Core firm B owes none of it; core firm A owes none of B's.
    for inv in ("registered", "reg_confirm", "view"):
        cases += [
            Case("core_b", "GET", f"/invoices/{i[inv]}", 404),
            Case("core_b", "POST", f"/invoices/{i[inv]}/confirm", 404),
            Case("core_b", "POST", f"/invoices/{i[inv]}/reject", 404, {"reason": "no"}),
            Case("core_b", "POST", "/invoices/confirm-batch", 404, {"invoice_ids": [i[inv]]}),
            Case("core_b", "GET", f"/receivables/{i[inv]}", 404),
            Case("core_b", "POST", "/repayments", 404, {"piece_ids": [i[inv]]}),
        ]
    cases += [
        Case("core_a", "GET", f"/invoices/{i['b_confirmed']}", 404),
        Case("core_a", "POST", "/repayments", 404, {"piece_ids": [i["b_confirmed"]]}),
    ]
    # Bank B: not what was addressed to bank A, nor what bank A funded; yes to the market's and its own.
    for piece in ("view", "fund", "funded", "market_funded"):
        cases += [
            Case("bank_b", "GET", f"/receivables/{i[piece]}", 404),
            Case("bank_b", "GET", f"/invoices/{i[piece]}", 404),
            Case("bank_b", "GET", f"/receivables/{i[piece]}/quote?rate_ppm=1000", 404),
            Case("bank_b", "POST", f"/receivables/{i[piece]}/fund", 404, {"rate_ppm": 40_000}),
        ]
    cases += [
        Case("bank_b", "GET", f"/receivables/{i['market']}", 200),
        Case("bank_b", "GET", f"/invoices/{i['market']}", 200),
        Case("bank_b", "GET", f"/receivables/{i['b_requested']}", 200),
        Case("bank_a", "GET", f"/receivables/{i['b_requested']}", 404),
        Case("bank_a", "GET", f"/receivables/{i['funded']}", 200),
        Case("bank_a", "GET", f"/invoices/{i['funded']}", 200),
        Case("bank_a", "GET", f"/receivables/{i['split']}", 404),
        Case("bank_a", "GET", f"/settlement/balances/{w['bank_b'].org_id}", 404),
    ]
    # The auditor reads everything and every write it tries is refused.
    for label in ("registered", "view", "funded", "b_confirmed", "b_requested"):
        cases += [
            Case("auditor", "GET", f"/invoices/{i[label]}", 200),
            Case("auditor", "GET", f"/invoices/{i[label]}/document", 200),
            Case("auditor", "GET", f"/receivables/{i[label]}", 200),
        ]
    for org in ("sup_a", "sup_b", "bank_a", "core_b"):
        cases.append(Case("auditor", "GET", f"/settlement/balances/{w[org].org_id}", 200))
    writes = [
        ("POST", f"/invoices/{i['registered']}/confirm", None),
        ("POST", f"/invoices/{i['registered']}/reject", {"reason": "no"}),
        ("POST", "/invoices/confirm-batch", {"invoice_ids": [i["registered"]]}),
        ("POST", f"/receivables/{i['split']}/split", {"amounts": ["1.00", "1.00"]}),
        ("POST", f"/receivables/{i['split']}/transfer", {"to_credit_code": b_code}),
        ("POST", f"/receivables/{i['split']}/financing-requests", req),
        ("DELETE", f"/receivables/{i['view']}/financing-request", None),
        ("POST", f"/receivables/{i['view']}/fund", {"rate_ppm": 40_000}),
        ("POST", "/repayments", {"piece_ids": [i["split"]]}),
        ("POST", "/settlement/deposits", {"to_org_id": w["sup_a"].org_id, "amount": "1.00"}),
    ]
    cases += [Case("auditor", method, path, 403, body) for method, path, body in writes]
    cases += [
        Case("auditor", "POST", f"/organisations/{w['spare'].org_id}/suspend", 403),
        Case("auditor", "POST", f"/organisations/{w['spare'].org_id}/members", 403, {"name": "x"}),
    ]
    # The operator manages members but moves no one's assets: it cannot even see them.
    # Object writes: 404 (it sees no business object); role-gated writes: 403 before any lookup.
    gated = ("/fund", "/repayments", "/deposits")
    for method, path, body in writes:
        cases.append(Case("operator", method, path, 403 if path.endswith(gated) else 404, body))
    cases += [
        Case("operator", "GET", f"/invoices/{i['view']}", 404),
        Case("operator", "GET", f"/receivables/{i['view']}", 404),
        Case("operator", "GET", f"/settlement/balances/{w['sup_a'].org_id}", 404),
    ]
    # Accounts: an organisation's own, the operator's and auditors' to list; only the operator binds.
    oracle, oracle_2, sup_a, sup_b = w["oracle"], w["oracle_2"], w["sup_a"], w["sup_b"]
    cases += [
        Case("sup_b", "GET", f"/organisations/{sup_a.org_id}/accounts", 404),
        Case("sup_a", "GET", f"/organisations/{sup_b.org_id}/accounts", 404),
        Case("oracle", "GET", f"/organisations/{oracle_2.org_id}/accounts", 404),
        Case("bank_a", "GET", f"/organisations/{sup_a.org_id}/accounts", 404),
        Case("sup_a", "GET", f"/organisations/{sup_a.org_id}/accounts", 200),
        Case("oracle", "GET", f"/organisations/{oracle.org_id}/accounts", 200),
        Case("auditor", "GET", f"/organisations/{sup_b.org_id}/accounts", 200),
        Case("operator", "GET", f"/organisations/{oracle_2.org_id}/accounts", 200),
        Case("sup_a", "POST", f"/organisations/{sup_a.org_id}/accounts", 403, {"address": ZERO_ADDRESS}),
        Case("sup_a", "DELETE", f"/organisations/{sup_a.org_id}/accounts/{sup_a.account}", 403),
        Case("auditor", "POST", f"/organisations/{oracle.org_id}/accounts", 403, {"address": ZERO_ADDRESS}),
        # Another organisation's key through this one's path: never removed, not even enqueued.
        Case("operator", "DELETE", f"/organisations/{sup_a.org_id}/accounts/{sup_b.account}", 404),
        # Signers: an oracle organisation cannot add or remove keys, its own included.
        Case("oracle", "POST", "/oracle/signers", 403, {"address": oracle.account}),
        Case("oracle", "DELETE", f"/oracle/signers/{oracle.account}", 403),
        Case("auditor", "DELETE", f"/oracle/signers/{oracle.account}", 403),
        Case("oracle", "GET", "/oracle/signers", 403),
        Case("auditor", "GET", "/oracle/signers", 200),
    ]
    # Goods: a lot pledged by supplier A to bank A. Supplier B, bank B and a core firm are strangers.
    g = _goods(w)
    lot = g.lots["g_view"]
    proof = f"/lots/{lot}/readings/{g.references['g_view']}-d0/1/proof"
    for stranger in ("sup_b", "bank_b"):
        cases += [
            Case(stranger, "GET", f"/lots/{lot}", 404),
            Case(stranger, "GET", f"/lots/{g.references['g_view']}", 404),
            Case(stranger, "GET", f"/receipts/{lot}", 404),
            Case(stranger, "GET", proof, 404),
        ]
    cases += [
        Case("sup_b", "POST", f"/receipts/{lot}/transfer", 404, {"to_credit_code": b_code}),
        Case("sup_b", "POST", f"/receipts/{lot}/surrender", 404),
        Case("bank_b", "POST", f"/receipts/{lot}/release", 404),
        Case("bank_b", "POST", f"/receipts/{lot}/enforce", 404),
        Case("core_a", "GET", f"/receipts/{lot}", 404),
        Case("auditor", "GET", f"/lots/{lot}", 200),
        Case("auditor", "GET", f"/receipts/{lot}", 200),
        Case("auditor", "GET", proof, 200),
        Case("auditor", "POST", f"/receipts/{lot}/release", 403),
        Case("auditor", "POST", f"/receipts/{lot}/transfer", 403, {"to_credit_code": b_code}),
        Case("operator", "GET", f"/lots/{lot}", 200),
        Case("operator", "GET", proof, 403),
        Case("operator", "POST", f"/receipts/{lot}/release", 403),
        Case("operator", "POST", f"/receipts/{lot}/transfer", 403, {"to_credit_code": b_code}),
    ]
    return cases


def _visible_ids(w: World, org: str, path: str) -> set[str]:
    r = w.get(f"{path}?limit=200", w[org])
    assert r.status_code == 200, r.text
    return {row["id"] for row in r.json()["data"]}


def test_cross_organisation_access_hides_and_refuses(world: World) -> None:
    w, c = world, world.net.client
    cases = _cross_org_cases(w)
    failures = []
    for case in cases:
        headers = OPERATOR if case.who == "operator" else w[case.who].headers
        before = outbox_count(w.net)
        r = c.request(case.method, case.path, json=case.body, headers=headers)
        if r.status_code != case.expect:
            failures.append(f"{case.who} {case.method} {case.path}: {r.status_code} {r.text[:160]}")
        elif case.expect >= 400 and outbox_count(w.net) != before:
            failures.append(f"{case.who} {case.method} {case.path}: refused but an outbox entry was made")
    assert not failures, "\n".join(failures)

    # Lists show each organisation its own share, and only that.
    i = w.invoices
    # (The matrix's allowed transfer hands the "transfer" piece to supplier B: then it is B's to see.)
    a_pieces = {v for k, v in i.items() if not k.startswith("b_") and k != "transfer"}
    b_pieces = {i["b_confirmed"], i["b_requested"]}
    listings = 0
    for org, invisible in (
        ("sup_b", a_pieces),
        ("core_b", a_pieces),
        ("sup_a", b_pieces),
        ("core_a", b_pieces),
    ):
        me = w[org]
        for path in ("/invoices", "/receivables"):
            seen = _visible_ids(w, org, path)
            assert not seen & invisible, (org, path)
            listings += 1
        for inv in w.get("/invoices?limit=200", me).json()["data"]:
            assert me.org_id in (inv["seller_org_id"], inv["buyer_org_id"])
        for piece in w.get("/receivables?limit=200", me).json()["data"]:
            assert me.chain_org_id in (piece["holder_org"], piece["debtor_org"], piece["creditor_org"])
        listings += 2
    assert _visible_ids(w, "core_b", "/invoices") == b_pieces
    listings += 1
    requests = {
        bank: {q["piece_id"] for q in w.get("/financing-requests?limit=200", w[bank]).json()["data"]}
        for bank in ("bank_a", "bank_b")
    }
    # Bank B: the open market's request and its own; not bank A's, nor the market's that bank A funded.
    assert requests["bank_b"] == {i["market"], i["b_requested"]}, requests["bank_b"]
    assert {i["view"], i["fund"], i["funded"], i["market_funded"], i["market"]} <= requests["bank_a"]
    assert i["b_requested"] not in requests["bank_a"]
    listings += 3
    everything = _visible_ids(w, "auditor", "/invoices")
    assert set(i.values()) <= everything
    listings += 1
    # Goods lists: strangers see none of the pledged lot, its receipt or its alerts; its parties do.
    g = _goods(w)
    for org, path in itertools.product(("sup_b", "bank_b", "core_a"), ("/lots", "/receipts")):
        assert g.lots["g_view"] not in _visible_ids(w, org, path), (org, path)
        listings += 1
    frozen = g.lots["g_enforce"]
    for org, sees in (
        ("bank_a", True),
        ("sup_a", True),
        ("warehouse", True),
        ("bank_b", False),
        ("sup_b", False),
    ):
        alerts = w.get(f"/alerts?lot={frozen}", w[org]).json()["data"]
        assert bool(alerts) is sees and all(a["lot_id"] == frozen for a in alerts), org
        listings += 1
    assert {a["kind"] for a in w.get(f"/alerts?lot={frozen}", w["auditor"]).json()["data"]} >= {
        "lot_status",
        "receipt_frozen",
    }
    listings += 1
    total = len(cases) + listings
    print(f"\ncross-organisation cases: {len(cases)} requests + {listings} listings = {total}")
    assert (len(cases), listings) == (159, 33)
