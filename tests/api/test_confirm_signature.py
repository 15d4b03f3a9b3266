"""Self-custody confirmation: a core firm signs the EIP-712 message with its own key; the API relays it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from sqlmodel import Session

from api.models import SignerNonce
from chain.devnet import dev_account
from tests.api.conftest import Network
from tests.api.world import World, build_world, outbox_count, running_network, settle

FAR = 2**40 - 1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_network(Path(tmp_path_factory.mktemp("signature"))) as net:
        labels = ("good", "forged", "expired", "other_invoice", "other_org", "supplier_key")
        w = build_world(
            net,
            roles={"core_a": ["CORE_FIRM"], "core_b": ["CORE_FIRM"], "sup_a": ["SUPPLIER"]},
            objects={label: ("sup_a", "core_a", "registered") for label in labels},
        )
        # The operator cannot add external accounts through the API yet: do it on chain.
        _add_account(net, w["core_a"].chain_org_id, dev_account("huaxin treasurer"))
        _add_account(net, w["core_b"].chain_org_id, dev_account("other firm treasurer"))
        _add_account(net, w["sup_a"].chain_org_id, dev_account("supplier signer"))
        yield w


def _add_account(net: Network, org_id: int, account: LocalAccount) -> None:
    """`MemberRegistry.addAccount` signed by the operator; the relay's nonce for it brought up to date."""
    runtime = net.client.app.state.runtime
    settle(net)
    operator = Account.from_key(net.settings.operator_key.get_secret_value())  # type: ignore[union-attr]
    registry = runtime.client.contract("MemberRegistry", runtime.deployment.address("MemberRegistry"))
    receipt = runtime.client.transact(registry.functions.addAccount(org_id, account.address), operator)
    assert receipt["status"] == 1
    with Session(runtime.engine) as session:
        row = session.get(SignerNonce, operator.address)
        if row is not None:  # the relay owns this nonce: tell it about the one used behind its back
            row.next_nonce = runtime.client.w3.eth.get_transaction_count(operator.address, "pending")
            session.add(row)
            session.commit()


def _typed_data(w: World, invoice: str, signer: str, deadline: int) -> dict[str, Any]:
    r = w.net.client.get(
        f"/invoices/{invoice}/confirmation-typed-data",
        params={"signer": signer, "deadline": deadline},
        headers=w["core_a"].headers,
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _sign(account: LocalAccount, typed: dict[str, Any]) -> str:
    signed = Account.sign_typed_data(account.key, full_message=typed)
    assert signed.signature == account.sign_message(encode_typed_data(full_message=typed)).signature
    return "0x" + bytes(signed.signature).hex()


def _submit(w: World, invoice: str, signer: str, deadline: int, signature: str) -> Any:
    return w.net.client.post(
        f"/invoices/{invoice}/confirm-signature?wait=true",
        json={"signer": signer, "deadline": deadline, "signature": signature},
        headers=w["core_a"].headers,
    )


def _status(w: World, invoice: str) -> str:
    return str(w.get(f"/invoices/{invoice}", w["core_a"]).json()["status"])


def test_the_debtors_own_signature_confirms(world: World) -> None:
    treasurer = dev_account("huaxin treasurer")
    invoice = world.invoices["good"]
    typed = _typed_data(world, invoice, treasurer.address, FAR)
    runtime = world.net.client.app.state.runtime
    assert typed["primaryType"] == "Confirmation"
    assert typed["domain"]["chainId"] == runtime.client.chain_id
    assert typed["domain"]["verifyingContract"] == runtime.deployment.address("Receivables")
    assert typed["message"]["id"] == int(invoice, 16) and typed["message"]["deadline"] == FAR
    signature = _sign(treasurer, typed)

    r = _submit(world, invoice, treasurer.address, FAR, signature)
    assert r.status_code == 200, r.text
    assert r.json()["result"]["status"] == "confirmed"
    assert r.json()["operation"]["function"] == "confirmWithSignature"
    piece = world.get(f"/receivables/{invoice}", world["sup_a"]).json()
    assert piece["state"] == "confirmed" and piece["debtor_org"] == world["core_a"].chain_org_id

    # The same signature again: the invoice is no longer waiting for a confirmation.
    before = outbox_count(world.net)
    r = _submit(world, invoice, treasurer.address, FAR, signature)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state", r.text
    assert outbox_count(world.net) == before
    # The signer's nonce moved on: a fresh message for another invoice carries the next one.
    assert _typed_data(world, world.invoices["forged"], treasurer.address, FAR)["message"]["nonce"] == (
        typed["message"]["nonce"] + 1
    )


@pytest.mark.parametrize(
    ("label", "signed_by", "claimed", "deadline", "code"),
    [
        # Signed by a key that is not the claimed signer's.
        ("forged", "nobody in particular", "huaxin treasurer", FAR, "receivable_invalid_signature"),
        # The deadline has passed by the time the chain sees it.
        ("expired", "huaxin treasurer", "huaxin treasurer", 1, "receivable_signature_expired"),
        # A good signature, for another invoice.
        ("other_invoice", "huaxin treasurer", "huaxin treasurer", FAR, "receivable_invalid_signature"),
        # Another core firm's account signs for what this one owes.
        ("other_org", "other firm treasurer", "other firm treasurer", FAR, "receivable_not_debtor"),
        # An account of an organisation that is no core firm.
        ("supplier_key", "supplier signer", "supplier signer", FAR, "receivable_invalid_signature"),
    ],
)
def test_a_signature_the_chain_refuses_leaves_the_invoice_registered(
    world: World, label: str, signed_by: str, claimed: str, deadline: int, code: str
) -> None:
    invoice = world.invoices[label]
    message_for = world.invoices["good"] if label == "other_invoice" else invoice
    signer = dev_account(claimed).address
    typed = _typed_data(world, message_for, signer, deadline)
    signature = _sign(dev_account(signed_by), typed)
    r = _submit(world, invoice, signer, deadline, signature)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == code
    assert _status(world, invoice) == "registered"
