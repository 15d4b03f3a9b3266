"""py-evm's computation with its per-opcode overheads removed; the results are unchanged.

Where py-evm spends time on the register workload beyond the work itself (~1,400 opcodes
and two registry calls per transaction):

- Jump analysis: whether a JUMP target is an opcode or PUSH data is worked out lazily per
  `CodeStream`, i.e. per call, by looking back 32 bytes per target (12% of EVM time). It
  depends on the code alone, so here it is done once per contract (a linear scan into a byte
  mask, kept per code), as geth does.
- Dispatch: each opcode is a generator step plus three or four Python calls (opcode ->
  computation -> gas meter, then logic -> computation -> stack). Here the loop reads the
  code directly and runs the most frequent opcodes, PUSH1-32, DUP1-16, SWAP1-16, POP and
  JUMPDEST (over half of all executed), inline; every other fixed-cost opcode charges its
  gas inline and then runs py-evm's logic function.
- Stack and memory: `pop_ints` converts through a generator and two calls per item, and
  every MLOAD/MSTORE re-validates its operands and prices the memory expansion even when the
  bytes are already allocated; here a list and a type check, and a short path for that case.

Same gas, same errors (type and message), same effects: tests/node/test_interpreter.py runs
random programs through this and stock py-evm; tests/node/test_consensus.py imports the node's
blocks into stock py-evm. The loop's prologue is py-evm 0.12's `apply_computation`: a test
pins that method's source so an upgrade that changes it fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth.abc import ComputationAPI, MessageAPI, StateAPI, TransactionContextAPI
from eth.exceptions import FullStack, Halt, InsufficientStack, OutOfGas
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.opcode_values import DUP1, DUP16, JUMPDEST, POP, PUSH1, PUSH32, SWAP1, SWAP16
from eth.vm.stack import Stack, to_int

# Jump masks of recently run contracts, keyed by code. A handful of contracts run all day;
# the bound only stops a flood of distinct init codes from holding memory.
_MASK_CACHE_SIZE = 512
_masks: dict[bytes, bytes] = {}
_STACK_LIMIT = 1024


def opcode_mask(code: bytes) -> bytes:
    """Return a byte per code position: 1 where an opcode starts, 0 inside PUSH data."""
    mask = bytearray(len(code))
    position, end = 0, len(code)
    while position < end:
        mask[position] = 1
        opcode = code[position]
        position += opcode - PUSH1 + 2 if PUSH1 <= opcode <= PUSH32 else 1
    return bytes(mask)


def _mask_of(code: bytes) -> bytes:
    mask = _masks.get(code)
    if mask is None:
        if len(_masks) >= _MASK_CACHE_SIZE:
            del _masks[next(iter(_masks))]  # oldest first
        mask = _masks[code] = opcode_mask(code)
    return mask


class AnalysedCodeStream(CodeStream):
    """A code stream whose jump-target check reads the contract's cached opcode mask."""

    __slots__ = ("_mask",)

    def __init__(self, code_bytes: bytes) -> None:
        super().__init__(code_bytes)
        self._mask: bytes | None = None

    def is_valid_opcode(self, position: int) -> bool:
        if position >= self._length_cache:
            return False
        if self._mask is None:
            self._mask = _mask_of(self._raw_code_bytes)
        return self._mask[position] == 1


class NodeStack(Stack):
    """py-evm's stack with a cheaper `pop_ints`."""

    def pop_ints(self, num_items: int) -> tuple[int, ...]:
        values = self.values
        if num_items > len(values):
            raise InsufficientStack(f"Wanted {num_items} stack items, only had {len(values)}")
        popped = values[-num_items:]
        del values[-num_items:]
        popped.reverse()
        return tuple(
            [
                x if x.__class__ is int else int.from_bytes(x, "big") if x.__class__ is bytes else to_int(x)
                for x in popped
            ]
        )


class NodeMemory(Memory):
    """py-evm's memory with a short path for in-bounds writes."""

    def write(self, start_position: int, size: int, value: bytes) -> None:
        memory = self._bytes
        if value.__class__ is bytes and 0 < size == len(value) and 0 <= start_position <= len(memory) - size:
            memory[start_position : start_position + size] = value
        else:
            super().write(start_position, size, value)  # validates, raises py-evm's errors


def _extend_memory(self: Any, start_position: int, size: int) -> None:
    # Inside the allocated (word-aligned) memory there is nothing to charge or grow.
    if 0 < size and 0 <= start_position <= len(self._memory._bytes) - size:
        return
    self._base_extend_memory(start_position, size)


def _out_of_gas(cost: int, remaining: int, mnemonic: str) -> OutOfGas:
    return OutOfGas(f"Out of gas: Needed {cost} - Remaining {remaining} - Reason: {mnemonic}")


def _inline_gas(opcode: _FastOpcode) -> Callable[..., Any]:
    cost, logic, mnemonic = opcode.gas_cost, opcode.logic_fn, opcode.mnemonic

    def run(computation: Any) -> Any:
        meter = computation._gas_meter
        if cost > meter.gas_remaining:
            raise _out_of_gas(cost, meter.gas_remaining, mnemonic)
        meter.gas_remaining -= cost
        return logic(computation)

    run.mnemonic = mnemonic  # type: ignore[attr-defined]  # read by py-evm's debug2 tracing
    run.gas_cost = cost  # type: ignore[attr-defined]
    run.__wrapped__ = opcode  # type: ignore[attr-defined]
    return run


def inline_gas_opcodes(opcodes: dict[int, Any]) -> dict[int, Any]:
    """Return an opcode table whose fixed-cost opcodes charge their gas inline."""
    return {value: _inline_gas(op) if type(op) is _FastOpcode else op for value, op in opcodes.items()}


def _static_cost(opcodes: dict[int, Any], family: dict[int, str]) -> int:
    """Return the one static gas cost of an opcode family, checking it is py-evm's plain opcodes."""
    costs = set()
    for value, mnemonic in family.items():
        op = opcodes.get(value)
        if type(op) is not _FastOpcode or op.mnemonic != mnemonic:
            raise TypeError(f"opcode 0x{value:x} is not py-evm's {mnemonic}: cannot run it inline")
        costs.add(op.gas_cost)
    if len(costs) != 1:
        raise TypeError(f"{sorted(family.values())} do not share one gas cost")
    return costs.pop()


def _make_run(opcodes: dict[int, Any]) -> Callable[[Any], None]:
    push_cost = _static_cost(opcodes, {PUSH1 + n: f"PUSH{n + 1}" for n in range(32)})
    dup_cost = _static_cost(opcodes, {DUP1 + n: f"DUP{n + 1}" for n in range(16)})
    swap_cost = _static_cost(opcodes, {SWAP1 + n: f"SWAP{n + 1}" for n in range(16)})
    pop_cost = _static_cost(opcodes, {POP: "POP"})
    jumpdest_cost = _static_cost(opcodes, {JUMPDEST: "JUMPDEST"})
    # Other fixed-cost opcodes: (gas, logic, mnemonic), run from the loop; the rest as py-evm's.
    static = {
        value: (op.gas_cost, op.logic_fn, op.mnemonic)
        for value, op in opcodes.items()
        if type(op) is _FastOpcode
    }

    def run(computation: Any) -> None:
        """Execute the computation's code from its program counter until it halts."""
        code = computation.code
        raw = code._raw_code_bytes
        end = len(raw)
        meter = computation._gas_meter
        values = computation._stack.values
        try:
            while True:
                pc = code.program_counter
                if pc >= end:
                    return  # running off the end is STOP (no gas)
                op = raw[pc]
                code.program_counter = pc + 1
                if PUSH1 <= op <= PUSH32:
                    if push_cost > meter.gas_remaining:
                        raise _out_of_gas(push_cost, meter.gas_remaining, f"PUSH{op - PUSH1 + 1}")
                    meter.gas_remaining -= push_cost
                    size = op - PUSH1 + 1
                    value = raw[pc + 1 : pc + 1 + size]
                    code.program_counter = pc + 1 + size
                    if len(value) != size:
                        value = value.ljust(size, b"\x00")
                    if len(values) >= _STACK_LIMIT:
                        raise FullStack("Stack limit reached")
                    values.append(value)
                elif DUP1 <= op <= DUP16:
                    if dup_cost > meter.gas_remaining:
                        raise _out_of_gas(dup_cost, meter.gas_remaining, f"DUP{op - DUP1 + 1}")
                    meter.gas_remaining -= dup_cost
                    if len(values) >= _STACK_LIMIT:
                        raise FullStack("Stack limit reached")
                    position = op - DUP1 + 1
                    if position > len(values):
                        raise InsufficientStack(f"Insufficient stack items for DUP{position}")
                    values.append(values[-position])
                elif SWAP1 <= op <= SWAP16:
                    if swap_cost > meter.gas_remaining:
                        raise _out_of_gas(swap_cost, meter.gas_remaining, f"SWAP{op - SWAP1 + 1}")
                    meter.gas_remaining -= swap_cost
                    position = op - SWAP1 + 1
                    if position >= len(values):
                        raise InsufficientStack(f"Insufficient stack items for SWAP{position}")
                    values[-1], values[-position - 1] = values[-position - 1], values[-1]
                elif op == POP:
                    if pop_cost > meter.gas_remaining:
                        raise _out_of_gas(pop_cost, meter.gas_remaining, "POP")
                    meter.gas_remaining -= pop_cost
                    if not values:
                        raise InsufficientStack("Wanted 1 stack item, had none")
                    values.pop()
                elif op == JUMPDEST:
                    if jumpdest_cost > meter.gas_remaining:
                        raise _out_of_gas(jumpdest_cost, meter.gas_remaining, "JUMPDEST")
                    meter.gas_remaining -= jumpdest_cost
                elif op in static:
                    cost, logic, mnemonic = static[op]
                    if cost > meter.gas_remaining:
                        raise _out_of_gas(cost, meter.gas_remaining, mnemonic)
                    meter.gas_remaining -= cost
                    logic(computation)
                else:
                    opcode_fn = opcodes.get(op)
                    if opcode_fn is None:
                        opcode_fn = InvalidOpcode(op)
                    opcode_fn(computation=computation)
        except Halt:
            return

    return run


def node_computation(base: type[ComputationAPI]) -> type[ComputationAPI]:
    """Return `base` with cached jump analysis, the faster loop, cheaper stack and memory."""
    run = _make_run(base.opcodes)  # type: ignore[attr-defined]
    base_apply = base.apply_computation.__func__  # type: ignore[attr-defined]

    def __init__(
        self: Any, state: StateAPI, message: MessageAPI, transaction_context: TransactionContextAPI
    ) -> None:
        base.__init__(self, state, message, transaction_context)  # type: ignore[misc]
        self.code = AnalysedCodeStream(message.code)
        self._stack = NodeStack()
        self._memory = NodeMemory()

    def apply_computation(
        cls: Any,
        state: StateAPI,
        message: MessageAPI,
        transaction_context: TransactionContextAPI,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        if cls.logger.show_debug2:  # per-opcode tracing: py-evm's own loop logs each step
            return base_apply(cls, state, message, transaction_context, parent_computation)  # type: ignore[no-any-return]
        # From here to `run` this is py-evm 0.12's BaseComputation.apply_computation.
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation  # type: ignore[no-any-return]
            run(computation)
        return computation  # type: ignore[no-any-return]

    return type(
        f"Node{base.__name__}",
        (base,),
        {
            "__init__": __init__,
            "__module__": __name__,
            "apply_computation": classmethod(apply_computation),
            "extend_memory": _extend_memory,
            "_base_extend_memory": base.extend_memory,
            "opcodes": inline_gas_opcodes(base.opcodes),  # type: ignore[attr-defined]
        },
    )
