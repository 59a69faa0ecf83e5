"""Escalation: the matrix per department, who answers at each level, and the job.

A department's matrix (from its rule file; the hub's default otherwise) lists
the levels LME -> GRO -> nodal officer -> HoD with the hours a grievance may
stay at each; a level without hours lasts until the SLA due date. A category
may override the matrix for its subtree.

Where a grievance stands (level, answerable officer, when the level's time runs
out) is its ``Escalation`` row, apart from the grievance: the job moves a million
of them in a pass without rewriting the wide grievance row and its dozen indexes,
and without locking the rows officers act on. A step changes no state a client
acts on, so the job leaves the grievance's ``version`` alone; an action that
restarts or ends the clock is a compare-and-set on the level, so it cannot
silently undo a step taken meanwhile.

The job escalates every open grievance whose ``escalate_at`` has passed, one
level at a time, in batches. Each step is a compare-and-set on the level, with
the batch claimed ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers
running at once escalate each grievance exactly once per level.

On PostgreSQL a pass takes the due grievances in rounds: the ids of the longest
overdue (up to ``ROUND`` of them), then claims them in batches in id order. Every
row a step touches (the grievance it checks, the ladder row, the timeline's and the
outbox's indexes on the grievance) lies in id order, so a pass sweeps each page once
instead of visiting pages at random in ``escalate_at`` order; on a catch-up over a
million grievances that is a quarter less WAL (fewer full-page images after each
checkpoint) and roughly a tenth less time.

The job reads a million rows in a run, so it reads them as plain rows, not ORM
objects. On PostgreSQL one statement per batch writes the steps, their timeline
events and the message to every connected system, and a few batches run at once
(the database works on one while the job prepares the next); SQLite takes the
same steps one row at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import gc
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from tortoise import connections
from tortoise.transactions import in_transaction

from hub import outbox
from hub.enums import OPEN_STATUSES, Action, Role, UserKind
from hub.models import Department, Escalation, Grievance, GrievanceEvent, TaxonomyNode, User
from hub.outbox import OutboxRow, write_new
from hub.pubsub import Broker, Message, grievance_channel, update_message
from hub.services import notifications
from hub.services.notifications import GrievanceView
from hub.settings import Settings

logger = logging.getLogger("hub.escalation")

BATCH = 5000
# due grievances a PostgreSQL pass takes per round (their ids, sorted, held in memory)
ROUND = 1_000_000
# batches in flight at once on PostgreSQL: the database writes one while Python prepares
# the next (SKIP LOCKED keeps their claims apart); SQLite has one writer and runs one
WORKERS = 2
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


def attach(grievance: Grievance, ladder: Escalation) -> Grievance:
    """Give a loaded grievance its place on the ladder (``Grievance.escalation_level`` ...)."""
    grievance._ladder = ladder
    return grievance


async def attached(grievance: Grievance) -> Grievance:
    """The grievance with its ladder row read now."""
    return attach(grievance, await Escalation.get(grievance_id=grievance.id))


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

    def at(self, grievance: GrievanceView, role: Role) -> int | None:
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
    grievance: GrievanceView, levels: tuple[Level, ...], officers: Officers, now: dt.datetime
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


def step_record(step: Step) -> dict[str, Any]:
    """What a step changes, in the timeline's terms (the grievance's version stays)."""
    return {"escalation_level": step.level, "escalated_to": step.officer_id}


def step_note(step: Step, reason: str) -> str:
    return f"{reason}: escalated to level {step.level} ({step.role.value})"


JOB_REASON = "SLA level time passed"


@dataclass
class EscalationStats:
    escalated: int = 0
    at_top: int = 0
    batches: int = 0
    by_level: dict[int, int] = field(default_factory=dict)


# --- the claimed rows and the events written for them -----------------------------------

# what a step, its notifications and its update need of a grievance, and nothing else
_COLUMNS = (
    "g.id",
    "g.registration_number",
    "g.status",
    "e.level",
    "e.officer_id",
    "g.assignee_id",
    "g.office_id",
    "g.department_id",
    "g.category_id",
    "g.citizen_id",
    "g.due_at",
    "g.version",
    "g.closure_reason",
    "g.rating",
)
# the same, as the ORM reads them from the ladder row (SQLite)
_ORM_COLUMNS = tuple(
    {"e.level": "level", "e.officer_id": "officer_id"}.get(c, "grievance__" + c[2:])
    for c in _COLUMNS
)


@dataclass(slots=True)
class Due:
    """A claimed grievance as plain data; after its step, the row as written."""

    id: int
    registration_number: str
    status: str
    escalation_level: int
    escalated_to_id: int | None
    assignee_id: int | None
    office_id: int | None
    department_id: int | None
    category_id: int | None
    citizen_id: int
    due_at: dt.datetime | None
    version: int
    closure_reason: str
    rating: int | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Due:
        return cls(*(row[name] for name in _ORM_COLUMNS))


@dataclass(slots=True)
class StepEvent:
    """The ESCALATE event written for one step, as notifications and subscribers read it."""

    id: int
    grievance_id: int
    from_status: str
    to_status: str
    before: dict[str, Any]
    after: dict[str, Any]
    note: str
    created_at: dt.datetime
    action: str = Action.ESCALATE.value
    actor_id: int | None = None
    actor_role: str = Role.SYSTEM.value


# claims a batch: (connection, now) -> the claimed rows, locked
_Claim = Callable[[Any, dt.datetime], Awaitable[list["Due"]]]


@dataclass(slots=True)
class _Move:
    grievance: Due
    step: Step
    note: str


# --- the job ------------------------------------------------------------------------------


async def escalate_due(
    settings: Settings,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    broker: Broker | None = None,
    workers: int = WORKERS,
) -> EscalationStats:
    """Escalate every open grievance whose level's time has run out, once per level.

    Like any action, each step is a timeline event, notifications, a message to every
    connected system and (after the commit) an update to the grievance's subscribers.
    The citizen hears of each step; an officer who receives several steps of one batch
    hears of them in one message (``notifications.notify_events``, ``digest``)."""
    moment = now or dt.datetime.now(dt.UTC)
    stats = EscalationStats()
    officers = await Officers.load()
    postgres = connections.get("default").capabilities.dialect == "postgres"
    job = _Job(settings, moment, max(1, batch), officers, _Matrices(), stats, broker, postgres)
    with _fewer_collections():
        if postgres:
            await job.sweep(max(1, workers))
        else:
            next_due = functools.partial(_claim_orm, batch=job.batch)
            await job.work(itertools.repeat(next_due))  # until a claim finds none
    if stats.escalated:
        logger.info("escalated %s grievances in %s batches", stats.escalated, stats.batches)
    return stats


# A pass allocates millions of short-lived objects that form no cycles. With the collector's
# default thresholds its full collections ran a dozen times per 100,000 steps, freed next to
# nothing and took a fifth of the pass's CPU; while any pass runs in the process, the
# youngest generation is collected after this many allocations instead.
PASS_GC_THRESHOLD = 50_000
_passes = 0
_saved_threshold: tuple[int, int, int] | None = None


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise gen0's threshold for the running passes; the last one out restores it."""
    global _passes, _saved_threshold
    if _passes == 0:
        _saved_threshold = gc.get_threshold()
        gc.set_threshold(max(PASS_GC_THRESHOLD, _saved_threshold[0]), *_saved_threshold[1:])
    _passes += 1
    try:
        yield
    finally:
        _passes -= 1
        if _passes == 0 and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
            _saved_threshold = None


class _Matrices:
    """Per-run cache of the matrix for each (department, category) met."""

    def __init__(self) -> None:
        self._by_category: dict[tuple[int, int | None], tuple[Level, ...]] = {}

    def known(self, department_id: int | None, category_id: int | None) -> tuple[Level, ...] | None:
        return self._by_category.get((department_id or 0, category_id))

    async def of(self, department_id: int | None, category_id: int | None) -> tuple[Level, ...]:
        found = self.known(department_id, category_id)
        if found is None:
            found = await matrix_for(department_id, category_id)
            self._by_category[(department_id or 0, category_id)] = found
        return found


@dataclass
class _Job:
    settings: Settings
    now: dt.datetime
    batch: int
    officers: Officers
    matrices: _Matrices
    stats: EscalationStats
    broker: Broker | None
    postgres: bool
    _notes: dict[tuple[int, Role], str] = field(default_factory=dict)

    async def sweep(self, workers: int) -> None:
        """PostgreSQL: round after round of due ids, each claimed in batches in id order,
        ``workers`` batches at once, until none are due or a round moves none (those left
        are held by other passes). A step to a level without time is due in the next round."""
        while True:
            _, rows = await connections.get("default").execute_query(
                _PG_DUE, [self.now, _OPEN, ROUND]
            )
            ids: list[int] = (rows[0][0] if rows else None) or []
            if not ids:
                return
            before = (self.stats.escalated, self.stats.at_top)
            claims = (
                functools.partial(_claim_pg, ids=ids[start : start + self.batch])
                for start in range(0, len(ids), self.batch)
            )
            await asyncio.gather(*(self.work(claims) for _ in range(workers)))
            if (self.stats.escalated, self.stats.at_top) == before:
                return

    async def work(self, claims: Iterator[_Claim]) -> None:
        """Take claims from the shared iterator until it runs out; on SQLite, where every
        claim is "the next due rows", until one finds none."""
        for claim in claims:
            claimed, written = await self._batch(claim)
            if claimed == 0:
                if self.postgres:
                    continue  # a batch of ids another pass holds or has moved
                return
            self.stats.batches += 1
            if self.broker is not None and written:
                await _publish(self.broker, written)

    async def _batch(self, claim: _Claim) -> tuple[int, list[tuple[Due, StepEvent]]]:
        async with in_transaction() as conn:
            rows = await claim(conn, self.now)
            if not rows:
                return 0, []
            moves, tops = await self._plan(rows)
            if tops:  # the top level: nothing above it, stop looking
                await (
                    Escalation.filter(grievance_id__in=tops).using_db(conn).update(escalate_at=None)
                )
                self.stats.at_top += len(tops)
            if not moves:
                return len(rows), []
            write = _write_pg if self.postgres else _write_orm
            pairs = await write(conn, moves, self.now, self.settings.connectors)
            for grievance, _ in pairs:
                level = grievance.escalation_level
                self.stats.by_level[level] = self.stats.by_level.get(level, 0) + 1
            # the events are this transaction's own: their messages' keys are new; an officer
            # with several of this batch's escalations gets one message listing them
            await notifications.notify_events(self.settings, pairs, new_events=True, digest=True)
            self.stats.escalated += len(pairs)
            return len(rows), pairs

    async def _plan(self, rows: list[Due]) -> tuple[list[_Move], list[int]]:
        moves: list[_Move] = []
        tops: list[int] = []
        for grievance in rows:
            levels = self.matrices.known(grievance.department_id, grievance.category_id)
            if levels is None:  # a (department, category) first met in this run
                levels = await self.matrices.of(grievance.department_id, grievance.category_id)
            step = next_step(grievance, levels, self.officers, self.now)
            if step is None:
                tops.append(grievance.id)
                continue
            note = self._notes.get((step.level, step.role))
            if note is None:  # the same words for every step to this level and role
                note = self._notes[(step.level, step.role)] = step_note(step, JOB_REASON)
            moves.append(_Move(grievance, step, note))
        return moves, tops


async def _publish(broker: Broker, written: list[tuple[Due, StepEvent]]) -> None:
    """After the commit: one update per grievance, pipelined by the broker."""
    messages: list[tuple[str, Message]] = [
        # update_message reads the registration number, status, version, action and time:
        # the plain row and event carry the same attributes as the models
        (
            grievance_channel(grievance.registration_number),
            update_message(cast(Grievance, grievance), cast(GrievanceEvent, event)),
        )
        for grievance, event in written
    ]
    await broker.publish_many(messages)


# --- PostgreSQL: claim as tuples, write steps, events and connector messages at once -------

# a round: the longest overdue (through the escalate_at index), as one array in id order
_PG_DUE = (
    "SELECT array_agg(id ORDER BY id) FROM (SELECT e.grievance_id AS id"
    " FROM grievance_escalation AS e JOIN grievance AS g ON g.id = e.grievance_id"
    " WHERE e.escalate_at <= $1 AND g.status = ANY($2::varchar[])"
    " ORDER BY e.escalate_at LIMIT $3) AS due"
)
# a batch of a round, rechecked under the lock: another pass may have moved a row since
_PG_CLAIM = (  # constant SQL; the values are parameters
    f"SELECT {', '.join(_COLUMNS)} FROM grievance_escalation AS e"  # noqa: S608
    " JOIN grievance AS g ON g.id = e.grievance_id"
    " WHERE e.grievance_id = ANY($1::int[]) AND e.escalate_at <= $2"
    " AND g.status = ANY($3::varchar[])"
    " ORDER BY e.grievance_id FOR UPDATE OF e SKIP LOCKED"
)
_OPEN = sorted(str(status) for status in OPEN_STATUSES)


async def _claim_pg(conn: Any, now: dt.datetime, *, ids: list[int]) -> list[Due]:
    _, rows = await conn.execute_query(_PG_CLAIM, [ids, now, _OPEN])
    return [Due(*row) for row in rows]


# The compare-and-set on the ladder row, its timeline events (before and after built by the
# database) and one grievance.changed message per connector (as hub.services.lifecycle writes
# it), in one statement. ``before`` holds the values read under the claim's row lock; the
# grievance's number and status come with the step, as read then. Each event's id is drawn
# first (from the id column's own sequence), so the messages are built from the moved rows:
# joining the events back to them made the planner loop over both.
_PG_STEPS = (  # constant SQL; the values are parameters
    "WITH v AS (SELECT * FROM unnest($1::int[], $2::int[], $3::int[], $4::int[], $5::int[],"  # noqa: S608
    " $6::timestamptz[], $7::text[], $8::text[], $9::text[]) AS v(id, old_level, old_officer,"
    " level, officer, at, note, number, status)),"
    " moved AS (UPDATE grievance_escalation AS e SET level = v.level, officer_id = v.officer,"
    " escalate_at = v.at FROM v WHERE e.grievance_id = ANY($1::int[]) AND e.grievance_id = v.id"
    " AND e.level = v.old_level"
    " RETURNING v.id, v.number, v.status, v.old_level, v.old_officer, v.note,"
    " nextval('grievance_event_id_seq') AS event_id,"
    " jsonb_build_object('escalation_level', v.level, 'escalated_to', v.officer) AS after),"
    " events AS (INSERT INTO grievance_event (id, grievance_id, action, actor_id, actor_role,"
    " actor_office_id, from_status, to_status, before, after, note, created_at)"
    " SELECT m.event_id, m.id, $11, NULL, $12, NULL, m.status, m.status,"
    " jsonb_build_object('escalation_level', m.old_level, 'escalated_to', m.old_officer),"
    " m.after, m.note, $10 FROM moved AS m),"
    " sent AS ("
    + outbox.pg_insert_from(
        "SELECT m.id, c.name, $13, jsonb_build_object('registration_number',"
        " m.number, 'action', $11::text, 'event_id', m.event_id) || m.after,"
        " m.number || ':' || m.event_id || ':' || c.name, $10::timestamptz"
        " FROM moved AS m CROSS JOIN unnest($14::text[]) AS c(name)",
        "$10",
        new_keys=True,  # each key carries the id of an event this statement writes
    )
    + ") SELECT id, event_id FROM moved"
)


async def _write_pg(
    conn: Any, moves: list[_Move], now: dt.datetime, connectors: Sequence[str]
) -> list[tuple[Due, StepEvent]]:
    _, rows = await conn.execute_query(
        _PG_STEPS,
        [
            [m.grievance.id for m in moves],
            [m.grievance.escalation_level for m in moves],
            [m.grievance.escalated_to_id for m in moves],
            [m.step.level for m in moves],
            [m.step.officer_id for m in moves],
            [m.step.escalate_at for m in moves],
            [m.note for m in moves],
            [m.grievance.registration_number for m in moves],
            [m.grievance.status for m in moves],
            now,
            Action.ESCALATE.value,
            Role.SYSTEM.value,
            CHANGED_TOPIC,
            list(connectors),
        ],
    )
    events = {grievance_id: event_id for grievance_id, event_id in rows}
    return [_moved(m, events[m.grievance.id], now) for m in moves if m.grievance.id in events]


def _before(grievance: Due) -> dict[str, Any]:
    """What an ESCALATE event records as before the step."""
    return {
        "escalation_level": grievance.escalation_level,
        "escalated_to": grievance.escalated_to_id,
    }


def _moved(move: _Move, event_id: int, now: dt.datetime) -> tuple[Due, StepEvent]:
    """The row and its event as written: ``move.grievance`` becomes the row after the step."""
    grievance, step = move.grievance, move.step
    event = StepEvent(
        id=event_id,
        grievance_id=grievance.id,
        from_status=grievance.status,
        to_status=grievance.status,
        before=_before(grievance),
        after=step_record(step),
        note=move.note,
        created_at=now,
    )
    grievance.escalation_level = step.level
    grievance.escalated_to_id = step.officer_id
    return grievance, event


# --- SQLite (and any other database): the same steps, one row at a time -------------------


async def _claim_orm(conn: Any, now: dt.datetime, *, batch: int) -> list[Due]:
    rows = (
        await Escalation.filter(escalate_at__lte=now, grievance__status__in=list(OPEN_STATUSES))
        .order_by("escalate_at", "grievance_id")
        .limit(batch)
        .using_db(conn)
        .values(*_ORM_COLUMNS)
    )
    return [Due.of(row) for row in rows]


async def _write_orm(
    conn: Any, moves: list[_Move], now: dt.datetime, connectors: Sequence[str]
) -> list[tuple[Due, StepEvent]]:
    pairs: list[tuple[Due, StepEvent]] = []
    for move in moves:
        grievance, step = move.grievance, move.step
        changed = (
            await Escalation.filter(grievance_id=grievance.id, level=grievance.escalation_level)
            .using_db(conn)
            .update(level=step.level, officer_id=step.officer_id, escalate_at=step.escalate_at)
        )
        if not changed:
            continue
        saved = GrievanceEvent(
            grievance_id=grievance.id,
            action=Action.ESCALATE,
            actor_id=None,
            actor_role=Role.SYSTEM,
            from_status=grievance.status,
            to_status=grievance.status,
            before=_before(grievance),
            after=step_record(step),
            note=move.note,
            created_at=now,
        )
        await saved.save(using_db=conn)
        pairs.append(_moved(move, saved.id, now))
    await write_new(_connector_rows(connectors, pairs, now))
    return pairs


def _connector_rows(
    connectors: Sequence[str], pairs: list[tuple[Due, StepEvent]], now: dt.datetime
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
        for name in connectors
    ]


__all__ = [
    "DEFAULT_MATRIX",
    "EscalationStats",
    "Level",
    "Officers",
    "escalate_due",
    "matrix_of",
]
