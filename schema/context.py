"""Per-request context: the runtime, the actor and this request's dataloaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as _Info

from auth.actor import Actor
from hub.models import (
    Attachment,
    Boundary,
    Department,
    Escalation,
    GrievanceEvent,
    Office,
    TaxonomyNode,
    User,
)
from hub.runtime import Runtime
from hub.services.attachments import attachments_for
from hub.services.grievances import events_for


async def _departments_by_id(ids: list[int]) -> list[Department | None]:
    rows = {d.id: d for d in await Department.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _categories_by_id(ids: list[int]) -> list[TaxonomyNode | None]:
    rows = {n.id: n for n in await TaxonomyNode.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _offices_by_id(ids: list[int]) -> list[Office | None]:
    rows = {o.id: o for o in await Office.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _boundaries_by_id(ids: list[int]) -> list[Boundary | None]:
    rows = {b.id: b for b in await Boundary.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _users_by_id(ids: list[int]) -> list[User | None]:
    rows = {u.id: u for u in await User.filter(id__in=ids)}
    return [rows.get(i) for i in ids]


async def _escalations_by_grievance(ids: list[int]) -> list[Escalation | None]:
    rows = {e.grievance_id: e for e in await Escalation.filter(grievance_id__in=ids)}
    return [rows.get(i) for i in ids]


async def _attachments_by_grievance(ids: list[int]) -> list[list[Attachment]]:
    by_id = await attachments_for(ids)
    return [by_id[i] for i in ids]


async def _events_by_grievance(ids: list[int]) -> list[list[GrievanceEvent]]:
    by_id = await events_for(ids)
    return [by_id[i] for i in ids]


@dataclass
class Context:
    runtime: Runtime
    actor: Actor | None
    request: Any = None
    response: Any = None
    department_by_id: DataLoader[int, Department | None] = field(
        default_factory=lambda: DataLoader(load_fn=_departments_by_id)
    )
    category_by_id: DataLoader[int, TaxonomyNode | None] = field(
        default_factory=lambda: DataLoader(load_fn=_categories_by_id)
    )
    office_by_id: DataLoader[int, Office | None] = field(
        default_factory=lambda: DataLoader(load_fn=_offices_by_id)
    )
    boundary_by_id: DataLoader[int, Boundary | None] = field(
        default_factory=lambda: DataLoader(load_fn=_boundaries_by_id)
    )
    user_by_id: DataLoader[int, User | None] = field(
        default_factory=lambda: DataLoader(load_fn=_users_by_id)
    )
    escalation_by_grievance: DataLoader[int, Escalation | None] = field(
        default_factory=lambda: DataLoader(load_fn=_escalations_by_grievance)
    )
    events_by_grievance: DataLoader[int, list[GrievanceEvent]] = field(
        default_factory=lambda: DataLoader(load_fn=_events_by_grievance)
    )
    attachments_by_grievance: DataLoader[int, list[Attachment]] = field(
        default_factory=lambda: DataLoader(load_fn=_attachments_by_grievance)
    )


Info = _Info[Context, None]
