"""Admitting organisations and their members; the operator's own organisation at start-up."""

from __future__ import annotations

import logging

from eth_account.signers.local import LocalAccount
from sqlmodel import Session, select

from api.custody import MasterKey, new_account
from api.models import CustodialKey, Member, Organisation, OutboxEntry
from api.services.auth import issue_key
from api.services.errors import Conflict, Invalid, NotFound
from api.services.outbox import enqueue
from chain.identifiers import InvalidIdentifier, credit_code_bytes32, parse_credit_code
from chain.roles import Role

logger = logging.getLogger(__name__)

ASSIGNABLE_ROLES = int(
    Role.CORE_FIRM | Role.SUPPLIER | Role.BANK | Role.WAREHOUSE | Role.AUDITOR | Role.ORACLE
)


def operator_org(session: Session) -> Organisation:
    org = session.exec(select(Organisation).where(Organisation.chain_org_id == 1)).first()
    if org is None:
        raise NotFound("operator_missing", "the operator organisation is not set up")
    return org


def ensure_operator(
    session: Session,
    *,
    master_key: MasterKey,
    account: LocalAccount,
    credit_code: str,
    name: str,
    bootstrap_token: str | None,
) -> Organisation:
    """Make sure the operator organisation (registry id 1) and its first member exist."""
    org = session.exec(select(Organisation).where(Organisation.chain_org_id == 1)).first()
    if org is None:
        org = Organisation(
            chain_org_id=1,
            name=name,
            credit_code=credit_code,
            roles=int(Role.OPERATOR),
            status="active",
            account_address=account.address,
        )
        session.add(org)
        session.flush()
        session.add(
            CustodialKey(
                org_id=org.id or 0, address=account.address, ciphertext=master_key.seal(org.id or 0, account)
            )
        )
        member = Member(org_id=org.id or 0, name="operator")
        session.add(member)
        session.flush()
        if bootstrap_token:
            issue_key(session, member=member, token=bootstrap_token)
        logger.info("operator organisation set up (account %s)", account.address)
    return org


def active_org(session: Session, credit_code: str, role: int, what: str) -> Organisation:
    """The admitted, active organisation with `credit_code` holding `role`, or `unknown_<what>` (422)."""
    org = session.exec(
        select(Organisation).where(Organisation.credit_code == credit_code.strip().upper())
    ).first()
    if org is None or org.chain_org_id is None or org.status != "active" or not org.roles & role:
        raise Invalid(f"unknown_{what}", f"no active {what} of the network has that credit code")
    return org


def admit(
    session: Session,
    *,
    master_key: MasterKey,
    name: str,
    credit_code: str,
    roles: int,
    gas_funding_wei: int,
) -> tuple[Organisation, OutboxEntry]:
    """Create the organisation and its custodial key, and enqueue its admission on chain."""
    try:
        code = parse_credit_code(credit_code)
    except InvalidIdentifier as exc:
        raise Invalid(exc.code, str(exc)) from exc
    if roles == 0 or roles & ~ASSIGNABLE_ROLES:
        raise Invalid(
            "invalid_roles",
            "roles must be a non-empty set of CORE_FIRM, SUPPLIER, BANK, WAREHOUSE, AUDITOR, ORACLE",
        )
    existing = session.exec(select(Organisation).where(Organisation.credit_code == code)).first()
    if existing is not None:
        raise Conflict("organisation_exists", f"credit code {code} is already admitted", org_id=existing.id)
    account = new_account()
    org = Organisation(name=name, credit_code=code, roles=roles, account_address=account.address)
    session.add(org)
    session.flush()
    session.add(
        CustodialKey(
            org_id=org.id or 0, address=account.address, ciphertext=master_key.seal(org.id or 0, account)
        )
    )
    operator = operator_org(session)
    subject = f"org:{org.id}"
    if gas_funding_wei:
        enqueue(
            session,
            signer_org_id=operator.id or 0,
            contract="native",
            function="transfer",
            args=[account.address, gas_funding_wei],
            subject_type="organisation",
            subject_id=subject,
        )
    entry = enqueue(
        session,
        signer_org_id=operator.id or 0,
        contract="MemberRegistry",
        function="admitOrganisation",
        args=[credit_code_bytes32(code), name, roles, account.address],
        subject_type="organisation",
        subject_id=subject,
    )
    return org, entry


def set_suspended(session: Session, *, org_id: int, suspended: bool) -> OutboxEntry:
    """Enqueue a suspension (or reinstatement); it takes effect on chain at once when mined."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("organisation_not_found", f"no organisation {org_id}")
    if org.chain_org_id is None:
        raise Conflict("organisation_pending", "the organisation is not admitted on chain yet")
    if org.chain_org_id == 1:
        raise Conflict("operator_lockout", "the operator cannot suspend itself")
    return enqueue(
        session,
        signer_org_id=operator_org(session).id or 0,
        contract="MemberRegistry",
        function="suspendOrganisation" if suspended else "reinstateOrganisation",
        args=[org.chain_org_id],
        subject_type="organisation",
        subject_id=f"org:{org.id}",
    )


def add_member(session: Session, *, org_id: int, name: str) -> tuple[Member, str, int]:
    """Add a member to an organisation; return it, its first API key (shown once) and the key id."""
    org = session.get(Organisation, org_id)
    if org is None:
        raise NotFound("organisation_not_found", f"no organisation {org_id}")
    member = Member(org_id=org_id, name=name)
    session.add(member)
    session.flush()
    key, token = issue_key(session, member=member)
    return member, token, key.id or 0


def approve_settlement(session: Session, *, org: Organisation, spender: str) -> OutboxEntry:
    """Let the receivables contract draw the organisation's settlement tokens (banks fund, core firms repay).

    Queued under the organisation's subject, so it is sent after the admission that precedes it.
    """
    return enqueue(
        session,
        signer_org_id=org.id or 0,
        contract="SettlementToken",
        function="approve",
        args=[spender, 2**256 - 1],
        subject_type="organisation",
        subject_id=f"org:{org.id}",
    )
