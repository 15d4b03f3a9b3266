"""Hand-assembled contracts for node tests (no compiler needed)."""

from __future__ import annotations

import rlp
from eth_utils import keccak

IS_ACTIVE = keccak(text="isActive(address)")[:4]
SET_ACTIVE = keccak(text="setActive(address,bool)")[:4]
PING_TOPIC = keccak(text="Ping(uint256)")
REVERT_DATA = bytes.fromhex("deadbeef")


def deployer(runtime: bytes) -> bytes:
    """Wrap runtime code in init code that returns it."""
    size = len(runtime)
    assert size < 256
    init = bytes([0x60, size, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, size, 0x60, 0x00, 0xF3])
    assert len(init) == 0x0C
    return init + runtime


def registry_runtime() -> bytes:
    """isActive(address) -> sload(address) != 0; any other call: sstore(arg0, arg1)."""
    code = (
        bytes.fromhex("60003560e01c")  # selector
        + b"\x63"
        + IS_ACTIVE
        + b"\x14"  # PUSH4 isActive; EQ
        + bytes.fromhex("601757")  # JUMPI to 0x17
        + bytes.fromhex("6024356004355500")  # sstore(cd[4], cd[36]); STOP
    )
    assert len(code) == 0x17
    return code + bytes.fromhex("5b60043554151560005260206000f3")


def emitter_runtime() -> bytes:
    """Store calldata word 0 in slot 0 and emit Ping(word) (LOG1)."""
    return bytes.fromhex("600035806000556000527f") + PING_TOPIC + bytes.fromhex("60206000a100")


def reverter_runtime() -> bytes:
    """Always revert with 0xdeadbeef."""
    return b"\x63" + REVERT_DATA + bytes.fromhex("6000526004601cfd")


def forwarder_runtime(target: bytes) -> bytes:
    """Forward the calldata to `target` with a CALL (changes it without calling it directly)."""
    copy = bytes.fromhex("366000600037")  # calldatacopy(0, 0, calldatasize)
    call = bytes.fromhex("60006000366000600073") + target + bytes.fromhex("5af15000")
    return copy + call


def create_address(sender: bytes, nonce: int) -> bytes:
    """Return the address a CREATE from sender at nonce deploys to."""
    return keccak(rlp.encode([sender, nonce]))[12:]


def set_active_calldata(account: bytes, active: bool) -> bytes:
    """Encode setActive(account, active) for the stand-in registry."""
    return SET_ACTIVE + account.rjust(32, b"\x00") + int(active).to_bytes(32, "big")
