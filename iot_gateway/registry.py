"""Device keys from the chain: `WarehouseReceipts.device(deviceId)`, cached for a while."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from web3.contract import Contract

from chain.client import ChainClient
from chain.manifest import Deployment
from chain.readings import device_id

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class DeviceBinding:
    """The lot a device watches and the address of the key that signs its readings."""

    lot_id: bytes
    key: str


class DeviceKeys:
    """Looks devices up on chain; answers (found or not) are cached for their TTL.

    A lookup that cannot reach the node raises `chain.errors.ChainUnavailable`; the gateway then
    holds the reading back rather than drop it.
    """

    def __init__(
        self,
        lookup: Callable[[bytes], tuple[bytes, str]],
        *,
        ttl_s: float,
        unknown_ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._unknown_ttl_s = unknown_ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, DeviceBinding | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_chain(
        cls, rpc_url: str, manifest_path: Path, *, ttl_s: float, unknown_ttl_s: float
    ) -> DeviceKeys:
        """Read keys from the WarehouseReceipts contract named in the deployment manifest."""
        client = ChainClient.connect(rpc_url, retries=2, backoff_s=0.2)
        deployment = Deployment.read(manifest_path)
        receipts = client.contract("WarehouseReceipts", deployment.address("WarehouseReceipts"))
        return cls.from_contract(client, receipts, ttl_s=ttl_s, unknown_ttl_s=unknown_ttl_s)

    @classmethod
    def from_contract(
        cls, client: ChainClient, receipts: Contract, *, ttl_s: float, unknown_ttl_s: float
    ) -> DeviceKeys:
        def lookup(dev_id: bytes) -> tuple[bytes, str]:
            lot, key = client.call(receipts.functions.device(dev_id))
            return bytes(lot), str(key)

        return cls(lookup, ttl_s=ttl_s, unknown_ttl_s=unknown_ttl_s)

    def get(self, device: str) -> DeviceBinding | None:
        """The binding of device `device` (by name), or None if no lot has it."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(device)
        if cached is not None and cached[0] > now:
            return cached[1]
        lot, key = self._lookup(device_id(device))
        binding = None if key.lower() == ZERO_ADDRESS else DeviceBinding(lot, key)
        ttl = self._ttl_s if binding is not None else self._unknown_ttl_s
        with self._lock:
            self._cache[device] = (now + ttl, binding)
        return binding
