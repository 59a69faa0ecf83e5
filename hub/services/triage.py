"""The triage queue: grievances the hub could not route with confidence, for a GRO."""

from __future__ import annotations

import datetime as dt

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from auth.actor import Actor
from hub import outbox, workflow
from hub.enums import Action, GrievanceStatus, Role
from hub.errors import DomainError
from hub.models import Boundary, Department, Grievance, GrievanceEvent
from hub.runtime import Runtime
from hub.services import jurisdiction
from hub.services.grievances import leaf_category, visible_to

CATEGORISED_TOPIC = "grievance.categorised"


def _queue_scope(actor: Actor) -> Q:
    """Statewide roles see all of triage; a department's GROs see its best guesses; GROs
    of no department (a state triage cell) see what the hub could not guess at all."""
    if actor.is_statewide:
        return Q()
    if actor.has(Role.GRO):
        if actor.department_id is not None:
            return Q(department_id=actor.department_id)
        return Q(department_id=None)
    return Q(id=-1)


async def queue(actor: Actor, limit: int = 50) -> list[Grievance]:
    """Grievances awaiting a category, oldest first, that this actor may triage."""
    return (
        await Grievance.filter(_queue_scope(actor), status=GrievanceStatus.TRIAGE)
        .order_by("id")
        .limit(max(1, min(limit, 500)))
    )


async def categorise(
    rt: Runtime, actor: Actor, registration_number: str, category_code: str, note: str = ""
) -> Grievance:
    """A GRO chooses the category: the grievance leaves triage for the responsible office.

    The choice is a label the routing model learns from at its next rebuild."""
    in_queue = Q(_queue_scope(actor), status=GrievanceStatus.TRIAGE)
    grievance = await Grievance.filter(
        visible_to(actor) | in_queue, registration_number=registration_number
    ).first()
    if grievance is None:
        raise DomainError.one(
            "registrationNumber", "not_found", f"No grievance {registration_number} for you."
        )
    target = GrievanceStatus.PENDING_ASSIGNMENT
    workflow.check(Action.CATEGORISE, GrievanceStatus(grievance.status), actor.roles, target)
    category, problem = await leaf_category(category_code)
    if category is None:
        raise DomainError([problem] if problem else [])
    boundary = (
        await Boundary.get_or_none(id=grievance.boundary_id) if grievance.boundary_id else None
    )
    found = await jurisdiction.resolve(
        category.code,
        boundary.code if boundary else None,
        grievance.latitude,
        grievance.longitude,
    )
    async with in_transaction():
        row = await Grievance.select_for_update().get(id=grievance.id)
        workflow.check(Action.CATEGORISE, GrievanceStatus(row.status), actor.roles, target)
        guessed = await Department.get_or_none(id=row.department_id) if row.department_id else None
        before = {
            "status": str(row.status),
            "category": None,
            "department": guessed.code if guessed else None,
        }
        row.category_id = category.id
        row.department_id = found.department_id or category.department_id
        row.office_id = found.office.id if found.office else None
        row.status = target
        if category.sla_days:
            row.due_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=category.sla_days)
        row.version += 1
        await row.save()
        after = {
            "status": target.value,
            "category": category.code,
            "department": found.department,
            "office": found.office.code if found.office else None,
        }
        event = await GrievanceEvent.create(
            grievance_id=row.id,
            action=Action.CATEGORISE,
            actor_id=actor.user_id,
            actor_role=actor.role,
            actor_office_id=actor.office_id,
            from_status=before["status"],
            to_status=target,
            before=before,
            after=after,
            note=note.strip()[:2000],
        )
        await outbox.enqueue(
            row,
            CATEGORISED_TOPIC,
            {"registration_number": row.registration_number, **after, "event_id": event.id},
            key=f"{row.registration_number}:{event.id}",
            connectors=rt.settings.connectors,
        )
    await rt.jobs.outbox_changed()
    return row
