"""Embedded permissioned EVM node: standard Ethereum JSON-RPC over py-evm."""

from node.settings import NodeSettings

__all__ = ["NodeSettings"]
