"""The goods oracle's signers: the operator adds and removes them; the operator and auditors read the set.

Every route reads the chain, so they are `def` routes: they run in the thread pool, never on the
event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.deps import OperatorPrincipal, RuntimeDep, require
from api.models import OutboxEntry
from api.routers.writes import WRITE_RESPONSES, Render, WriteDep, fingerprint
from api.schemas import AccountCreate, OracleSigners
from api.services import oracles
from api.services.auth import Principal
from api.services.oracles import Ledger
from chain.roles import Role

router = APIRouter(prefix="/oracle", tags=["oracle"])

OverseerPrincipal = Annotated[Principal, Depends(require(Role.OPERATOR | Role.AUDITOR))]
AddressPath = Annotated[str, Path(max_length=64, description="20-byte hex address")]


def _render(ledger: Ledger) -> Render:
    def render(_: Session) -> OracleSigners:
        return OracleSigners.model_validate(ledger.signers())

    return render


@router.get("/signers", response_model=OracleSigners, summary="The goods oracle's signers and quorum")
def signers(_: OverseerPrincipal, runtime: RuntimeDep) -> OracleSigners:
    return OracleSigners.model_validate(Ledger.of(runtime.client, runtime.deployment).signers())


@router.post(
    "/signers",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Make an ORACLE organisation's account a signer of goods reports",
)
def add_signer(body: AccountCreate, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    ledger = Ledger.of(w.runtime.client, w.runtime.deployment)

    def make() -> tuple[OutboxEntry, Render]:
        _, entry = oracles.add_signer(w.session, ledger, address=body.address)
        return entry, _render(ledger)

    return w.run(fingerprint("add_signer", body.address), make)


@router.delete(
    "/signers/{address}",
    status_code=202,
    responses=WRITE_RESPONSES,
    summary="Remove a signer; the chain keeps signers of 2f + 1 organisations",
)
def remove_signer(address: AddressPath, _: OperatorPrincipal, w: WriteDep) -> JSONResponse:
    ledger = Ledger.of(w.runtime.client, w.runtime.deployment)

    def make() -> tuple[OutboxEntry, Render]:
        _, entry = oracles.remove_signer(w.session, address=address)
        return entry, _render(ledger)

    return w.run(fingerprint("remove_signer", address), make)
