"""The redressal workflow, as its actors live it: a citizen files, a GRO assigns, an LME
resolves with an ATR, the citizen rates, reopens or appeals; the clock escalates what
nobody touches; attackers and the careless are refused and change nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import random
import re
from typing import Any

import asyncpg
import pytest
from tortoise import connections

from auth.actor import Actor
from hub import pubsub
from hub.enums import Action, Channel, GrievanceStatus, UserKind
from hub.errors import DomainError
from hub.models import Department, Escalation, Grievance, GrievanceEvent, OutboxMessage, User
from hub.runtime import Runtime
from hub.services import escalation, lifecycle, sla, tracking
from hub.services.grievances import FilingData, file_grievance
from hub.services.users import actor_for
from hub.workflow import IllegalAction
from tests.conftest import People, Staff

S = GrievanceStatus
GARBAGE = "Garbage has not been collected from our lane for a week."


async def file(rt: Runtime, citizen: User, category: str = "UDD-ULB-SWM-GARB-DOOR") -> Grievance:
    data = FilingData(description=GARBAGE, channel=Channel.WEB, category_code=category)
    return await file_grievance(rt, actor_for(citizen), data)


async def act(rt: Runtime, who: User | Actor, action: Action, number: str, **kw: Any) -> Grievance:
    actor = who if isinstance(who, Actor) else actor_for(who)
    return await lifecycle.act(rt, actor, lifecycle.ActionRequest(action, number, **kw))


async def reloaded(grievance_id: int) -> Grievance:
    """The row as stored now, with its place on the escalation ladder."""
    return await escalation.attached(await Grievance.get(id=grievance_id))


async def breach(ids: list[int], when: dt.datetime) -> None:
    """The SLA level's time of these grievances ran out at ``when``."""
    await Escalation.filter(grievance_id__in=ids).update(escalate_at=when)


async def timeline(grievance: Grievance) -> list[GrievanceEvent]:
    return await GrievanceEvent.filter(grievance_id=grievance.id).order_by("id")


async def test_filed_assigned_resolved_rated_closed(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    assert filed.status == S.PENDING_ASSIGNMENT
    assert filed.due_at is not None and filed.escalate_at == filed.due_at
    number = filed.registration_number

    assigned = await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    assert (assigned.status, assigned.assignee_id, assigned.version) == (
        S.ASSIGNED,
        staff.lme.id,
        2,
    )

    resolved = await act(
        rt,
        staff.lme,
        Action.RESOLVE,
        number,
        atr="Cleared the lane and added it to the daily collection route.",
        closure_reason="REDRESSED",
        remarks="Route 14",
        expected_version=2,
    )
    assert resolved.status == S.RESOLVED
    assert resolved.resolution["closure_reason"] == "REDRESSED"
    assert resolved.answered_at is not None and resolved.escalate_at is None

    closed = await act(rt, people.asha, Action.RATE, number, rating=5, feedback="Thank you")
    assert (closed.status, closed.rating) == (S.CLOSED, 5)

    events = await timeline(closed)
    assert [e.action for e in events] == ["FILE", "ASSIGN", "RESOLVE", "RATE"]
    assert [e.actor_role for e in events] == ["citizen", "gro", "lme", "citizen"]
    assert events[1].before["assignee"] is None and events[1].after["assignee"] == staff.lme.id
    assert events[2].note.startswith("Cleared the lane")


async def test_an_illegal_action_names_the_state_and_what_is_allowed(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    with pytest.raises(IllegalAction) as wrong_state:
        await act(rt, staff.lme, Action.RESOLVE, filed.registration_number, atr="x" * 20)
    assert wrong_state.value.state == S.PENDING_ASSIGNMENT
    assert "state PENDING_ASSIGNMENT" in str(wrong_state.value)
    with pytest.raises(IllegalAction) as wrong_role:
        await act(rt, people.asha, Action.ASSIGN, filed.registration_number, assignee_id=1)
    assert Action.COMMENT in wrong_role.value.allowed
    assert Action.ASSIGN not in wrong_role.value.allowed
    await _unchanged(filed)


async def _unchanged(before: Grievance) -> None:
    now = await Grievance.get(id=before.id)
    assert (now.status, now.version) == (before.status, before.version)
    assert await GrievanceEvent.filter(grievance_id=before.id).count() == 1


async def test_wrong_scope_is_refused_and_others_grievances_look_missing(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    number = filed.registration_number
    with pytest.raises(DomainError) as missing:  # another citizen: it does not exist for him
        await act(rt, people.ravi, Action.COMMENT, number, note="Is this mine?")
    assert missing.value.errors[0].code == "not_found"
    with pytest.raises(DomainError) as other_department:  # WSD's GRO cannot see UDD's
        await act(rt, people.wsd_gro, Action.REJECT, number, note="Not ours at all")
    assert other_department.value.errors[0].code == "not_found"
    await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    with pytest.raises(IllegalAction, match="not assigned to you"):
        await act(
            rt, staff.other_lme, Action.RESOLVE, number, atr="Done by me" * 3,
            closure_reason="REDRESSED",
        )  # fmt: skip
    second = await file(rt, people.asha)
    with pytest.raises(DomainError) as not_lme:  # only an LME of the department
        await act(
            rt, people.udd_gro, Action.ASSIGN, second.registration_number,
            assignee_id=staff.wsd_lme.id,
        )  # fmt: skip
    assert not_lme.value.errors[0].code == "not_an_lme"


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"atr": "", "closure_reason": "REDRESSED"}, "atr", "required"),
        ({"atr": "Fixed the drain fully.", "closure_reason": "MAGIC"}, "closureReason", "unknown"),
        ({"atr": "Fixed the drain fully.", "closure_reason": ""}, "closureReason", "required"),
    ],
)
async def test_a_resolution_needs_an_atr_and_a_known_reason(
    rt: Runtime, people: People, staff: Staff, fields: dict[str, str], field: str, code: str
) -> None:
    filed = await file(rt, people.asha)
    number = filed.registration_number
    assigned = await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    with pytest.raises(DomainError) as refused:
        await act(rt, staff.lme, Action.RESOLVE, number, **fields)
    assert (refused.value.errors[0].field, refused.value.errors[0].code) == (field, code)
    again = await Grievance.get(id=filed.id)
    assert (again.status, again.version) == (S.ASSIGNED, assigned.version)


async def _resolved(
    rt: Runtime, people: People, staff: Staff, category: str = "UDD-ULB-SWM-GARB-DOOR"
) -> Grievance:
    filed = await file(rt, people.asha, category)
    number = filed.registration_number
    await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    return await act(
        rt, staff.lme, Action.RESOLVE, number, atr="Collected and disinfected the spot.",
        closure_reason="REDRESSED",
    )  # fmt: skip


@pytest.mark.parametrize("rating", [0, 6, None])
async def test_a_rating_outside_1_to_5_is_refused(
    rt: Runtime, people: People, staff: Staff, rating: int | None
) -> None:
    resolved = await _resolved(rt, people, staff)
    with pytest.raises(DomainError) as refused:
        await act(rt, people.asha, Action.RATE, resolved.registration_number, rating=rating)
    assert refused.value.errors[0].field == "rating"
    assert (await Grievance.get(id=resolved.id)).status == S.RESOLVED


async def test_reopen_within_the_window_and_not_after(
    rt: Runtime, people: People, staff: Staff
) -> None:
    resolved = await _resolved(rt, people, staff)
    number = resolved.registration_number
    reopened = await act(rt, people.asha, Action.REOPEN, number, note="Garbage is back again")
    assert (reopened.status, reopened.reopens, reopened.assignee_id) == (
        S.PENDING_ASSIGNMENT, 1, None,
    )  # fmt: skip
    assert reopened.closure_reason == "" and reopened.escalate_at is not None
    await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    await act(
        rt, staff.lme, Action.RESOLVE, number, atr="Collected again, fined the dumper.",
        closure_reason="REDRESSED",
    )  # fmt: skip
    late = dt.datetime.now(dt.UTC) - dt.timedelta(days=rt.settings.reopen_window_days + 1)
    await Grievance.filter(id=resolved.id).update(answered_at=late)
    with pytest.raises(DomainError) as refused:
        await act(rt, people.asha, Action.REOPEN, number, note="Garbage is back again")
    assert refused.value.errors[0].code == "window_closed"


async def test_a_poor_rating_may_be_appealed_to_the_nodal_officer(
    rt: Runtime, people: People, staff: Staff
) -> None:
    resolved = await _resolved(rt, people, staff, "UDD-ULB-SL-OFF")  # the department's matrix
    number = resolved.registration_number
    await act(rt, people.asha, Action.RATE, number, rating=1, feedback="Not done at all")
    appealed = await act(rt, people.asha, Action.APPEAL, number, note="The lane is still dirty")
    assert appealed.status == S.PENDING_ASSIGNMENT
    assert (appealed.appeal_level, appealed.escalated_to_id) == (1, staff.nodal.id)
    assert appealed.escalation_level == 2  # the nodal officer's level in UDD's matrix
    with pytest.raises(IllegalAction):  # one appeal, and only from CLOSED
        await act(rt, people.asha, Action.APPEAL, number, note="Again, please")


async def test_a_good_rating_cannot_be_appealed(rt: Runtime, people: People, staff: Staff) -> None:
    resolved = await _resolved(rt, people, staff)
    await act(rt, people.asha, Action.RATE, resolved.registration_number, rating=4)
    with pytest.raises(DomainError) as refused:
        await act(rt, people.asha, Action.APPEAL, resolved.registration_number, note="Why not")
    assert refused.value.errors[0].code == "not_poorly_rated"


async def test_transfer_to_another_department_until_the_hop_limit(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    number = filed.registration_number
    moved = await act(
        rt, people.udd_gro, Action.TRANSFER, number, category_code="WSD-WS-NOW-AREA",
        note="This is about water supply",
    )  # fmt: skip
    wsd = await Department.get(code="WSD")
    assert (moved.department_id, moved.transfers, moved.status) == (wsd.id, 1, S.PENDING_ASSIGNMENT)
    limited = Runtime(settings=rt.settings.replace(transfer_hop_limit=1), jobs=rt.jobs)
    with pytest.raises(DomainError) as refused:
        await act(
            limited, people.wsd_gro, Action.TRANSFER, number, category_code="UDD-ULB-SWM-GARB-DOOR",
            note="Back to garbage after all",
        )  # fmt: skip
    assert refused.value.errors[0].code == "hop_limit"


async def test_unrated_answers_close_themselves(rt: Runtime, people: People, staff: Staff) -> None:
    resolved = await _resolved(rt, people, staff)
    fresh = await _resolved(rt, people, staff)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=rt.settings.auto_close_days + 1)
    await Grievance.filter(id=resolved.id).update(answered_at=old)
    assert await lifecycle.auto_close_due(rt) == 1
    closed = await Grievance.get(id=resolved.id)
    assert closed.status == S.CLOSED and closed.closed_at is not None
    assert (await Grievance.get(id=fresh.id)).status == S.RESOLVED
    last = (await timeline(closed))[-1]
    assert (last.action, last.actor_role) == ("AUTO_CLOSE", "system")


async def test_two_concurrent_actions_cannot_both_win(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    number = filed.registration_number
    results = await asyncio.gather(
        act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id),
        act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.other_lme.id),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Grievance)]
    lost = [r for r in results if not isinstance(r, Grievance)]
    assert len(won) == 1, results
    assert len(lost) == 1 and isinstance(lost[0], DomainError | IllegalAction)
    row = await Grievance.get(id=filed.id)
    assert row.version == 2 and row.assignee_id == won[0].assignee_id
    assert await GrievanceEvent.filter(grievance_id=filed.id, action="ASSIGN").count() == 1


async def test_a_stale_version_is_refused(rt: Runtime, people: People, staff: Staff) -> None:
    filed = await file(rt, people.asha)
    with pytest.raises(DomainError) as stale:
        await act(
            rt, people.udd_gro, Action.ASSIGN, filed.registration_number,
            assignee_id=staff.lme.id, expected_version=7,
        )  # fmt: skip
    assert stale.value.errors[0].field == "expectedVersion"
    await _unchanged(filed)


async def test_breached_grievances_climb_the_matrix_once_per_level(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    await act(
        rt, people.udd_gro, Action.ASSIGN, filed.registration_number, assignee_id=staff.lme.id
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await breach([filed.id], past)
    version = (await Grievance.get(id=filed.id)).version
    # several workers at once: each level is taken exactly once
    runs = await asyncio.gather(*(escalation.escalate_due(rt.settings) for _ in range(3)))
    assert sum(r.escalated for r in runs) == 1
    row = await reloaded(filed.id)
    assert row.version == version  # a step changes no state a client acts on
    # UDD's garbage subtree climbs LME -> GRO (12 h) -> HoD
    assert (row.escalation_level, row.escalated_to_id) == (1, people.udd_gro.id)
    assert row.escalate_at is not None and row.escalate_at > past
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=13)
    assert (await escalation.escalate_due(rt.settings, now=later)).escalated == 1
    top = await reloaded(filed.id)
    assert (top.escalation_level, top.escalated_to_id, top.escalate_at) == (2, staff.hod.id, None)
    assert (await escalation.escalate_due(rt.settings, now=later)).escalated == 0
    steps = await GrievanceEvent.filter(grievance_id=filed.id, action="ESCALATE").order_by("id")
    assert [s.after["escalation_level"] for s in steps] == [1, 2]
    assert all(s.actor_role == "system" and s.to_status == "ASSIGNED" for s in steps)


async def test_concurrent_batched_runs_escalate_each_grievance_once_with_everything(
    rt: Runtime, people: People, staff: Staff
) -> None:
    """Small batches, several in flight per run and three runs at once: each grievance
    climbs one level, with one event, its notifications and one message per connector."""
    await User.filter(id=people.ravi.id).update(language="hi")
    filed = [await file(rt, people.asha if k % 2 else people.ravi) for k in range(9)]
    for grievance in filed:
        await act(
            rt,
            people.udd_gro,
            Action.ASSIGN,
            grievance.registration_number,
            assignee_id=staff.lme.id,
        )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    ids = [g.id for g in filed]
    await breach(ids, past)
    settings = rt.settings.replace(connectors=("log", "cpgrams"))
    runs = await asyncio.gather(
        *(escalation.escalate_due(settings, batch=2, workers=3) for _ in range(3))
    )
    assert sum(r.escalated for r in runs) == len(filed)
    for grievance in filed:
        row = await reloaded(grievance.id)
        assert (row.escalation_level, row.escalated_to_id, row.version) == (
            1,
            people.udd_gro.id,
            grievance.version + 1,  # the assignment's; the step leaves it
        )
        [step] = await GrievanceEvent.filter(grievance_id=grievance.id, action="ESCALATE")
        assert (step.actor_id, step.actor_role, step.from_status, step.to_status) == (
            None,
            "system",
            "ASSIGNED",
            "ASSIGNED",
        )
        assert step.before == {"escalation_level": 0, "escalated_to": None}
        assert step.after == {"escalation_level": 1, "escalated_to": people.udd_gro.id}
        assert step.note == "SLA level time passed: escalated to level 1 (gro)"
        changed = await OutboxMessage.filter(
            grievance_id=grievance.id, topic="grievance.changed"
        ).order_by("connector")
        sent = [m for m in changed if m.payload.get("action") == "ESCALATE"]
        assert [(m.connector, m.idempotency_key) for m in sent] == [
            (name, f"{grievance.registration_number}:{step.id}:{name}")
            for name in ("cpgrams", "log")
        ]
        assert all(
            m.payload
            == {
                "registration_number": grievance.registration_number,
                "action": "ESCALATE",
                "event_id": step.id,
                **step.after,
            }
            for m in sent
        )
        told = await OutboxMessage.filter(
            idempotency_key__startswith=f"{grievance.registration_number}:{step.id}:",
            connector="sms",
        )
        by_template = {m.payload["template"]: m.payload for m in told}
        # the officer's message is this one only when their batch escalated no other
        assert set(by_template) - {"officer_escalated"} == {"escalated"}
        citizen = by_template["escalated"]
        assert citizen["language"] == ("en" if grievance.citizen_id == people.asha.id else "hi")
        assert citizen["to"] == (people.asha if citizen["language"] == "en" else people.ravi).mobile
        assert grievance.registration_number in citizen["text"] and "1" in citizen["text"]
    # the GRO hears of every step once: alone, or in their batch's digest
    officer = await OutboxMessage.filter(
        connector="sms", topic__in=["notify.officer_escalated", "notify.officer_escalations"]
    )
    assert {m.payload["to"] for m in officer} == {people.udd_gro.mobile}
    heard = [
        number
        for m in officer
        for number in (
            [m.payload["registration_number"]]
            if m.payload["template"] == "officer_escalated"
            else re.findall(r"KA-\w+-\d{4}-\d+", m.payload["text"])
        )
    ]
    assert sorted(heard) == sorted(g.registration_number for g in filed)
    digests = [m for m in officer if m.payload["template"] == "officer_escalations"]
    assert digests and all(m.grievance_id is None for m in digests)
    assert len(officer) < len(filed)


async def test_a_pass_sweeps_due_grievances_in_rounds_in_id_order_past_rows_held_elsewhere(
    rt: Runtime, people: People, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a pass takes the longest overdue first, a round at a time, and claims
    each round in id order (the order of the pages a step writes). A row another
    transaction holds (an officer acting on it) is skipped, not waited for or looped on,
    and the next pass takes it."""
    filed = [await file(rt, people.asha) for _ in range(7)]
    for grievance in filed:
        await act(
            rt, people.udd_gro, Action.ASSIGN, grievance.registration_number,
            assignee_id=staff.lme.id,
        )  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    # the newest filed is the longest overdue: escalate_at order runs against id order
    for age, grievance in enumerate(filed):
        await breach([grievance.id], now - dt.timedelta(hours=1 + age))
    postgres = connections.get("default").capabilities.dialect == "postgres"
    held = filed[3].id
    asked: list[tuple[list[int], list[int]]] = []  # (the batch's ids, the rows claimed)
    claim = escalation._claim_pg

    async def watched(conn: Any, at: dt.datetime, *, ids: list[int]) -> Any:
        rows = await claim(conn, at, ids=ids)
        asked.append((ids, [row.id for row in rows]))
        return rows

    monkeypatch.setattr(escalation, "_claim_pg", watched)
    monkeypatch.setattr(escalation, "ROUND", 4)
    holder = await asyncpg.connect(rt.settings.database_url) if postgres else None
    try:
        if holder is not None:  # an officer's transaction holds one ladder row
            await holder.execute("BEGIN")
            await holder.execute(
                "SELECT 1 FROM grievance_escalation WHERE grievance_id = $1 FOR UPDATE", held
            )
        stats = await escalation.escalate_due(rt.settings, batch=2, workers=2)
    finally:
        if holder is not None:
            await holder.execute("ROLLBACK")
            await holder.close()
    moved = {g.id for g in filed if (await reloaded(g.id)).escalation_level == 1}
    if not postgres:  # one writer, nothing held: the ORM's claim, oldest first
        assert stats.escalated == len(filed) and moved == {g.id for g in filed} and not asked
        return
    assert stats.escalated == len(filed) - 1 and moved == {g.id for g in filed} - {held}
    i = [g.id for g in filed]
    # round one: the four longest overdue (the newest four) in id order, two batches at a
    # time; round two: the three left and the held row; round three: the held row alone,
    # which moves nothing and ends the pass
    batches = [ids for ids, _ in asked]
    assert sorted(batches[:2]) == [i[3:5], i[5:7]]
    assert sorted(batches[2:4]) == [i[0:2], i[2:4]]
    assert batches[4:] == [[held]]
    assert all(held not in rows and rows == sorted(rows) for _, rows in asked)
    # released, the held row is due as before: the next pass takes it
    assert (await escalation.escalate_due(rt.settings)).escalated == 1
    assert (await reloaded(held)).escalation_level == 1


async def test_an_action_racing_an_escalation_step_is_stale_and_undoes_nothing(
    rt: Runtime, people: People, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job leaves the version alone, so an action that ends or restarts the clock is
    a compare-and-set on the level: a step taken while the LME resolves is not undone."""
    filed = await file(rt, people.asha)
    number = filed.registration_number
    await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    planned = lifecycle.plan

    async def step_taken_meanwhile(ctx: Any) -> GrievanceStatus:
        target = await planned(ctx)
        await breach([filed.id], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        assert (await escalation.escalate_due(rt.settings)).escalated == 1
        return target

    monkeypatch.setattr(lifecycle, "plan", step_taken_meanwhile)
    with pytest.raises(DomainError) as stale:
        await act(
            rt, staff.lme, Action.RESOLVE, number, atr="Cleared the lane this morning.",
            closure_reason="REDRESSED",
        )  # fmt: skip
    assert stale.value.errors[0].code == "stale"
    row = await reloaded(filed.id)
    assert (row.status, row.escalation_level) == (S.ASSIGNED, 1)
    assert row.escalate_at is not None  # the next level's clock, as the step set it
    monkeypatch.undo()
    resolved = await act(
        rt, staff.lme, Action.RESOLVE, number, atr="Cleared the lane this morning.",
        closure_reason="REDRESSED",
    )  # fmt: skip
    assert (resolved.status, resolved.escalation_level, resolved.escalate_at) == (
        S.RESOLVED, 1, None,
    )  # fmt: skip


async def test_passes_collect_garbage_less_often_and_then_as_before(
    rt: Runtime, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    filed = await file(rt, people.asha)
    await breach([filed.id], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    before = gc.get_threshold()
    seen: list[int] = []
    batch = escalation._Job._batch

    async def watched(job: Any, claim: Any) -> Any:
        seen.append(gc.get_threshold()[0])
        return await batch(job, claim)

    monkeypatch.setattr(escalation._Job, "_batch", watched)
    await asyncio.gather(*(escalation.escalate_due(rt.settings) for _ in range(3)))
    assert seen and min(seen) >= escalation.PASS_GC_THRESHOLD
    assert gc.get_threshold() == before  # the last pass out restores it


async def test_a_supervisor_escalates_by_hand(rt: Runtime, people: People, staff: Staff) -> None:
    filed = await file(rt, people.asha, category="UDD-ULB-SL-OFF")  # the department's matrix
    up = await act(rt, staff.hod, Action.ESCALATE, filed.registration_number, note="VIP lane")
    assert (up.escalation_level, up.escalated_to_id) == (1, people.udd_gro.id)
    assert up.escalate_at is not None


# --- the timeline rebuilds the state: random walks through the workflow -----------------

_ACTORS = ("asha", "udd_gro", "lme", "hod", "system")


async def _random_step(
    rt: Runtime, people: People, staff: Staff, number: str, rng: random.Random
) -> None:
    row = await Grievance.get(registration_number=number)
    who = {
        "asha": actor_for(people.asha),
        "udd_gro": actor_for(people.udd_gro),
        "lme": actor_for(staff.lme),
        "hod": actor_for(staff.hod),
        "system": Actor.internal(),
    }[rng.choice(_ACTORS)]
    allowed = lifecycle.allowed_actions(who, row)  # mostly what could work; sometimes not
    action = rng.choice(allowed) if allowed and rng.random() < 0.8 else rng.choice(list(Action))
    params: dict[str, Any] = {
        "note": rng.choice(["A reason given here", "A reason given here", "", "x"]),
        "assignee_id": rng.choice([staff.lme.id, staff.other_lme.id, None]),
        "category_code": rng.choice(["WSD-WS-NOW-AREA", "UDD-ULB-SWM-GARB-DOOR", None]),
        "atr": rng.choice(["Work completed as asked.", "Work completed as asked.", ""]),
        "closure_reason": rng.choice(["REDRESSED", "REDRESSED", "", "NOPE"]),
        "rating": rng.choice([None, 1, 3, 5, 9]),
        "expected_version": rng.choice([None, None, row.version, row.version - 1]),
    }
    try:
        await lifecycle.act(rt, who, lifecycle.ActionRequest(action, number, **params))
    except (DomainError, IllegalAction):
        after = await Grievance.get(id=row.id)
        assert after.version == row.version  # a refusal changes nothing


@pytest.mark.parametrize("seed", range(12))
async def test_random_action_sequences_rebuild_from_the_timeline(
    rt: Runtime, people: People, staff: Staff, seed: int
) -> None:
    rng = random.Random(seed)
    filed = await file(rt, people.asha)
    for _ in range(40):
        await _random_step(rt, people, staff, filed.registration_number, rng)
        if rng.random() < 0.15:  # the clock runs too
            await escalation.escalate_due(
                rt.settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=rng.randint(1, 40))
            )
    row = await Grievance.get(id=filed.id)
    events = await timeline(row)
    assert lifecycle.replay(events) == await lifecycle.state_of(row)
    # every action moves the version on; the job's escalation steps leave it
    versions = [e.after["version"] for e in events if e.action != "ROUTE" and "version" in e.after]
    assert versions == sorted(set(versions))
    assert all("version" not in e.after for e in events if e.note.startswith(escalation.JOB_REASON))


# --- what a review found: each must be a typed error or right, never a 500 -----------------


async def test_a_nul_byte_in_any_text_is_a_field_error(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    number = filed.registration_number
    await act(rt, people.udd_gro, Action.ASSIGN, number, assignee_id=staff.lme.id)
    with pytest.raises(DomainError) as refused:
        await act(
            rt, staff.lme, Action.RESOLVE, number, atr="Cleared the \x00 lane fully",
            closure_reason="REDRESSED",
        )  # fmt: skip
    assert (refused.value.errors[0].field, refused.value.errors[0].code) == ("atr", "invalid")
    with pytest.raises(DomainError) as missing:
        await act(rt, people.asha, Action.COMMENT, number + "\x00", note="Hello there")
    assert missing.value.errors[0].code == "not_found"


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-01T00:00:00+00:00|99999999999999999999",
        "2024-01-01T00:00:00|5",
        "0001-01-01T00:00:00+05:30|5",
        "|5",
        "not a cursor",
    ],
)
async def test_a_forged_cursor_is_a_field_error(people: People, raw: str) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(raw.encode()).decode()
    for listing in (tracking.inbox, tracking.mine):
        with pytest.raises(DomainError) as refused:
            await listing(actor_for(people.asha), 20, cursor)
        assert refused.value.errors[0].field == "after"


@pytest.mark.parametrize("field", ["filed_from", "filed_to"])
async def test_search_dates_out_of_range_are_field_errors(people: People, field: str) -> None:
    criteria = tracking.Search(
        **{field: dt.date(9999, 12, 31) if field == "filed_to" else dt.date(1, 1, 1)}
    )
    with pytest.raises(DomainError) as refused:
        await tracking.search(actor_for(people.udd_gro), criteria)
    assert refused.value.errors[0].code == "out_of_range"


async def test_a_state_triage_cell_rejects_spam_it_cannot_route(
    rt: Runtime, people: People
) -> None:
    cell = await User.create(
        mobile="+919700099002", name="Triage cell", kind=UserKind.EMPLOYEE, roles=["gro"]
    )
    spam = await file_grievance(
        rt,
        actor_for(people.asha),
        FilingData(description="Win a lottery now click here now!!", channel=Channel.SMS),
    )
    assert spam.status == S.TRIAGE and spam.department_id is None
    rejected = await act(rt, cell, Action.REJECT, spam.registration_number, note="Spam message")
    assert rejected.status == S.REJECTED


async def test_escalation_reaches_connected_systems_and_subscribers(
    rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    await breach([filed.id], dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    channel = pubsub.grievance_channel(filed.registration_number)
    async with rt.broker.subscribe(channel) as feed:
        assert (await escalation.escalate_due(rt.settings, broker=rt.broker)).escalated == 1
        update = await asyncio.wait_for(feed.__anext__(), timeout=5)
    assert (update["action"], update["version"]) == ("ESCALATE", 1)
    sent = await OutboxMessage.filter(grievance_id=filed.id, topic="grievance.changed")
    assert [(m.connector, m.payload["action"]) for m in sent] == [("log", "ESCALATE")]


async def test_a_reopened_grievance_starts_a_fresh_clock(
    rt: Runtime, people: People, staff: Staff
) -> None:
    resolved = await _resolved(rt, people, staff)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    await Grievance.filter(id=resolved.id).update(created_at=long_ago)
    reopened = await act(
        rt, people.asha, Action.REOPEN, resolved.registration_number, note="It is back again"
    )
    assert reopened.clock_started_at is not None and reopened.due_at is not None
    started = reopened.clock_started_at
    assert sla.colour(started, reopened.due_at, dt.datetime.now(dt.UTC)) == sla.SlaColour.GREEN
