"""Shared column helpers."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Timezone-aware now, stored as UTC."""
    return dt.datetime.now(dt.UTC)
