"""JSON-RPC error types raised by the node and turned into error objects at the boundary."""

from __future__ import annotations

from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000
RESOURCE_NOT_FOUND = -32001
# EIP-1474 "transaction rejected"; Besu reports the same condition as -32007.
SENDER_NOT_PERMITTED = -32003
LIMIT_EXCEEDED = -32005
# geth/anvil code for a revert, `data` carries the revert bytes.
EXECUTION_REVERTED = 3


class NodeError(Exception):
    """Root of all node errors; each carries its JSON-RPC code."""

    code: int = SERVER_ERROR

    def __init__(self, message: str, data: Any = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParseError(NodeError):
    code = PARSE_ERROR


class InvalidRequest(NodeError):
    code = INVALID_REQUEST


class MethodNotFound(NodeError):
    code = METHOD_NOT_FOUND


class InvalidParams(NodeError):
    code = INVALID_PARAMS


class TransactionRejected(NodeError):
    """The node refused a transaction before it reached the pool (nonce, funds, gas...)."""

    code = SERVER_ERROR


class SenderNotPermitted(TransactionRejected):
    """The sender is not an active member of the registry."""

    code = SENDER_NOT_PERMITTED

    def __init__(self, sender: str, reason: str) -> None:
        super().__init__(f"sender {sender} is not permitted to transact: {reason}", data={"sender": sender})
        self.sender = sender


class ExecutionReverted(NodeError):
    code = EXECUTION_REVERTED


class LimitExceeded(NodeError):
    code = LIMIT_EXCEEDED


class ResourceNotFound(NodeError):
    code = RESOURCE_NOT_FOUND
