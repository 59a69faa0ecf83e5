"""The access audit as a state IT cell reads it: who looked whom up, from where."""

from __future__ import annotations

import httpx
import pytest

from hub.models import AuditRecord
from hub.runtime import Runtime
from hub.services.grievances import file_grievance, get_grievance
from tests.conftest import People, Staff, bearer, data_of
from tests.test_subscriptions import GARBAGE

SEARCH = """query($m: String!) { searchGrievances(filter: {mobile: $m}) {
  nodes { registrationNumber } } }"""


async def test_an_officer_looking_a_citizen_up_by_number_is_audited(
    client: httpx.AsyncClient, rt: Runtime, people: People
) -> None:
    await file_grievance(rt, people.actor(people.asha), GARBAGE)
    response = await client.post(
        "/graphql",
        json={"query": SEARCH, "variables": {"m": "99000 00001"}},
        headers={**await bearer(rt.settings, people.leader), "User-Agent": "dashboard/1.0"},
    )
    assert len(data_of(response.json())["searchGrievances"]["nodes"]) == 1
    record = await AuditRecord.get(kind="data.search")
    assert record.actor_id == people.leader.id and record.actor_role == "leadership"
    assert record.user_agent == "dashboard/1.0" and record.ip == "127.0.0.1"
    assert record.detail["mobile"] == "+91******0001" and record.detail["results"] == 1
    assert "9900000001" not in str(record.detail) + record.subject


async def test_a_refused_search_leaves_no_search_record_but_a_bad_one_nothing_at_all(
    client: httpx.AsyncClient, rt: Runtime, people: People
) -> None:
    headers = await bearer(rt.settings, people.udd_gro)
    bad = await client.post(
        "/graphql", json={"query": SEARCH, "variables": {"m": "12345"}}, headers=headers
    )
    assert bad.json()["errors"] or bad.json()["data"]
    citizen = await client.post(
        "/graphql",
        json={"query": SEARCH, "variables": {"m": "9900000001"}},
        headers=await bearer(rt.settings, people.asha),
    )
    assert citizen.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    kinds = [r.kind for r in await AuditRecord.all().order_by("id")]
    assert kinds == ["permission.denied"]


async def test_acting_on_a_grievance_one_may_not_touch_is_audited(
    rt: Runtime, people: People, staff: Staff
) -> None:
    from hub.enums import Action
    from hub.errors import DomainError
    from hub.services import lifecycle
    from hub.services.users import actor_for
    from hub.workflow import IllegalAction

    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    number = grievance.registration_number
    # WSD's GRO cannot see UDD's grievance: told "not found", audited as a denial
    with pytest.raises(DomainError):
        await lifecycle.act(
            rt, actor_for(people.wsd_gro), lifecycle.ActionRequest(Action.COMMENT, number, note="?")
        )
    # Ravi sees nothing of Asha's; a number that does not exist is not a denial
    assert await get_grievance(people.actor(people.ravi), number) is None
    assert await get_grievance(people.actor(people.ravi), "KA-UDD-2026-9999999") is None
    # a citizen may not assign: refused for the role, audited
    with pytest.raises(IllegalAction):
        await lifecycle.act(
            rt,
            people.actor(people.asha),
            lifecycle.ActionRequest(Action.ASSIGN, number, assignee_id=staff.lme.id),
        )
    denied = [(r.actor_id, r.subject) for r in await AuditRecord.filter(kind="permission.denied")]
    assert denied == [
        (people.wsd_gro.id, f"COMMENT {number}"),
        (people.ravi.id, f"grievance {number}"),
        (people.asha.id, f"ASSIGN {number}"),
    ]
