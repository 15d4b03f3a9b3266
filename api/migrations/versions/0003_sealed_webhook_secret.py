"""webhook secrets are stored sealed (AES-GCM), which takes more room

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=80), type_=sa.String(length=200))


def downgrade() -> None:
    with op.batch_alter_table("webhook") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=200), type_=sa.String(length=80))
