from tortoise import connections, migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Every grievance's place on its escalation ladder moves to its own row, as it stood.
_COPY = (
    "INSERT INTO grievance_escalation (grievance_id, level, officer_id, escalate_at, due_at)"
    " SELECT id, escalation_level, escalated_to_id, escalate_at, due_at FROM grievance"
)


async def _copy(apps, schema_editor):
    # execute_query, not execute_script: on SQLite a script commits whatever came before it
    await schema_editor.client.execute_query(_COPY)


async def _copy_back(apps, schema_editor):
    conn = schema_editor.client
    for column in ("escalation_level", "escalated_to_id", "escalate_at"):
        source = {"escalation_level": "level", "escalated_to_id": "officer_id"}.get(column, column)
        await conn.execute_query(
            f"UPDATE grievance SET {column} = (SELECT e.{source} FROM grievance_escalation AS e"
            " WHERE e.grievance_id = grievance.id)"
        )


# SQLite drops a column by rebuilding the table, and dropping the old grievance table fails
# while the timeline's RESTRICT keys point at it (RESTRICT is never deferred). Its foreign
# keys go off for the rebuild, which SQLite allows only outside a transaction, and every
# reference is checked before they come back on; PostgreSQL drops columns in place, in
# one transaction.
def _sqlite(schema_editor) -> bool:
    return schema_editor.client.capabilities.dialect == "sqlite"


async def _foreign_keys_off(apps, schema_editor):
    if _sqlite(schema_editor):
        await schema_editor.client.execute_query("PRAGMA foreign_keys = OFF")


async def _foreign_keys_on(apps, schema_editor):
    if _sqlite(schema_editor):
        conn = schema_editor.client
        _, broken = await conn.execute_query("PRAGMA foreign_key_check")
        await conn.execute_query("PRAGMA foreign_keys = ON")
        if broken:
            raise RuntimeError(f"0005: {len(broken)} broken references after the rebuild")


# SQLite drops a column by rebuilding the table, which loses its indexes: made again, under
# the names PostgreSQL keeps them by.
_SQLITE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_grievance_status_432f6b ON grievance (status)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_due_at_7ae832 ON grievance (due_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_created_63f87a ON grievance (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_citizen_ba5ab0 ON grievance (citizen_id, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_office__712156 ON grievance"
    " (office_id, status, due_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_departm_9b8b47 ON grievance"
    " (department_id, status, due_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_assigne_a505fe ON grievance (assignee_id, due_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_status_7932ff ON grievance (status, answered_at)",
)


async def _restore_sqlite_indexes(apps, schema_editor):
    conn = schema_editor.client
    if conn.capabilities.dialect != "postgres":
        for statement in _SQLITE_INDEXES:
            await conn.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [('hub', '0004_auth')]

    initial = False

    @property
    def atomic(self) -> bool:
        """One transaction on PostgreSQL; on SQLite none (see _foreign_keys_off)."""
        return connections.get("default").capabilities.dialect != "sqlite"

    operations = [
        ops.CreateModel(
            name='Escalation',
            fields=[
                ('grievance', fields.OneToOneField('hub.Grievance', source_field='grievance_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name='escalation', on_delete=OnDelete.RESTRICT)),
                ('level', fields.SmallIntField(default=0)),
                ('officer', fields.ForeignKeyField('hub.User', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='escalations', on_delete=OnDelete.RESTRICT)),
                ('escalate_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'grievance_escalation', 'app': 'hub', 'indexes': [Index(fields=['escalate_at']), Index(fields=['officer_id', 'due_at'])], 'pk_attr': 'grievance_id'},
            bases=['Model'],
        ),
        # what makemigrations asks for on a primary key that is a one-to-one (its pk_attr)
        ops.AlterModelOptions(
            name='Escalation',
            options={'table': 'grievance_escalation', 'app': 'hub', 'indexes': [Index(fields=['escalate_at']), Index(fields=['officer_id', 'due_at'])], 'pk_attr': 'grievance_id'},
        ),
        ops.RunPython(_copy, _copy_back),
        ops.RunPython(_foreign_keys_off, _foreign_keys_on, atomic=False),
        ops.RemoveIndex(
            model_name='Grievance',
            name=None,
            fields=['escalated_to_id', 'due_at'],
        ),
        ops.RemoveIndex(
            model_name='Grievance',
            name=None,
            fields=['escalate_at'],
        ),
        ops.RemoveField(model_name='Grievance', name='escalate_at'),
        ops.RemoveField(model_name='Grievance', name='escalated_to'),
        ops.RemoveField(model_name='Grievance', name='escalation_level'),
        ops.RunPython(_restore_sqlite_indexes, ops.RunPython.noop),
        ops.RunPython(_foreign_keys_on, _foreign_keys_off, atomic=False),
    ]
