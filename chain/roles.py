"""Role bits of the member registry, mirrored from contracts/src/interfaces/IMemberRegistry.sol."""

from __future__ import annotations

import enum


class Role(enum.IntFlag):
    """An organisation's roles; the values are the registry's bits."""

    CORE_FIRM = 1 << 0
    SUPPLIER = 1 << 1
    BANK = 1 << 2
    WAREHOUSE = 1 << 3
    AUDITOR = 1 << 4
    ORACLE = 1 << 5
    OPERATOR = 1 << 6
