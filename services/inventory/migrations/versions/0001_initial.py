"""warehouses, variants, stock levels, reservations, movements, suppliers, outbox"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table('movements',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('variant_id', sa.UUID(), nullable=False),
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('delta_on_hand', sa.BigInteger(), nullable=False),
    sa.Column('delta_reserved', sa.BigInteger(), nullable=False),
    sa.Column('on_hand_after', sa.BigInteger(), nullable=False),
    sa.Column('reserved_after', sa.BigInteger(), nullable=False),
    sa.Column('reservation_id', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('movements_at_idx', 'movements', ['at'], unique=False)
    op.create_index('movements_variant_idx', 'movements', ['variant_id', 'id'], unique=False)
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    op.create_index('outbox_unpublished_idx', 'outbox', ['id'], unique=False, postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('reservations',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('strategy', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_index('reservations_expiring_idx', 'reservations', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'active'"))
    op.create_table('suppliers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('lead_time_days >= 0', name='supplier_lead_time'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('variants',
    sa.Column('variant_id', sa.UUID(), nullable=False),
    sa.Column('product_id', sa.UUID(), nullable=True),
    sa.Column('sku', sa.Text(), nullable=True),
    sa.Column('price_amount', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.Text(), nullable=True),
    sa.Column('product_version', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('stock_version', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('variant_id')
    )
    op.create_index('variants_product_idx', 'variants', ['product_id'], unique=False)
    op.create_table('warehouses',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_table('reservation_allocations',
    sa.Column('reservation_id', sa.UUID(), nullable=False),
    sa.Column('variant_id', sa.UUID(), nullable=False),
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint('quantity > 0', name='allocation_quantity_positive'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], ),
    sa.PrimaryKeyConstraint('reservation_id', 'variant_id', 'warehouse_id')
    )
    op.create_table('stock_levels',
    sa.Column('variant_id', sa.UUID(), nullable=False),
    sa.Column('warehouse_id', sa.UUID(), nullable=False),
    sa.Column('on_hand', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('reserved', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('reorder_point', sa.Integer(), nullable=True),
    sa.Column('target_level', sa.Integer(), nullable=True),
    sa.Column('low_stock_alerted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name='stock_on_hand_not_negative'),
    sa.CheckConstraint('reorder_point IS NULL OR reorder_point >= 0', name='stock_reorder_point'),
    sa.CheckConstraint('reserved <= on_hand', name='stock_available_not_negative'),
    sa.CheckConstraint('reserved >= 0', name='stock_reserved_not_negative'),
    sa.CheckConstraint('target_level IS NULL OR target_level >= 0', name='stock_target_level'),
    sa.ForeignKeyConstraint(['variant_id'], ['variants.variant_id'], ),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], ),
    sa.PrimaryKeyConstraint('variant_id', 'warehouse_id')
    )
    op.create_index('stock_levels_warehouse_idx', 'stock_levels', ['warehouse_id'], unique=False)
    op.create_table('supplier_variants',
    sa.Column('supplier_id', sa.UUID(), nullable=False),
    sa.Column('variant_id', sa.UUID(), nullable=False),
    sa.Column('cost_amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.CheckConstraint('cost_amount >= 0', name='supplier_cost_not_negative'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('supplier_id', 'variant_id')
    )
    op.create_index('supplier_variants_variant_idx', 'supplier_variants', ['variant_id'], unique=False)

    # The movement log is append-only, for the table's owner too (an auditor can rely on it).
    op.execute(
        """
        CREATE FUNCTION movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'movements is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER movements_append_only BEFORE UPDATE OR DELETE ON movements "
        "FOR EACH ROW EXECUTE FUNCTION movements_append_only()"
    )
    op.execute(
        "CREATE TRIGGER movements_no_truncate BEFORE TRUNCATE ON movements "
        "FOR EACH STATEMENT EXECUTE FUNCTION movements_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS movements_no_truncate ON movements")
    op.execute("DROP TRIGGER IF EXISTS movements_append_only ON movements")
    op.execute("DROP FUNCTION IF EXISTS movements_append_only()")
    op.drop_index('supplier_variants_variant_idx', table_name='supplier_variants')
    op.drop_table('supplier_variants')
    op.drop_index('stock_levels_warehouse_idx', table_name='stock_levels')
    op.drop_table('stock_levels')
    op.drop_table('reservation_allocations')
    op.drop_table('warehouses')
    op.drop_index('variants_product_idx', table_name='variants')
    op.drop_table('variants')
    op.drop_table('suppliers')
    op.drop_index('reservations_expiring_idx', table_name='reservations', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('reservations')
    op.drop_index('outbox_unpublished_idx', table_name='outbox', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_table('outbox')
    op.drop_index('movements_variant_idx', table_name='movements')
    op.drop_index('movements_at_idx', table_name='movements')
    op.drop_table('movements')
