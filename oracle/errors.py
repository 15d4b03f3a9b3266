"""Errors of the oracle nodes, rooted in `ScfError`."""

from __future__ import annotations

from chain.errors import ScfError


class OracleError(ScfError):
    """Root of every oracle-node error."""

    code = "oracle_error"


class OracleConfigError(OracleError):
    """The node's settings or rules file cannot be used."""

    code = "oracle_config"


class ProofUnavailable(OracleError):
    """No proof can be given for reading (`device`, `seq`); `reason` says why.

    Reasons: `unknown_reading` (this node never accepted it), `not_anchored` (its round has no root
    on chain yet), `skipped` (the chain passed its round over: a later round of the lot was anchored
    first, so it never will be; `detail` says why, and the node counted it in
    `metrics.readings_unanchored`), `root_mismatch` (the anchored root covers a reading set other
    than this node's: ask another node).
    """

    code = "proof_unavailable"

    def __init__(self, device: str, seq: int, reason: str, *, detail: str | None = None) -> None:
        super().__init__(f"no proof for {device}#{seq}: {reason}" + (f" ({detail})" if detail else ""))
        self.device = device
        self.seq = seq
        self.reason = reason
        self.detail = detail
