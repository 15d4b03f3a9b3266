"""The reference scenario's receivable steps (2-7, 11) at the contract level."""

from __future__ import annotations

from tests.contracts.support import DAY, DOC, Cast, child_id, event, key, reverts

CONFIRMED, SPLIT, SETTLED = 2, 3, 4
FINANCED = 2


def test_scenario_invoice_to_repayment(cast: Cast) -> None:
    r = cast.receivables.functions
    inv = key("INV-1001")
    due = cast.net.now() + 90 * DAY

    # 2-3: register once; the same key again is refused, whoever tries.
    receipt = cast.tx(r.register(inv, cast.huaxin.org_id, 1_000_000_00, due, DOC), cast.delta)
    registered = event(receipt, cast.receivables, "ReceivableRegistered")
    assert registered["documentHash"] == DOC and registered["amountMinor"] == 1_000_000_00
    with reverts("ReceivableAlreadyRegistered", id=inv):
        cast.tx(r.register(inv, cast.huaxin.org_id, 1_000_000_00, due, DOC), cast.delta)
    with reverts("ReceivableAlreadyRegistered", id=inv):
        cast.tx(r.register(inv, cast.huaxin.org_id, 1_000_000_00, due, DOC), cast.eastern)

    # 4: Huaxin confirms.
    cast.tx(r.confirm(inv), cast.huaxin)
    assert cast.piece(inv)["state"] == CONFIRMED

    # 5: Delta splits off 300,000.00 and pays Eastern with it.
    cast.tx(r.split(inv, [300_000_00, 700_000_00]), cast.delta)
    eastern_piece, delta_piece = child_id(inv, 0), child_id(inv, 1)
    cast.tx(r.transfer(eastern_piece, cast.eastern.org_id), cast.delta)
    assert cast.piece(eastern_piece)["holderOrg"] == cast.eastern.org_id
    assert cast.piece(inv)["state"] == SPLIT

    # 6: Eastern asks Bank A; Bank A funds at 4.5 %: cash and piece move in one transaction.
    cast.tx(r.requestFinancing(eastern_piece, cast.bank_a.org_id, 45_000, due - DAY), cast.eastern)
    before = cast.balance(cast.eastern)
    receipt = cast.tx(r.fund(eastern_piece, 45_000), cast.bank_a)
    financed = event(receipt, cast.receivables, "PieceFinanced")
    days = financed["discountDays"]
    assert days in (89, 90, 91)
    expected_discount = (300_000_00 * 45_000 * days + 180_000_000) // 360_000_000
    assert financed["discountMinor"] == expected_discount
    assert cast.balance(cast.eastern) - before == 300_000_00 - expected_discount
    piece = cast.piece(eastern_piece)
    assert piece["holderOrg"] == cast.bank_a.org_id and piece["lock"] == FINANCED

    # 7: Bank B cannot fund it again; Delta cannot split 700,000.00 into more than it is.
    with reverts("ReceivableAlreadyFinanced", id=eastern_piece, bankOrg=cast.bank_a.org_id):
        cast.tx(r.fund(eastern_piece, 40_000), cast.bank_b)
    with reverts(
        "ReceivableSplitSumMismatch", id=delta_piece, expectedMinor=700_000_00, actualMinor=800_000_00
    ):
        cast.tx(r.split(delta_piece, [400_000_00, 400_000_00]), cast.delta)

    # 11: at maturity Huaxin repays both pieces atomically.
    cast.net.travel_to(due)
    a_before, d_before, h_before = (
        cast.balance(cast.bank_a),
        cast.balance(cast.delta),
        cast.balance(cast.huaxin),
    )
    receipt = cast.tx(r.repay([eastern_piece, delta_piece]), cast.huaxin)
    assert cast.balance(cast.bank_a) - a_before == 300_000_00
    assert cast.balance(cast.delta) - d_before == 700_000_00
    assert h_before - cast.balance(cast.huaxin) == 1_000_000_00
    assert event(receipt, cast.receivables, "ReceivableSettled")["rootId"] == inv
    assert cast.piece(eastern_piece)["state"] == SETTLED and cast.piece(delta_piece)["state"] == SETTLED
