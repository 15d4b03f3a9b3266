"""Gas of the suite's transactions next to OpenZeppelin 5 yardsticks, all measured in one run.

Every figure is a transaction's gasUsed (21,000 base included) on one in-process chain, with the
same compiler settings for our contracts and the yardsticks.
"""

from __future__ import annotations

from eth_utils import keccak

from chain.devnet import DevNet, Org, dev_account
from chain.identifiers import part_id
from chain.merkle import MerkleTree, reading_leaf
from chain.roles import Role
from chain.typed_data import OracleReport, sign_report

DAY = 86_400
TARGETS = {
    "register_confirm": ("<=", 1.5, ("oz_erc721_mint",)),
    "register_batch50_per_invoice": ("<=", 0.6, ("oz_erc721_mint",)),
    "finance_dvp": ("<=", 1.2, ("oz_erc721_transfer", "oz_erc20_transfer")),
}


def _key(label: str) -> int:
    return int.from_bytes(keccak(text=label), "big") >> 1


def measure() -> dict[str, int]:
    """Deploy the suite and the yardsticks on a fresh chain and return gasUsed per operation."""
    net = DevNet.start()
    huaxin = net.admit("bench-core", Role.CORE_FIRM)
    supplier = net.admit("bench-supplier", Role.SUPPLIER)
    tier2 = net.admit("bench-tier2", Role.SUPPLIER)
    seller = net.admit("bench-seller", Role.SUPPLIER)  # holds no settlement balance before financing
    bank = net.admit("bench-bank", Role.BANK)
    r = net.suite.receivables.functions
    token = net.suite.settlement.functions
    due = net.now() + 90 * DAY
    doc = keccak(text="document")

    net.tx(token.mint(bank.address, 10**15), bank)
    net.tx(token.mint(huaxin.address, 10**15), bank)
    net.tx(token.approve(net.suite.receivables.address, 2**256 - 1), bank)
    net.tx(token.approve(net.suite.receivables.address, 2**256 - 1), huaxin)

    gas: dict[str, int] = {}
    # Warm-up registration: the supplier's first ever invoice is not the steady state we price.
    net.tx(r.register(_key("warm"), huaxin.org_id, 1_000_00, due, doc), supplier)

    first = _key("INV-1")
    registered = net.tx(r.register(first, huaxin.org_id, 1_000_000_00, due, doc), supplier)["gasUsed"]
    confirmed = net.tx(r.confirm(first), huaxin)["gasUsed"]
    gas["register"] = registered
    gas["confirm"] = confirmed
    gas["register_confirm"] = registered + confirmed

    batch = [(_key(f"BATCH-{i}"), huaxin.org_id, 10_000_00 + i, due, doc) for i in range(50)]
    gas["register_batch50_per_invoice"] = net.tx(r.registerBatch(batch), supplier)["gasUsed"] // 50

    gas["split2"] = net.tx(r.split(first, [300_000_00, 700_000_00]), supplier)["gasUsed"]
    part_a = part_id(first, 0)
    gas["transfer"] = net.tx(r.transfer(part_a, seller.org_id), supplier)["gasUsed"]

    gas["finance_request"] = net.tx(r.requestFinancing(part_a, bank.org_id, 45_000, due - DAY), seller)[
        "gasUsed"
    ]
    gas["finance_dvp"] = net.tx(r.fund(part_a, 45_000), bank)["gasUsed"]

    # Repayment: one root in 8 parts, half passed to another supplier, repaid in one batch.
    root = _key("REPAY-ROOT")
    net.tx(r.register(root, huaxin.org_id, 8_000_000_00, due, doc), supplier)
    net.tx(r.confirm(root), huaxin)
    net.tx(r.split(root, [1_000_000_00] * 8), supplier)
    parts = [part_id(root, i) for i in range(8)]
    for part in parts[:4]:
        net.tx(r.transfer(part, tier2.org_id), supplier)
    gas["repay_per_piece"] = net.tx(r.repay(parts), huaxin)["gasUsed"] // len(parts)

    gas.update(_goods(net, supplier, bank))
    gas.update(_yardsticks(net))
    return gas


def _goods(net: DevNet, owner: Org, bank: Org) -> dict[str, int]:
    """Receipt issue and pledge, and a 2-of-3 oracle report anchoring 100 readings."""
    warehouse = net.admit("bench-warehouse", Role.WAREHOUSE)
    oracles = [net.admit(f"bench-oracle-{i}", Role.ORACLE) for i in range(3)]
    o = net.suite.oracle.functions
    w = net.suite.receipts.functions
    for node in oracles:
        net.tx(o.addSigner(node.address), net.operator)
    lot = keccak(text="BENCH-LOT")
    devices = [(keccak(text=f"bench-device-{i}"), dev_account(f"bench-device-{i}").address) for i in range(3)]
    net.tx(w.registerLot(lot, ("steel coils", "Q235", 120_000_000, "t", "WH-1"), devices), warehouse)

    tree = MerkleTree.build(
        [reading_leaf(devices[i % 3][0], i, keccak(text=f"reading-{i}")) for i in range(100)]
    )
    report = OracleReport(lot, 1, 1, tree.root, 100, net.now())
    signatures = sign_report(
        [node.account for node in oracles[:2]],
        chain_id=net.client.chain_id,
        oracle=net.suite.oracle.address,
        report=report,
    )
    out = {"oracle_report_2sig": net.tx(o.submitReport(report.as_tuple(), signatures), oracles[0])["gasUsed"]}
    out["receipt_issue"] = net.tx(w.issueReceipt(lot, owner.org_id, keccak(text="receipt")), warehouse)[
        "gasUsed"
    ]
    out["receipt_pledge"] = net.tx(w.pledge(lot, bank.org_id, net.now() + 30 * DAY), owner)["gasUsed"]
    out["oracle_gas_per_reading"] = out["oracle_report_2sig"] // 100
    return out


def _yardsticks(net: DevNet) -> dict[str, int]:
    deployer = net.operator.account
    erc721, _ = net.client.deploy("BaselineERC721", deployer)
    erc1155, _ = net.client.deploy("BaselineERC1155", deployer)
    erc20, _ = net.client.deploy("BaselineERC20", deployer)
    holder = dev_account("yardstick-holder")
    fresh = [dev_account(f"yardstick-new-{i}").address for i in range(3)]
    net.fund(holder.address)
    out: dict[str, int] = {}
    net.tx(erc721.functions.mint(holder.address, 1), deployer)  # holder owns one already
    out["oz_erc721_mint"] = net.tx(erc721.functions.mint(fresh[0], 2), deployer)["gasUsed"]
    out["oz_erc721_transfer"] = net.tx(erc721.functions.transferFrom(holder.address, fresh[1], 1), holder)[
        "gasUsed"
    ]
    out["oz_erc1155_mint"] = net.tx(erc1155.functions.mint(fresh[0], 7, 100), deployer)["gasUsed"]
    net.tx(erc20.functions.mint(holder.address, 10**6), deployer)
    out["oz_erc20_transfer"] = net.tx(erc20.functions.transfer(fresh[2], 10**3), holder)["gasUsed"]
    return out


def evaluate(gas: dict[str, int]) -> dict[str, dict[str, float | bool]]:
    """Return each target's limit, ratio and verdict."""
    verdicts: dict[str, dict[str, float | bool]] = {}
    for key, (_, factor, bases) in TARGETS.items():
        base = sum(gas[b] for b in bases)
        verdicts[key] = {
            "value": gas[key],
            "limit": factor * base,
            "ratio_to_base": round(gas[key] / base, 3),
            "met": gas[key] <= factor * base,
        }
    return verdicts
