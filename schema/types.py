"""GraphQL object types: thin views over hub models."""

from __future__ import annotations

import datetime as dt

import strawberry

from hub import enums
from hub.models import Department as DepartmentRow
from hub.models import Grievance as GrievanceRow
from hub.models import GrievanceEvent, TaxonomyNode
from schema.context import Info

GrievanceStatus = strawberry.enum(enums.GrievanceStatus, name="GrievanceStatus")
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

    @strawberry.field
    def at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type
class Grievance:
    row: strawberry.Private[GrievanceRow]

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
    def escalation_level(self) -> int:
        return self.row.escalation_level

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
    async def timeline(self, info: Info) -> list[TimelineEvent]:
        events = await info.context.events_by_grievance.load(self.row.id)
        return [TimelineEvent(row=e) for e in events]
