"""Escalation: the matrix per department, who answers at each level, and the job.

A department's matrix (from its rule file; the hub's default otherwise) lists
the levels LME -> GRO -> nodal officer -> HoD with the hours a grievance may
stay at each; a level without hours lasts until the SLA due date. A category
may override the matrix for its subtree.

The job escalates every open grievance whose ``escalate_at`` has passed, one
level at a time, in batches. Each step is a compare-and-set on
``escalation_level``, with the batch claimed ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several workers running at once escalate each grievance
exactly once per level.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from hub.enums import OPEN_STATUSES, Action, Role, UserKind
from hub.models import Department, Grievance, GrievanceEvent, TaxonomyNode, User
from hub.outbox import OutboxRow, write_new
from hub.pubsub import Broker, grievance_channel, update_message
from hub.services import notifications
from hub.settings import Settings

logger = logging.getLogger("hub.escalation")

BATCH = 2000
CHANGED_TOPIC = "grievance.changed"  # as hub.services.lifecycle writes it


@dataclass(frozen=True)
class Level:
    role: Role
    hours: int | None  # None: until the SLA due date


DEFAULT_MATRIX: tuple[Level, ...] = (
    Level(Role.LME, None),
    Level(Role.GRO, 48),
    Level(Role.NODAL_OFFICER, 72),
    Level(Role.HOD, None),
)
# when a level without hours is reached after the due date has passed
OVERDUE_GRACE = dt.timedelta(hours=24)


def _levels(raw: Iterable[dict[str, Any]]) -> tuple[Level, ...]:
    return tuple(Level(Role(item["role"]), item.get("hours")) for item in raw)


def matrix_of(escalation: dict[str, Any], ancestry: Iterable[str] = ()) -> tuple[Level, ...]:
    """The department's matrix, or a category override found on the category's path
    (the category itself first, then its ancestors)."""
    overrides = escalation.get("categories") or {}
    for code in ancestry:
        if code in overrides:
            return _levels(overrides[code])
    if escalation.get("levels"):
        return _levels(escalation["levels"])
    return DEFAULT_MATRIX


def deadline(
    levels: tuple[Level, ...], level: int, since: dt.datetime, due: dt.datetime | None
) -> dt.datetime | None:
    """When a grievance that reached ``level`` at ``since`` escalates; None at the top."""
    if level >= len(levels) - 1:
        return None
    hours = levels[level].hours
    if hours is not None:
        return since + dt.timedelta(hours=hours)
    if due is not None and due > since:
        return due
    return since + OVERDUE_GRACE


async def ancestry(category_id: int | None) -> list[str]:
    """Codes from the category up to its department's root."""
    codes: list[str] = []
    current = category_id
    while current is not None and len(codes) < 16:
        node = await TaxonomyNode.get_or_none(id=current).only("id", "code", "parent_id")
        if node is None:
            break
        codes.append(node.code)
        current = node.parent_id
    return codes


async def matrix_for(department_id: int | None, category_id: int | None) -> tuple[Level, ...]:
    """The matrix a grievance of this department and category climbs."""
    if department_id is None:
        return DEFAULT_MATRIX
    department = await Department.get_or_none(id=department_id).only("id", "escalation")
    escalation = department.escalation if department else {}
    path = await ancestry(category_id) if escalation.get("categories") else []
    return matrix_of(escalation, path)


@dataclass
class Officers:
    """Who answers at each level: by office for GROs and LMEs, by department above."""

    by_office: dict[tuple[int, Role], int] = field(default_factory=dict)
    by_department: dict[tuple[int, Role], int] = field(default_factory=dict)

    @classmethod
    async def load(cls, department_ids: Iterable[int] | None = None) -> Officers:
        query = User.filter(kind=UserKind.EMPLOYEE, active=True, department_id__not_isnull=True)
        if department_ids is not None:
            query = query.filter(department_id__in=list(department_ids))
        officers = cls()
        rows = await query.order_by("id").values_list("id", "roles", "office_id", "department_id")
        for user_id, roles, office_id, department_id in rows:
            for raw in roles:
                role = Role(raw)
                if office_id is not None:
                    officers.by_office.setdefault((office_id, role), user_id)
                officers.by_department.setdefault((department_id, role), user_id)
        return officers

    def at(self, grievance: Grievance, role: Role) -> int | None:
        if role == Role.LME:
            return grievance.assignee_id
        if role in (Role.GRO, Role.LME) and grievance.office_id is not None:
            found = self.by_office.get((grievance.office_id, role))
            if found is not None:
                return found
        if grievance.department_id is None:
            return None
        return self.by_department.get((grievance.department_id, role))


@dataclass(frozen=True)
class Step:
    """One escalation: the changes to write and the timeline entry."""

    level: int
    officer_id: int | None
    escalate_at: dt.datetime | None
    role: Role


def next_step(
    grievance: Grievance, levels: tuple[Level, ...], officers: Officers, now: dt.datetime
) -> Step | None:
    level = grievance.escalation_level + 1
    if level >= len(levels):
        return None
    role = levels[level].role
    return Step(
        level=level,
        officer_id=officers.at(grievance, role),
        escalate_at=deadline(levels, level, now, grievance.due_at),
        role=role,
    )


def step_record(step: Step, version: int) -> dict[str, Any]:
    return {
        "escalation_level": step.level,
        "escalated_to": step.officer_id,
        "version": version,
    }


def step_note(step: Step, reason: str) -> str:
    return f"{reason}: escalated to level {step.level} ({step.role.value})"


@dataclass
class EscalationStats:
    escalated: int = 0
    at_top: int = 0
    batches: int = 0
    by_level: dict[int, int] = field(default_factory=dict)


async def escalate_due(
    settings: Settings,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    broker: Broker | None = None,
) -> EscalationStats:
    """Escalate every open grievance whose level's time has run out, once per level.

    Like any action, each step is a timeline event, notifications, a message to every
    connected system and (after the commit) an update to the grievance's subscribers."""
    moment = now or dt.datetime.now(dt.UTC)
    stats = EscalationStats()
    officers = await Officers.load()
    matrices = _Matrices()
    while True:
        done, written = await _escalate_batch(settings, moment, batch, officers, matrices, stats)
        if done == 0:
            break
        stats.batches += 1
        if broker is not None:
            for grievance, event in written:
                await broker.publish(
                    grievance_channel(grievance.registration_number),
                    update_message(grievance, event),
                )
    if stats.escalated:
        logger.info("escalated %s grievances in %s batches", stats.escalated, stats.batches)
    return stats


class _Matrices:
    """Per-run cache of the matrix for each (department, category) met."""

    def __init__(self) -> None:
        self._by_category: dict[tuple[int, int | None], tuple[Level, ...]] = {}

    async def of(self, grievance: Grievance) -> tuple[Level, ...]:
        key = (grievance.department_id or 0, grievance.category_id)
        found = self._by_category.get(key)
        if found is None:
            found = await matrix_for(grievance.department_id, grievance.category_id)
            self._by_category[key] = found
        return found


async def _escalate_batch(
    settings: Settings,
    now: dt.datetime,
    batch: int,
    officers: Officers,
    matrices: _Matrices,
    stats: EscalationStats,
) -> tuple[int, list[tuple[Grievance, GrievanceEvent]]]:
    async with in_transaction() as conn:
        rows = (
            await Grievance.filter(escalate_at__lte=now, status__in=list(OPEN_STATUSES))
            .order_by("escalate_at", "id")
            .limit(batch)
            .select_for_update(skip_locked=True)
            .using_db(conn)
        )
        if not rows:
            return 0, []
        steps: list[tuple[Grievance, Step | None]] = []
        for grievance in rows:
            steps.append(
                (grievance, next_step(grievance, await matrices.of(grievance), officers, now))
            )
        won = await _apply(conn, steps, now)
        events = [
            GrievanceEvent(
                grievance_id=grievance.id,
                action=Action.ESCALATE,
                actor_id=None,
                actor_role=Role.SYSTEM,
                from_status=grievance.status,
                to_status=grievance.status,
                before={
                    "escalation_level": grievance.escalation_level,
                    "escalated_to": grievance.escalated_to_id,
                    "version": grievance.version,
                },
                after=step_record(step, grievance.version + 1),
                note=step_note(step, "SLA level time passed"),
                created_at=now,
            )
            for grievance, step in steps
            if step is not None and grievance.id in won
        ]
        for grievance, step in steps:
            if step is not None and grievance.id in won:
                grievance.escalation_level = step.level
                grievance.escalated_to_id = step.officer_id
                grievance.escalate_at = step.escalate_at
                grievance.version += 1
                stats.by_level[step.level] = stats.by_level.get(step.level, 0) + 1
            elif step is None:
                stats.at_top += 1
        pairs: list[tuple[Grievance, GrievanceEvent]] = []
        if events:
            by_id = {g.id: g for g, _ in steps}
            pairs = [(by_id[e.grievance_id], e) for e in await _write_events(conn, events)]
            await notifications.notify_events(settings, pairs)
            await write_new(_connector_rows(settings, pairs, now))
        stats.escalated += len(events)
        return len(rows), pairs


def _connector_rows(
    settings: Settings, pairs: list[tuple[Grievance, GrievanceEvent]], now: dt.datetime
) -> list[OutboxRow]:
    """What every connected system hears of an escalation, as of any other action."""
    return [
        OutboxRow(
            grievance_id=grievance.id,
            connector=name,
            topic=CHANGED_TOPIC,
            payload={
                "registration_number": grievance.registration_number,
                "action": Action.ESCALATE.value,
                "event_id": event.id,
                **event.after,
            },
            idempotency_key=f"{grievance.registration_number}:{event.id}:{name}",
            next_attempt_at=now,
        )
        for grievance, event in pairs
        for name in settings.connectors
    ]


async def _apply(
    conn: Any, steps: list[tuple[Grievance, Step | None]], now: dt.datetime
) -> set[int]:
    """Write the steps as compare-and-set on (level, version); the ids that won."""
    tops = [g.id for g, s in steps if s is None]
    moving = [(g, s) for g, s in steps if s is not None]
    if tops:  # the top level: nothing above it, stop looking
        await Grievance.filter(id__in=tops).using_db(conn).update(escalate_at=None)
    if not moving:
        return set()
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "UPDATE grievance AS g SET escalation_level = v.level, escalated_to_id = v.officer,"
            " escalate_at = v.at, version = g.version + 1, updated_at = $6"
            " FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::timestamptz[])"
            " AS v(id, old_level, level, officer, at)"
            " WHERE g.id = v.id AND g.escalation_level = v.old_level RETURNING g.id",
            [
                [g.id for g, _ in moving],
                [g.escalation_level for g, _ in moving],
                [s.level for _, s in moving],
                [s.officer_id for _, s in moving],
                [s.escalate_at for _, s in moving],
                now,
            ],
        )
        return {int(row["id"]) for row in rows}
    won: set[int] = set()
    for grievance, step in moving:
        changed = (
            await Grievance.filter(id=grievance.id, escalation_level=grievance.escalation_level)
            .using_db(conn)
            .update(
                escalation_level=step.level,
                escalated_to_id=step.officer_id,
                escalate_at=step.escalate_at,
                version=grievance.version + 1,
                updated_at=now,
            )
        )
        if changed:
            won.add(grievance.id)
    return won


_PG_EVENTS = (
    "INSERT INTO grievance_event (grievance_id, action, actor_id, actor_role, actor_office_id,"
    " from_status, to_status, before, after, note, created_at)"
    " SELECT v.grievance_id, v.action, NULL, v.actor_role, NULL, v.from_status, v.to_status,"
    " v.before::jsonb, v.after::jsonb, v.note, v.created_at"
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::text[], $8::text[], $9::timestamptz[])"
    " AS v(grievance_id, action, actor_role, from_status, to_status, before, after, note,"
    " created_at) RETURNING id, grievance_id"
)


async def _write_events(conn: Any, events: list[GrievanceEvent]) -> list[GrievanceEvent]:
    """Insert system events in one statement on PostgreSQL; one by one elsewhere."""
    if conn.capabilities.dialect != "postgres":
        for event in events:
            await event.save(using_db=conn)
        return events
    rows = await conn.execute_query_dict(
        _PG_EVENTS,
        [
            [e.grievance_id for e in events],
            [str(e.action) for e in events],
            [str(e.actor_role) for e in events],
            [e.from_status for e in events],
            [e.to_status for e in events],
            [json.dumps(e.before) for e in events],
            [json.dumps(e.after) for e in events],
            [e.note for e in events],
            [e.created_at for e in events],
        ],
    )
    ids = {int(row["grievance_id"]): int(row["id"]) for row in rows}
    for event in events:
        event.id = ids[event.grievance_id]
    return events


__all__ = ["DEFAULT_MATRIX", "EscalationStats", "Level", "Officers", "escalate_due", "matrix_of"]
