"""Solidity sources, their build output and the tools that produce and load it."""
