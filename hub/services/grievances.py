"""Filing and reading grievances.

A filing writes the grievance, its FILE event and one outbox row per
connector in one transaction: all of them or none.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from auth.actor import Actor
from hub import outbox, pubsub, workflow
from hub.enums import Action, Channel, GrievanceStatus, Role, UserKind
from hub.errors import DomainError, FieldError
from hub.models import (
    Boundary,
    Department,
    Escalation,
    ExternalLink,
    Grievance,
    GrievanceEvent,
    TaxonomyNode,
    User,
    fits,
)
from hub.runtime import Runtime
from hub.services import (
    attachments,
    audit,
    escalation,
    jurisdiction,
    notifications,
    phones,
    routing,
    sla,
)
from hub.services.registration import next_registration_number

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 5000
UNROUTED_DEPARTMENT = "GEN"
FILED_TOPIC = "grievance.filed"


@dataclass(frozen=True)
class FilingData:
    description: str
    channel: Channel
    category_code: str | None = None
    boundary_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    citizen_mobile: str | None = None  # when an operator, portal or system files for someone
    citizen_name: str | None = None
    language: str = "en"
    client_reference: str | None = None  # the filer's own id: a retried filing returns the first
    attachments: tuple[attachments.Incoming, ...] = ()  # photos and documents


def normalise_mobile(raw: str) -> str | None:
    return phones.indian_mobile(raw)


def visible_to(actor: Actor) -> Q:
    """The grievances an actor may see; anything else looks missing. The one scope rule:
    queries, inboxes, search, tracking, actions, attachments and subscriptions use it.

    Statewide roles (leadership, admin, the hub itself) see everything. Anyone sees
    what they filed (an operator, portal or department system filing for a citizen)
    and what is assigned or escalated to them; a citizen sees their own. A portal
    also sees what was sent to it (an external link in its system). A department
    system, HoD and nodal officer see their department; a GRO or LME with an office
    sees that office's grievances and those of their department that no office covers
    (someone must assign them), without an office their department. A GRO of no
    department (the state triage cell) sees what awaits triage with no department.
    """
    if actor.is_statewide:
        return Q()
    branches: list[Q] = []
    if actor.user_id is not None:
        branches += [
            Q(assignee_id=actor.user_id),
            Q(escalation__officer_id=actor.user_id),
            Q(filed_by_id=actor.user_id),
        ]
        if actor.has(Role.CITIZEN):
            branches.append(Q(citizen_id=actor.user_id))
    if actor.has(Role.PORTAL) and actor.system:
        sent = ExternalLink.filter(system=actor.system).values("grievance_id")
        branches.append(Q(id__in=Subquery(sent)))
    department = actor.department_id
    if department is not None:
        if actor.has(Role.DEPARTMENT_SYSTEM, Role.HOD, Role.NODAL_OFFICER):
            branches.append(Q(department_id=department))
        elif actor.has(Role.GRO, Role.LME):
            if actor.office_id is None:
                branches.append(Q(department_id=department))
            else:
                branches.append(Q(office_id=actor.office_id))
                branches.append(Q(department_id=department, office_id=None))
    elif actor.has(Role.GRO):
        branches.append(Q(department_id=None, status=GrievanceStatus.TRIAGE))
    return Q(*branches, join_type=Q.OR) if branches else Q(id=-1)


async def can_see(actor: Actor, grievance_id: int) -> bool:
    """Whether ``visible_to`` still holds for one grievance (it may have moved)."""
    return await Grievance.filter(visible_to(actor), id=grievance_id).exists()


async def get_grievance(actor: Actor, registration_number: str) -> Grievance | None:
    if "\x00" in registration_number or not fits(
        Grievance, "registration_number", registration_number
    ):
        return None
    found = await Grievance.filter(
        visible_to(actor), registration_number=registration_number
    ).first()
    if found is None:
        await audit_if_hidden(actor, registration_number, f"grievance {registration_number}")
    return found


async def audit_if_hidden(actor: Actor, registration_number: str, subject: str) -> None:
    """The client hears "not found" either way; the audit tells a grievance that exists
    but is not the actor's (a denial) from a missing one."""
    if fits(Grievance, "registration_number", registration_number) and await Grievance.exists(
        registration_number=registration_number
    ):
        await audit.record("permission.denied", actor=actor, subject=subject[:200])


async def events_for(grievance_ids: list[int]) -> dict[int, list[GrievanceEvent]]:
    """Timelines of grievances already checked as visible, oldest event first."""
    by_grievance: dict[int, list[GrievanceEvent]] = {gid: [] for gid in grievance_ids}
    for event in await GrievanceEvent.filter(grievance_id__in=grievance_ids).order_by("id"):
        by_grievance[event.grievance_id].append(event)
    return by_grievance


async def file_grievance(rt: Runtime, actor: Actor, data: FilingData) -> Grievance:
    status = workflow.check(Action.FILE, None, actor.roles)  # IllegalAction for a wrong role
    assert status is not None
    existing = await _previous_filing(actor, data)
    if existing is not None:
        return existing
    category, boundary = await _validate(actor, data)
    decision = None
    if category is None:
        status = GrievanceStatus.TRIAGE
        workflow.check(Action.FILE, None, actor.roles, status)
        decision = await routing.decide(
            data.description, rt.settings.routing_auto_threshold, rt.settings
        )
        if decision.category_code is not None:
            category = (
                await TaxonomyNode.filter(code=decision.category_code, active=True)
                .select_related("department")
                .first()
            )
            status = GrievanceStatus.PENDING_ASSIGNMENT if category else GrievanceStatus.TRIAGE
    acting = await _acting(category, boundary, data) if category else None
    filed_at = dt.datetime.now(dt.UTC)
    dept_code = acting.department if acting else UNROUTED_DEPARTMENT
    number = await next_registration_number(rt.settings, dept_code, filed_at)
    sla_days = category.sla_days if category and category.sla_days else None
    due = sla.due_at(rt.settings, filed_at, sla_days or rt.settings.default_sla_days)
    stored = (
        await attachments.accept(rt.settings, list(data.attachments), "photo")
        if data.attachments
        else []
    )
    try:
        for attempt in (1, 2):
            try:
                async with in_transaction():
                    grievance, event = await _write_filing(
                        rt, actor, data, number, status, category, boundary, due, acting, decision
                    )
                    await attachments.record(stored, grievance.id, event.id, actor.user_id)
                break
            except IntegrityError:
                # a concurrent retry of the same filing won the race: answer with its grievance
                existing = await _previous_filing(actor, data)
                if existing is not None:
                    await attachments.discard(rt.settings, stored)
                    return existing
                if attempt == 2:
                    raise
                # else: the citizen's account was created concurrently; the second pass finds it
    except BaseException:
        await attachments.discard(rt.settings, stored)
        raise
    await rt.jobs.outbox_changed()
    await pubsub.announce(rt, grievance, event)
    return grievance


async def _write_filing(
    rt: Runtime,
    actor: Actor,
    data: FilingData,
    number: str,
    status: GrievanceStatus,
    category: TaxonomyNode | None,
    boundary: Boundary | None,
    due: dt.datetime | None,
    acting: jurisdiction.Resolution | None,
    decision: routing.Decision | None,
) -> tuple[Grievance, GrievanceEvent]:
    citizen_id = await _citizen_id(actor, data)
    department_id = acting.department_id if acting else None
    guessed = None
    if department_id is None and decision is not None and decision.department_code:
        # in triage: the best guess's GROs see it first
        guess = await Department.get_or_none(code=decision.department_code, active=True)
        department_id, guessed = (guess.id, guess.code) if guess else (None, None)
    grievance = await Grievance.create(
        registration_number=number,
        citizen_id=citizen_id,
        filed_by_id=actor.user_id if actor.user_id != citizen_id else None,
        channel=data.channel,
        category=category,
        department_id=department_id,
        office_id=acting.office.id if acting and acting.office else None,
        boundary=boundary,
        latitude=data.latitude,
        longitude=data.longitude,
        address=data.address,
        description=data.description.strip(),
        status=status,
        due_at=due,
        clock_started_at=dt.datetime.now(dt.UTC),
    )
    ladder = await Escalation.create(
        grievance=grievance,
        escalate_at=escalation.deadline(
            await escalation.matrix_for(department_id, category.id if category else None),
            0,
            dt.datetime.now(dt.UTC),
            due,
        ),
        due_at=due,
    )
    escalation.attach(grievance, ladder)
    if (system := _filer_system(actor, data)) is not None:
        await ExternalLink.create(
            grievance=grievance, system=system, external_id=data.client_reference
        )
    after = _snapshot(grievance, category, acting, guessed)
    filed_after = after
    note = ""
    if decision is not None:
        filed_after = {**after} if decision.routed else {**after, "routing": decision.record()}
        if decision.routed:
            filed_after |= {
                "status": GrievanceStatus.TRIAGE.value,
                "category": None,
                "department": None,
                "office": None,
            }
            note = "filed without a category"
        else:
            note = f"awaiting triage: {decision.explanation}"
    event = await GrievanceEvent.create(
        grievance=grievance,
        action=Action.FILE,
        actor_id=actor.user_id,
        actor_role=actor.role,
        actor_office_id=actor.office_id,
        from_status=None,
        to_status=GrievanceStatus.TRIAGE if decision is not None else status,
        after=filed_after,
        note=note,
    )
    if decision is not None and decision.routed:
        # the hub chose the category: its decision and explanation go on the timeline
        workflow.check(Action.ROUTE, GrievanceStatus.TRIAGE, frozenset({Role.SYSTEM}), status)
        event = await GrievanceEvent.create(
            grievance=grievance,
            action=Action.ROUTE,
            actor_id=None,
            actor_role=Role.SYSTEM,
            from_status=GrievanceStatus.TRIAGE,
            to_status=status,
            before={"status": GrievanceStatus.TRIAGE.value, "category": None},
            after={**after, "routing": decision.record()},
            note=decision.explanation,
        )
    await notifications.notify_event(rt.settings, grievance, event)
    await outbox.enqueue(
        grievance,
        FILED_TOPIC,
        {**after, "event_id": event.id},
        key=f"{number}:{event.id}",
        connectors=rt.settings.connectors,
    )
    return grievance, event


async def _acting(
    category: TaxonomyNode, boundary: Boundary | None, data: FilingData
) -> jurisdiction.Resolution:
    """Who must act on this category at this place: the department (the category's, or
    its destination's) and its office (None: nobody covers it)."""
    return await jurisdiction.resolve(
        category.code, boundary.code if boundary else None, data.latitude, data.longitude
    )


def tracked_state(
    grievance: Grievance, category: str | None, department: str | None, office: str | None
) -> dict[str, Any]:
    """A grievance's state in the timeline's terms (codes for places): what every event's
    ``after`` records and ``lifecycle.replay`` rebuilds."""
    return {
        "status": str(grievance.status),
        "category": category,
        "department": department,
        "office": office,
        "assignee": grievance.assignee_id,
        "escalation_level": grievance.escalation_level,
        "escalated_to": grievance.escalated_to_id,
        "due_at": grievance.due_at.isoformat() if grievance.due_at else None,
        "transfers": grievance.transfers,
        "reopens": grievance.reopens,
        "appeal_level": grievance.appeal_level,
        "closure_reason": grievance.closure_reason,
        "rating": grievance.rating,
        "version": grievance.version,
    }


def _snapshot(
    grievance: Grievance,
    category: TaxonomyNode | None,
    acting: jurisdiction.Resolution | None,
    guessed: str | None = None,
) -> dict[str, Any]:
    """``guessed``: the department a grievance waiting in triage was given (the best
    guess's), so the timeline says where it waits as the grievance does."""
    office = acting.office.code if acting and acting.office else None
    return {
        "registration_number": grievance.registration_number,
        "channel": str(grievance.channel),
        "filed_at": grievance.created_at.isoformat(),
        **tracked_state(
            grievance,
            category.code if category else None,
            acting.department if acting else guessed,
            office,
        ),
    }


def _filer_system(actor: Actor, data: FilingData) -> str | None:
    """Where a filer's own reference is kept: filings dedupe on (filer, reference)."""
    if data.client_reference and actor.user_id is not None:
        return f"filer:{actor.user_id}"
    return None


_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z]{2})?")  # BCP 47's language[-region]


async def _previous_filing(actor: Actor, data: FilingData) -> Grievance | None:
    system = _filer_system(actor, data)
    if system is None or not fits(ExternalLink, "external_id", data.client_reference or ""):
        return None  # a reference too long to be stored was never filed (_validate says so)
    link = await ExternalLink.get_or_none(system=system, external_id=data.client_reference)
    if link is None:
        return None
    return await Grievance.get(id=link.grievance_id).select_related("category", "department")


async def leaf_category(code: str) -> tuple[TaxonomyNode | None, FieldError | None]:
    """An active leaf category a grievance can be filed in, or why ``code`` is not one."""
    if (too_long := jurisdiction.code_too_long("categoryCode", TaxonomyNode, code)) is not None:
        return None, too_long
    category = (
        await TaxonomyNode.filter(code=code, active=True).select_related("department").first()
    )
    if category is None:
        return None, FieldError("categoryCode", "unknown", f"No active category has code '{code}'.")
    if await TaxonomyNode.filter(parent_id=category.id, active=True).exists():
        return None, FieldError(
            "categoryCode", "not_leaf", f"Category '{code}' has subcategories; choose one of them."
        )
    return category, None


async def _validate(actor: Actor, data: FilingData) -> tuple[TaxonomyNode | None, Boundary | None]:
    errors: list[FieldError] = []
    text = data.description.strip()
    if len(text) < DESCRIPTION_MIN:
        errors.append(
            FieldError(
                "description",
                "too_short",
                f"Describe the problem in at least {DESCRIPTION_MIN} characters.",
            )
        )
    elif len(text) > DESCRIPTION_MAX:
        errors.append(
            FieldError(
                "description",
                "too_long",
                f"Keep the description under {DESCRIPTION_MAX} characters.",
            )
        )
    elif "\x00" in text:
        errors.append(FieldError("description", "invalid", "The description has a NUL byte."))
    category = None
    if data.category_code:
        category, problem = await leaf_category(data.category_code)
        if problem is not None:
            errors.append(problem)
    boundary = None
    too_long = jurisdiction.code_too_long("boundaryCode", Boundary, data.boundary_code or "")
    if too_long is not None:
        errors.append(too_long)
    elif data.boundary_code:
        boundary = await Boundary.get_or_none(code=data.boundary_code, active=True)
        if boundary is None:
            errors.append(
                FieldError(
                    "boundaryCode", "unknown", f"No boundary has code '{data.boundary_code}'."
                )
            )
    if (data.latitude is None) != (data.longitude is None):
        errors.append(FieldError("latitude", "incomplete", "Give both latitude and longitude."))
    if data.latitude is not None and not -90 <= data.latitude <= 90:
        errors.append(FieldError("latitude", "out_of_range", "Latitude must be within -90..90."))
    if data.longitude is not None and not -180 <= data.longitude <= 180:
        errors.append(
            FieldError("longitude", "out_of_range", "Longitude must be within -180..180.")
        )
    if data.address is not None and len(data.address) > 1000:
        errors.append(FieldError("address", "too_long", "Keep the address under 1000 characters."))
    if data.client_reference is not None and not 1 <= len(data.client_reference) <= 128:
        errors.append(FieldError("clientReference", "invalid", "Use 1-128 characters."))
    if not _LANGUAGE.fullmatch(data.language):
        errors.append(
            FieldError("language", "invalid", "Give a language code such as 'en', 'hi' or 'kn'.")
        )
    if not actor.has(Role.CITIZEN) or actor.user_id is None:
        if not data.citizen_mobile:
            errors.append(
                FieldError(
                    "citizenMobile",
                    "required",
                    "Give the citizen's mobile number when filing for them.",
                )
            )
        elif normalise_mobile(data.citizen_mobile) is None:
            errors.append(
                FieldError(
                    "citizenMobile",
                    "invalid",
                    "Not a valid Indian mobile number (10 digits, from 6-9).",
                )
            )
    if errors:
        raise DomainError(errors)
    return category, boundary


async def _citizen_id(actor: Actor, data: FilingData) -> int:
    """The citizen the grievance belongs to: the actor, or the person filed for."""
    if actor.has(Role.CITIZEN) and actor.user_id is not None:
        return actor.user_id
    mobile = normalise_mobile(data.citizen_mobile or "")
    assert mobile is not None  # checked in _validate
    defaults: dict[str, Any] = {
        "kind": UserKind.CITIZEN,
        "name": data.citizen_name or "",
        "language": data.language,
        "roles": [Role.CITIZEN.value],
    }
    user = await User.get_or_none(mobile=mobile)
    if user is None:
        user = await User.create(mobile=mobile, **defaults)
    if user.kind != UserKind.CITIZEN:
        raise DomainError.one(
            "citizenMobile", "not_a_citizen", "That number belongs to a staff or service account."
        )
    return int(user.id)
