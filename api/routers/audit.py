"""Audit: verify documents, walk a receivable's history, reconcile the database with the chain."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from api.deps import AuditorPrincipal, RuntimeDep, SessionDep
from api.documents import sha256_hex
from api.schemas import HEX_ID
from api.services.errors import Invalid, TooLarge

router = APIRouter(prefix="/audit", tags=["audit"])


@router.post("/documents/verify", summary="Is this document (file or SHA-256) anchored on chain?")
async def verify_document(
    _: AuditorPrincipal,
    runtime: RuntimeDep,
    document: Annotated[UploadFile | None, File()] = None,
    sha256: Annotated[str | None, Form(pattern=r"^[0-9a-fA-F]{64}$")] = None,
    invoice_id: Annotated[str | None, Form(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
) -> dict[str, Any]:
    if document is not None:
        content = await document.read(runtime.settings.max_document_bytes + 1)
        if len(content) > runtime.settings.max_document_bytes:
            raise TooLarge("document_too_large", "the document is larger than any the network accepts")
        digest = sha256_hex(content)
    elif sha256 is not None:
        digest = sha256
    else:
        raise Invalid("document_required", "send the document or its sha256")
    return runtime.auditor.verify_document(sha256=digest, invoice_id=invoice_id)


@router.get("/receivables/{root_id}/history", summary="Full history and split tree, from chain events")
def history(root_id: str, _: AuditorPrincipal, runtime: RuntimeDep) -> dict[str, Any]:
    if not re.fullmatch(HEX_ID, root_id):
        raise Invalid("invalid_id", "a receivable id is 0x and 64 hex digits")
    return runtime.auditor.history(root_id)


@router.get("/reconciliation", summary="Every database row checked against the chain")
def reconciliation(_: AuditorPrincipal, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.auditor.reconcile(session)
