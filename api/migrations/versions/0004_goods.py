"""goods: lots and their devices, warehouse receipts, oracle reports, alerts, lot labels

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:01:19.925123
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "goodsalert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.String(length=66), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_status", sa.String(length=16), nullable=True),
        sa.Column("warehouse_org", sa.Integer(), nullable=False),
        sa.Column("owner_org", sa.Integer(), nullable=False),
        sa.Column("pledgee_org", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tx_hash", "log_index"),
    )
    with op.batch_alter_table("goodsalert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goodsalert_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_goodsalert_lot_id"), ["lot_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_goodsalert_owner_org"), ["owner_org"], unique=False)
        batch_op.create_index(batch_op.f("ix_goodsalert_pledgee_org"), ["pledgee_org"], unique=False)
        batch_op.create_index(batch_op.f("ix_goodsalert_warehouse_org"), ["warehouse_org"], unique=False)

    op.create_table(
        "lot",
        sa.Column("id", sa.String(length=66), nullable=False),
        sa.Column("warehouse_org", sa.Integer(), nullable=False),
        sa.Column("goods", sa.Text(), nullable=False),
        sa.Column("specification", sa.Text(), nullable=False),
        sa.Column("quantity_milli", sa.String(length=40), nullable=False),
        sa.Column("unit", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("info_hash", sa.String(length=66), nullable=False),
        sa.Column("receipt_issued", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("round", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.BigInteger(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lot_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_lot_warehouse_org"), ["warehouse_org"], unique=False)

    op.create_table(
        "lotdevice",
        sa.Column("device_id", sa.String(length=66), nullable=False),
        sa.Column("lot_id", sa.String(length=66), nullable=False),
        sa.Column("key", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    with op.batch_alter_table("lotdevice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lotdevice_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "lotreport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.String(length=66), nullable=False),
        sa.Column("round", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("readings_root", sa.String(length=66), nullable=False),
        sa.Column("reading_count", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lot_id", "round"),
    )
    with op.batch_alter_table("lotreport", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lotreport_lot_id"), ["lot_id"], unique=False)

    op.create_table(
        "receipt",
        sa.Column("id", sa.String(length=66), nullable=False),
        sa.Column("warehouse_org", sa.Integer(), nullable=False),
        sa.Column("owner_org", sa.Integer(), nullable=False),
        sa.Column("pledgee_org", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("pledged_until", sa.BigInteger(), nullable=False),
        sa.Column("document_hash", sa.String(length=66), nullable=False),
        sa.Column("issued_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_owner_org"), ["owner_org"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_pledgee_org"), ["pledgee_org"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_warehouse_org"), ["warehouse_org"], unique=False)

    op.create_table(
        "lotlabel",
        sa.Column("lot_id", sa.String(length=66), nullable=False),
        sa.Column("warehouse_org", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("lot_id", "warehouse_org"),
    )
    with op.batch_alter_table("lotlabel", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lotlabel_reference"), ["reference"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lotlabel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lotlabel_reference"))

    op.drop_table("lotlabel")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_warehouse_org"))
        batch_op.drop_index(batch_op.f("ix_receipt_state"))
        batch_op.drop_index(batch_op.f("ix_receipt_pledgee_org"))
        batch_op.drop_index(batch_op.f("ix_receipt_owner_org"))

    op.drop_table("receipt")
    with op.batch_alter_table("lotreport", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lotreport_lot_id"))

    op.drop_table("lotreport")
    with op.batch_alter_table("lotdevice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lotdevice_lot_id"))

    op.drop_table("lotdevice")
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_warehouse_org"))
        batch_op.drop_index(batch_op.f("ix_lot_status"))

    op.drop_table("lot")
    with op.batch_alter_table("goodsalert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goodsalert_warehouse_org"))
        batch_op.drop_index(batch_op.f("ix_goodsalert_pledgee_org"))
        batch_op.drop_index(batch_op.f("ix_goodsalert_owner_org"))
        batch_op.drop_index(batch_op.f("ix_goodsalert_lot_id"))
        batch_op.drop_index(batch_op.f("ix_goodsalert_kind"))

    op.drop_table("goodsalert")
