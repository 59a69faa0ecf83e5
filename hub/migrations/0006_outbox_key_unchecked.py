from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


# The outbox's key to the grievance is no longer checked by the database: every message is
# written in the transaction of a timeline event whose own key holds the grievance, and
# grievances are never deleted. Checking it again for each message was a fifth of the
# database's work in an escalation pass. Tortoise's AlterField changes only the state here;
# the constraint goes by hand.
_PG_DROP = "ALTER TABLE outbox_message DROP CONSTRAINT IF EXISTS outbox_message_grievance_id_fkey"
_PG_ADD = (
    "ALTER TABLE outbox_message ADD CONSTRAINT outbox_message_grievance_id_fkey"
    " FOREIGN KEY (grievance_id) REFERENCES grievance (id) ON DELETE RESTRICT"
)

# SQLite keeps constraints in the table's definition: the table is made again without it
# (nothing refers to the outbox, so nothing else is touched), rows and ids as they were.
_COLUMNS = (
    '"id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "grievance_id" INT{references},'
    ' "connector" VARCHAR(64) NOT NULL, "topic" VARCHAR(64) NOT NULL, "payload" JSON NOT NULL,'
    ' "idempotency_key" VARCHAR(128) NOT NULL UNIQUE, "status" VARCHAR(16) NOT NULL,'
    ' "attempts" SMALLINT NOT NULL, "next_attempt_at" TIMESTAMP NOT NULL,'
    ' "lease_until" TIMESTAMP, "last_error" TEXT NOT NULL, "created_at" TIMESTAMP NOT NULL,'
    ' "delivered_at" TIMESTAMP'
)
_NAMES = (
    "id, grievance_id, connector, topic, payload, idempotency_key, status, attempts,"
    " next_attempt_at, lease_until, last_error, created_at, delivered_at"
)
_INDEXES = (
    'CREATE INDEX IF NOT EXISTS "idx_outbox_mess_status_4d04e0" ON "outbox_message"'
    " (status, next_attempt_at)",
    'CREATE INDEX IF NOT EXISTS "idx_outbox_mess_grievan_7df6a4" ON "outbox_message"'
    " (grievance_id, connector, id)",
)


def _sqlite_remake(references: str) -> list[str]:
    return [
        f'CREATE TABLE "outbox_message_new" ({_COLUMNS.format(references=references)})',
        f"INSERT INTO outbox_message_new ({_NAMES}) SELECT {_NAMES} FROM outbox_message",
        "DROP TABLE outbox_message",
        "ALTER TABLE outbox_message_new RENAME TO outbox_message",
        *_INDEXES,
    ]


async def _run(schema_editor, postgres: list[str], sqlite: list[str]) -> None:
    conn = schema_editor.client
    # execute_query, not execute_script: on SQLite a script commits whatever came before it
    for statement in postgres if conn.capabilities.dialect == "postgres" else sqlite:
        await conn.execute_query(statement)


async def _unchecked(apps, schema_editor):
    await _run(schema_editor, [_PG_DROP], _sqlite_remake(""))


async def _checked(apps, schema_editor):
    references = ' REFERENCES "grievance" ("id") ON DELETE RESTRICT'
    await _run(schema_editor, [_PG_ADD], _sqlite_remake(references))


# Tortoise's AlterField rebuilds the table on SQLite and loses its indexes: undoing it runs
# after _checked, so the indexes are made again last.
async def _sqlite_indexes(apps, schema_editor):
    await _run(schema_editor, [], list(_INDEXES))


class Migration(migrations.Migration):
    dependencies = [('hub', '0005_escalation_apart')]

    initial = False

    operations = [
        ops.RunPython(ops.RunPython.noop, _sqlite_indexes),
        ops.AlterField(
            model_name='OutboxMessage',
            name='grievance',
            field=fields.ForeignKeyField('hub.Grievance', source_field='grievance_id', null=True, db_constraint=False, to_field='id', related_name='outbox', on_delete=OnDelete.RESTRICT),
        ),
        ops.RunPython(_unchecked, _checked),
    ]
