"""Grievance queries and mutations: decode, call one hub service, map the result."""

from __future__ import annotations

import strawberry
from strawberry.file_uploads import Upload

from hub import enums
from hub.errors import DomainError
from hub.models import Grievance as GrievanceRow
from hub.services import grievances as service
from hub.workflow import IllegalAction
from schema.attachments import read_uploads
from schema.context import Info
from schema.permissions import FILERS, Allow
from schema.types import Channel, Grievance, UserError


@strawberry.input
class FileGrievanceInput:
    description: str
    channel: Channel = enums.Channel.WEB  # type: ignore[valid-type]
    category_code: str | None = None
    boundary_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    citizen_mobile: str | None = strawberry.field(
        default=None, description="Required when an operator, portal or system files for someone."
    )
    citizen_name: str | None = None
    language: str = "en"
    client_reference: str | None = strawberry.field(
        default=None,
        description="The filer's own id for this filing: a retry returns the first grievance.",
    )
    attachments: list[Upload] | None = strawberry.field(
        default=None, description="Photos and documents (GraphQL multipart request)."
    )


@strawberry.type
class FileGrievancePayload:
    grievance: Grievance | None
    errors: list[UserError]


async def in_scope(info: Info, row: GrievanceRow) -> Grievance | None:
    """A grievance after a change, if the actor may still see it (a transfer moves it away)."""
    actor = info.context.actor
    assert actor is not None
    return Grievance(row=row) if await service.can_see(actor, row.id) else None


def errors_of(exc: DomainError | IllegalAction) -> list[UserError]:
    if isinstance(exc, IllegalAction):
        return [UserError(field="", code="illegal_action", message=str(exc))]
    return [UserError(field=e.field, code=e.code, message=e.message) for e in exc.errors]


@strawberry.type
class GrievanceQuery:
    @strawberry.field(
        permission_classes=[Allow.signed_in()],
        description="A grievance by registration number; null when missing or not yours to see.",
    )
    async def grievance(self, info: Info, registration_number: str) -> Grievance | None:
        assert info.context.actor is not None
        row = await service.get_grievance(info.context.actor, registration_number.strip())
        return Grievance(row=row) if row else None


@strawberry.type
class GrievanceMutation:
    @strawberry.mutation(
        permission_classes=[Allow.to(*FILERS)],
        description="File a grievance: a citizen for themself, an operator, portal or department "
        "system for a citizen.",
    )
    async def file_grievance(self, info: Info, input: FileGrievanceInput) -> FileGrievancePayload:
        assert info.context.actor is not None
        try:
            files = await read_uploads(input.attachments, info.context.runtime.settings)
        except DomainError as exc:
            return FileGrievancePayload(grievance=None, errors=errors_of(exc))
        data = service.FilingData(
            description=input.description,
            channel=enums.Channel(input.channel),
            category_code=input.category_code,
            boundary_code=input.boundary_code,
            latitude=input.latitude,
            longitude=input.longitude,
            address=input.address,
            citizen_mobile=input.citizen_mobile,
            citizen_name=input.citizen_name,
            language=input.language,
            client_reference=input.client_reference,
            attachments=tuple(files),
        )
        try:
            row = await service.file_grievance(info.context.runtime, info.context.actor, data)
        except (DomainError, IllegalAction) as exc:
            return FileGrievancePayload(grievance=None, errors=errors_of(exc))
        return FileGrievancePayload(grievance=Grievance(row=row), errors=[])
