"""The triage queue: grievances the hub could not route with confidence, for a GRO."""

from __future__ import annotations

from auth.actor import Actor
from hub.enums import Action, GrievanceStatus
from hub.models import Grievance
from hub.runtime import Runtime
from hub.services import lifecycle


async def queue(actor: Actor, limit: int = 50) -> list[Grievance]:
    """Grievances awaiting a category, oldest first, that this actor may triage."""
    return (
        await Grievance.filter(lifecycle.triage_scope(actor), status=GrievanceStatus.TRIAGE)
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
    return await lifecycle.act(rt, actor, request)
