"""The node's tuned py-evm computation behaves exactly like stock py-evm."""

from __future__ import annotations

import hashlib
import inspect
import random
from typing import Any

import pytest
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.code_stream import CodeStream
from eth.vm.computation import BaseComputation
from eth.vm.forks.prague import PragueVM
from eth.vm.stack import Stack
from hypothesis import given, settings
from hypothesis import strategies as st

from node import evm
from node.interpreter import NodeStack, opcode_mask

SENDER = b"\x5e" * 20
TARGET = b"\x7a" * 20


@given(st.binary(max_size=300))
def test_opcode_mask_matches_py_evm_jump_analysis(code: bytes) -> None:
    mask = opcode_mask(code)
    stream = CodeStream(code)
    assert [mask[i] == 1 for i in range(len(code))] == [stream.is_valid_opcode(i) for i in range(len(code))]


@given(
    st.lists(st.one_of(st.integers(0, 2**256 - 1), st.binary(max_size=32)), max_size=12), st.integers(1, 14)
)
def test_node_stack_pops_like_py_evm(items: list[int | bytes], count: int) -> None:
    stock, node = Stack(), NodeStack()
    stock.values.extend(items)
    node.values.extend(items)
    try:
        expected: Any = stock.pop_ints(count)
    except Exception as exc:  # noqa: BLE001 - the same error type is the assertion
        expected = type(exc)
    try:
        got: Any = node.pop_ints(count)
    except Exception as exc:  # noqa: BLE001
        got = type(exc)
    assert got == expected
    assert node.values == stock.values


def _chain(vm_class: type) -> Any:
    chain_class = MiningChain.configure(__name__="T", vm_configuration=((0, vm_class),), chain_id=1337)
    genesis = evm.genesis_params(30_000_000, timestamp=1_700_000_000)
    return chain_class.from_genesis(AtomicDB(), genesis, evm.genesis_state([(SENDER, 10**24)]))


# Opcode snippets biased towards what the tuned paths touch: jumps (into PUSH data too), memory
# in and out of bounds, stack depth errors, static gas near exhaustion, calls, storage and logs.
def _snippet(rng: random.Random) -> bytes:
    kind = rng.randrange(12)
    if kind == 0:  # PUSHn, its data often holding JUMPDEST bytes that are no jump targets
        size = rng.randrange(1, 33)
        return bytes([0x5F + size]) + bytes(rng.choice([0x5B, rng.randrange(256)]) for _ in range(size))
    if kind == 1:  # JUMP / JUMPI to a small target (often into PUSH data), or a JUMPI not taken
        if rng.random() < 0.5:
            return bytes([0x60, 0, 0x60, rng.randrange(64), 0x57])
        return bytes([0x60, 1, 0x60, rng.randrange(64), rng.choice([0x56, 0x57])])
    if kind == 2:
        return b"\x5b"  # JUMPDEST
    if kind == 3:  # MSTORE / MLOAD / MSTORE8 at a small or huge offset
        offset = 2**40 if rng.random() < 0.03 else rng.choice([0, 1, 31, 32, 64, 200, 4096])
        return (
            bytes([0x60, 7]) + bytes([0x65]) + offset.to_bytes(6, "big") + bytes([rng.choice([0x52, 0x53])])
        )
    if kind == 4:
        offset = 2**30 if rng.random() < 0.03 else rng.choice([0, 32, 96, 1000])
        return bytes([0x65]) + offset.to_bytes(6, "big") + b"\x51"  # MLOAD
    if kind == 5:  # arithmetic / comparison / bit ops on two pushed operands, now and then on too few
        op = rng.choice([0x01, 0x02, 0x03, 0x04, 0x06, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x1B, 0x1C])
        operands = b"" if rng.random() < 0.05 else bytes([0x60, rng.randrange(256), 0x61]) + rng.randbytes(2)
        return operands + bytes([op])
    if kind == 6:  # DUP / SWAP / POP
        pushed = b"" if rng.random() < 0.05 else bytes([0x60, 1, 0x60, 2, 0x60, 3])
        return pushed + bytes([rng.choice([0x80, 0x81, 0x82, 0x90, 0x91, 0x50])])
    if kind == 7:
        return bytes.fromhex("602a600155600154")  # SSTORE then SLOAD
    if kind == 8:
        return bytes.fromhex("602060002050") + bytes.fromhex("60206000a0")  # SHA3, POP; LOG0 of 32 bytes
    if kind == 9:  # CALLDATACOPY / CODECOPY into memory
        return bytes.fromhex("6020600060") + bytes([rng.randrange(64)]) + bytes([rng.choice([0x37, 0x39])])
    if kind == 10:  # STATICCALL to self or an empty account
        target = rng.choice([TARGET, b"\x01" * 20])
        return bytes.fromhex("6000600060006000") + b"\x73" + target + bytes.fromhex("61ffff") + b"\xfa"
    if rng.random() < 0.2:  # halts: STOP, RETURN, REVERT, INVALID
        return bytes([0x60, 32, 0x60, 0, rng.choice([0x00, 0xF3, 0xFD, 0xFE])])
    return bytes([rng.choice([0x5A, 0x59, 0x58])])  # GAS, MSIZE, PC


@pytest.fixture(scope="module")
def vms() -> tuple[Any, Any]:
    return _chain(PragueVM).get_vm(), _chain(evm.NodePragueVM).get_vm()


def _outcome(vm: Any, code: bytes, gas: int, data: bytes) -> tuple[Any, ...]:
    snapshot = vm.state.snapshot()
    vm.state.set_code(TARGET, code)
    try:
        c = vm.execute_bytecode(SENDER, 1, gas, TARGET, SENDER, 0, data, code)
        error = (type(c.error).__name__, str(c.error)) if c.is_error else None
        return (
            error,
            c.get_gas_used(),
            c.get_gas_refund(),
            c.output,
            c.get_log_entries(),
            c._memory._bytes,
            c._stack.values,
            vm.state.get_storage(TARGET, 1),
        )
    finally:
        vm.state.revert(snapshot)


@settings(max_examples=300, deadline=None)
@given(
    st.randoms(use_true_random=False), st.integers(0, 60), st.sampled_from([300, 3_000, 100_000, 3_000_000])
)
def test_node_computation_matches_stock_py_evm(
    vms: tuple[Any, Any], rng: random.Random, length: int, gas: int
) -> None:
    stock, node = vms
    code = b"".join(_snippet(rng) for _ in range(length))
    data = rng.randbytes(rng.randrange(0, 70))
    assert _outcome(node, code, gas, data) == _outcome(stock, code, gas, data)


@pytest.mark.parametrize("last", [b"\x60\x01", b"\x80", b"\x8f", b"\x90", b"\x9f", b"\x50", b"\x5b", b"\x5f"])
@pytest.mark.parametrize("depth", [0, 15, 1023, 1024])
def test_node_computation_matches_stock_py_evm_at_stack_limits(
    vms: tuple[Any, Any], depth: int, last: bytes
) -> None:
    stock, node = vms
    code = b"\x5f" * depth + last + b"\x5f"  # PUSH0 x depth, then the opcode, then one more push
    for gas in (10_000, 2 * depth + 4):  # enough, and just short
        assert _outcome(node, code, gas, b"") == _outcome(stock, code, gas, b"")


def test_loop_prologue_is_py_evm_0_12s() -> None:
    """`node_computation.apply_computation` copies py-evm's prologue: re-derive it if py-evm changed it."""
    source = inspect.getsource(BaseComputation.apply_computation)
    assert hashlib.sha256(source.encode()).hexdigest() == (
        "d2f86d6b1ebc80701ad7fd8a6204b3c152ddfadd730b68d1fab633ac9643848d"
    ), "py-evm's BaseComputation.apply_computation changed: update node/interpreter.py to match"
