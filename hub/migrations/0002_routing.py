from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from hub.enums import GrievanceStatus
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('hub', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RoutingModel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('built_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('examples', fields.IntField()),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'routing_model', 'app': 'hub', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaxonomyHop',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('category_from', fields.CharField(max_length=64)),
                ('category_to', fields.CharField(max_length=64)),
                ('from_org', fields.CharField(max_length=64)),
                ('to_org', fields.CharField(max_length=64)),
                ('org_level', fields.SmallIntField()),
                ('can_close', fields.BooleanField(default=False)),
                ('depends_on', fields.CharField(default='', max_length=64)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'taxonomy_hop', 'app': 'hub', 'unique_together': (('category_from', 'category_to', 'from_org', 'to_org', 'org_level'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Boundary',
            name='geometry',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AlterField(
            model_name='Grievance',
            name='status',
            field=fields.CharEnumField(db_index=True, description='TRIAGE: TRIAGE\nPENDING_ASSIGNMENT: PENDING_ASSIGNMENT\nASSIGNED: ASSIGNED\nREASSIGN_REQUESTED: REASSIGN_REQUESTED\nFORWARDED: FORWARDED\nRESOLVED: RESOLVED\nREJECTED: REJECTED\nCLOSED: CLOSED', enum_type=GrievanceStatus, max_length=32),
        ),
        ops.AddField(
            model_name='Office',
            name='categories',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TaxonomyNode',
            name='attributes',
            field=fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='TaxonomyNode',
            name='destination',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.AddField(
            model_name='TaxonomyNode',
            name='input_fields',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
