"""Finding grievances: officer inboxes by SLA urgency, a citizen's own list, search.

Lists are keyset-paginated: a cursor holds the sort key of the last row seen,
so a page costs the same at the millionth row as at the first, and rows
arriving meanwhile neither repeat nor vanish.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from auth.actor import Actor
from hub.enums import OPEN_STATUSES, GrievanceStatus, Role
from hub.errors import DomainError, FieldError, nul_problems
from hub.models import Department, Grievance, User
from hub.services import audit, phones
from hub.services.grievances import normalise_mobile, visible_to
from hub.services.sla import IST

S = GrievanceStatus
PAGE_MAX = 100
EARLIEST = dt.date(2000, 1, 1)  # search dates before the hub's records are a typo
NAME_MIN = 3
# what waits on a GRO: grievances to assign, and LMEs asking to hand one back
_GRO_STATES = (S.PENDING_ASSIGNMENT, S.REASSIGN_REQUESTED)


@dataclass(frozen=True)
class Page:
    items: list[Grievance]
    end_cursor: str | None
    has_next: bool


@dataclass(frozen=True)
class Search:
    mobile: str | None = None
    name: str | None = None
    filed_from: dt.date | None = None
    filed_to: dt.date | None = None
    statuses: tuple[GrievanceStatus, ...] = ()


def _encode(moment: dt.datetime | None, row_id: int) -> str:
    raw = f"{(moment or dt.datetime.now(dt.UTC)).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[dt.datetime, int]:
    invalid = DomainError.one("after", "invalid", "Not a cursor this list gave out.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        text, _, row_id = raw.rpartition("|")
        moment, number = dt.datetime.fromisoformat(text), int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if moment.tzinfo is None or not 1 <= number < 2**31 or not 2000 <= moment.year <= 2200:
        raise invalid
    return moment.astimezone(dt.UTC), number


def _first(first: int) -> int:
    if not 1 <= first <= PAGE_MAX:
        raise DomainError.one("first", "out_of_range", f"Ask for 1-{PAGE_MAX} rows.")
    return first


# the due date a branch is read in order of: the grievance's, or for what is escalated to an
# officer the copy on the ladder row, whose (officer, due) index holds that order
DUE = "due_at"
LADDER_DUE = "escalation__due_at"


def inbox_branches(actor: Actor) -> list[tuple[Q, str]]:
    """What waits on this officer, one branch per reason: assigned to them (LME), to
    assign in their office (GRO), escalated to them (any officer); a department system's
    or HoD's department; everything for statewide roles. Each branch is read on its own
    index in due order, and the pages merged: an OR of them would defeat the indexes."""
    if actor.is_statewide:
        return [(Q(), DUE)]
    branches: list[tuple[Q, str]] = []
    if actor.user_id is not None:
        branches.append((Q(escalation__officer_id=actor.user_id), LADDER_DUE))
        if actor.has(Role.LME):
            branches.append((Q(assignee_id=actor.user_id), DUE))
    if actor.has(Role.GRO) and actor.department_id is not None:
        states = list(_GRO_STATES)
        if actor.office_id is not None:
            branches.append((Q(office_id=actor.office_id, status__in=states), DUE))
            branches.append(
                (Q(department_id=actor.department_id, office_id=None, status__in=states), DUE)
            )
        else:
            branches.append((Q(department_id=actor.department_id, status__in=states), DUE))
    if actor.has(Role.DEPARTMENT_SYSTEM, Role.HOD) and actor.department_id is not None:
        branches.append((Q(department_id=actor.department_id), DUE))
    return branches


async def inbox(
    actor: Actor,
    first: int = 20,
    after: str | None = None,
    statuses: tuple[GrievanceStatus, ...] = (),
) -> Page:
    """Open grievances waiting on the actor, most urgent (earliest due) first."""
    limit = _first(first)
    wanted = [s for s in statuses if s in OPEN_STATUSES] if statuses else list(OPEN_STATUSES)
    if statuses and not wanted:
        raise DomainError.one("statuses", "not_open", "An inbox holds open grievances only.")
    cursor = _decode(after) if after else None
    found: dict[int, Grievance] = {}
    for branch, due_field in inbox_branches(actor):
        query = Grievance.filter(
            branch, visible_to(actor), status__in=wanted, **{f"{due_field}__not_isnull": True}
        )
        if cursor is not None:
            due, row_id = cursor
            # the plain bound lets the database range-scan the (…, due_at) index
            after_due: dict[str, Any] = {f"{due_field}__gt": due}
            same_due: dict[str, Any] = {due_field: due, "id__gt": row_id}
            query = query.filter(**{f"{due_field}__gte": due}).filter(
                Q(**after_due) | Q(**same_due)
            )
        for row in await query.order_by(due_field, "id").limit(limit + 1):
            found[row.id] = row
    assert all(row.due_at is not None for row in found.values())
    rows = sorted(found.values(), key=lambda g: (g.due_at, g.id))[: limit + 1]
    return _page(rows, limit, lambda g: _encode(g.due_at, g.id))


async def mine(actor: Actor, first: int = 20, after: str | None = None) -> Page:
    """A citizen's own grievances, newest first."""
    limit = _first(first)
    if actor.user_id is None:
        return Page([], None, False)
    query = Grievance.filter(citizen_id=actor.user_id)
    return await _newest_first(query, limit, after)


async def search(
    actor: Actor,
    criteria: Search,
    first: int = 20,
    after: str | None = None,
) -> Page:
    """Officers' search within their scope: by the citizen's mobile or name, filing dates,
    status. A citizen searching finds only their own. Each search is audited: looking
    people up by number or name is access to personal data."""
    limit = _first(first)
    errors = nul_problems({"filter.mobile": criteria.mobile, "filter.name": criteria.name})
    if errors:
        raise DomainError(errors)
    for name, day in (
        ("filter.filedFrom", criteria.filed_from),
        ("filter.filedTo", criteria.filed_to),
    ):
        if day is not None and not EARLIEST <= day <= dt.date.today() + dt.timedelta(days=1):
            errors.append(
                FieldError(name, "out_of_range", f"Give a date from {EARLIEST} to tomorrow.")
            )
    query = Grievance.filter(visible_to(actor))
    if criteria.mobile is not None:
        mobile = normalise_mobile(criteria.mobile)
        if mobile is None:
            errors.append(
                FieldError("filter.mobile", "invalid", "Not a valid Indian mobile number.")
            )
        else:
            citizen = await User.get_or_none(mobile=mobile).only("id")
            query = query.filter(citizen_id=citizen.id if citizen else -1)
    if criteria.name is not None:
        name = criteria.name.strip()
        if len(name) < NAME_MIN:
            errors.append(
                FieldError("filter.name", "too_short", f"Give at least {NAME_MIN} letters.")
            )
        else:
            query = query.filter(citizen__name__icontains=name)
    if criteria.filed_from and criteria.filed_to and criteria.filed_from > criteria.filed_to:
        errors.append(FieldError("filter.filedTo", "before_start", "Ends before it starts."))
    if not any((criteria.mobile, criteria.name, criteria.filed_from, criteria.filed_to)):
        errors.append(FieldError("filter", "required", "Search by mobile, name or filing dates."))
    if errors:
        raise DomainError(errors)
    if criteria.filed_from:
        query = query.filter(created_at__gte=_start_of(criteria.filed_from))
    if criteria.filed_to:
        query = query.filter(created_at__lt=_start_of(criteria.filed_to + dt.timedelta(days=1)))
    if criteria.statuses:
        query = query.filter(status__in=list(criteria.statuses))
    page = await _newest_first(query, limit, after)
    await audit.record(
        "data.search",
        actor=actor,
        subject="searchGrievances",
        detail={
            "mobile": phones.masked(normalise_mobile(criteria.mobile) or criteria.mobile)
            if criteria.mobile
            else None,
            "by_name": criteria.name is not None,
            "filed_from": criteria.filed_from.isoformat() if criteria.filed_from else None,
            "filed_to": criteria.filed_to.isoformat() if criteria.filed_to else None,
            "results": len(page.items),
        },
    )
    return page


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), IST)


async def _newest_first(query: QuerySet[Grievance], limit: int, after: str | None) -> Page:
    if after:
        filed, row_id = _decode(after)
        query = query.filter(Q(created_at__lt=filed) | Q(created_at=filed, id__lt=row_id))
    rows = await query.order_by("-created_at", "-id").limit(limit + 1)
    return _page(rows, limit, lambda g: _encode(g.created_at, g.id))


def _page(rows: list[Grievance], limit: int, cursor_of: Callable[[Grievance], str]) -> Page:
    has_next = len(rows) > limit
    items = rows[:limit]
    return Page(items, cursor_of(items[-1]) if items else None, has_next)


async def officers(actor: Actor, role: Role, department_code: str | None = None) -> list[User]:
    """Active officers with ``role`` in the actor's department (statewide roles: any
    department named), e.g. the LMEs a GRO may assign to."""
    if role not in (Role.GRO, Role.LME, Role.NODAL_OFFICER, Role.HOD):
        raise DomainError.one(
            "role", "not_an_officer_role", "Choose GRO, LME, NODAL_OFFICER or HOD."
        )
    department_id = actor.department_id
    if actor.is_statewide and department_code:
        department = await Department.get_or_none(code=department_code)
        department_id = department.id if department else -1
    if department_id is None or not (actor.is_statewide or actor.is_department_staff):
        return []
    rows = await User.filter(department_id=department_id, active=True).order_by("name", "id")
    return [user for user in rows if role.value in user.roles]
