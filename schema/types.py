"""GraphQL object types: thin views over hub models."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from hub import enums
from hub.models import Department as DepartmentRow
from hub.models import Grievance as GrievanceRow
from hub.models import GrievanceEvent, TaxonomyNode
from hub.services import escalation, lifecycle, privacy, sla
from schema.attachments import Attachment, attachments_of
from schema.context import Info

GrievanceStatus = strawberry.enum(enums.GrievanceStatus, name="GrievanceStatus")
PendencyBucket = strawberry.enum(sla.Pendency, name="PendencyBucket")
SlaColour = strawberry.enum(sla.SlaColour, name="SlaColour")
WorkflowAction = strawberry.enum(enums.Action, name="WorkflowAction")
Channel = strawberry.enum(enums.Channel, name="Channel")


@strawberry.type
class UserError:
    """An expected failure: which input field, a stable code, and what is wrong."""

    field: str
    code: str
    message: str


@strawberry.type
class Department:
    row: strawberry.Private[DepartmentRow]

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self, locale: str = "en") -> str:
        return self.row.name(locale)


@strawberry.type
class Category:
    """A node of the grievance taxonomy."""

    row: strawberry.Private[TaxonomyNode]

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self, locale: str = "en") -> str:
        return self.row.name(locale)

    @strawberry.field
    def level(self) -> str:
        return self.row.level

    @strawberry.field
    def depth(self) -> int:
        return self.row.depth

    @strawberry.field
    def sla_days(self) -> int | None:
        return self.row.sla_days

    @strawberry.field
    def active(self) -> bool:
        return self.row.active

    @strawberry.field
    async def department(self, info: Info) -> Department:
        row = await info.context.department_by_id.load(self.row.department_id)
        assert row is not None
        return Department(row=row)


@strawberry.type
class TimelineEvent:
    row: strawberry.Private[GrievanceEvent]

    @strawberry.field
    def action(self) -> WorkflowAction:  # type: ignore[valid-type]
        return enums.Action(self.row.action)

    @strawberry.field
    def actor_role(self) -> str:
        return self.row.actor_role

    @strawberry.field
    def from_status(self) -> GrievanceStatus | None:  # type: ignore[valid-type]
        return enums.GrievanceStatus(self.row.from_status) if self.row.from_status else None

    @strawberry.field
    def to_status(self) -> GrievanceStatus:  # type: ignore[valid-type]
        return enums.GrievanceStatus(self.row.to_status)

    @strawberry.field
    def note(self) -> str:
        return self.row.note

    @strawberry.field(description="Who acted; null for the hub itself (system).")
    async def actor(self, info: Info) -> Officer | None:
        return await _officer(info, self.row.actor_id)

    @strawberry.field(description="The office the actor acted from.")
    async def office(self, info: Info) -> Office | None:
        office_id = self.row.actor_office_id
        if office_id is None:
            return None
        row = await info.context.office_by_id.load(office_id)
        return Office(code=row.code, name=row.name) if row else None

    @strawberry.field(description="What the action changed, as it was before.")
    def before(self) -> JSON:
        return JSON({k: v for k, v in self.row.before.items() if k != "routing"})

    @strawberry.field(description="What the action changed, as it is after.")
    def after(self) -> JSON:
        return JSON({k: v for k, v in self.row.after.items() if k != "routing"})

    @strawberry.field
    def at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type
class Officer:
    """An officer as a grievance shows them: a name and an id to assign by."""

    id: int
    name: str


@strawberry.type
class Office:
    code: str
    name: str


@strawberry.type
class ActionTakenReport:
    atr: str
    closure_reason: str
    remarks: str
    at: dt.datetime


@strawberry.type(
    description="Who the grievance belongs to. The mobile number is masked "
    "(+91******4321) for those who do not contact the complainant."
)
class Complainant:
    row: strawberry.Private[privacy.Contact]

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def mobile(self) -> str | None:
        return self.row.mobile

    @strawberry.field
    def language(self) -> str:
        return self.row.language

    @strawberry.field(description="Whether the mobile number and address are masked for you.")
    def masked(self) -> bool:
        return self.row.masked


@strawberry.type
class Grievance:
    row: strawberry.Private[GrievanceRow]

    async def _laddered(self, info: Info) -> GrievanceRow:
        """The row with its place on the escalation ladder (one query per page)."""
        if self.row._ladder is None:
            ladder = await info.context.escalation_by_grievance.load(self.row.id)
            assert ladder is not None  # written with the grievance, never removed
            escalation.attach(self.row, ladder)
        return self.row

    @strawberry.field(description="The citizen; contact details masked unless you need them.")
    async def complainant(self, info: Info) -> Complainant:
        actor = info.context.actor
        assert actor is not None  # a grievance is only ever shown to someone signed in
        citizen = await info.context.user_by_id.load(self.row.citizen_id)
        assert citizen is not None
        row = await self._laddered(info)
        shown = privacy.contact(actor, row, citizen.name, citizen.mobile, citizen.language)
        return Complainant(row=shown)

    @strawberry.field(
        description="Where the problem is; for those who do not visit, only the area's name."
    )
    async def address(self, info: Info) -> str | None:
        actor = info.context.actor
        assert actor is not None
        boundary_id = self.row.boundary_id
        boundary = await info.context.boundary_by_id.load(boundary_id) if boundary_id else None
        area = (boundary.names.get("en") or boundary.code) if boundary else None
        return privacy.address(actor, await self._laddered(info), area)

    @strawberry.field(description="Changes on every action; send it back as expectedVersion.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field(description="Days since filing, in the standard pendency buckets.")
    def pendency_bucket(self) -> PendencyBucket:  # type: ignore[valid-type]
        return sla.pendency(self.row.created_at, dt.datetime.now(dt.UTC))

    @strawberry.field(
        description="GREEN in time, AMBER with a quarter of the SLA left, RED late;"
        " null once answered."
    )
    def sla_colour(self) -> SlaColour | None:  # type: ignore[valid-type]
        return sla.colour_of(self.row, dt.datetime.now(dt.UTC))

    @strawberry.field
    def transfers(self) -> int:
        return self.row.transfers

    @strawberry.field
    def reopens(self) -> int:
        return self.row.reopens

    @strawberry.field(description="0: original; 1: before the appellate authority.")
    def appeal_level(self) -> int:
        return self.row.appeal_level

    @strawberry.field
    def rating(self) -> int | None:
        return self.row.rating

    @strawberry.field
    def feedback(self) -> str:
        return self.row.feedback

    @strawberry.field
    def answered_at(self) -> dt.datetime | None:
        return self.row.answered_at

    @strawberry.field
    def closed_at(self) -> dt.datetime | None:
        return self.row.closed_at

    @strawberry.field(description="The Action Taken Report, once resolved.")
    def resolution(self) -> ActionTakenReport | None:
        found = self.row.resolution
        if not found:
            return None
        return ActionTakenReport(
            atr=found.get("atr", ""),
            closure_reason=found.get("closure_reason", ""),
            remarks=found.get("remarks", ""),
            at=dt.datetime.fromisoformat(found["at"]),
        )

    @strawberry.field
    async def office(self, info: Info) -> Office | None:
        if self.row.office_id is None:
            return None
        row = await info.context.office_by_id.load(self.row.office_id)
        return Office(code=row.code, name=row.name) if row else None

    @strawberry.field(description="The LME working on it.")
    async def assignee(self, info: Info) -> Officer | None:
        return await _officer(info, self.row.assignee_id)

    @strawberry.field(description="The officer answerable at the current escalation level.")
    async def escalated_to(self, info: Info) -> Officer | None:
        return await _officer(info, (await self._laddered(info)).escalated_to_id)

    @strawberry.field(description="What you may do next (the workflow table, narrowed by scope).")
    def allowed_actions(self, info: Info) -> list[WorkflowAction]:  # type: ignore[valid-type]
        actor = info.context.actor
        return lifecycle.allowed_actions(actor, self.row) if actor else []

    @strawberry.field
    def registration_number(self) -> str:
        return self.row.registration_number

    @strawberry.field
    def status(self) -> GrievanceStatus:  # type: ignore[valid-type]
        return enums.GrievanceStatus(self.row.status)

    @strawberry.field
    def channel(self) -> Channel:  # type: ignore[valid-type]
        return enums.Channel(self.row.channel)

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field
    async def escalation_level(self, info: Info) -> int:
        return (await self._laddered(info)).escalation_level

    @strawberry.field
    def due_at(self) -> dt.datetime | None:
        return self.row.due_at

    @strawberry.field
    def filed_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field
    async def category(self, info: Info) -> Category | None:
        if self.row.category_id is None:
            return None
        node = await info.context.category_by_id.load(self.row.category_id)
        return Category(row=node) if node else None

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        if self.row.department_id is None:
            return None
        row = await info.context.department_by_id.load(self.row.department_id)
        return Department(row=row) if row else None

    @strawberry.field
    async def attachments(self, info: Info) -> list[Attachment]:
        return await attachments_of(info, self.row.id)

    @strawberry.field
    async def timeline(self, info: Info) -> list[TimelineEvent]:
        events = await info.context.events_by_grievance.load(self.row.id)
        return [TimelineEvent(row=e) for e in events]


async def _officer(info: Info, user_id: int | None) -> Officer | None:
    if user_id is None:
        return None
    row = await info.context.user_by_id.load(user_id)
    return Officer(id=row.id, name=row.name) if row else None
