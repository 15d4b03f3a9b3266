"""Goods oracle nodes: verify sensor readings, agree on each lot's status per round, anchor it on chain."""
