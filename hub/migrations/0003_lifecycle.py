from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

from tortoise.exceptions import OperationalError


class _RemoveIndexIfPresent(ops.RemoveIndex):
    """0002's AlterField rebuilt the grievance table on SQLite and lost its indexes:
    drop an index only where it is still there."""

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        try:
            await super().database_forward(app_label, old_state, new_state, state_editor)
        except OperationalError:
            if state_editor is None or state_editor.client.capabilities.dialect == "postgres":
                raise


# What SQLite lost in 0002, under the names PostgreSQL has them by.
_SQLITE_LOST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idx_grievance_status_432f6b ON grievance (status)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_due_at_7ae832 ON grievance (due_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_created_63f87a ON grievance (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_grievance_citizen_ba5ab0 ON grievance (citizen_id, created_at)",
)


async def _restore_sqlite_indexes(apps, schema_editor):
    conn = schema_editor.client
    if conn.capabilities.dialect != "postgres":
        for statement in _SQLITE_LOST_INDEXES:
            await conn.execute_script(statement)


async def _backfill_due(apps, schema_editor):
    """Every open grievance now has a due date (30 days where its category set none) and
    a time to escalate, so inboxes can sort by urgency."""
    import datetime as dt

    conn = schema_editor.client
    pg = conn.capabilities.dialect == "postgres"
    update = (
        "UPDATE grievance SET due_at = $1, escalate_at = $1 WHERE id = $2"
        if pg
        else "UPDATE grievance SET due_at = ?, escalate_at = ? WHERE id = ?"
    )
    rows = await conn.execute_query_dict(
        "SELECT id, created_at, due_at FROM grievance WHERE (due_at IS NULL OR escalate_at IS NULL)"
        " AND status IN ('TRIAGE', 'PENDING_ASSIGNMENT', 'ASSIGNED', 'REASSIGN_REQUESTED',"
        " 'FORWARDED')"
    )
    for row in rows:
        due = row["due_at"]
        if due is None:
            created = row["created_at"]
            if isinstance(created, str):
                created = dt.datetime.fromisoformat(created)
            due = created + dt.timedelta(days=30)
        elif isinstance(due, str):
            due = dt.datetime.fromisoformat(due)
        await conn.execute_query(update, [due, row["id"]] if pg else [due, due, row["id"]])


# The timeline is the audit: the database itself refuses to change or remove an event.
_PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION grievance_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'grievance_event is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER grievance_event_no_update BEFORE UPDATE OR DELETE ON grievance_event
    FOR EACH ROW EXECUTE FUNCTION grievance_event_append_only();
"""
_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER grievance_event_no_update BEFORE UPDATE ON grievance_event "
    "BEGIN SELECT RAISE(ABORT, 'grievance_event is append-only'); END",
    "CREATE TRIGGER grievance_event_no_delete BEFORE DELETE ON grievance_event "
    "BEGIN SELECT RAISE(ABORT, 'grievance_event is append-only'); END",
)


async def _append_only(apps, schema_editor):
    conn = schema_editor.client
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(_PG_APPEND_ONLY)
    else:
        for statement in _SQLITE_APPEND_ONLY:
            await conn.execute_script(statement)


async def _drop_append_only(apps, schema_editor):
    conn = schema_editor.client
    await conn.execute_script("DROP TRIGGER IF EXISTS grievance_event_no_update"
                              + (" ON grievance_event" if conn.capabilities.dialect == "postgres" else ""))
    if conn.capabilities.dialect != "postgres":
        await conn.execute_script("DROP TRIGGER IF EXISTS grievance_event_no_delete")

class Migration(migrations.Migration):
    dependencies = [('hub', '0002_routing')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Attachment',
            name='purpose',
            field=fields.CharField(default='document', max_length=16),
        ),
        ops.AddField(
            model_name='Department',
            name='escalation',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        _RemoveIndexIfPresent(
            model_name='Grievance',
            name=None,
            fields=['office_id', 'status'],
        ),
        _RemoveIndexIfPresent(
            model_name='Grievance',
            name=None,
            fields=['assignee_id', 'status'],
        ),
        ops.AddField(
            model_name='Grievance',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Grievance',
            name='appeal_level',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='Grievance',
            name='closed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Grievance',
            name='clock_started_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Grievance',
            name='closure_reason',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='Grievance',
            name='escalate_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Grievance',
            name='escalated_to',
            field=fields.ForeignKeyField('hub.User', source_field='escalated_to_id', null=True, db_constraint=True, to_field='id', related_name='escalated_grievances', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddField(
            model_name='Grievance',
            name='feedback',
            field=fields.TextField(default='', unique=False),
        ),
        ops.AddField(
            model_name='Grievance',
            name='rating',
            field=fields.SmallIntField(null=True),
        ),
        ops.AddField(
            model_name='Grievance',
            name='reopens',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddField(
            model_name='Grievance',
            name='resolution',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Grievance',
            name='transfers',
            field=fields.SmallIntField(default=0),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['office_id', 'status', 'due_at']),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['department_id', 'status', 'due_at']),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['assignee_id', 'due_at']),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['escalated_to_id', 'due_at']),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['escalate_at']),
        ),
        ops.AddIndex(
            model_name='Grievance',
            index=Index(fields=['status', 'answered_at']),
        ),
        ops.RunPython(_append_only, _drop_append_only),
        ops.RunPython(_restore_sqlite_indexes, ops.RunPython.noop),
        ops.RunPython(_backfill_due, ops.RunPython.noop),
    ]
