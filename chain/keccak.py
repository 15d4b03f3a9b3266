"""keccak256 through safe-pysha3's C code when it is installed (eth-tester[py-evm] installs it).

eth-hash's auto-detection picks pycryptodome first when both are present, whose cffi wrapper costs
~8 us per call here against ~1 us for safe-pysha3. The IoT path hashes ~5 times per reading on the
gateway and on every oracle node, the chain node a few hundred times per transaction: `keccak256`
calls the C code directly, and `use_native_keccak` switches eth-hash itself (so `eth_utils.keccak`,
`to_checksum_address` and py-evm) for the whole process. Both are checked against the empty-input
digest before they are used; without safe-pysha3 everything stays on eth-hash's own choice.
This module imports neither web3 nor py-evm, so any process can take it cheaply.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

logger = logging.getLogger(__name__)

EMPTY_KECCAK = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def _native() -> Callable[[bytes], bytes] | None:
    try:
        from sha3 import keccak_256
    except ImportError:
        return None

    def keccak256(data: bytes) -> bytes:
        """keccak256 of `data` (safe-pysha3)."""
        return keccak_256(data).digest()

    if keccak256(b"") != EMPTY_KECCAK:
        logger.warning("safe-pysha3 gives a wrong keccak256; using eth-hash")
        return None
    return keccak256


def _fallback() -> Callable[[bytes], bytes]:
    from eth_hash.auto import keccak

    return keccak


keccak256: Callable[[bytes], bytes] = _native() or _fallback()
NATIVE = keccak256.__module__ == __name__


def use_native_keccak() -> str:
    """Make eth-hash use safe-pysha3's C keccak if installed; return the backend in use.

    Process-wide: every user of eth-hash (eth_utils.keccak, py-evm) gets the same digests, faster.
    An explicit ETH_HASH_BACKEND is left alone.
    """
    from eth_hash.auto import keccak

    if os.environ.get("ETH_HASH_BACKEND"):
        return os.environ["ETH_HASH_BACKEND"]
    try:
        from eth_hash.backends import pysha3
    except ImportError:
        return "auto"
    if pysha3.keccak256(b"") != EMPTY_KECCAK:
        logger.warning("safe-pysha3 gives a wrong keccak256; keeping eth-hash's choice")
        return "auto"
    keccak._backend = pysha3.backend
    keccak.hasher = pysha3.keccak256  # type: ignore[method-assign]
    keccak.preimage = pysha3.preimage  # type: ignore[method-assign]
    return "pysha3"
