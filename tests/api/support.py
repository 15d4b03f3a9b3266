"""Helpers for API tests: organisations with members, invoice payloads, fake PDFs."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from chain.devnet import dev_credit_code
from scripts.story import pdf  # noqa: F401 - the tests' documents are the story's
from tests.api.conftest import OPERATOR_TOKEN, Network

CST = dt.timezone(dt.timedelta(hours=8))


@dataclass
class Member:
    name: str
    org_id: int
    chain_org_id: int
    credit_code: str
    token: str
    account: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def admit(net: Network, name: str, roles: list[str]) -> Member:
    """Admit an organisation through the API (waiting for the chain) and give it a member."""
    op = net.as_(OPERATOR_TOKEN)
    code = dev_credit_code(name)
    r = net.client.post(
        "/organisations?wait=true", json={"name": name, "credit_code": code, "roles": roles}, headers=op
    )
    assert r.status_code == 201, r.text
    org = r.json()["result"]
    m = net.client.post(f"/organisations/{org['id']}/members", json={"name": f"{name} clerk"}, headers=op)
    assert m.status_code == 201, m.text
    return Member(name, org["id"], org["chain_org_id"], code, m.json()["api_key"], org["account_address"])


def today() -> dt.date:
    return dt.datetime.now(CST).date()


def invoice_form(
    number: str, buyer: Member, amount: str, *, days: int = 90, issue: dt.date | None = None
) -> dict[str, Any]:
    issue = issue or today()
    return {
        "invoice_number": number,
        "buyer_credit_code": buyer.credit_code,
        "amount": amount,
        "currency": "CNY",
        "issue_date": issue.isoformat(),
        "due_date": (today() + dt.timedelta(days=days)).isoformat(),
        "line_items": [
            {"description": "brake pads", "quantity": "1000", "unit_price": "1000.00", "amount": amount}
        ],
    }


def upload(net: Network, seller: Member, form: dict[str, Any], document: bytes, *, wait: bool = True) -> Any:
    return net.client.post(
        f"/invoices?wait={'true' if wait else 'false'}",
        data={"invoice": json.dumps(form)},
        files={"document": ("invoice.pdf", document, "application/pdf")},
        headers=seller.headers,
    )
