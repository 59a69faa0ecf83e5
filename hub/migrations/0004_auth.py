from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# The access audit, like the timeline, is append-only: the database refuses to change it.
_PG_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_record_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_record is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_record_no_update BEFORE UPDATE OR DELETE ON audit_record
    FOR EACH ROW EXECUTE FUNCTION audit_record_append_only();
"""
_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER audit_record_no_update BEFORE UPDATE ON audit_record "
    "BEGIN SELECT RAISE(ABORT, 'audit_record is append-only'); END",
    "CREATE TRIGGER audit_record_no_delete BEFORE DELETE ON audit_record "
    "BEGIN SELECT RAISE(ABORT, 'audit_record is append-only'); END",
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
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script("DROP TRIGGER IF EXISTS audit_record_no_update ON audit_record")
    else:
        await conn.execute_script("DROP TRIGGER IF EXISTS audit_record_no_update")
        await conn.execute_script("DROP TRIGGER IF EXISTS audit_record_no_delete")


class Migration(migrations.Migration):
    dependencies = [('hub', '0003_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('kind', fields.CharField(max_length=40)),
                ('actor_id', fields.IntField(null=True)),
                ('actor_role', fields.CharField(default='', max_length=32)),
                ('subject', fields.CharField(default='', max_length=200)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('user_agent', fields.CharField(default='', max_length=200)),
                ('request_id', fields.CharField(default='', max_length=64)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'audit_record', 'app': 'hub', 'indexes': [Index(fields=['at']), Index(fields=['actor_id', 'at']), Index(fields=['kind', 'at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuthSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('user', fields.ForeignKeyField('hub.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.RESTRICT)),
                ('method', fields.CharField(max_length=16)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('user_agent', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.CharField(default='', max_length=32)),
            ],
            options={'table': 'auth_session', 'app': 'hub', 'indexes': [Index(fields=['user_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuthToken',
            fields=[
                ('jti', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('session', fields.ForeignKeyField('hub.AuthSession', source_field='session_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.RESTRICT)),
                ('kind', fields.CharField(max_length=8)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'auth_token', 'app': 'hub', 'indexes': [Index(fields=['session_id']), Index(fields=['expires_at'])], 'pk_attr': 'jti'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OtpChallenge',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('mobile', fields.CharField(max_length=16)),
                ('code_hash', fields.CharField(max_length=64)),
                ('ip', fields.CharField(default='', max_length=64)),
                ('sent', fields.BooleanField(default=True)),
                ('attempts', fields.SmallIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('consumed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'otp_challenge', 'app': 'hub', 'indexes': [Index(fields=['mobile', 'created_at']), Index(fields=['ip', 'created_at']), Index(fields=['created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceClient',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('user', fields.ForeignKeyField('hub.User', source_field='user_id', db_constraint=True, to_field='id', related_name='clients', on_delete=OnDelete.RESTRICT)),
                ('secret_hash', fields.CharField(max_length=255)),
                ('previous_secret_hash', fields.CharField(default='', max_length=255)),
                ('previous_valid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'service_client', 'app': 'hub', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='password_hash',
            field=fields.CharField(default='', max_length=255),
        ),
        ops.AddField(
            model_name='User',
            name='system',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.RunPython(_append_only, _drop_append_only),
    ]
