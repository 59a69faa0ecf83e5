"""Notifications: who is told of each event, in their language, once; SMS and e-mail sinks.

Events are written here the way the workflow engine writes them (the grievance
row after the change, then its timeline event) and handed to ``notify_event``.
The HTTP SMS gateway and the SMTP server are real servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tortoise.transactions import in_transaction

from connectors.base import OutboundMessage
from connectors.email import ConsoleEmail, SmtpEmail, mask_email, message_id
from connectors.log import LogConnector
from connectors.registry import UnknownConnectorError, build_registry
from connectors.sms import ConsoleSms, HttpSms, mask_mobile, redact
from hub.enums import Action, Channel, GrievanceStatus, OutboxStatus, Role, UserKind
from hub.models import (
    Department,
    Escalation,
    Grievance,
    GrievanceEvent,
    Office,
    OutboxMessage,
    User,
)
from hub.outbox import Relay
from hub.runtime import Runtime
from hub.services import escalation, notifications
from hub.services.grievances import FilingData, file_grievance
from hub.services.notifications import (
    RULES,
    TemplateError,
    catalogue,
    load_catalogue,
    notify_event,
    notify_events,
    send_daily_summaries,
    send_reminders,
)
from hub.settings import Settings
from tests.conftest import People

S = GrievanceStatus
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)")
STREETLIGHT = FilingData(
    description="The streetlight on our road has been off for a week.",
    channel=Channel.APP,
    category_code="UDD-ULB-SL-OFF",
)
SAMPLE_CONTEXT = {
    "registration_number": "KA-UDD-2026-0000042",
    "status": "assigned",
    "department": "Water Supply and Sewerage Board, Head Office of the State",
    "due_date": "31-12-2026",
    "officer": "Shrimati Lakshmi Narayanaswamy Ramachandran",
    "reason": "x" * notifications.REASON_MAX_CHARS,
    "rating": "2",
    "level": "3",
    "date": "01-05-2026",
    "total": "123456",
    "under_7": "12345",
    "days_7_15": "12345",
    "days_15_30": "12345",
    "over_30": "12345",
    "overdue": "12345",
    "count": "12345",
    "numbers": "KA-UDD-2026-0000001, KA-UDD-2026-0000002, KA-UDD-2026-0000003",
}


# --- templates ----------------------------------------------------------------------------


def test_every_template_renders_in_every_language() -> None:
    words = catalogue()
    assert {"en", "hi"} <= {lang for texts in words.templates.values() for lang in texts}
    for name, texts in words.templates.items():
        assert set(texts) == {"en", "hi"}, name
        for language in texts:
            rendered = words.render(name, language, SAMPLE_CONTEXT)
            assert rendered.language == language
            assert "{" not in rendered.text and "{" not in rendered.subject
            assert len(rendered.text) < notifications.SMS_MAX_CHARS, (name, language)
            if language == "hi":
                assert DEVANAGARI.search(rendered.text), name


def test_every_rule_has_a_template_and_every_action_a_rule() -> None:
    words = catalogue()
    assert {rule.template for rule in RULES} <= set(words.templates)
    assert {rule.action for rule in RULES} == set(Action)


def test_a_missing_placeholder_is_an_error_naming_it() -> None:
    context = {k: v for k, v in SAMPLE_CONTEXT.items() if k != "due_date"}
    with pytest.raises(TemplateError, match=r"'filed' \(hi\).*\{due_date\}"):
        catalogue().render("filed", "hi", context)


def test_language_falls_back_to_english() -> None:
    words = catalogue()
    assert words.render("closed", "ta", SAMPLE_CONTEXT).language == "en"
    assert words.render("closed", None, SAMPLE_CONTEXT).language == "en"
    assert words.render("closed", "hi-IN", SAMPLE_CONTEXT).language == "hi"


def test_a_bad_templates_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notifications.yaml"
    bad.write_text(
        "templates:\n  x:\n    en: {subject: 'S {a}', text: 'T {a}'}\n"
        "    hi: {subject: 'S', text: 'T {b}'}\n",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match=r"'x' \(hi\) uses \['b'\]"):
        load_catalogue(bad)
    bad.write_text("templates:\n  x:\n    hi: {subject: S, text: T}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="'x' needs an 'en'"):
        load_catalogue(bad)
    bad.write_text(
        "templates:\n  x:\n    en: {subject: S, text: 'T {a.__class__}'}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match="plain"):
        load_catalogue(bad)


def test_masking() -> None:
    assert mask_mobile("+919876543210") == "+91******3210"
    assert mask_mobile("9876543210") == "******3210"
    assert mask_email("asha.rao@example.in") == "a***@example.in"
    cleaned = redact("OTP is 482913; call +91 98765 43210 about KA-UDD-2026-0000042")
    assert "482913" not in cleaned and "98765" not in cleaned
    assert "KA-UDD-2026-0000042" in cleaned


# --- who is told ----------------------------------------------------------------------------


@dataclass
class Staff:
    office: Office
    lme: User
    lme2: User
    nodal: User
    hod: User


async def employee(mobile: str, name: str, role: Role, dept: str, **kw: Any) -> User:
    return await User.create(
        mobile=mobile,
        name=name,
        kind=UserKind.EMPLOYEE,
        roles=[role.value],
        department=await Department.get(code=dept),
        **kw,
    )


@pytest.fixture
async def staff(people: People) -> Staff:
    office = await Office.get(code="UDD-HQ")
    return Staff(
        office=office,
        lme=await employee(
            "+919600000011", "Lakshmi", Role.LME, "UDD", office=office, email="lakshmi@udd.example"
        ),
        lme2=await employee("+919600000012", "Mohan", Role.LME, "UDD", office=office),
        nodal=await employee(
            "+919600000013", "Nodal", Role.NODAL_OFFICER, "UDD", email="nodal@udd.example"
        ),
        hod=await employee("+919600000014", "HoD", Role.HOD, "UDD", email="hod@udd.example"),
    )


async def file(rt: Runtime, people: People, data: FilingData = STREETLIGHT) -> Grievance:
    return await file_grievance(rt, people.actor(people.asha), data)


_LADDER = {"escalated_to_id": "officer_id", "escalation_level": "level"}


async def change(ids: list[int], **changes: Any) -> None:
    """Set columns of these grievances, the ladder's on their Escalation rows."""
    ladder = {_LADDER[k]: changes.pop(k) for k in list(changes) if k in _LADDER}
    if ladder:
        await Escalation.filter(grievance_id__in=ids).update(**ladder)
    if changes:
        await Grievance.filter(id__in=ids).update(**changes)


async def rows_of(ids: list[int]) -> list[Grievance]:
    """The grievances as stored now, with their ladders, in id order."""
    return [
        await escalation.attached(row) for row in await Grievance.filter(id__in=ids).order_by("id")
    ]


async def act(
    grievance: Grievance,
    action: Action,
    actor: User | None,
    to_status: GrievanceStatus | None = None,
    *,
    note: str = "",
    before: dict[str, Any] | None = None,
    **changes: Any,
) -> tuple[Grievance, GrievanceEvent]:
    """Change the row, then write the event: as the engine does, in one transaction."""
    source = grievance.status
    target = to_status or source
    async with in_transaction():
        await change([grievance.id], status=target, **changes)
        [row] = await rows_of([grievance.id])
        event = await GrievanceEvent.create(
            grievance_id=row.id,
            action=action,
            actor_id=actor.id if actor else None,
            actor_role=actor.roles[0] if actor else Role.SYSTEM.value,
            from_status=source,
            to_status=target,
            before=before or {},
            note=note,
        )
        await notify_event(Settings(), row, event)
    return row, event


async def told(grievance: Grievance, event: GrievanceEvent) -> set[tuple[int, str]]:
    """(user id, template) of the SMS written for one event."""
    rows = await OutboxMessage.filter(
        idempotency_key__startswith=f"{grievance.registration_number}:{event.id}:",
        connector="sms",
    )
    return {(int(r.idempotency_key.split(":")[2]), r.payload["template"]) for r in rows}


async def test_filing_acknowledges_the_citizen_and_tells_the_office_gros(
    rt: Runtime, people: People, staff: Staff
) -> None:
    await User.filter(id=people.asha.id).update(email="asha@example.in")
    grievance = await file(rt, people)
    assert grievance.status == S.PENDING_ASSIGNMENT
    assert grievance.office_id == staff.office.id
    event = await GrievanceEvent.get(grievance_id=grievance.id, action=Action.FILE)
    await notify_event(rt.settings, grievance, event)  # the filing may have done it already

    assert await told(grievance, event) == {
        (people.asha.id, "filed"),
        (people.udd_gro.id, "gro_new"),
    }
    number = grievance.registration_number
    sms = await OutboxMessage.get(idempotency_key=f"{number}:{event.id}:{people.asha.id}:sms")
    assert sms.connector == "sms" and sms.topic == "notify.filed"
    assert sms.grievance_id == grievance.id and sms.status == OutboxStatus.PENDING
    assert sms.next_attempt_at <= dt.datetime.now(dt.UTC)
    assert sms.payload["to"] == "+919900000001"
    assert sms.payload["registration_number"] == number and number in sms.payload["text"]
    assert sms.payload["language"] == "en" and "Urban Development" in sms.payload["text"]
    mail = await OutboxMessage.get(idempotency_key=f"{number}:{event.id}:{people.asha.id}:email")
    assert mail.payload["to"] == "asha@example.in"
    assert number in mail.payload["subject"]
    # the GRO has no e-mail address: no e-mail row for them
    assert not await OutboxMessage.filter(
        idempotency_key=f"{number}:{event.id}:{people.udd_gro.id}:email"
    ).exists()


async def test_a_hindi_speaking_citizen_is_told_in_devanagari(
    rt: Runtime, people: People, staff: Staff
) -> None:
    await User.filter(id=people.asha.id).update(language="hi")
    grievance = await file(rt, people)
    grievance, event = await act(
        grievance, Action.ASSIGN, people.udd_gro, S.ASSIGNED, assignee_id=staff.lme.id
    )
    message = await OutboxMessage.get(
        idempotency_key=f"{grievance.registration_number}:{event.id}:{people.asha.id}:sms"
    )
    assert message.payload["language"] == "hi"
    assert DEVANAGARI.search(message.payload["text"])
    assert "शहरी विकास विभाग" in message.payload["text"]  # the department's Hindi name
    assert "Lakshmi" in message.payload["text"]  # the officer
    officer = await OutboxMessage.get(
        idempotency_key=f"{grievance.registration_number}:{event.id}:{staff.lme.id}:sms"
    )
    assert officer.payload["language"] == "en"  # the officer's own language


async def test_notifying_an_event_twice_writes_nothing_new(
    rt: Runtime, people: People, staff: Staff
) -> None:
    grievance = await file(rt, people)
    grievance, event = await act(
        grievance, Action.ASSIGN, people.udd_gro, S.ASSIGNED, assignee_id=staff.lme.id
    )
    before = await OutboxMessage.filter(topic__startswith="notify.").count()
    assert await notify_event(rt.settings, grievance, event) == 0
    assert await notify_events(rt.settings, [(grievance, event), (grievance, event)]) == 0
    assert await OutboxMessage.filter(topic__startswith="notify.").count() == before


async def test_who_is_told_through_a_grievance_life(
    rt: Runtime, people: People, staff: Staff
) -> None:
    asha, gro, lme, lme2 = people.asha, people.udd_gro, staff.lme, staff.lme2
    g = await file(rt, people)

    async def step(
        action: Action, actor: User | None, to: GrievanceStatus | None, **kw: Any
    ) -> set[tuple[int, str]]:
        nonlocal g
        g, event = await act(g, action, actor, to, **kw)
        return await told(g, event)

    assert await step(Action.ASSIGN, gro, S.ASSIGNED, assignee_id=lme.id) == {
        (lme.id, "officer_assigned"),
        (asha.id, "assigned"),
    }
    assert await step(Action.REQUEST_REASSIGN, lme, S.REASSIGN_REQUESTED, note="Not my ward") == {
        (gro.id, "gro_reassign")
    }
    assert await step(
        Action.REASSIGN, gro, S.ASSIGNED, assignee_id=lme2.id, before={"assignee": lme.id}
    ) == {(lme2.id, "officer_assigned"), (asha.id, "assigned")}
    assert await step(Action.COMMENT, asha, None, note="Still dark") == {
        (lme2.id, "officer_comment")
    }
    assert await step(Action.COMMENT, lme2, None, note="Visiting today") == {(asha.id, "comment")}
    assert await step(Action.RESOLVE, lme2, S.RESOLVED) == {(asha.id, "resolved")}
    # the engine clears the assignee on reopening; the timeline's before still names them
    assert await step(
        Action.REOPEN, asha, S.PENDING_ASSIGNMENT, assignee_id=None, before={"assignee": lme2.id}
    ) == {(asha.id, "reopened"), (lme2.id, "officer_reopened"), (gro.id, "officer_reopened")}
    assert await step(Action.COMMENT, asha, None) == {(gro.id, "officer_comment")}
    assert await step(
        Action.ESCALATE, None, None, escalated_to_id=staff.nodal.id, escalation_level=1
    ) == {(asha.id, "escalated"), (staff.nodal.id, "officer_escalated")}
    await step(Action.ASSIGN, gro, S.ASSIGNED, assignee_id=lme2.id)
    await step(Action.RESOLVE, lme2, S.RESOLVED)
    assert await step(Action.RATE, asha, S.CLOSED, rating=1) == {(lme2.id, "officer_rated")}
    assert await step(
        Action.APPEAL, asha, S.PENDING_ASSIGNMENT, escalated_to_id=staff.hod.id, appeal_level=1
    ) == {
        (asha.id, "appealed"),
        (staff.hod.id, "officer_appeal"),
        (gro.id, "officer_appeal"),
    }
    assert await step(Action.REJECT, gro, S.REJECTED, note="Duplicate of an earlier one") == {
        (asha.id, "rejected")
    }
    rejected = await OutboxMessage.filter(topic="notify.rejected").first()
    assert rejected is not None and "Duplicate of an earlier one" in rejected.payload["text"]
    assert await step(Action.AUTO_CLOSE, None, S.CLOSED) == {(asha.id, "closed")}


async def test_transfer_tells_the_new_departments_gros_and_the_actor_is_never_told(
    rt: Runtime, people: People, staff: Staff
) -> None:
    g = await file(rt, people)
    wsd = await Department.get(code="WSD")
    # WSD's GRO belongs to no office: the grievance has none, so the department's GROs hear
    g, event = await act(
        g,
        Action.TRANSFER,
        people.udd_gro,
        S.PENDING_ASSIGNMENT,
        department_id=wsd.id,
        office_id=None,
    )
    assert await told(g, event) == {
        (people.asha.id, "transferred"),
        (people.wsd_gro.id, "gro_transferred"),
    }
    g, event = await act(g, Action.FORWARD, None, S.FORWARDED)
    assert await told(g, event) == {(people.asha.id, "forwarded")}
    # a GRO who assigns to themselves is not told about it
    g2 = await file(rt, people)
    g2, event = await act(
        g2, Action.ASSIGN, people.udd_gro, S.ASSIGNED, assignee_id=people.udd_gro.id
    )
    assert await told(g2, event) == {(people.asha.id, "assigned")}
    # an inactive citizen is told nothing
    await User.filter(id=people.asha.id).update(active=False)
    g2, event = await act(g2, Action.COMMENT, people.udd_gro, None)
    assert await told(g2, event) == set()


async def escalation_event(g: Grievance) -> GrievanceEvent:
    """The job's ESCALATE event for ``g`` (the row already moved to level 1)."""
    return await GrievanceEvent.create(
        grievance_id=g.id,
        action=Action.ESCALATE,
        actor_role=Role.SYSTEM.value,
        from_status=g.status,
        to_status=g.status,
        after={"escalation_level": 1},
    )


async def test_an_escalation_pass_tells_an_officer_once_and_every_citizen(
    rt: Runtime, people: People, staff: Staff
) -> None:
    grievances = [await file(rt, people) for _ in range(5)]
    now = dt.datetime.now(dt.UTC)
    for k, g in enumerate(grievances):  # the last filed is the most overdue
        await change(
            [g.id], escalated_to_id=staff.nodal.id, escalation_level=1,
            due_at=now - dt.timedelta(days=k),
        )  # fmt: skip
    await User.filter(id=staff.nodal.id).update(language="hi")
    rows = await rows_of([g.id for g in grievances])
    events = [await escalation_event(g) for g in rows]
    pairs = list(zip(rows, events, strict=True))
    async with in_transaction():
        written = await notify_events(rt.settings, pairs, digest=True)
    # five citizens' SMS, and the nodal officer's one SMS and one e-mail
    assert written == 5 + 2
    [sms] = await OutboxMessage.filter(topic="notify.officer_escalations", connector="sms")
    assert sms.grievance_id is None and sms.payload["language"] == "hi"
    assert sms.payload["to"] == staff.nodal.mobile
    most_overdue = [g.registration_number for g in reversed(rows)][:3]
    assert "समय-सीमा पार कर चुकी 5 शिकायतें आपको भेजी गई हैं" in sms.payload["text"]
    assert ", ".join(most_overdue) in sms.payload["text"]
    assert await OutboxMessage.filter(topic="notify.escalated").count() == 5
    assert not await OutboxMessage.filter(topic="notify.officer_escalated").exists()
    # the same pass again writes nothing new (the keys are taken)
    async with in_transaction():
        assert await notify_events(rt.settings, pairs, digest=True) == 0


async def test_an_officer_escalated_their_own_grievance_is_told_once(
    rt: Runtime, people: People, staff: Staff
) -> None:
    g = await file(rt, people)
    await change(
        [g.id], citizen_id=staff.nodal.id, escalated_to_id=staff.nodal.id, escalation_level=1
    )
    rows = await rows_of([g.id])
    events = [await escalation_event(g)]
    async with in_transaction():  # new keys: a repeated one would fail the transaction
        await notify_events(
            rt.settings, list(zip(rows, events, strict=True)), digest=True, new_events=True
        )
    sent = await OutboxMessage.filter(
        grievance_id=g.id,
        connector="sms",
        topic__in=["notify.escalated", "notify.officer_escalated"],
    )
    assert [m.payload["to"] for m in sent] == [staff.nodal.mobile]


async def test_one_escalation_for_an_officer_is_told_as_itself(
    rt: Runtime, people: People, staff: Staff
) -> None:
    g = await file(rt, people)
    await change([g.id], escalated_to_id=staff.nodal.id, escalation_level=1)
    [row] = await rows_of([g.id])
    event = await escalation_event(g)
    async with in_transaction():
        await notify_events(rt.settings, [(row, event)], digest=True)
    alone = await OutboxMessage.filter(topic="notify.officer_escalated", connector="sms")
    assert [m.payload["registration_number"] for m in alone] == [g.registration_number]
    assert not await OutboxMessage.filter(topic="notify.officer_escalations").exists()


async def test_the_bulk_path_queries_per_chunk_not_per_grievance(
    rt: Runtime, people: People, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    grievances = [await file(rt, people) for _ in range(12)]
    await change([g.id for g in grievances], escalated_to_id=staff.nodal.id, escalation_level=1)
    rows = await rows_of([g.id for g in grievances])
    events = [await escalation_event(g) for g in rows]
    selects: list[str] = []
    monkeypatch.setattr(notifications, "CHUNK", 5)
    async with in_transaction() as conn:  # as the escalation job calls it
        for method in ("execute_query", "execute_query_dict"):
            original = getattr(conn, method)

            async def counting(query: str, values: Any = None, _original: Any = original) -> Any:
                selects.append(query)
                return await _original(query, values)

            monkeypatch.setattr(conn, method, counting)
        written = await notify_events(rt.settings, list(zip(rows, events, strict=True)))
    # per grievance: the citizen's SMS, the nodal officer's SMS and e-mail
    assert written == 12 * 3
    # three chunks; each: one key check, users for the first only (the directory caches);
    # never one query per grievance
    assert len(selects) <= 3 * 2 + 2, selects
    nodal = await OutboxMessage.filter(topic="notify.officer_escalated", connector="email")
    assert len(nodal) == 12 and all(m.grievance_id for m in nodal)


# --- daily summaries and reminders --------------------------------------------------------


async def age(grievance: Grievance, now: dt.datetime, days: float, **changes: Any) -> None:
    """Pretend ``grievance`` was filed ``days`` before ``now`` (and is due after it)."""
    changes.setdefault("due_at", now + dt.timedelta(days=5))
    await Grievance.filter(id=grievance.id).update(
        created_at=now - dt.timedelta(days=days), **changes
    )


async def test_daily_summary_goes_to_each_hod_once_per_ist_date(
    rt: Runtime, people: People, staff: Staff
) -> None:
    now = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)  # 08:30 IST
    for days in (1, 2, 8, 20, 40, 41):
        await age(await file(rt, people), now, days)
    overdue = await file(rt, people)
    await age(overdue, now, 10, due_at=now - dt.timedelta(days=1))
    await age(await file(rt, people), now, 50, status=S.CLOSED)  # closed: not counted
    wsd_hod = await employee("+919600000021", "WSD HoD", Role.HOD, "WSD", language="hi")

    assert await send_daily_summaries(rt.settings, now) == 3  # UDD: SMS + e-mail; WSD: SMS
    udd = await OutboxMessage.get(idempotency_key=f"summary:2026-05-01:{staff.hod.id}:sms")
    assert udd.grievance_id is None
    text = udd.payload["text"]
    assert "7 open grievances" in text
    assert "Under 7 days: 2; 7-15: 2; 15-30: 1; over 30: 2. Past due: 1." in text
    wsd = await OutboxMessage.get(idempotency_key=f"summary:2026-05-01:{wsd_hod.id}:sms")
    assert DEVANAGARI.search(wsd.payload["text"]) and "0 लंबित" in wsd.payload["text"]

    later_that_day = dt.datetime(2026, 5, 1, 18, 29, tzinfo=dt.UTC)  # 23:59 IST
    assert await send_daily_summaries(rt.settings, later_that_day) == 0
    next_day = dt.datetime(2026, 5, 1, 18, 31, tzinfo=dt.UTC)  # 00:01 IST, 2 May
    assert await send_daily_summaries(rt.settings, next_day) == 3
    with pytest.raises(ValueError, match="naive"):
        await send_daily_summaries(rt.settings, dt.datetime(2026, 5, 1, 3, 0))


async def test_reminders_go_to_nodal_officers_once_per_ist_date(
    rt: Runtime, people: People, staff: Staff
) -> None:
    now = dt.datetime(2026, 5, 1, 3, 0, tzinfo=dt.UTC)
    idle = await employee("+919600000031", "Idle nodal", Role.NODAL_OFFICER, "UDD")
    numbers = []
    for days_late in (1, 9, 4, 7):
        g = await file(rt, people)
        due = now - dt.timedelta(days=days_late)
        # the ladder keeps a copy of the due date: the officer's order of urgency
        await Escalation.filter(grievance_id=g.id).update(officer_id=staff.nodal.id, due_at=due)
        await Grievance.filter(id=g.id).update(due_at=due)
        numbers.append((days_late, g.registration_number))
    done = await file(rt, people)
    await change([done.id], escalated_to_id=staff.nodal.id, status=S.CLOSED)

    assert await send_reminders(rt.settings, now) == 2  # the nodal officer: SMS and e-mail
    reminder = await OutboxMessage.get(idempotency_key=f"reminder:2026-05-01:{staff.nodal.id}:sms")
    most_overdue = [n for _, n in sorted(numbers, reverse=True)[:3]]
    assert reminder.payload["text"].startswith("4 escalated grievances")
    assert ", ".join(most_overdue) in reminder.payload["text"]
    assert not await OutboxMessage.filter(idempotency_key__contains=f":{idle.id}:").exists()
    assert await send_reminders(rt.settings, now + dt.timedelta(hours=10)) == 0


# --- sinks: console, HTTP gateway, SMTP ---------------------------------------------------


def outbound(payload: dict[str, Any], key: str = "KA-UDD-2026-0000042:7:3:sms") -> OutboundMessage:
    return OutboundMessage(
        id=1, idempotency_key=key, topic="notify.filed", payload=payload, attempt=1
    )


SMS = {"to": "+919876543210", "text": "Grievance KA-UDD-2026-0000042 is registered."}


@dataclass
class Gateway:
    """A scripted SMS gateway: answers each POST with the next (status, body, delay)."""

    script: list[tuple[int, str, float]] = field(default_factory=list)
    received: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.json(), dict(request.headers)))
        status, body, delay = self.script.pop(0)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, text=body, content_type="application/json")


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/send", gw.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield gw, f"http://127.0.0.1:{port}/send"
    finally:
        await runner.cleanup()


async def test_http_sms_gateway_answers(gateway: tuple[Gateway, str]) -> None:
    gw, url = gateway
    sms = HttpSms(url, "k-123", "GRVHUB", timeout_seconds=0.3)
    try:
        gw.script = [
            (200, '{"message_id": "m-1"}', 0),
            (400, '{"error": "bad number +919876543210"}', 0),
            (429, "{}", 0),
            (503, "{}", 0),
            (200, "{}", 1.0),  # slower than the timeout
        ]
        ok = await sms.deliver(outbound(SMS))
        assert ok.ok and ok.external_id == "m-1"
        body, headers = gw.received[0]
        assert body == {
            "sender_id": "GRVHUB",
            "to": "+919876543210",
            "text": SMS["text"],
            "idempotency_key": "KA-UDD-2026-0000042:7:3:sms",
        }
        assert headers["X-Api-Key"] == "k-123"
        assert headers["Idempotency-Key"] == "KA-UDD-2026-0000042:7:3:sms"

        rejected = await sms.deliver(outbound(SMS))
        assert not rejected.ok and rejected.permanent and "400" in rejected.detail
        assert "9876543210" not in rejected.detail  # stored and logged: masked
        busy = await sms.deliver(outbound(SMS))
        assert not busy.ok and not busy.permanent and "429" in busy.detail
        down = await sms.deliver(outbound(SMS))
        assert not down.ok and not down.permanent and "503" in down.detail
        slow = await sms.deliver(outbound(SMS))
        assert not slow.ok and not slow.permanent and "timed out" in slow.detail
        missing = await sms.deliver(outbound({"text": "x"}))
        assert missing.permanent and "'to'" in missing.detail
    finally:
        await sms.aclose()


async def test_http_sms_gateway_unreachable_is_transient() -> None:
    sms = HttpSms(f"http://127.0.0.1:{free_port()}/send", "k", "GRVHUB", timeout_seconds=1)
    try:
        result = await sms.deliver(outbound(SMS))
    finally:
        await sms.aclose()
    assert not result.ok and not result.permanent and "unreachable" in result.detail


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mailbox:
    envelopes: list[Any] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client that trusts it."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


MAIL = {
    "to": "asha@example.in",
    "subject": "शिकायत KA-UDD-2026-0000042 दर्ज हुई",
    "text": "आपकी शिकायत दर्ज कर ली गई है।",
}


async def test_smtp_sends_utf8_mail_with_a_message_id_from_the_key(
    smtp_server: tuple[Mailbox, int],
) -> None:
    box, port = smtp_server
    mailer = SmtpEmail("127.0.0.1", port, "hub@grievance.example", timeout_seconds=5)
    key = "KA-UDD-2026-0000042:7:3:email"
    result = await mailer.deliver(outbound(MAIL, key))
    assert result.ok, result.detail
    assert result.external_id == message_id(key, "hub@grievance.example")
    [envelope] = box.envelopes
    assert envelope.mail_from == "hub@grievance.example"
    assert envelope.rcpt_tos == ["asha@example.in"]
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Message-ID"] == "<KA-UDD-2026-0000042.7.3.email@grievance.example>"
    assert str(mail["Subject"]) == MAIL["subject"]
    assert mail.get_content().strip() == MAIL["text"]
    # a retry is the same message to anything that dedupes on Message-ID
    await mailer.deliver(outbound(MAIL, key))
    again = message_from_bytes(box.envelopes[1].content, policy=policy.default)
    assert again["Message-ID"] == mail["Message-ID"]


async def test_smtp_refusals_and_outages(smtp_server: tuple[Mailbox, int]) -> None:
    box, port = smtp_server
    mailer = SmtpEmail("127.0.0.1", port, "hub@grievance.example", timeout_seconds=5)
    box.refuse = "550 5.1.1 No such user"
    gone = await mailer.deliver(outbound(MAIL))
    assert not gone.ok and gone.permanent and "550" in gone.detail
    box.refuse = "451 4.3.0 Try again later"
    later = await mailer.deliver(outbound(MAIL))
    assert not later.ok and not later.permanent
    # STARTTLS asked of a server that does not offer it: the hub's setup, retried, not dropped
    box.refuse = None
    strict = SmtpEmail("127.0.0.1", port, "hub@grievance.example", starttls=True)
    refused = await strict.deliver(outbound(MAIL))
    assert not refused.ok and not refused.permanent
    down = SmtpEmail("127.0.0.1", free_port(), "hub@grievance.example", timeout_seconds=2)
    unreachable = await down.deliver(outbound(MAIL))
    assert not unreachable.ok and not unreachable.permanent
    assert (await mailer.deliver(outbound({**MAIL, "to": "nobody"}))).permanent


# aiosmtpd itself sets its deprecated Session.login_data on every successful login
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning")
async def test_smtp_with_starttls_and_login(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    box = Mailbox()
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        # handled=False: aiosmtpd answers 535 itself on a failure
        return AuthResult(success=data.password == b"s3cret", handled=False)

    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    try:
        mailer = SmtpEmail(
            "127.0.0.1",
            controller.port,
            "hub@grievance.example",
            user="hub",
            password="s3cret",
            starttls=True,
            tls_context=client_tls,
        )
        result = await mailer.deliver(outbound(MAIL))
        assert result.ok, result.detail
        assert logins == [(b"hub", b"s3cret")] and len(box.envelopes) == 1
        wrong = SmtpEmail(
            "127.0.0.1",
            controller.port,
            "hub@grievance.example",
            user="hub",
            password="wrong",
            starttls=True,
            tls_context=client_tls,
        )
        refused = await wrong.deliver(outbound(MAIL))
        assert not refused.ok and not refused.permanent  # a login problem is not the message's
        assert "535" in refused.detail
    finally:
        controller.stop()


# --- the registry and the relay -----------------------------------------------------------


def test_registry_adds_the_channels_from_the_sinks() -> None:
    plain = build_registry(Settings(connectors=("log",)))
    assert set(plain) == {"log", "sms", "email"}
    assert isinstance(plain["sms"], ConsoleSms) and isinstance(plain["email"], ConsoleEmail)
    real = build_registry(
        Settings(
            sms_sink="http",
            sms_gateway_url="https://sms.example/send",
            email_sink="smtp",
            smtp_host="mail.example",
        )
    )
    assert isinstance(real["sms"], HttpSms) and isinstance(real["email"], SmtpEmail)
    with pytest.raises(UnknownConnectorError, match=r"'HUB_CONNECTORS'.*cpgrams"):
        build_registry(Settings(connectors=("log", "cpgrams")))
    with pytest.raises(UnknownConnectorError, match="HUB_SMS_SINK"):
        build_registry(Settings(connectors=("sms",)))
    with pytest.raises(ValueError, match="HUB_SMS_GATEWAY_URL"):
        build_registry(Settings(sms_sink="http"))
    with pytest.raises(ValueError, match="HUB_EMAIL_FROM"):
        build_registry(Settings(email_sink="smtp", email_from="nobody"))


async def test_relay_delivers_notifications_and_no_mobile_or_otp_reaches_the_log(
    rt: Runtime, people: People, staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    # as hub.logs.configure does: the ORM's SQL (which carries citizens' data) stays out;
    # everything else at DEBUG (the last call sets the capturing handler's level)
    caplog.set_level(logging.INFO, logger="tortoise")
    caplog.set_level(logging.WARNING, logger="aiosqlite")
    caplog.set_level(logging.DEBUG)
    await User.filter(id=people.asha.id).update(email="asha@example.in", language="hi")
    grievance = await file(rt, people)
    event = await GrievanceEvent.get(grievance_id=grievance.id, action=Action.FILE)
    await notify_event(rt.settings, grievance, event)
    await act(grievance, Action.ASSIGN, people.udd_gro, S.ASSIGNED, assignee_id=staff.lme.id)

    stats = await Relay(rt.settings, build_registry(rt.settings)).drain()
    assert stats.dead == 0 and stats.retried == 0
    notes = await OutboxMessage.filter(topic__startswith="notify.")
    assert notes and {m.status for m in notes} == {OutboxStatus.DELIVERED}
    assert {m.connector for m in notes} == {"sms", "email"}
    # the sinks themselves, with a number and an OTP in the text
    secret = {"to": "+919876543210", "text": "Your OTP is 482913. Questions: 9876543210"}
    assert (await ConsoleSms().deliver(outbound(secret))).ok
    assert (
        await ConsoleEmail().deliver(outbound({**secret, "to": "a@b.in", "subject": "OTP 482913"}))
    ).ok
    assert (await LogConnector().deliver(outbound(secret))).ok

    standard = set(logging.makeLogRecord({}).__dict__)  # timestamps, thread ids: not data
    logged = caplog.text + " ".join(
        f"{record.getMessage()} {value}"
        for record in caplog.records
        for key, value in record.__dict__.items()
        if key not in standard
    )
    logged = re.sub(r"0x[0-9a-fA-F]+", "0x-", logged)  # object addresses are not numbers
    assert "sms to +91******0001" in caplog.text  # Asha's SMS, masked
    assert "sms to +91******3210" in caplog.text
    assert not TEN_DIGITS.search(logged), TEN_DIGITS.findall(logged)
    assert "482913" not in logged
