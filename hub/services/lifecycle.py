"""The redressal workflow after filing: every action through one engine.

``act`` finds the grievance as the actor may see it, asks the workflow table
(``hub.workflow``) whether the action is allowed from its state for the
actor's roles, checks the actor's scope and the action's own inputs, then
writes in one transaction: the grievance (a compare-and-set on ``version``,
so of two concurrent actions exactly one wins), the timeline event, its
attachments, the notifications and the connector messages. Subscribers hear
of the change after it commits.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from auth.actor import Actor
from hub import outbox, pubsub, workflow
from hub.enums import OPEN_STATUSES, Action, GrievanceStatus, Role, UserKind
from hub.errors import DomainError, FieldError, nul_problems
from hub.models import (
    Boundary,
    Department,
    Escalation,
    Grievance,
    GrievanceEvent,
    Office,
    TaxonomyHop,
    TaxonomyNode,
    User,
    fits,
)
from hub.runtime import Runtime
from hub.services import attachments, audit, escalation, jurisdiction, notifications, sla
from hub.services.grievances import audit_if_hidden, leaf_category, tracked_state, visible_to
from hub.settings import Settings

S = GrievanceStatus
CHANGED_TOPIC = escalation.CHANGED_TOPIC
NOTE_MAX = 2000
ATR_MIN = 10
ATR_MAX = 5000
REASON_MIN = 5
STANDARD_REASONS = Path(__file__).resolve().parent.parent / "data" / "closure_reasons.yaml"
# The state a grievance's events rebuild: each event's ``after`` holds what it changed.
TRACKED = (
    "status",
    "category",
    "department",
    "office",
    "assignee",
    "escalation_level",
    "escalated_to",
    "due_at",
    "transfers",
    "reopens",
    "appeal_level",
    "closure_reason",
    "rating",
    "version",
)


@dataclass(frozen=True)
class ActionRequest:
    action: Action
    registration_number: str
    expected_version: int | None = None
    note: str = ""  # a comment, or the reason for a rejection, reopening or appeal
    assignee_id: int | None = None  # ASSIGN, REASSIGN: the LME
    category_code: str | None = None  # TRANSFER: a category of the other department
    atr: str = ""  # RESOLVE: the Action Taken Report
    closure_reason: str = ""
    remarks: str = ""
    rating: int | None = None
    feedback: str = ""
    attachments: tuple[attachments.Incoming, ...] = ()


@dataclass(frozen=True)
class ClosureReason:
    code: str
    names: dict[str, str]

    def name(self, locale: str = "en") -> str:
        return self.names.get(locale) or self.names.get("en") or self.code


class ClosureReasonsError(ValueError):
    pass


@functools.cache
def _reasons_from(path: str) -> tuple[ClosureReason, ...]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, list) or not raw:
        raise ClosureReasonsError(f"{path}: must be a non-empty list of {{code, en, hi}}")
    reasons = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not str(item.get("code", "")).strip() or "en" not in item:
            raise ClosureReasonsError(f"{path}: item {index}: needs a code and an en name")
        names = {k: str(v) for k, v in item.items() if k != "code"}
        reasons.append(ClosureReason(str(item["code"]).strip(), names))
    codes = [r.code for r in reasons]
    if len(set(codes)) != len(codes):
        raise ClosureReasonsError(f"{path}: duplicate codes")
    return tuple(reasons)


def closure_reasons(settings: Settings) -> tuple[ClosureReason, ...]:
    return _reasons_from(settings.closure_reasons_file or str(STANDARD_REASONS))


def not_found(number: str) -> DomainError:
    return DomainError.one(
        "registrationNumber", "not_found", f"No grievance with registration number '{number}'."
    )


@dataclass
class Change:
    """What one action writes: field values, the target state, the event's note."""

    fields: dict[str, Any] = field(default_factory=dict)
    target: GrievanceStatus | None = None
    note: str = ""
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    purpose: str = "document"  # of attachments sent with the action
    restart_level: int | None = None  # the SLA restarts: escalation runs again from here

    def set(self, grievance: Grievance, name: str, value: Any, shown: Any = None) -> None:
        """Change a column, and record it on the timeline under its tracked name."""
        self.fields[name] = value
        key = name.removesuffix("_id")
        if key in TRACKED:
            self.before[key] = _shown(getattr(grievance, name))
            self.after[key] = _shown(value if shown is None else shown)


def _shown(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, GrievanceStatus):
        return value.value
    return value


@dataclass
class _Ctx:
    settings: Settings
    actor: Actor
    grievance: Grievance
    request: ActionRequest
    now: dt.datetime
    change: Change = field(default_factory=Change)

    @property
    def state(self) -> GrievanceStatus:
        return GrievanceStatus(self.grievance.status)


Planner = Callable[[_Ctx], Awaitable[None]]


def triage_scope(actor: Actor) -> Q:
    """The triage queue is what awaits a category within what the actor may see: statewide
    roles all of it, a department's GROs its best guesses, GROs of no department (a state
    triage cell) what the hub could not guess at all. Who may triage is the field's
    permission."""
    return visible_to(actor)


async def act(rt: Runtime, actor: Actor, request: ActionRequest) -> Grievance:
    """Take one workflow action; raise ``DomainError`` or ``workflow.IllegalAction``."""
    number = request.registration_number.strip()
    if "\x00" in number:
        raise not_found(number.replace("\x00", ""))
    problems = nul_problems(
        {
            "note": request.note,
            "categoryCode": request.category_code,
            "atr": request.atr,
            "closureReason": request.closure_reason,
            "remarks": request.remarks,
            "feedback": request.feedback,
        }
    )
    if problems:
        raise DomainError(problems)
    # what the actor may not see does not exist for them (the triage queue is within it)
    grievance = (
        await Grievance.filter(visible_to(actor), registration_number=number).first()
        if fits(Grievance, "registration_number", number)
        else None
    )
    if grievance is None:
        await audit_if_hidden(actor, number, f"{request.action.value} {number}")
        raise not_found(number)
    await escalation.attached(grievance)
    ctx = _Ctx(rt.settings, actor, grievance, request, dt.datetime.now(dt.UTC))
    try:
        target = await plan(ctx)
    except workflow.IllegalAction as refused:
        if refused.denies_the_actor:
            await audit.record(
                "permission.denied",
                actor=actor,
                subject=f"{request.action.value} {number}",
                detail={"reason": refused.reason},
            )
        raise
    stored = (
        await attachments.accept(rt.settings, list(request.attachments), ctx.change.purpose)
        if request.attachments
        else []
    )
    try:
        row, event = await _write(rt.settings, ctx, target, stored)
    except BaseException:
        await attachments.discard(rt.settings, stored)
        raise
    await rt.jobs.outbox_changed()
    await pubsub.announce(rt, row, event)
    return row


async def plan(ctx: _Ctx) -> GrievanceStatus:
    """Check everything and fill ``ctx.change``; nothing is written."""
    request, grievance = ctx.request, ctx.grievance
    if request.expected_version is not None and request.expected_version != grievance.version:
        raise _stale(grievance)
    target = workflow.check(request.action, ctx.state, ctx.actor.roles)
    assert target is not None
    _check_scope(ctx.actor, grievance, request.action)
    await PLANNERS[request.action](ctx)
    if ctx.change.target is not None:
        target = workflow.check(request.action, ctx.state, ctx.actor.roles, ctx.change.target)
        assert target is not None
    if request.attachments and len(request.attachments) > ctx.settings.max_attachments:
        raise DomainError.one(
            "attachments", "too_many", f"Attach at most {ctx.settings.max_attachments} files."
        )
    return target


def _stale(grievance: Grievance) -> DomainError:
    return DomainError.one(
        "expectedVersion",
        "stale",
        f"The grievance changed meanwhile (now version {grievance.version}); reload and retry.",
    )


def _check_scope(actor: Actor, grievance: Grievance, action: Action) -> None:
    """Beyond seeing a grievance: the officer acts only on their own office's or their own
    assignment, the citizen only on their own grievance."""
    if actor.has(Role.SYSTEM, Role.ADMIN) and action not in _CITIZEN_ONLY:
        return
    problem = ""
    if action in _CITIZEN_ONLY and grievance.citizen_id != actor.user_id:
        problem = "on someone else's grievance"
    elif action in _OPERATOR_OR_CITIZEN and not (
        grievance.citizen_id == actor.user_id
        or (actor.has(Role.OPERATOR) and grievance.filed_by_id == actor.user_id)
    ):
        problem = "on a grievance you did not file"
    elif action in _ASSIGNEE_ONLY and not (
        grievance.assignee_id == actor.user_id
        or (actor.has(Role.DEPARTMENT_SYSTEM) and actor.department_id == grievance.department_id)
    ):
        problem = "on a grievance not assigned to you"
    elif (
        action in _OFFICE_GRO
        and grievance.status != S.TRIAGE  # triage is scoped by its queue
        and not _in_office(actor, grievance)
    ):
        problem = "on a grievance of another office"
    if problem:
        state = GrievanceStatus(grievance.status)
        allowed = workflow.allowed_actions(state, actor.roles)
        raise workflow.IllegalAction(action, state, allowed, problem)


def _in_office(actor: Actor, grievance: Grievance) -> bool:
    if actor.is_statewide:
        return True
    if actor.department_id is None or actor.department_id != grievance.department_id:
        return False
    return actor.office_id is None or grievance.office_id in (None, actor.office_id)


_CITIZEN_ONLY = frozenset({Action.RATE, Action.APPEAL})
_OPERATOR_OR_CITIZEN = frozenset({Action.REOPEN})
_ASSIGNEE_ONLY = frozenset({Action.REQUEST_REASSIGN, Action.RESOLVE})
# CATEGORISE is scoped by the triage queue itself (a state triage cell has no department)
_OFFICE_GRO = frozenset({Action.ASSIGN, Action.REASSIGN, Action.TRANSFER, Action.REJECT})


def _note(ctx: _Ctx, required: bool, what: str = "note") -> str:
    text = ctx.request.note.strip()
    if required and len(text) < REASON_MIN:
        raise DomainError.one("note", "required", f"Give the {what} ({REASON_MIN}+ characters).")
    if len(text) > NOTE_MAX:
        raise DomainError.one("note", "too_long", f"Keep the {what} under {NOTE_MAX} characters.")
    if "\x00" in text:
        raise DomainError.one("note", "invalid", f"The {what} has a NUL byte.")
    return text


async def _assign(ctx: _Ctx) -> None:
    grievance, change = ctx.grievance, ctx.change
    if ctx.request.assignee_id is None:
        raise DomainError.one("assigneeId", "required", "Choose the LME to assign.")
    lme = await User.get_or_none(id=ctx.request.assignee_id, active=True)
    if (
        lme is None
        or lme.kind != UserKind.EMPLOYEE
        or Role.LME.value not in lme.roles
        or lme.department_id != grievance.department_id
    ):
        raise DomainError.one(
            "assigneeId", "not_an_lme", "Not an active LME of the grievance's department."
        )
    if lme.id == grievance.assignee_id and ctx.state == S.ASSIGNED:
        raise DomainError.one("assigneeId", "unchanged", "Already assigned to that officer.")
    change.set(grievance, "assignee_id", lme.id)
    change.note = _note(ctx, required=False) or f"assigned to {lme.name or f'#{lme.id}'}"


async def _request_reassign(ctx: _Ctx) -> None:
    ctx.change.note = _note(ctx, required=True, what="reason for reassignment")
    ctx.change.set(ctx.grievance, "assignee_id", None)


async def _transfer(ctx: _Ctx) -> None:
    grievance, change, settings = ctx.grievance, ctx.change, ctx.settings
    change.note = _note(ctx, required=True, what="reason for the transfer")
    if grievance.transfers >= settings.transfer_hop_limit:
        raise DomainError.one(
            "categoryCode",
            "hop_limit",
            f"This grievance was already transferred {grievance.transfers} times "
            f"(limit {settings.transfer_hop_limit}); resolve or reject it here.",
        )
    if not ctx.request.category_code:
        raise DomainError.one(
            "categoryCode", "required", "Choose the category in the other department."
        )
    category, problem = await leaf_category(ctx.request.category_code)
    if category is None:
        raise DomainError([problem] if problem else [])
    if category.department_id == grievance.department_id:
        raise DomainError.one(
            "categoryCode",
            "same_department",
            "That category is in this department: a transfer goes to another one.",
        )
    await _check_hops(grievance, category)
    await _move_to(ctx, category, ctx.now)
    change.set(grievance, "assignee_id", None)
    change.set(grievance, "transfers", grievance.transfers + 1)


async def _move_to(ctx: _Ctx, category: TaxonomyNode, clock_from: dt.datetime) -> None:
    """Put the grievance in ``category``, with the department and office that act on it
    where the grievance is, and an SLA clock for it counted from ``clock_from``."""
    grievance, change, settings = ctx.grievance, ctx.change, ctx.settings
    boundary = (
        await Boundary.get_or_none(id=grievance.boundary_id) if grievance.boundary_id else None
    )
    found = await jurisdiction.resolve(
        category.code, boundary.code if boundary else None, grievance.latitude, grievance.longitude
    )
    office = found.office
    change.set(grievance, "category_id", category.id, category.code)
    change.set(
        grievance, "department_id", found.department_id or category.department_id, found.department
    )
    change.set(
        grievance, "office_id", office.id if office else None, office.code if office else None
    )
    due = sla.due_at(settings, clock_from, category.sla_days or settings.default_sla_days)
    _restart_clock(ctx, due, started=clock_from)


async def _check_hops(grievance: Grievance, category: TaxonomyNode) -> None:
    """Where the taxonomy lists allowed movements for a category (CPGRAMS hops), only
    those are allowed."""
    if grievance.category_id is None:
        return
    current = await TaxonomyNode.get_or_none(id=grievance.category_id).only("id", "code")
    if current is None:
        return
    hops = await TaxonomyHop.filter(category_from=current.code, active=True).values_list(
        "category_to", "to_org"
    )
    if not hops:
        return
    target_department = await Department.get(id=category.department_id).only("id", "code")
    allowed = {code for pair in hops for code in pair}
    if category.code not in allowed and target_department.code not in allowed:
        shown = ", ".join(sorted({org for _, org in hops})[:10])
        raise DomainError.one(
            "categoryCode",
            "hop_not_allowed",
            f"Category {current.code} may only move to: {shown}.",
        )


def _restart_clock(
    ctx: _Ctx,
    due: dt.datetime,
    level: int = 0,
    escalated_to: int | None = None,
    started: dt.datetime | None = None,
) -> None:
    """A fresh SLA: a new due date, the escalation ladder from ``level``."""
    grievance, change = ctx.grievance, ctx.change
    change.set(grievance, "due_at", due)
    change.set(grievance, "escalation_level", level)
    change.set(grievance, "escalated_to_id", escalated_to)
    change.restart_level = level
    change.fields["answered_at"] = None
    change.fields["clock_started_at"] = started or ctx.now


async def _reject(ctx: _Ctx) -> None:
    ctx.change.note = _note(ctx, required=True, what="reason for rejection")
    _answered(ctx)


def _answered(ctx: _Ctx) -> None:
    ctx.change.fields["answered_at"] = ctx.now
    ctx.change.fields["escalate_at"] = None


async def _forward(ctx: _Ctx) -> None:
    ctx.change.note = _note(ctx, required=False) or "forwarded to the department's system"


async def _resolve(ctx: _Ctx) -> None:
    request, change = ctx.request, ctx.change
    errors: list[FieldError] = []
    atr = request.atr.strip()
    if len(atr) < ATR_MIN:
        errors.append(
            FieldError("atr", "required", f"Write the Action Taken Report ({ATR_MIN}+ characters).")
        )
    elif len(atr) > ATR_MAX:
        errors.append(FieldError("atr", "too_long", f"Keep the ATR under {ATR_MAX} characters."))
    codes = [r.code for r in closure_reasons(ctx.settings)]
    if request.closure_reason not in codes:
        errors.append(
            FieldError(
                "closureReason",
                "unknown" if request.closure_reason else "required",
                f"Choose a closure reason: {', '.join(codes)}.",
            )
        )
    if len(request.remarks) > NOTE_MAX:
        errors.append(FieldError("remarks", "too_long", f"Keep remarks under {NOTE_MAX}."))
    if errors:
        raise DomainError(errors)
    change.set(ctx.grievance, "closure_reason", request.closure_reason)
    change.fields["resolution"] = {
        "atr": atr,
        "closure_reason": request.closure_reason,
        "remarks": request.remarks.strip(),
        "by": ctx.actor.user_id,
        "role": ctx.actor.role.value,
        "at": ctx.now.isoformat(),
    }
    change.after["resolution"] = change.fields["resolution"]
    change.note = atr
    change.purpose = "evidence"
    _answered(ctx)


def _window_open(since: dt.datetime | None, days: int, now: dt.datetime) -> bool:
    return since is not None and now <= since + dt.timedelta(days=days)


async def _reopen(ctx: _Ctx) -> None:
    grievance, settings = ctx.grievance, ctx.settings
    if not _window_open(grievance.answered_at, settings.reopen_window_days, ctx.now):
        raise DomainError.one(
            "registrationNumber",
            "window_closed",
            f"A grievance can be reopened within {settings.reopen_window_days} days of its "
            "answer; that time has passed. File a new grievance instead.",
        )
    ctx.change.note = _note(ctx, required=True, what="reason for reopening")
    days = await _sla_days(grievance, settings)
    ctx.change.set(grievance, "assignee_id", None)
    ctx.change.set(grievance, "reopens", grievance.reopens + 1)
    ctx.change.set(grievance, "closure_reason", "")
    _restart_clock(ctx, sla.due_at(settings, ctx.now, days))


async def _sla_days(grievance: Grievance, settings: Settings) -> int:
    if grievance.category_id is not None:
        node = await TaxonomyNode.get_or_none(id=grievance.category_id).only("id", "sla_days")
        if node is not None and node.sla_days:
            return node.sla_days
    return settings.default_sla_days


async def _rate(ctx: _Ctx) -> None:
    rating, feedback = ctx.request.rating, ctx.request.feedback.strip()
    if rating is None or not 1 <= rating <= 5:
        raise DomainError.one("rating", "out_of_range", "Rate from 1 (poor) to 5 (excellent).")
    if len(feedback) > NOTE_MAX:
        raise DomainError.one("feedback", "too_long", f"Keep feedback under {NOTE_MAX}.")
    ctx.change.set(ctx.grievance, "rating", rating)
    ctx.change.fields["feedback"] = feedback
    ctx.change.fields["closed_at"] = ctx.now
    ctx.change.note = feedback or f"rated {rating}/5"


async def _auto_close(ctx: _Ctx) -> None:
    grievance, settings = ctx.grievance, ctx.settings
    if _window_open(grievance.answered_at, settings.auto_close_days, ctx.now):
        raise DomainError.one(
            "registrationNumber", "too_early", "The citizen may still rate this grievance."
        )
    ctx.change.fields["closed_at"] = ctx.now
    ctx.change.note = f"not rated within {settings.auto_close_days} days"


async def _appeal(ctx: _Ctx) -> None:
    grievance, settings = ctx.grievance, ctx.settings
    if grievance.appeal_level > 0:
        raise DomainError.one("registrationNumber", "already_appealed", "Already appealed once.")
    if grievance.rating is None or grievance.rating > settings.appeal_rating_max:
        raise DomainError.one(
            "registrationNumber",
            "not_poorly_rated",
            f"An appeal follows a rating of {settings.appeal_rating_max} or less.",
        )
    if not _window_open(grievance.closed_at, settings.appeal_window_days, ctx.now):
        raise DomainError.one(
            "registrationNumber",
            "window_closed",
            f"An appeal must be made within {settings.appeal_window_days} days of closing.",
        )
    ctx.change.note = _note(ctx, required=True, what="grounds of appeal")
    levels = await escalation.matrix_for(grievance.department_id, grievance.category_id)
    appellate = next(
        (i for i, level in enumerate(levels) if level.role == Role.NODAL_OFFICER),
        len(levels) - 1,
    )
    officers = await escalation.Officers.load([grievance.department_id or 0])
    officer = officers.at(grievance, levels[appellate].role)
    ctx.change.set(grievance, "appeal_level", 1)
    ctx.change.set(grievance, "assignee_id", None)
    ctx.change.set(grievance, "closure_reason", "")
    due = sla.due_at(settings, ctx.now, settings.default_sla_days)
    _restart_clock(ctx, due, appellate, officer)


async def _escalate(ctx: _Ctx) -> None:
    grievance = ctx.grievance
    levels = await escalation.matrix_for(grievance.department_id, grievance.category_id)
    officers = await escalation.Officers.load([grievance.department_id or 0])
    step = escalation.next_step(grievance, levels, officers, ctx.now)
    if step is None:
        raise DomainError.one(
            "registrationNumber", "at_top", "Already at the highest escalation level."
        )
    reason = _note(ctx, required=True, what="reason for escalating")
    ctx.change.set(grievance, "escalation_level", step.level)
    ctx.change.set(grievance, "escalated_to_id", step.officer_id)
    ctx.change.fields["escalate_at"] = step.escalate_at
    ctx.change.note = escalation.step_note(step, reason)


async def _comment(ctx: _Ctx) -> None:
    text = _note(ctx, required=False)
    if not text and not ctx.request.attachments:
        raise DomainError.one("note", "required", "Write a comment or attach a file.")
    ctx.change.note = text
    ctx.change.purpose = "photo" if ctx.actor.has(Role.CITIZEN) else "document"


async def _categorise(ctx: _Ctx) -> None:
    category, problem = await leaf_category(ctx.request.category_code or "")
    if category is None:
        raise DomainError([problem] if problem else [])
    # the citizen filed when they filed: triage time counts against the SLA
    await _move_to(ctx, category, ctx.grievance.created_at)
    ctx.change.note = _note(ctx, required=False)


async def _not_by_hand(ctx: _Ctx) -> None:
    raise DomainError.one("action", "not_here", f"{ctx.request.action.value} is not taken here.")


PLANNERS: dict[Action, Planner] = {
    Action.FILE: _not_by_hand,
    Action.ROUTE: _not_by_hand,
    Action.CATEGORISE: _categorise,
    Action.ASSIGN: _assign,
    Action.REASSIGN: _assign,
    Action.REQUEST_REASSIGN: _request_reassign,
    Action.TRANSFER: _transfer,
    Action.REJECT: _reject,
    Action.FORWARD: _forward,
    Action.RESOLVE: _resolve,
    Action.REOPEN: _reopen,
    Action.RATE: _rate,
    Action.AUTO_CLOSE: _auto_close,
    Action.APPEAL: _appeal,
    Action.ESCALATE: _escalate,
    Action.COMMENT: _comment,
}


async def _write(
    settings: Settings, ctx: _Ctx, target: GrievanceStatus, stored: list[attachments.Stored]
) -> tuple[Grievance, GrievanceEvent]:
    grievance, change = ctx.grievance, ctx.change
    values = dict(change.fields)
    if change.restart_level is not None:
        levels = await escalation.matrix_for(  # of where the grievance now is
            values.get("department_id", grievance.department_id),
            values.get("category_id", grievance.category_id),
        )
        values["escalate_at"] = escalation.deadline(
            levels, change.restart_level, ctx.now, values.get("due_at", grievance.due_at)
        )
    if target not in OPEN_STATUSES:
        values["escalate_at"] = None
    # the ladder's columns live in its own row (a due date in both: the officer's inbox order)
    ladder = {_LADDER[name]: values.pop(name) for name in list(values) if name in _LADDER}
    if "due_at" in values:
        ladder["due_at"] = values["due_at"]
    version = grievance.version + 1
    if target != ctx.state:
        change.before["status"] = ctx.state.value
        change.after["status"] = target.value
    change.before["version"] = grievance.version
    change.after["version"] = version
    async with in_transaction():
        # a compare-and-set on the level too: an escalation step taken meanwhile is not undone
        if ladder and not await Escalation.filter(
            grievance_id=grievance.id, level=grievance.escalation_level
        ).update(**ladder):
            raise _stale(await Grievance.get(id=grievance.id))
        updated = await Grievance.filter(id=grievance.id, version=grievance.version).update(
            **values, status=target, version=version, updated_at=ctx.now
        )
        if not updated:
            fresh = await Grievance.get(id=grievance.id)
            raise _stale(fresh)
        row = await escalation.attached(await Grievance.get(id=grievance.id))
        event = await GrievanceEvent.create(
            grievance_id=row.id,
            action=ctx.request.action,
            actor_id=ctx.actor.user_id,
            actor_role=ctx.actor.role,
            actor_office_id=ctx.actor.office_id,
            from_status=ctx.state,
            to_status=target,
            before=change.before,
            after=change.after,
            note=change.note,
        )
        await attachments.record(stored, row.id, event.id, ctx.actor.user_id)
        await notifications.notify_event(settings, row, event)
        await outbox.enqueue(
            row,
            CHANGED_TOPIC,
            {
                "registration_number": row.registration_number,
                "action": ctx.request.action.value,
                "event_id": event.id,
                **change.after,
            },
            key=f"{row.registration_number}:{event.id}",
            connectors=settings.connectors,
        )
    return row, event


async def state_of(grievance: Grievance) -> dict[str, Any]:
    """The tracked state of a row, in the timeline's terms (codes for places)."""
    await escalation.attached(grievance)

    async def code(model: Any, row_id: int | None) -> str | None:
        if row_id is None:
            return None
        found = await model.get_or_none(id=row_id).only("id", "code")
        return str(found.code) if found else None

    return tracked_state(
        grievance,
        await code(TaxonomyNode, grievance.category_id),
        await code(Department, grievance.department_id),
        await code(Office, grievance.office_id),
    )


# a grievance's columns that live in its Escalation row, by the row's names
_LADDER = {
    "escalation_level": "level",
    "escalated_to_id": "officer_id",
    "escalate_at": "escalate_at",
}


def replay(events: list[GrievanceEvent]) -> dict[str, Any]:
    """The tracked state rebuilt from a timeline: each event's ``after`` over the last."""
    state: dict[str, Any] = {}
    for event in events:
        state.update({k: v for k, v in event.after.items() if k in TRACKED})
    return state


def allowed_actions(actor: Actor, grievance: Grievance) -> list[Action]:
    """What this actor could try next: the table's answer narrowed by scope."""
    state = GrievanceStatus(grievance.status)
    result: list[Action] = []
    for action in workflow.allowed_actions(state, actor.roles):
        if action in (Action.FILE, Action.ROUTE, Action.AUTO_CLOSE, Action.FORWARD):
            continue
        try:
            _check_scope(actor, grievance, action)
        except workflow.IllegalAction:
            continue
        result.append(action)
    return result


async def auto_close_due(rt: Runtime, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Close answered grievances the citizen did not rate within the window (AUTO_CLOSE by
    the system, on the timeline like any action). Returns how many closed."""
    moment = now or dt.datetime.now(dt.UTC)
    cutoff = moment - dt.timedelta(days=rt.settings.auto_close_days)
    due = (
        await Grievance.filter(status__in=[S.RESOLVED, S.REJECTED], answered_at__lte=cutoff)
        .order_by("answered_at", "id")
        .limit(limit)
        .values_list("registration_number", flat=True)
    )
    closed = 0
    system = Actor.internal()
    for number in due:
        try:
            await act(rt, system, ActionRequest(Action.AUTO_CLOSE, str(number)))
            closed += 1
        except (DomainError, workflow.IllegalAction):
            continue  # the citizen acted meanwhile
    return closed
