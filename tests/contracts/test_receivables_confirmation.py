"""Receivables: confirm, confirmBatch, confirmWithSignature (EIP-712) and reject."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.datastructures import SignedMessage
from eth_account.signers.local import LocalAccount

from chain.devnet import Org, dev_account
from chain.roles import Role
from tests.contracts.support import (
    AMOUNT,
    DAY,
    DOC,
    FATES,
    Cast,
    State,
    confirmed,
    decided,
    event,
    events,
    key,
    ok,
    registered,
    reverts,
)

MAX_BATCH = 256
CST_OFFSET = 8 * 3600
REASON = b"no goods received".ljust(32, b"\x00")


def _call(cast: Cast, fn: Any) -> Any:
    """A read-only call whose revert is raised as a typed error."""
    return cast.net.client.call(fn)


def _next_cst_midnight(after: int) -> int:
    """The first 00:00:00 China Standard Time (UTC+8) strictly after `after`."""
    return ((after + CST_OFFSET) // DAY + 1) * DAY - CST_OFFSET


def _registered_due(cast: Cast, label: str, due: int) -> int:
    rid = key(label)
    ok(cast, cast.receivables.functions.register(rid, cast.huaxin.org_id, AMOUNT, due, DOC), cast.delta)
    return rid


def _second_core_firm(cast: Cast) -> Org:
    return cast.net.admit("longcheng", Role.CORE_FIRM)


def _typed_data(
    cast: Cast,
    rid: int,
    *,
    nonce: int,
    deadline: int,
    amount: int | None = None,
    due: int | None = None,
    chain_id: int | None = None,
    contract: str | None = None,
) -> dict[str, Any]:
    """The EIP-712 Confirmation message for piece `rid`, built independently of the contract."""
    piece = cast.piece(rid)
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Confirmation": [
                {"name": "id", "type": "uint256"},
                {"name": "amountMinor", "type": "uint96"},
                {"name": "dueAt", "type": "uint40"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Confirmation",
        "domain": {
            "name": "scfnet Receivables",
            "version": "1",
            "chainId": cast.net.w3.eth.chain_id if chain_id is None else chain_id,
            "verifyingContract": contract or cast.receivables.address,
        },
        "message": {
            "id": rid,
            "amountMinor": piece["amountMinor"] if amount is None else amount,
            "dueAt": piece["dueAt"] if due is None else due,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def _sign(
    cast: Cast, signer: LocalAccount, rid: int, *, deadline: int, nonce: int | None = None, **overrides: Any
) -> SignedMessage:
    if nonce is None:
        nonce = cast.receivables.functions.nonces(signer.address).call()
    message = _typed_data(cast, rid, nonce=nonce, deadline=deadline, **overrides)
    return Account.sign_typed_data(signer.key, full_message=message)


# ---------------------------------------------------------------- confirm


class TestConfirm:
    def test_confirm_marks_confirmed_and_emits_event(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        before = cast.piece(rid)
        receipt = ok(cast, cast.receivables.functions.confirm(rid), cast.huaxin)
        assert cast.piece(rid) == {**before, "state": State.CONFIRMED}
        assert event(receipt, cast.receivables, "ReceivableConfirmed") == {
            "id": rid,
            "debtorOrg": cast.huaxin.org_id,
            "by": cast.huaxin.address,
        }

    def test_confirm_by_second_account_of_debtor_names_it(self, cast: Cast) -> None:
        clerk = dev_account("huaxin-clerk")
        cast.net.fund(clerk.address)
        ok(cast, cast.registry.functions.addAccount(cast.huaxin.org_id, clerk.address), cast.operator)
        rid = registered(cast, "INV-1")
        receipt = ok(cast, cast.receivables.functions.confirm(rid), clerk)
        assert event(receipt, cast.receivables, "ReceivableConfirmed")["by"] == clerk.address

    def test_confirm_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.confirm(key("nope")), cast.huaxin)

    def test_confirm_by_other_core_firm_refused(self, cast: Cast) -> None:
        other = _second_core_firm(cast)
        rid = registered(cast, "INV-1")
        with reverts("ReceivableNotDebtor", id=rid, orgId=other.org_id):
            cast.tx(cast.receivables.functions.confirm(rid), other)
        assert cast.piece(rid)["state"] == State.REGISTERED

    @pytest.mark.parametrize(("fate", "state"), FATES)
    def test_confirm_wrong_state_refused(self, cast: Cast, fate: str, state: State) -> None:
        r = cast.receivables.functions
        rid = decided(cast, "INV-1", fate)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.confirm(rid), cast.huaxin)

    def test_confirm_split_part_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        ok(cast, cast.receivables.functions.split(rid, [1_00, AMOUNT - 1_00]), cast.delta)
        with reverts("ReceivableWrongState", id=rid, state=State.SPLIT):
            cast.tx(cast.receivables.functions.confirm(rid), cast.huaxin)

    def test_confirm_at_due_date_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1", days=10)
        due = cast.piece(rid)["dueAt"]
        cast.net.travel_to(due)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(cast.receivables.functions.confirm(rid), cast.huaxin)
        assert cast.piece(rid)["state"] == State.REGISTERED

    def test_confirm_one_second_before_due_date_on_earlier_day_accepted(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        rid = _registered_due(cast, "INV-1", midnight)
        cast.net.travel_to(midnight - 1)
        ok(cast, cast.receivables.functions.confirm(rid), cast.huaxin)
        assert cast.piece(rid)["state"] == State.CONFIRMED

    def test_confirm_on_due_calendar_day_refused(self, cast: Cast) -> None:
        # Regression: confirm once refused only after dueAt; with no whole day (UTC+8) left, the piece
        # could not be financed, so it is matured, as for requestFinancing and fund.
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        due = midnight + 12 * 3600
        rid = _registered_due(cast, "INV-1", due)
        cast.net.travel_to(midnight)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(cast.receivables.functions.confirm(rid), cast.huaxin)
        assert cast.piece(rid)["state"] == State.REGISTERED

    def test_confirm_last_second_of_day_before_due_day_accepted(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        rid = _registered_due(cast, "INV-1", midnight + 12 * 3600)
        cast.net.travel_to(midnight - 1)
        receipt = ok(cast, cast.receivables.functions.confirm(rid), cast.huaxin)
        assert event(receipt, cast.receivables, "ReceivableConfirmed")["id"] == rid
        assert cast.piece(rid)["state"] == State.CONFIRMED

    @pytest.mark.parametrize("who", ["delta", "bank_a", "stranger"])
    def test_confirm_by_non_core_firm_refused(self, cast: Cast, who: str) -> None:
        rid = registered(cast, "INV-1")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.confirm(rid), sender)

    def test_confirm_by_suspended_debtor_account_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        ok(cast, cast.registry.functions.suspendAccount(cast.huaxin.address), cast.operator)
        with reverts("ReceivableUnauthorized", account=cast.huaxin.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.confirm(rid), cast.huaxin)


# ---------------------------------------------------------------- confirmBatch


class TestConfirmBatch:
    def test_confirmBatch_confirms_each_and_emits_in_order(self, cast: Cast) -> None:
        ids = [registered(cast, f"INV-{i}") for i in range(3)]
        receipt = ok(cast, cast.receivables.functions.confirmBatch(ids), cast.huaxin)
        assert [cast.piece(rid)["state"] for rid in ids] == [State.CONFIRMED] * 3
        assert events(receipt, cast.receivables, "ReceivableConfirmed") == [
            {"id": rid, "debtorOrg": cast.huaxin.org_id, "by": cast.huaxin.address} for rid in ids
        ]

    def test_confirmBatch_max_size_accepted(self, cast: Cast) -> None:
        due = cast.net.now() + 30 * DAY
        ids = [key(f"INV-M{i}") for i in range(MAX_BATCH)]
        r = cast.receivables.functions
        items = [(i, cast.huaxin.org_id, 1_00, due, DOC) for i in ids]
        ok(cast, r.registerBatch(items), cast.delta, gas=30_000_000)
        receipt = ok(cast, r.confirmBatch(ids), cast.huaxin, gas=30_000_000)
        assert len(events(receipt, cast.receivables, "ReceivableConfirmed")) == MAX_BATCH
        assert cast.piece(ids[-1])["state"] == State.CONFIRMED

    @pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
    def test_confirmBatch_size_out_of_range_refused(self, cast: Cast, size: int) -> None:
        with reverts("ReceivableBatchSize", size=size, max=MAX_BATCH):
            cast.tx(cast.receivables.functions.confirmBatch([key(f"x{i}") for i in range(size)]), cast.huaxin)

    def test_confirmBatch_item_of_other_debtor_refused_atomically(self, cast: Cast) -> None:
        other = _second_core_firm(cast)
        mine = registered(cast, "INV-MINE")
        theirs = key("INV-THEIRS")
        ok(
            cast,
            cast.receivables.functions.register(
                theirs, other.org_id, 1_00, cast.net.now() + DAY, b"\x00" * 32
            ),
            cast.delta,
        )
        with reverts("ReceivableNotDebtor", id=theirs, orgId=cast.huaxin.org_id):
            cast.tx(cast.receivables.functions.confirmBatch([mine, theirs]), cast.huaxin)
        assert cast.piece(mine)["state"] == State.REGISTERED

    def test_confirmBatch_duplicate_id_refused_atomically(self, cast: Cast) -> None:
        a, b = registered(cast, "INV-A"), registered(cast, "INV-B")
        with reverts("ReceivableWrongState", id=a, state=State.CONFIRMED):
            cast.tx(cast.receivables.functions.confirmBatch([a, b, a]), cast.huaxin)
        assert cast.piece(a)["state"] == State.REGISTERED and cast.piece(b)["state"] == State.REGISTERED

    def test_confirmBatch_unknown_id_refused(self, cast: Cast) -> None:
        a = registered(cast, "INV-A")
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.confirmBatch([a, key("nope")]), cast.huaxin)
        assert cast.piece(a)["state"] == State.REGISTERED

    def test_confirmBatch_matured_item_refused(self, cast: Cast) -> None:
        soon, later = registered(cast, "INV-SOON", days=1), registered(cast, "INV-LATER", days=30)
        due = cast.piece(soon)["dueAt"]
        cast.net.travel_to(due)
        with reverts("ReceivableMatured", id=soon, dueAt=due):
            cast.tx(cast.receivables.functions.confirmBatch([later, soon]), cast.huaxin)

    def test_confirmBatch_item_due_today_refused_atomically(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        later = registered(cast, "INV-LATER", days=30)
        today = _registered_due(cast, "INV-TODAY", midnight + 18 * 3600)
        cast.net.travel_to(midnight + 1)
        with reverts("ReceivableMatured", id=today, dueAt=midnight + 18 * 3600):
            cast.tx(cast.receivables.functions.confirmBatch([later, today]), cast.huaxin)
        assert [cast.piece(later)["state"], cast.piece(today)["state"]] == [State.REGISTERED] * 2

    def test_confirmBatch_by_supplier_refused(self, cast: Cast) -> None:
        a = registered(cast, "INV-A")
        with reverts("ReceivableUnauthorized", account=cast.delta.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.confirmBatch([a]), cast.delta)


# ---------------------------------------------------------------- confirmWithSignature


class TestConfirmWithSignature:
    def test_confirmationDigest_matches_python_eip712(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        for nonce in (0, 7):
            signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline, nonce=nonce)
            digest = cast.receivables.functions.confirmationDigest(rid, nonce, deadline).call()
            assert digest == bytes(signed.message_hash)

    def test_confirmationDigest_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            _call(cast, cast.receivables.functions.confirmationDigest(key("nope"), 0, 1))

    def test_confirmWithSignature_relayed_by_supplier_confirms(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        receipt = ok(
            cast,
            cast.receivables.functions.confirmWithSignature(
                rid, cast.huaxin.address, deadline, signed.signature
            ),
            cast.delta,
        )
        assert cast.piece(rid)["state"] == State.CONFIRMED
        assert event(receipt, cast.receivables, "ReceivableConfirmed") == {
            "id": rid,
            "debtorOrg": cast.huaxin.org_id,
            "by": cast.huaxin.address,
        }
        assert cast.receivables.functions.nonces(cast.huaxin.address).call() == 1

    def test_confirmWithSignature_at_deadline_accepted(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + 100
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        cast.net.travel_to(deadline)
        ok(
            cast,
            cast.receivables.functions.confirmWithSignature(
                rid, cast.huaxin.address, deadline, signed.signature
            ),
            cast.bank_a,
        )
        assert cast.piece(rid)["state"] == State.CONFIRMED

    def test_confirmWithSignature_expired_deadline_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + 100
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        cast.net.travel_to(deadline + 1)
        with reverts("ReceivableSignatureExpired", deadline=deadline):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.REGISTERED

    def test_confirmWithSignature_signed_by_someone_else_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        forged = _sign(cast, cast.eastern.account, rid, deadline=deadline, nonce=0)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, forged.signature
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.REGISTERED
        assert cast.receivables.functions.nonces(cast.huaxin.address).call() == 0

    @pytest.mark.parametrize("who", ["delta", "bank_a", "stranger"])
    def test_confirmWithSignature_signer_not_core_firm_refused(self, cast: Cast, who: str) -> None:
        signer = getattr(cast, who)
        signer = signer if isinstance(signer, LocalAccount) else signer.account
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, signer, rid, deadline=deadline)
        with reverts("ReceivableInvalidSignature", signer=signer.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, signer.address, deadline, signed.signature
                ),
                cast.eastern,
            )

    def test_confirmWithSignature_suspended_signer_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        ok(cast, cast.registry.functions.suspendAccount(cast.huaxin.address), cast.operator)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )

    def test_confirmWithSignature_signer_of_other_core_firm_refused(self, cast: Cast) -> None:
        other = _second_core_firm(cast)
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, other.account, rid, deadline=deadline)
        with reverts("ReceivableNotDebtor", id=rid, orgId=other.org_id):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, other.address, deadline, signed.signature
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.REGISTERED

    def test_confirmWithSignature_replay_refused(self, cast: Cast) -> None:
        r = cast.receivables.functions
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        ok(cast, r.confirmWithSignature(rid, cast.huaxin.address, deadline, signed.signature), cast.delta)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(r.confirmWithSignature(rid, cast.huaxin.address, deadline, signed.signature), cast.delta)
        assert r.nonces(cast.huaxin.address).call() == 1

    def test_confirmWithSignature_used_nonce_refused_for_another_piece(self, cast: Cast) -> None:
        r = cast.receivables.functions
        a, b = registered(cast, "INV-A"), registered(cast, "INV-B")
        deadline = cast.net.now() + DAY
        first = _sign(cast, cast.huaxin.account, a, deadline=deadline, nonce=0)
        stale = _sign(cast, cast.huaxin.account, b, deadline=deadline, nonce=0)
        ok(cast, r.confirmWithSignature(a, cast.huaxin.address, deadline, first.signature), cast.delta)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(r.confirmWithSignature(b, cast.huaxin.address, deadline, stale.signature), cast.delta)
        fresh = _sign(cast, cast.huaxin.account, b, deadline=deadline, nonce=1)
        ok(cast, r.confirmWithSignature(b, cast.huaxin.address, deadline, fresh.signature), cast.delta)
        assert cast.piece(b)["state"] == State.CONFIRMED

    def test_confirmWithSignature_future_nonce_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline, nonce=1)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )

    @pytest.mark.parametrize(
        "override",
        [
            {"chain_id": 1},
            {"contract": "0x000000000000000000000000000000000000dEaD"},
            {"amount": AMOUNT + 1},
            {"amount": AMOUNT - 1},
            {"due": None},
        ],
        ids=["other-chain", "other-contract", "higher-amount", "lower-amount", "other-due-date"],
    )
    def test_confirmWithSignature_signature_over_other_terms_refused(
        self, cast: Cast, override: dict[str, Any]
    ) -> None:
        rid = registered(cast, "INV-1")
        if "due" in override:
            override = {"due": cast.piece(rid)["dueAt"] + DAY}
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline, **override)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.REGISTERED

    def test_confirmWithSignature_deadline_other_than_signed_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        with reverts("ReceivableInvalidSignature", signer=cast.huaxin.address):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline + 1, signed.signature
                ),
                cast.delta,
            )

    def test_confirmWithSignature_relayed_by_stranger_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        with reverts("ReceivableUnauthorized", account=cast.stranger.address, requiredRole=0):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.stranger,
            )

    def test_confirmWithSignature_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    key("nope"), cast.huaxin.address, cast.net.now() + DAY, b"\x00" * 65
                ),
                cast.delta,
            )

    def test_confirmWithSignature_already_confirmed_refused(self, cast: Cast) -> None:
        rid = confirmed(cast, "INV-1")
        deadline = cast.net.now() + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        with reverts("ReceivableWrongState", id=rid, state=State.CONFIRMED):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )

    def test_confirmWithSignature_matured_piece_refused(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1", days=2)
        due = cast.piece(rid)["dueAt"]
        deadline = due + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        cast.net.travel_to(due)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )

    def test_confirmWithSignature_on_due_calendar_day_refused(self, cast: Cast) -> None:
        midnight = _next_cst_midnight(cast.net.now() + DAY)
        due = midnight + 12 * 3600
        rid = _registered_due(cast, "INV-1", due)
        deadline = due + DAY
        signed = _sign(cast, cast.huaxin.account, rid, deadline=deadline)
        nonce = cast.receivables.functions.nonces(cast.huaxin.address).call()
        cast.net.travel_to(midnight)
        with reverts("ReceivableMatured", id=rid, dueAt=due):
            cast.tx(
                cast.receivables.functions.confirmWithSignature(
                    rid, cast.huaxin.address, deadline, signed.signature
                ),
                cast.delta,
            )
        assert cast.piece(rid)["state"] == State.REGISTERED
        assert cast.receivables.functions.nonces(cast.huaxin.address).call() == nonce  # not spent


# ---------------------------------------------------------------- reject


class TestReject:
    def test_reject_marks_rejected_and_emits_reason(self, cast: Cast) -> None:
        rid = registered(cast, "INV-1")
        receipt = ok(cast, cast.receivables.functions.reject(rid, REASON), cast.huaxin)
        assert cast.piece(rid)["state"] == State.REJECTED
        assert event(receipt, cast.receivables, "ReceivableRejected") == {
            "id": rid,
            "debtorOrg": cast.huaxin.org_id,
            "reason": REASON,
        }

    def test_reject_unknown_piece_refused(self, cast: Cast) -> None:
        with reverts("ReceivableNotFound", id=key("nope")):
            cast.tx(cast.receivables.functions.reject(key("nope"), REASON), cast.huaxin)

    def test_reject_by_other_core_firm_refused(self, cast: Cast) -> None:
        other = _second_core_firm(cast)
        rid = registered(cast, "INV-1")
        with reverts("ReceivableNotDebtor", id=rid, orgId=other.org_id):
            cast.tx(cast.receivables.functions.reject(rid, REASON), other)
        assert cast.piece(rid)["state"] == State.REGISTERED

    @pytest.mark.parametrize(("fate", "state"), FATES)
    def test_reject_wrong_state_refused(self, cast: Cast, fate: str, state: State) -> None:
        r = cast.receivables.functions
        rid = decided(cast, "INV-1", fate)
        with reverts("ReceivableWrongState", id=rid, state=state):
            cast.tx(r.reject(rid, REASON), cast.huaxin)
        assert cast.piece(rid)["state"] == state

    @pytest.mark.parametrize("who", ["delta", "bank_a", "stranger"])
    def test_reject_by_non_core_firm_refused(self, cast: Cast, who: str) -> None:
        rid = registered(cast, "INV-1")
        sender = getattr(cast, who)
        with reverts("ReceivableUnauthorized", account=sender.address, requiredRole=int(Role.CORE_FIRM)):
            cast.tx(cast.receivables.functions.reject(rid, REASON), sender)
