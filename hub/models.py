"""Tables of the hub.

Foreign keys RESTRICT by default: a department, office, category or citizen
that a grievance points to is deactivated, never deleted, and the timeline
and outbox are never silently cascaded away. Schema changes go through the
checked-in migrations in ``hub/migrations``
(``tortoise -c hub.db.TORTOISE_ORM makemigrations hub -n NAME``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise import fields
from tortoise.fields import RESTRICT
from tortoise.models import Model

from hub.enums import (
    BoundaryKind,
    Channel,
    GrievanceStatus,
    OutboxStatus,
    SyncState,
    UserKind,
)


def fits(model: type[Model], column: str, value: str) -> bool:
    """Whether ``value`` fits the column: a longer one is no row's, and the ORM refuses to
    compare it (a lookup by a client's code or number checks first)."""
    longest = model._meta.fields_map[column].max_length  # type: ignore[attr-defined]
    return len(value) <= int(longest)


class Department(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    names: dict[str, str] = fields.JSONField(default=dict)
    # the escalation matrix: {"levels": [{"role": "lme", "hours": 72}, ...],
    # "categories": {CODE: [levels...]}}; empty: the hub's default matrix
    escalation: dict[str, Any] = fields.JSONField(default=dict)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "department"

    def name(self, locale: str = "en") -> str:
        return self.names.get(locale) or self.names.get("en") or self.code


# One node of department -> line department -> service -> ... -> subcategory.
class TaxonomyNode(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    department: fields.ForeignKeyRelation[Department] = fields.ForeignKeyField(
        "hub.Department", related_name="taxonomy_nodes", on_delete=RESTRICT
    )
    parent: fields.ForeignKeyNullableRelation[TaxonomyNode] = fields.ForeignKeyField(
        "hub.TaxonomyNode", related_name="children", null=True, on_delete=RESTRICT
    )
    department_id: int
    parent_id: int | None
    level = fields.CharField(max_length=32)
    depth: int = fields.SmallIntField()
    names: dict[str, str] = fields.JSONField(default=dict)
    keywords: list[str] = fields.JSONField(default=list)
    synonyms: list[str] = fields.JSONField(default=list)
    sla_days: int | None = fields.SmallIntField(null=True)
    # where a grievance in this category is sent (CPGRAMS fixed destination): a department
    # or office code; empty means the node's own department
    destination = fields.CharField(max_length=64, default="")
    # the category's own form fields (e.g. PPO number), as {name, label, type, required, ...}
    input_fields: list[dict[str, Any]] = fields.JSONField(default=list)
    # source-specific extras kept for round trips (CPGRAMS monitoring and mapping codes)
    attributes: dict[str, Any] = fields.JSONField(default=dict)
    active = fields.BooleanField(default=True)
    effective_from = fields.DateField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "taxonomy_node"
        indexes = (("parent_id",), ("department_id",))

    def name(self, locale: str = "en") -> str:
        return self.names.get(locale) or self.names.get("en") or self.code


# state -> district -> city/ULB -> ward -> locality.
class Boundary(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    kind = fields.CharEnumField(BoundaryKind, max_length=16)
    names: dict[str, str] = fields.JSONField(default=dict)
    parent: fields.ForeignKeyNullableRelation[Boundary] = fields.ForeignKeyField(
        "hub.Boundary", related_name="children", null=True, on_delete=RESTRICT
    )
    parent_id: int | None
    # GeoJSON Polygon or MultiPolygon (lon, lat), for locating a lat/long
    geometry: dict[str, Any] | None = fields.JSONField(null=True)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "boundary"


class Office(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    department: fields.ForeignKeyRelation[Department] = fields.ForeignKeyField(
        "hub.Department", related_name="offices", on_delete=RESTRICT
    )
    boundaries: fields.ManyToManyRelation[Boundary] = fields.ManyToManyField(
        "hub.Boundary", related_name="offices", through="office_boundary"
    )
    department_id: int
    is_headquarters = fields.BooleanField(default=False)
    # taxonomy codes whose subtrees this office handles; empty: all of its department's
    categories: list[str] = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "office"


# Citizens, employees (with roles and an office) and service accounts.
class User(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(UserKind, max_length=16)
    name = fields.CharField(max_length=200, default="")
    mobile = fields.CharField(max_length=16, null=True, unique=True)
    email = fields.CharField(max_length=254, null=True)
    language = fields.CharField(max_length=8, default="en")
    roles: list[str] = fields.JSONField(default=list)
    office: fields.ForeignKeyNullableRelation[Office] = fields.ForeignKeyField(
        "hub.Office", related_name="staff", null=True, on_delete=RESTRICT
    )
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "hub.Department", related_name="staff", null=True, on_delete=RESTRICT
    )
    active = fields.BooleanField(default=True)
    # argon2id; set where a staff member signs in with a password after the code
    password_hash = fields.CharField(max_length=255, default="")
    # a service account's system code (a portal such as "cpgrams", or a department system)
    system = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    office_id: int | None
    department_id: int | None

    class Meta:
        table = "hub_user"


class Grievance(Model):
    id = fields.IntField(primary_key=True)
    registration_number = fields.CharField(max_length=64, unique=True)
    citizen: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="grievances", on_delete=RESTRICT
    )
    filed_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="grievances_filed", null=True, on_delete=RESTRICT
    )
    channel = fields.CharEnumField(Channel, max_length=16)
    category: fields.ForeignKeyNullableRelation[TaxonomyNode] = fields.ForeignKeyField(
        "hub.TaxonomyNode", related_name="grievances", null=True, on_delete=RESTRICT
    )
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "hub.Department", related_name="grievances", null=True, on_delete=RESTRICT
    )
    office: fields.ForeignKeyNullableRelation[Office] = fields.ForeignKeyField(
        "hub.Office", related_name="grievances", null=True, on_delete=RESTRICT
    )
    boundary: fields.ForeignKeyNullableRelation[Boundary] = fields.ForeignKeyField(
        "hub.Boundary", related_name="grievances", null=True, on_delete=RESTRICT
    )
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    address = fields.TextField(null=True)
    description = fields.TextField()
    status = fields.CharEnumField(GrievanceStatus, max_length=32, db_index=True)
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="assigned_grievances", null=True, on_delete=RESTRICT
    )
    transfers: int = fields.SmallIntField(default=0)
    reopens: int = fields.SmallIntField(default=0)
    appeal_level: int = fields.SmallIntField(default=0)
    # the Action Taken Report: {"text", "closure_reason", "remarks", "by", "at"}
    resolution: dict[str, Any] = fields.JSONField(default=dict)
    closure_reason = fields.CharField(max_length=64, default="")
    rating: int | None = fields.SmallIntField(null=True)
    feedback = fields.TextField(default="")
    # when the SLA clock last (re)started: filing, or a reopen, transfer or appeal
    clock_started_at = fields.DatetimeField(null=True)
    # when the grievance was last answered (RESOLVED or REJECTED): windows run from here
    answered_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    citizen_id: int
    filed_by_id: int | None
    category_id: int | None
    department_id: int | None
    office_id: int | None
    boundary_id: int | None
    assignee_id: int | None
    due_at = fields.DatetimeField(null=True, db_index=True)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "grievance"
        indexes = (
            ("citizen_id", "created_at"),
            ("office_id", "status", "due_at"),
            ("department_id", "status", "due_at"),
            ("assignee_id", "due_at"),
            ("status", "answered_at"),
        )

    # Its place on the escalation ladder lives in its ``Escalation`` row, attached where the
    # grievance is loaded to act on, notify or show (``hub.services.escalation.attach``);
    # reading it unattached is a bug, never a silent level 0.
    _ladder: Escalation | None = None

    def ladder(self) -> Escalation:
        found = self._ladder
        if found is None:
            raise RuntimeError(
                f"Grievance {self.registration_number}: its Escalation row is not attached "
                "(hub.services.escalation.attach)."
            )
        return found

    @property
    def escalation_level(self) -> int:
        return self.ladder().level

    @property
    def escalated_to_id(self) -> int | None:
        return self.ladder().officer_id

    @property
    def escalate_at(self) -> dt.datetime | None:
        return self.ladder().escalate_at


# Where a grievance stands on its escalation ladder, one row per grievance, written at filing.
# Apart from the grievance on purpose: the escalation job moves a million of these in a pass,
# and a narrow row with three indexes costs a tenth of rewriting the grievance and its twelve;
# nor does the job lock the rows officers act on.
class Escalation(Model):
    grievance: fields.OneToOneRelation[Grievance] = fields.OneToOneField(
        "hub.Grievance", related_name="escalation", primary_key=True, on_delete=RESTRICT
    )
    level: int = fields.SmallIntField(default=0)
    # the officer answerable at this level (GRO, nodal officer, HoD); none at level 0 (the LME)
    officer: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="escalations", null=True, on_delete=RESTRICT
    )
    # when this level's time runs out; null when answered, closed or at the last level
    escalate_at = fields.DatetimeField(null=True)
    # the grievance's due date, copied where the clock is set: the officer's inbox order
    due_at = fields.DatetimeField(null=True)
    grievance_id: int
    officer_id: int | None

    class Meta:
        table = "grievance_escalation"
        indexes = (("escalate_at",), ("officer_id", "due_at"))


# The append-only timeline: who did what, when, before and after.
class GrievanceEvent(Model):
    id = fields.BigIntField(primary_key=True)
    grievance: fields.ForeignKeyRelation[Grievance] = fields.ForeignKeyField(
        "hub.Grievance", related_name="events", on_delete=RESTRICT
    )
    action = fields.CharField(max_length=32)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="events", null=True, on_delete=RESTRICT
    )
    actor_role = fields.CharField(max_length=32)
    actor_office: fields.ForeignKeyNullableRelation[Office] = fields.ForeignKeyField(
        "hub.Office", related_name="events", null=True, on_delete=RESTRICT
    )
    from_status = fields.CharField(max_length=32, null=True)
    to_status = fields.CharField(max_length=32)
    before: dict[str, Any] = fields.JSONField(default=dict)
    after: dict[str, Any] = fields.JSONField(default=dict)
    note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    grievance_id: int
    actor_id: int | None
    actor_office_id: int | None

    class Meta:
        table = "grievance_event"
        indexes = (("grievance_id", "id"),)


class Attachment(Model):
    id = fields.IntField(primary_key=True)
    grievance: fields.ForeignKeyRelation[Grievance] = fields.ForeignKeyField(
        "hub.Grievance", related_name="attachments", on_delete=RESTRICT
    )
    event: fields.ForeignKeyNullableRelation[GrievanceEvent] = fields.ForeignKeyField(
        "hub.GrievanceEvent", related_name="attachments", null=True, on_delete=RESTRICT
    )
    filename = fields.CharField(max_length=255)
    # photo, document or evidence (an ATR's proof)
    purpose = fields.CharField(max_length=16, default="document")
    content_type = fields.CharField(max_length=100)
    size_bytes = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    storage_key = fields.CharField(max_length=255, unique=True)
    uploaded_by: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="attachments", null=True, on_delete=RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    grievance_id: int
    event_id: int | None

    class Meta:
        table = "attachment"


# Something that must reach another system, written with the change that caused it.
class OutboxMessage(Model):
    id = fields.BigIntField(primary_key=True)
    # no constraint in the database: a message is written in the transaction of an event,
    # whose own key already holds the grievance (and grievances are never deleted); checking
    # it again for every message was a fifth of the database's work in an escalation pass
    grievance: fields.ForeignKeyNullableRelation[Grievance] = fields.ForeignKeyField(
        "hub.Grievance", related_name="outbox", null=True, on_delete=RESTRICT, db_constraint=False
    )
    connector = fields.CharField(max_length=64)
    topic = fields.CharField(max_length=64)
    payload: dict[str, Any] = fields.JSONField()
    idempotency_key = fields.CharField(max_length=128, unique=True)
    status = fields.CharEnumField(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    attempts: int = fields.SmallIntField(default=0)
    grievance_id: int | None
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    last_error = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox_message"
        indexes = (("status", "next_attempt_at"), ("grievance_id", "connector", "id"))


# A grievance's identity and sync state in one connected system.
class ExternalLink(Model):
    id = fields.IntField(primary_key=True)
    grievance: fields.ForeignKeyRelation[Grievance] = fields.ForeignKeyField(
        "hub.Grievance", related_name="external_links", on_delete=RESTRICT
    )
    system = fields.CharField(max_length=64)
    external_id = fields.CharField(max_length=128)
    sync_state = fields.CharEnumField(SyncState, max_length=16, default=SyncState.PENDING)
    external_status = fields.CharField(max_length=64, default="")
    last_synced_at = fields.DatetimeField(null=True)
    grievance_id: int

    class Meta:
        table = "external_link"
        unique_together = (("system", "external_id"), ("grievance_id", "system"))


# An allowed routing hop between organisations for a category (CPGRAMS movement mapping).
class TaxonomyHop(Model):
    id = fields.IntField(primary_key=True)
    category_from = fields.CharField(max_length=64)
    category_to = fields.CharField(max_length=64)
    from_org = fields.CharField(max_length=64)
    to_org = fields.CharField(max_length=64)
    org_level: int = fields.SmallIntField()
    can_close = fields.BooleanField(default=False)
    depends_on = fields.CharField(max_length=64, default="")
    active = fields.BooleanField(default=True)

    class Meta:
        table = "taxonomy_hop"
        unique_together = (("category_from", "category_to", "from_org", "to_org", "org_level"),)


# A learned routing model, rebuilt from routed grievances; processes load the newest.
class RoutingModel(Model):
    id = fields.IntField(primary_key=True)
    built_at = fields.DatetimeField(auto_now_add=True)
    examples: int = fields.IntField()
    payload: dict[str, Any] = fields.JSONField()

    class Meta:
        table = "routing_model"


# Named sequences (registration numbers); bumped with one atomic upsert.
class Counter(Model):
    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counter"


# A one-time code sent to a mobile number. Only its hash is kept, bound to this challenge.
class OtpChallenge(Model):
    id = fields.CharField(max_length=32, primary_key=True)  # unguessable: secrets.token_urlsafe
    mobile = fields.CharField(max_length=16)
    code_hash = fields.CharField(max_length=64)
    ip = fields.CharField(max_length=64, default="")
    # false when no code went out (an inactive account): the answer looked the same
    sent = fields.BooleanField(default=True)
    attempts: int = fields.SmallIntField(default=0)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    consumed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "otp_challenge"
        indexes = (("mobile", "created_at"), ("ip", "created_at"), ("created_at",))


# One sign-in: the family of refresh tokens that rotate from it; revoked as a whole.
class AuthSession(Model):
    id = fields.CharField(max_length=32, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="sessions", on_delete=RESTRICT
    )
    method = fields.CharField(max_length=16)  # otp, otp+password, client
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, default="")
    user_id: int

    class Meta:
        table = "auth_session"
        indexes = (("user_id", "created_at"),)


# Every token issued, by its jti: revocation, and refresh-token rotation and reuse.
class AuthToken(Model):
    jti = fields.CharField(max_length=32, primary_key=True)
    session: fields.ForeignKeyRelation[AuthSession] = fields.ForeignKeyField(
        "hub.AuthSession", related_name="tokens", on_delete=RESTRICT
    )
    kind = fields.CharField(max_length=8)  # access or refresh
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)  # a refresh token, rotated
    revoked_at = fields.DatetimeField(null=True)
    session_id: str

    class Meta:
        table = "auth_token"
        indexes = (("session_id",), ("expires_at",))


# A department system's or portal's credentials; secrets kept as argon2id hashes.
class ServiceClient(Model):
    id = fields.CharField(max_length=64, primary_key=True)  # the client_id
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "hub.User", related_name="clients", on_delete=RESTRICT
    )
    secret_hash = fields.CharField(max_length=255)
    # after a rotation the old secret works until previous_valid_until
    previous_secret_hash = fields.CharField(max_length=255, default="")
    previous_valid_until = fields.DatetimeField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    rotated_at = fields.DatetimeField(null=True)
    user_id: int

    class Meta:
        table = "service_client"


# Who did what to access, when and from where: sign-ins, refreshes, denials, exports.
# Append-only (database triggers), and apart from the grievance timeline.
class AuditRecord(Model):
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    kind = fields.CharField(max_length=40)
    actor_id = fields.IntField(null=True)  # not a foreign key: the audit outlives accounts
    actor_role = fields.CharField(max_length=32, default="")
    subject = fields.CharField(max_length=200, default="")  # what it was about, masked
    ip = fields.CharField(max_length=64, default="")
    user_agent = fields.CharField(max_length=200, default="")
    request_id = fields.CharField(max_length=64, default="")
    detail: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "audit_record"
        indexes = (("at",), ("actor_id", "at"), ("kind", "at"))
