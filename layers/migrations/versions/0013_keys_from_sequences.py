"""every key from its sequence: the sequences are set past the stored keys

Loaders used to pick new keys as ``max(id) + 1`` and wrote them without advancing the serial
sequences, so an API create (which takes ``nextval``) and an import could pick the same key. From
now on every key comes from its table's sequence (``layers.ids``). This revision moves every
sequence of a serial key past the largest key stored before, so that no later allocation collides
with rows written the old way. Nothing to undo on downgrade (a sequence ahead of its keys is valid).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADVANCE = """
DO $$
DECLARE
    r record;
    m bigint;
    last bigint;
    called boolean;
BEGIN
    FOR r IN
        SELECT c.table_name, c.column_name,
               pg_get_serial_sequence(format('%I.%I', c.table_schema, c.table_name), c.column_name) AS seq
        FROM information_schema.columns c
        WHERE c.table_schema = current_schema() AND c.column_default LIKE 'nextval(%'
    LOOP
        CONTINUE WHEN r.seq IS NULL;
        EXECUTE format('SELECT max(%I) FROM %I', r.column_name, r.table_name) INTO m;
        EXECUTE format('SELECT last_value, is_called FROM %s', r.seq) INTO last, called;
        IF m IS NOT NULL AND m > (CASE WHEN called THEN last ELSE last - 1 END) THEN
            PERFORM setval(r.seq, m);
        END IF;
    END LOOP;
END
$$;
"""


def upgrade() -> None:
    op.execute(ADVANCE)


def downgrade() -> None:
    pass
