"""Shared column helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlmodel import SQLModel


def utcnow() -> dt.datetime:
    """Timezone-aware now, stored as UTC."""
    return dt.datetime.now(dt.UTC)


class CoreRows:
    """Complete rows of a table model for Core inserts, which skip the model's Python-side defaults.

    Hot paths (bulk uploads, indexing registrations) insert without ORM objects, whose construction
    and flush cost more than the rest of the work. The model's defaults are read once here; default
    factories (`utcnow`, `list`) are called per row. Not for autoincrement keys (their None default
    would be inserted).
    """

    def __init__(self, model: type[SQLModel]) -> None:
        self._static: dict[str, Any] = {}
        self._factories: dict[str, Callable[[], Any]] = {}
        for name, field in model.model_fields.items():
            if field.is_required():
                continue
            if field.default_factory is not None:
                self._factories[name] = field.default_factory  # type: ignore[assignment]
            else:
                self._static[name] = field.default

    def __call__(self, **values: Any) -> dict[str, Any]:
        row = {**self._static, **values}
        for name, factory in self._factories.items():
            if name not in values:
                row[name] = factory()
        return row
