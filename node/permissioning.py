"""Account permissioning: only active members of the on-chain registry may transact.

The registry answers `isActive(address) returns (bool)`; the node asks it with an internal
eth_call against the tip (the last block built). MemberRegistry's answer depends on its own
storage only, so answers are kept while the registry's code hash and storage root at the tip
stay the same: any admission or suspension changes the storage root, so one mined in block N
applies to every transaction checked after N, whoever made the change and however. Asking
costs an EVM call (~0.8 ms); checking the fingerprint costs one account read per block.
"""

from __future__ import annotations

import logging

from eth_utils import keccak, to_checksum_address

from node.chain import CallRequest, Ledger
from node.errors import NodeError, SenderNotPermitted

logger = logging.getLogger(__name__)

IS_ACTIVE_SELECTOR = keccak(text="isActive(address)")[:4]


class Permissioning:
    """Decides whether a sender may submit transactions."""

    def __init__(self, ledger: Ledger, operator: bytes | None, registry: bytes | None, dev: bool) -> None:
        self.ledger = ledger
        self.operator = operator
        self.registry = registry
        self.dev = dev
        self._cache: dict[bytes, bool] = {}
        self._cache_head = b""
        self._cache_fingerprint: tuple[bytes, bytes] | None = None

    @property
    def open(self) -> bool:
        """Return True when everyone may send (dev mode with no operator nor registry)."""
        return self.dev and self.operator is None and self.registry is None

    def check(self, sender: bytes) -> None:
        """Raise SenderNotPermitted unless the sender may transact now."""
        if self.open or sender == self.operator:
            return
        if self.registry is None:
            raise SenderNotPermitted(
                to_checksum_address(sender),
                "no member registry is configured, only the operator may transact",
            )
        if not self.is_active(sender):
            raise SenderNotPermitted(
                to_checksum_address(sender),
                f"not an active member of registry {to_checksum_address(self.registry)}",
            )

    def is_active(self, sender: bytes) -> bool:
        """Ask the registry, caching the answer while the registry's state stays the same."""
        assert self.registry is not None
        tip = self.ledger.tip
        if tip.hash != self._cache_head:
            self._cache_head = tip.hash
            fingerprint = self.ledger.contract_fingerprint(self.registry)
            if fingerprint != self._cache_fingerprint:
                self._cache.clear()
                self._cache_fingerprint = fingerprint
        cached = self._cache.get(sender)
        if cached is None:
            cached = self._ask_registry(sender)
            self._cache[sender] = cached
        return cached

    def _ask_registry(self, sender: bytes) -> bool:
        assert self.registry is not None
        request = CallRequest(
            to=self.registry, data=IS_ACTIVE_SELECTOR + sender.rjust(32, b"\x00"), gas=1_000_000
        )
        try:
            output = self.ledger.call(request, self.ledger.tip)
        except NodeError as exc:
            logger.warning("registry isActive(%s) failed: %s", sender.hex(), exc.message)
            return False
        # An undeployed registry returns no data: nobody but the operator is admitted.
        return len(output) >= 32 and int.from_bytes(output[:32], "big") == 1
