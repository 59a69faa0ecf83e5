"""The workflow over GraphQL: one mutation for every action, inboxes, tracking, search."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import strawberry
from strawberry.file_uploads import Upload

from hub import enums
from hub.enums import Role
from hub.errors import DomainError
from hub.services import lifecycle, tracking
from hub.workflow import IllegalAction
from schema.attachments import read_uploads
from schema.context import Info
from schema.grievances import errors_of, in_scope
from schema.permissions import STAFF, Allow
from schema.types import Grievance, GrievanceStatus, Officer, UserError, WorkflowAction


class _OfficerRole(StrEnum):
    GRO = "gro"
    LME = "lme"
    NODAL_OFFICER = "nodal_officer"
    HOD = "hod"


OfficerRole = strawberry.enum(_OfficerRole, name="OfficerRole")


@strawberry.input(description="One workflow action; which fields count depends on the action.")
class ActionInput:
    action: WorkflowAction  # type: ignore[valid-type]
    registration_number: str
    expected_version: int | None = strawberry.field(
        default=None,
        description="The version you saw; the action is refused if the grievance changed since.",
    )
    note: str = strawberry.field(
        default="",
        description="COMMENT's text; the reason for REJECT, REQUEST_REASSIGN, TRANSFER, REOPEN, "
        "APPEAL and ESCALATE.",
    )
    assignee_id: int | None = strawberry.field(default=None, description="ASSIGN, REASSIGN.")
    category_code: str | None = strawberry.field(
        default=None, description="TRANSFER: a category of the other department; CATEGORISE."
    )
    atr: str = strawberry.field(default="", description="RESOLVE: the Action Taken Report.")
    closure_reason: str = strawberry.field(
        default="", description="RESOLVE: a code from closureReasons."
    )
    remarks: str = ""
    rating: int | None = strawberry.field(default=None, description="RATE: 1 (poor) to 5.")
    feedback: str = ""
    attachments: list[Upload] | None = strawberry.field(
        default=None,
        description="Evidence with RESOLVE, photos or documents with COMMENT (multipart).",
    )


@strawberry.type(description="Why the workflow refused: the state and what is allowed instead.")
class ActionRefusal:
    action: WorkflowAction  # type: ignore[valid-type]
    state: GrievanceStatus | None  # type: ignore[valid-type]
    allowed_actions: list[WorkflowAction]  # type: ignore[valid-type]
    message: str


@strawberry.type
class ActionPayload:
    grievance: Grievance | None = strawberry.field(
        description="The grievance as it now stands; null with no errors when the action "
        "took it out of the caller's scope (a transfer to another department): it was done."
    )
    errors: list[UserError]
    refusal: ActionRefusal | None = None


@strawberry.type
class PageInfo:
    end_cursor: str | None
    has_next_page: bool


@strawberry.type
class GrievancePage:
    nodes: list[Grievance]
    page_info: PageInfo


@strawberry.input
class GrievanceSearch:
    mobile: str | None = None
    name: str | None = strawberry.field(default=None, description="Part of the citizen's name.")
    filed_from: dt.date | None = None
    filed_to: dt.date | None = None
    statuses: list[GrievanceStatus] | None = None  # type: ignore[valid-type]


@strawberry.type
class ClosureReason:
    code: str
    row: strawberry.Private[lifecycle.ClosureReason]

    @strawberry.field
    def name(self, locale: str = "en") -> str:
        return self.row.name(locale)


def _page(page: tracking.Page) -> GrievancePage:
    return GrievancePage(
        nodes=[Grievance(row=row) for row in page.items],
        page_info=PageInfo(end_cursor=page.end_cursor, has_next_page=page.has_next),
    )


@strawberry.type
class LifecycleQuery:
    @strawberry.field(
        permission_classes=[Allow.to(*STAFF)],
        description="Open grievances waiting on you, most urgent (earliest due) first.",
    )
    async def inbox(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        statuses: list[GrievanceStatus] | None = None,  # type: ignore[valid-type]
    ) -> GrievancePage:
        assert info.context.actor is not None
        wanted = tuple(enums.GrievanceStatus(s) for s in statuses or ())
        return _page(await tracking.inbox(info.context.actor, first, after, wanted))

    @strawberry.field(
        permission_classes=[Allow.to(Role.CITIZEN)], description="Yours, newest first."
    )
    async def my_grievances(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> GrievancePage:
        assert info.context.actor is not None
        return _page(await tracking.mine(info.context.actor, first, after))

    @strawberry.field(
        permission_classes=[Allow.to(*STAFF, Role.OPERATOR, Role.PORTAL)],
        description="By the citizen's mobile or name, and filing dates, within what you may see.",
    )
    async def search_grievances(
        self, info: Info, filter: GrievanceSearch, first: int = 20, after: str | None = None
    ) -> GrievancePage:
        assert info.context.actor is not None
        criteria = tracking.Search(
            mobile=filter.mobile,
            name=filter.name,
            filed_from=filter.filed_from,
            filed_to=filter.filed_to,
            statuses=tuple(enums.GrievanceStatus(s) for s in filter.statuses or ()),
        )
        return _page(await tracking.search(info.context.actor, criteria, first, after))

    @strawberry.field(
        permission_classes=[Allow.to(*STAFF)],
        description="Officers of your department with a role, e.g. the LMEs to assign to.",
    )
    async def officers(
        self,
        info: Info,
        role: OfficerRole,  # type: ignore[valid-type]
        department_code: str | None = None,
    ) -> list[Officer]:
        assert info.context.actor is not None
        rows = await tracking.officers(info.context.actor, enums.Role(role), department_code)
        return [Officer(id=row.id, name=row.name) for row in rows]

    @strawberry.field(
        permission_classes=[Allow.anyone()],
        description="The reasons an Action Taken Report may close a grievance with.",
    )
    def closure_reasons(self, info: Info) -> list[ClosureReason]:
        return [
            ClosureReason(code=r.code, row=r)
            for r in lifecycle.closure_reasons(info.context.runtime.settings)
        ]


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(
        permission_classes=[Allow.signed_in()],
        description="Take a workflow action (who may take which is the workflow table). A "
        "refused action changes nothing; after one that moves the grievance out of your "
        "scope (a transfer), grievance is null.",
    )
    async def perform_action(self, info: Info, input: ActionInput) -> ActionPayload:
        assert info.context.actor is not None
        settings = info.context.runtime.settings
        try:
            files = await read_uploads(input.attachments, settings)
            request = lifecycle.ActionRequest(
                action=enums.Action(input.action),
                registration_number=input.registration_number,
                expected_version=input.expected_version,
                note=input.note,
                assignee_id=input.assignee_id,
                category_code=input.category_code,
                atr=input.atr,
                closure_reason=input.closure_reason,
                remarks=input.remarks,
                rating=input.rating,
                feedback=input.feedback,
                attachments=tuple(files),
            )
            row = await lifecycle.act(info.context.runtime, info.context.actor, request)
        except IllegalAction as exc:
            refusal = ActionRefusal(
                action=exc.action,
                state=exc.state,
                allowed_actions=list(exc.allowed),
                message=str(exc),
            )
            return ActionPayload(grievance=None, errors=errors_of(exc), refusal=refusal)
        except DomainError as exc:
            return ActionPayload(grievance=None, errors=errors_of(exc))
        return ActionPayload(grievance=await in_scope(info, row), errors=[])
