"""Membership the operator manages on chain: keys bound to organisations, and the goods oracle's signers.

An oracle node (or a core firm confirming with a key of its own) holds its key outside the API. The
operator binds that address to the organisation in the member registry, then, for an oracle node,
makes it a GoodsOracle signer. The contract does not check at `addSigner` time that the key is an
ORACLE organisation's (it only counts such keys when a report is signed and when a signer is
removed), so the API refuses other keys before anything is enqueued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils import to_checksum_address
from sqlmodel import Session
from web3.contract import Contract

from api.models import Organisation, OutboxEntry
from api.services.auth import Principal
from api.services.errors import Conflict, Invalid, NotFound
from api.services.organisations import operator_org
from api.services.outbox import enqueue
from chain.client import ChainClient
from chain.manifest import Deployment
from chain.roles import Role

_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ZERO = "0x" + "0" * 40
# Signer changes depend on each other (replace a key: add the new one, then remove the old one, whose
# removal the contract allows only if enough organisations still sign), so they share one subject:
# the relay sends them one at a time, in the order they were accepted.
SIGNERS_SUBJECT = "goods-oracle:signers"


def parse_address(raw: str) -> str:
    """The checksummed form of `raw`, a lowercase or EIP-55 checksummed non-zero address, else 422."""
    if not _HEX_ADDRESS.fullmatch(raw):
        raise Invalid("invalid_address", "an address is 0x and 40 hex digits")
    checksummed = to_checksum_address(raw)
    if raw != raw.lower() and raw != checksummed:
        raise Invalid("invalid_address", "the address's checksum (EIP-55) is wrong", address=raw)
    if raw == _ZERO:
        raise Invalid("invalid_address", "the zero address cannot be an account")
    return checksummed


@dataclass(frozen=True)
class Account:
    address: str
    active: bool  # the account and its organisation are not suspended
    payout: bool  # the organisation's payout account


@dataclass(frozen=True)
class Signer:
    address: str
    org_id: int  # the registry's organisation id, 0 if the key belongs to none
    active: bool  # may sign now: an active account of an ORACLE organisation


@dataclass(frozen=True)
class SignerSet:
    signers: list[Signer]
    quorum: int
    fault_tolerance: int
    signing_organisations: int  # distinct organisations of the active signers


@dataclass(frozen=True)
class Ledger:
    """Read-only views of the member registry and the goods oracle (blocking: thread pool only)."""

    client: ChainClient
    registry: Contract
    oracle: Contract

    @classmethod
    def of(cls, client: ChainClient, deployment: Deployment) -> Ledger:
        return cls(
            client,
            client.contract("MemberRegistry", deployment.address("MemberRegistry")),
            client.contract("GoodsOracle", deployment.address("GoodsOracle")),
        )

    def member_of(self, address: str) -> tuple[int, int]:
        """(chain organisation id or 0, roles the account may use now: 0 while suspended)."""
        org_id, roles = self.client.call(self.registry.functions.memberOf(address))
        return int(org_id), int(roles)

    def accounts(self, chain_org_id: int) -> list[Account]:
        """The organisation's accounts, whether each may act, and which one is paid."""
        addresses = self.client.call(self.registry.functions.accountsOf(chain_org_id))
        _, payout = self.client.call(self.registry.functions.orgStatus(chain_org_id))
        return [self._account(a, payout) for a in addresses]

    def account(self, chain_org_id: int, address: str) -> Account:
        """One account of the organisation, as `accounts` describes it."""
        _, payout = self.client.call(self.registry.functions.orgStatus(chain_org_id))
        return self._account(address, payout)

    def _account(self, address: str, payout: str) -> Account:
        active = bool(self.client.call(self.registry.functions.isActive(address)))
        return Account(address=address, active=active, payout=address == payout)

    def signers(self) -> SignerSet:
        """The signer set with each key's organisation, the quorum and the fault tolerance."""
        listed = []
        for address in self.client.call(self.oracle.functions.signers()):
            org_id, roles = self.member_of(address)
            listed.append(Signer(address=address, org_id=org_id, active=bool(roles & Role.ORACLE)))
        fault_tolerance, _, _ = self.client.call(self.oracle.functions.parameters())
        return SignerSet(
            signers=listed,
            quorum=int(self.client.call(self.oracle.functions.quorum())),
            fault_tolerance=int(fault_tolerance),
            signing_organisations=len({s.org_id for s in listed if s.active}),
        )


def _admitted(session: Session, org_id: int) -> Organisation:
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("organisation_not_found", f"no organisation {org_id}")
    if org.chain_org_id is None:
        raise Conflict("organisation_pending", "the organisation is not admitted on chain yet")
    return org


def org_for_accounts(session: Session, principal: Principal, org_id: int) -> Organisation:
    """An organisation whose accounts the caller may list: its own; any for the operator and auditors."""
    org = session.get(Organisation, org_id)
    if org is None or (org.id != principal.org.id and not principal.has(Role.OPERATOR | Role.AUDITOR)):
        raise NotFound("organisation_not_found", f"no organisation {org_id}")
    return org


def bind_account(session: Session, *, org_id: int, address: str) -> tuple[Organisation, str, OutboxEntry]:
    """Enqueue `MemberRegistry.addAccount`: a key held outside the API becomes the organisation's.

    A key that is already an account (of any organisation) is refused by the chain (account_taken).
    """
    account = parse_address(address)
    org = _admitted(session, org_id)
    entry = enqueue(
        session,
        signer_org_id=operator_org(session).id or 0,
        contract="MemberRegistry",
        function="addAccount",
        args=[org.chain_org_id, account],
        subject_type="organisation",
        subject_id=f"org:{org.id}",
    )
    return org, account, entry


def unbind_account(session: Session, ledger: Ledger, *, org_id: int, address: str) -> OutboxEntry:
    """Enqueue `MemberRegistry.removeAccount` for an account the chain says is the organisation's."""
    account = parse_address(address)
    org = _admitted(session, org_id)
    owner, _ = ledger.member_of(account)
    if owner != org.chain_org_id:  # removeAccount takes no organisation: never remove another's key
        raise NotFound("account_not_found", f"{account} is no account of organisation {org_id}")
    return enqueue(
        session,
        signer_org_id=operator_org(session).id or 0,
        contract="MemberRegistry",
        function="removeAccount",
        args=[account],
        subject_type="organisation",
        subject_id=f"org:{org.id}",
    )


def add_signer(session: Session, ledger: Ledger, *, address: str) -> tuple[str, OutboxEntry]:
    """Enqueue `GoodsOracle.addSigner` for an active account of an ORACLE organisation."""
    account = parse_address(address)
    org_id, roles = ledger.member_of(account)
    if not roles & Role.ORACLE:
        raise Conflict(
            "not_an_oracle_account",
            "only an active account of an organisation with the ORACLE role can sign oracle reports",
            address=account,
            org_id=org_id,
        )
    return account, _signer_call(session, "addSigner", account)


def remove_signer(session: Session, *, address: str) -> tuple[str, OutboxEntry]:
    """Enqueue `GoodsOracle.removeSigner`; the chain keeps signers of 2f + 1 organisations."""
    account = parse_address(address)
    return account, _signer_call(session, "removeSigner", account)


def _signer_call(session: Session, function: str, account: str) -> OutboxEntry:
    return enqueue(
        session,
        signer_org_id=operator_org(session).id or 0,
        contract="GoodsOracle",
        function=function,
        args=[account],
        subject_type="oracle_signers",
        subject_id=SIGNERS_SUBJECT,
    )
