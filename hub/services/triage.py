"""The triage queue: grievances the hub could not route with confidence, for a GRO."""

from __future__ import annotations

from tortoise.expressions import Q

from auth.actor import Actor
from hub.enums import Action, GrievanceStatus, Role
from hub.models import Grievance
from hub.runtime import Runtime
from hub.services import lifecycle


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
    request = lifecycle.ActionRequest(
        Action.CATEGORISE, registration_number, note=note, category_code=category_code
    )
    in_queue = Q(_queue_scope(actor), status=GrievanceStatus.TRIAGE)
    return await lifecycle.act(rt, actor, request, extra_scope=in_queue)
