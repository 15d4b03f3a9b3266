"""The reference story (../shared/SCENARIO.md) as members run it: through the public API.

`Story` drives one network over HTTP, step by step, and checks every outcome against the
story: a step whose outcome differs raises `StoryDeviation`. It only needs an HTTP client
for the API (a real `httpx.Client`, or FastAPI's `TestClient`, which is one), so `scf demo`
and the end-to-end tests run the very same code. Steps 8-10 (goods) need more than the API,
devices on MQTT and the oracle nodes, and come through the `Goods` hooks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from rich.console import Console

from chain.devnet import dev_credit_code

CST = dt.timezone(dt.timedelta(hours=8))  # invoices are dated in China Standard Time (DOMAIN.md)
DAY_S = 86_400


class StoryDeviation(AssertionError):
    """A step's outcome is not what the story says."""


@dataclass
class Member:
    """An organisation of the cast, with the API key of one of its clerks."""

    name: str
    org_id: int
    chain_org_id: int
    credit_code: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Goods(Protocol):
    """Steps 8-10: the warehouse, its devices on MQTT and the oracle nodes."""

    def run(self, story: Story) -> None: ...


@dataclass
class Cast:
    operator: dict[str, str]
    members: dict[str, Member] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Member:
        return self.members[name]


def pdf(label: str) -> bytes:
    """A small document that sniffs as PDF; another label gives other bytes (a re-scan)."""
    return b"%PDF-1.4\n% " + label.encode() + b"\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def yuan(minor: int) -> str:
    return f"{minor / 100:,.2f} CNY"


@dataclass
class Story:
    """One run of the story against one network.

    `advance_clock(seconds)` moves the chain's clock (dev chains); without it Huaxin repays
    before maturity, which the contract allows. `chain_time()` is the chain's clock, when it
    may run ahead of the wall clock (a dev chain moved on by an earlier run): due dates are
    counted from the later of the two, or the chain would take them for past dates.
    `tamper(piece_id, amount_minor)` alters a database row behind the API's back (step 12 needs
    the database); without it that check is reported as not run.
    """

    http: httpx.Client
    operator_token: str
    console: Console = field(default_factory=Console)
    advance_clock: Callable[[int], None] | None = None
    chain_time: Callable[[], int] | None = None
    tamper: Callable[[str, int], None] | None = None
    goods: Goods | None = None
    run_id: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    steps_run: list[int] = field(default_factory=list)

    # -- narration and checks ------------------------------------------------------------

    def step(self, number: int, title: str) -> None:
        self.steps_run.append(number)
        self.console.print(f"\n[bold]{number}. {title}[/bold]")

    def say(self, who: str, what: str, tx: str | None = None) -> None:
        suffix = f"  [dim]tx {tx}[/dim]" if tx else ""
        self.console.print(f"   [cyan]{who}[/cyan] {what}{suffix}")

    def refused(self, who: str, what: str, r: httpx.Response) -> None:
        code = r.json().get("error", {}).get("code", "?")
        self.console.print(f"   [cyan]{who}[/cyan] {what}: [yellow]refused[/yellow] ({r.status_code} {code})")

    def expect(self, r: httpx.Response, status: int | tuple[int, ...], code: str | None = None) -> Any:
        statuses = (status,) if isinstance(status, int) else status
        body = _json(r)
        got_code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        if r.status_code not in statuses or (code is not None and got_code != code):
            want = f"{statuses}" + (f" {code}" if code else "")
            raise StoryDeviation(
                f"{r.request.method} {r.request.url.path}: expected {want}, got {r.status_code} {body}"
            )
        return body

    @staticmethod
    def check(condition: bool, message: str) -> None:
        if not condition:
            raise StoryDeviation(message)

    # -- the cast --------------------------------------------------------------------------

    def name(self, who: str) -> str:
        return f"{who} {self.run_id}".strip()

    def admit(self, who: str, roles: list[str]) -> Member:
        op = {"Authorization": f"Bearer {self.operator_token}"}
        code = dev_credit_code(self.name(who))
        body = {"name": self.name(who), "credit_code": code, "roles": roles}
        org = self.expect(self.http.post("/organisations?wait=true", json=body, headers=op), 201)["result"]
        member = self.expect(
            self.http.post(f"/organisations/{org['id']}/members", json={"name": f"{who} clerk"}, headers=op),
            201,
        )
        return Member(who, org["id"], org["chain_org_id"], code, member["api_key"])

    def balance(self, m: Member) -> int:
        return int(
            self.expect(self.http.get(f"/settlement/balances/{m.org_id}", headers=m.headers), 200)[
                "balance_minor"
            ]
        )

    # -- the story -------------------------------------------------------------------------

    def run(self) -> None:
        self.step1_admission()
        self.step2_upload()
        self.step3_duplicate()
        self.step4_confirm()
        self.step5_split_and_pay()
        self.step6_finance()
        self.step7_refusals()
        if self.goods is not None:
            self.goods.run(self)
        self.step11_repay()
        self.step12_audit()
        self.console.print(
            f"\n[bold green]The story ran as written: steps {', '.join(map(str, self.steps_run))}.[/]"
        )

    def step1_admission(self) -> None:
        self.step(1, "The operator admits the organisations; members get credentials")
        cast = {
            "Huaxin Auto": ["CORE_FIRM"],
            "Delta Brakes": ["SUPPLIER"],
            "Eastern Steel": ["SUPPLIER"],
            "Bank A": ["BANK"],
            "Bank B": ["BANK"],
            "North Logistics": ["WAREHOUSE"],
            "CPA Audit": ["AUDITOR"],
        }
        self.cast = Cast(operator={"Authorization": f"Bearer {self.operator_token}"})
        for who, roles in cast.items():
            m = self.admit(who, roles)
            self.cast.members[who] = m
            self.say(
                "Operator", f"admitted {who} as {', '.join(roles)} (organisation {m.chain_org_id} on chain)"
            )
        bank_a, bank_b, huaxin = self.cast["Bank A"], self.cast["Bank B"], self.cast["Huaxin Auto"]
        for bank, to, amount in (
            (bank_a, bank_a, "5000000.00"),
            (bank_b, bank_b, "5000000.00"),
            (bank_a, huaxin, "2000000.00"),
        ):
            r = self.http.post(
                "/settlement/deposits?wait=true",
                json={"to_org_id": to.org_id, "amount": amount},
                headers=bank.headers,
            )
            body = self.expect(r, 201)
            self.say(
                bank.name,
                f"issued {amount} CNY of tokenized deposits to {to.name}",
                body["operation"]["tx_hash"],
            )

    def step2_upload(self) -> None:
        self.step(2, "Delta uploads INV-1001 to Huaxin: 1,000,000.00 CNY, due in 90 days, with its PDF")
        delta, huaxin = self.cast["Delta Brakes"], self.cast["Huaxin Auto"]
        today = dt.datetime.now(CST).date()
        chain_today = dt.datetime.fromtimestamp(self.chain_time(), CST).date() if self.chain_time else today
        self.facts["invoice_number"] = "INV-1001"  # the dedupe key also binds seller and buyer
        self.facts["form"] = {
            "invoice_number": self.facts["invoice_number"],
            "buyer_credit_code": huaxin.credit_code,
            "amount": "1000000.00",
            "currency": "CNY",
            "issue_date": today.isoformat(),
            "due_date": (max(today, chain_today) + dt.timedelta(days=90)).isoformat(),
            "line_items": [
                {
                    "description": "brake pads",
                    "quantity": "1000",
                    "unit_price": "1000.00",
                    "amount": "1000000.00",
                }
            ],
        }
        self.facts["pdf"] = pdf(f"INV-1001 original scan {self.run_id}")
        body = self.expect(self.upload(delta, self.facts["form"], self.facts["pdf"]), 201)
        invoice = body["result"]
        self.check(
            invoice["status"] == "registered" and invoice["amount_minor"] == 100_000_000, f"invoice {invoice}"
        )
        self.facts["invoice_id"] = invoice["id"]
        self.say(
            "Delta",
            f"registered {self.facts['invoice_number']} for {yuan(invoice['amount_minor'])}, "
            f"PDF sha256 {invoice['document_sha256'][:16]}…",
            body["operation"]["tx_hash"],
        )

    def upload(self, seller: Member, form: dict[str, Any], document: bytes) -> httpx.Response:
        return self.http.post(
            "/invoices?wait=true",
            data={"invoice": json.dumps(form)},
            files={"document": ("invoice.pdf", document, "application/pdf")},
            headers=seller.headers,
        )

    def step3_duplicate(self) -> None:
        self.step(3, "Delta uploads the same invoice again, re-scanned: refused as a duplicate")
        delta = self.cast["Delta Brakes"]
        form = {**self.facts["form"], "invoice_number": "inv 1001"}
        r = self.upload(delta, form, pdf(f"INV-1001 re-scan, other bytes {self.run_id}"))
        self.expect(r, 409, "duplicate_invoice")
        self.refused("Delta", f"uploaded {form['invoice_number']!r} with a re-scanned PDF", r)
        kept = self.expect(self.http.get(f"/invoices/{self.facts['invoice_id']}", headers=delta.headers), 200)
        self.check(
            kept["document_sha256"] == hashlib.sha256(self.facts["pdf"]).hexdigest(), "the original changed"
        )
        self.say("Delta", "still has the original invoice and its PDF, unchanged")

    def step4_confirm(self) -> None:
        self.step(4, "Huaxin confirms INV-1001: a receivable it must pay at maturity")
        huaxin = self.cast["Huaxin Auto"]
        r = self.http.post(f"/invoices/{self.facts['invoice_id']}/confirm?wait=true", headers=huaxin.headers)
        body = self.expect(r, 200)
        self.check(body["result"]["status"] == "confirmed", f"confirm: {body['result']}")
        self.say("Huaxin", f"confirmed {self.facts['invoice_number']}", body["operation"]["tx_hash"])

    def step5_split_and_pay(self) -> None:
        self.step(5, "Delta splits off 300,000.00 and pays Eastern Steel with it")
        delta, eastern = self.cast["Delta Brakes"], self.cast["Eastern Steel"]
        invoice_id = self.facts["invoice_id"]
        r = self.http.post(
            f"/receivables/{invoice_id}/split?wait=true",
            json={"amounts": ["300000.00", "700000.00"]},
            headers=delta.headers,
        )
        body = self.expect(r, 200)
        parts = {p["amount_minor"]: p for p in body["result"] if p["parent_id"] == invoice_id}
        self.check(set(parts) == {30_000_000, 70_000_000}, f"split parts {sorted(parts)}")
        self.facts["eastern_piece"], self.facts["delta_piece"] = (
            parts[30_000_000]["id"],
            parts[70_000_000]["id"],
        )
        self.facts["due_at"] = parts[30_000_000]["due_at"]
        self.say("Delta", "split the receivable into 300,000.00 + 700,000.00", body["operation"]["tx_hash"])
        r = self.http.post(
            f"/receivables/{self.facts['eastern_piece']}/transfer?wait=true",
            json={"to_credit_code": eastern.credit_code},
            headers=delta.headers,
        )
        body = self.expect(r, 200)
        self.check(body["result"]["holder_org"] == eastern.chain_org_id, "Eastern does not hold the piece")
        self.say("Delta", "paid Eastern Steel with the 300,000.00 piece", body["operation"]["tx_hash"])

    def step6_finance(self) -> None:
        self.step(6, "Eastern asks for financing; Bank A funds it at 4.5 % a year, cash against the piece")
        eastern, bank_a, bank_b = self.cast["Eastern Steel"], self.cast["Bank A"], self.cast["Bank B"]
        piece = self.facts["eastern_piece"]
        r = self.http.post(
            f"/receivables/{piece}/financing-requests?wait=true",
            json={
                "bank_credit_code": bank_a.credit_code,
                "max_rate_ppm": 50_000,
                "expires_at": self.facts["due_at"] - DAY_S,
            },
            headers=eastern.headers,
        )
        body = self.expect(r, 201)
        self.say("Eastern", "asked Bank A for financing at no more than 5 %", body["operation"]["tx_hash"])
        seen = self.expect(self.http.get("/financing-requests", headers=bank_a.headers), 200)
        self.check([q["piece_id"] for q in seen["data"]] == [piece], f"Bank A sees {seen['data']}")
        self.check(
            self.expect(self.http.get("/financing-requests", headers=bank_b.headers), 200)["count"] == 0,
            "Bank B sees it",
        )
        quote = self.expect(
            self.http.get(f"/receivables/{piece}/quote?rate_ppm=45000", headers=bank_a.headers), 200
        )
        before = self.balance(eastern)
        body = self.expect(
            self.http.post(
                f"/receivables/{piece}/fund?wait=true", json={"rate_ppm": 45_000}, headers=bank_a.headers
            ),
            200,
        )
        result = body["result"]
        self.check(
            result["holder_org"] == bank_a.chain_org_id and result["lock"] == "financed",
            f"after funding {result}",
        )
        received = self.balance(eastern) - before
        self.check(
            received == quote["price_minor"] == 30_000_000 - quote["discount_minor"],
            f"Eastern received {received}",
        )
        self.check(quote["discount_days"] in (89, 90), f"discount days {quote['discount_days']}")
        self.facts["price_minor"] = received
        self.say(
            "Bank A",
            f"funded at 4.5 % for {quote['discount_days']} days (ACT/360): Eastern received "
            f"{yuan(received)} (discount {yuan(quote['discount_minor'])}) and Bank A the piece, "
            "in one transaction",
            body["operation"]["tx_hash"],
        )

    def step7_refusals(self) -> None:
        self.step(
            7, "Bank B tries to fund the same piece; Delta tries to split 700,000.00 into more: refused"
        )
        bank_b, delta = self.cast["Bank B"], self.cast["Delta Brakes"]
        r = self.http.post(
            f"/receivables/{self.facts['eastern_piece']}/fund?wait=true",
            json={"rate_ppm": 40_000},
            headers=bank_b.headers,
        )
        self.expect(r, (404, 409))  # the request was addressed to Bank A: Bank B may not even see the piece
        self.refused("Bank B", "funded the already-financed piece", r)
        r = self.http.post(
            f"/receivables/{self.facts['delta_piece']}/split?wait=true",
            json={"amounts": ["400000.00", "400000.00"]},
            headers=delta.headers,
        )
        self.expect(r, 422, "split_sum_mismatch")
        self.refused("Delta", "split 700,000.00 into 400,000.00 + 400,000.00", r)

    def step11_repay(self) -> None:
        self.step(
            11, "At maturity Huaxin repays: Bank A receives 300,000.00 and Delta 700,000.00, atomically"
        )
        huaxin, bank_a, delta = self.cast["Huaxin Auto"], self.cast["Bank A"], self.cast["Delta Brakes"]
        if self.advance_clock is not None:
            self.advance_clock(91 * DAY_S)
            self.say("Clock", "moved the dev chain 91 days on, past maturity")
        else:
            self.say(
                "Clock",
                "this network's clock is not moved: Huaxin repays before maturity, which the contract allows",
            )
        before = {m.name: self.balance(m) for m in (bank_a, delta)}
        pieces = [self.facts["eastern_piece"], self.facts["delta_piece"]]
        body = self.expect(
            self.http.post("/repayments?wait=true", json={"piece_ids": pieces}, headers=huaxin.headers), 200
        )
        self.check(
            self.balance(bank_a) - before[bank_a.name] == 30_000_000, "Bank A was not repaid 300,000.00"
        )
        self.check(self.balance(delta) - before[delta.name] == 70_000_000, "Delta was not repaid 700,000.00")
        status = self.expect(
            self.http.get(f"/invoices/{self.facts['invoice_id']}", headers=huaxin.headers), 200
        )["status"]
        self.check(status == "settled", f"invoice is {status}")
        self.say(
            "Huaxin",
            "repaid 300,000.00 to Bank A and 700,000.00 to Delta in one transaction; INV-1001 settled",
            body["operation"]["tx_hash"],
        )

    def step12_audit(self) -> None:
        self.step(12, "CPA Audit verifies the PDF, walks the history, reconciles the database with the chain")
        cpa = self.cast["CPA Audit"]
        invoice_id = self.facts["invoice_id"]
        r = self.http.post(
            "/audit/documents/verify",
            data={"invoice_id": invoice_id},
            files={"document": ("INV-1001.pdf", self.facts["pdf"], "application/pdf")},
            headers=cpa.headers,
        )
        self.check(self.expect(r, 200)["anchored"] is True, "the original PDF is not anchored")
        self.say("CPA", "checked INV-1001's PDF: its hash is anchored on chain")
        r = self.http.post(
            "/audit/documents/verify",
            files={"document": ("x.pdf", pdf("forged"), "application/pdf")},
            headers=cpa.headers,
        )
        self.check(self.expect(r, 200)["anchored"] is False, "a forged PDF passed")
        self.say("CPA", "checked a forged PDF: not anchored")
        history = self.expect(
            self.http.get(f"/audit/receivables/{invoice_id}/history", headers=cpa.headers), 200
        )
        names = [e["event"] for e in history["events"]]
        for expected in (
            "ReceivableRegistered",
            "ReceivableConfirmed",
            "PieceTransferred",
            "PieceFinanced",
            "PieceRepaid",
        ):
            self.check(expected in names, f"{expected} missing from the history")
        self.check(
            history["tree"][invoice_id] == [self.facts["eastern_piece"], self.facts["delta_piece"]],
            "split tree",
        )
        self.say("CPA", f"walked the history from chain events: {len(names)} events, split tree of 2 parts")
        if self.goods is not None and hasattr(self.goods, "audit"):
            self.goods.audit(self)
        report = self.expect(self.http.get("/audit/reconciliation", headers=cpa.headers), 200)
        self.check(report["consistent"] is True, f"reconciliation: {report['mismatches']}")
        self.say(
            "CPA",
            f"reconciled the database against the chain: consistent ({report['pieces_checked']} pieces, "
            f"{report['invoices_checked']} invoices)",
        )
        if self.tamper is None:
            self.say(
                "CPA", "[yellow]tamper check not run: the demo has no access to the API's database[/yellow]"
            )
            return
        self.tamper(self.facts["delta_piece"], 80_000_000)
        self.say(
            "Someone", "altered the 700,000.00 piece to 800,000.00 in the database, behind the API's back"
        )
        report = self.expect(self.http.get("/audit/reconciliation", headers=cpa.headers), 200)
        wanted = {
            "kind": "piece",
            "id": self.facts["delta_piece"],
            "field": "amount_minor",
            "database": 80_000_000,
            "chain": 70_000_000,
        }
        self.check(
            report["consistent"] is False and wanted in report["mismatches"], f"reconciliation: {report}"
        )
        self.say(
            "CPA", "reconciled again: the altered row is reported (database 800,000.00, chain 700,000.00)"
        )
        self.tamper(self.facts["delta_piece"], 70_000_000)
        report = self.expect(self.http.get("/audit/reconciliation", headers=cpa.headers), 200)
        self.check(report["consistent"] is True, f"after the repair: {report['mismatches']}")
        self.say("Operator", "restored the row from the chain: the reconciliation is consistent again")


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return {"text": r.text[:200]}
