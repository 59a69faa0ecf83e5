"""Scope beyond the matrix: the visibility rule's branches, masking, audit of refusals,
payloads after a change of scope, and subscriptions that end when scope is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hub.app import create_app
from hub.enums import Action, Channel, Role, UserKind
from hub.models import AuditRecord, Department, Escalation, ExternalLink, Grievance, Office, User
from hub.pubsub import grievance_channel
from hub.runtime import Runtime
from hub.services import lifecycle, privacy
from hub.services.grievances import FilingData, file_grievance, get_grievance
from hub.services.users import actor_for
from hub.settings import Settings
from tests.conftest import People, bearer, data_of
from tests.test_subscriptions import local, receive, serve, session, subscribe, until

GARBAGE = FilingData(
    description="Garbage has not been collected from our lane for a week.",
    channel=Channel.WEB,
    category_code="UDD-ULB-SWM-GARB-DOOR",
    boundary_code="KA-BLR-BBMP-W150",
    address="12, 4th Cross",
)
SERVICE_ROLES = (Role.PORTAL, Role.DEPARTMENT_SYSTEM)
READ = """query R($n: String!) { grievance(registrationNumber: $n) {
  address complainant { mobile masked } } }"""


async def _officer(
    role: Role, department: str | None, office: str | None = None, **extra: object
) -> User:
    dept = await Department.get(code=department) if department else None
    where = await Office.get(code=office) if office else None
    return await User.create(
        kind=UserKind.SERVICE
        if role in (Role.PORTAL, Role.DEPARTMENT_SYSTEM)
        else UserKind.EMPLOYEE,
        name=f"{role.value} {department} {office}",
        roles=[role.value],
        department=dept,
        office=where,
        **extra,
    )


async def _sees(user: User, grievance: Grievance) -> bool:
    return await get_grievance(actor_for(user), grievance.registration_number) is not None


async def test_officers_see_their_office_and_what_no_office_holds(
    rt: Runtime, people: People
) -> None:
    ward = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    unplaced = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    await Grievance.filter(id=unplaced.id).update(office_id=None)
    ward_lme = await _officer(Role.LME, "UDD", "UDD-BBMP-W150", mobile="+919700030101")
    hq_lme = await _officer(Role.LME, "UDD", "UDD-HQ", mobile="+919700030102")
    roaming_lme = await _officer(Role.LME, "UDD", mobile="+919700030103")
    nodal = await _officer(Role.NODAL_OFFICER, "UDD", mobile="+919700030104")
    assert await _sees(ward_lme, ward) and await _sees(ward_lme, unplaced)
    assert not await _sees(hq_lme, ward) and await _sees(hq_lme, unplaced)
    assert not await _sees(people.udd_gro, ward)  # the GRO at UDD's headquarters
    assert await _sees(roaming_lme, ward) and await _sees(nodal, ward)
    # what is assigned or escalated to someone follows them, whatever their office
    await Escalation.filter(grievance_id=ward.id).update(officer_id=hq_lme.id)
    assert await _sees(hq_lme, ward)


async def test_portals_see_what_they_filed_or_were_sent(rt: Runtime, people: People) -> None:
    cpgrams = await _officer(Role.PORTAL, None, system="cpgrams")
    other = await _officer(Role.PORTAL, None, system="other")
    filed = await file_grievance(
        rt, actor_for(other), FilingData(**{**GARBAGE.__dict__, "citizen_mobile": "9900000001"})
    )
    sent = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    await ExternalLink.create(grievance_id=sent.id, system="cpgrams", external_id="CPG-9")
    assert await _sees(cpgrams, sent) and not await _sees(cpgrams, filed)
    assert await _sees(other, filed) and not await _sees(other, sent)


async def test_a_state_triage_cell_sees_only_what_has_no_department(
    rt: Runtime, people: People
) -> None:
    cell = await _officer(Role.GRO, None, mobile="+919700099001")
    unsure = await file_grievance(
        rt, people.actor(people.asha), FilingData("Nobody answers me. Third time.", Channel.SMS)
    )
    placed = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    assert unsure.department_id is None
    assert await _sees(cell, unsure) and not await _sees(cell, placed)


def test_masked_mobile_keeps_the_country_code_and_last_four() -> None:
    assert privacy.mask_mobile("+919900004321") == "+91******4321"
    assert privacy.mask_mobile("12") == "**"


async def test_contact_details_are_masked_for_leadership_and_full_for_the_gro(
    client: httpx.AsyncClient, rt: Runtime, people: People
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    ward_gro = await _officer(Role.GRO, "UDD", "UDD-BBMP-W150", mobile="+919700030105")
    number = {"n": grievance.registration_number}

    async def read(user: User) -> dict[str, object]:
        response = await client.post(
            "/graphql",
            json={"query": READ, "variables": number},
            headers=await bearer(rt.settings, user),
        )
        found: dict[str, object] = data_of(response.json())["grievance"]
        return found

    assert await read(ward_gro) == {
        "address": "12, 4th Cross",
        "complainant": {"mobile": "+919900000001", "masked": False},
    }
    assert await read(people.leader) == {
        "address": "Ward 150 Bellandur",
        "complainant": {"mobile": "+91******0001", "masked": True},
    }
    await Grievance.filter(id=grievance.id).update(boundary_id=None)
    assert (await read(people.leader))["address"] == privacy.WITHHELD


async def test_a_refused_field_is_audited(
    client: httpx.AsyncClient, settings: Settings, people: People
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{ triageQueue { registrationNumber } }"},
        headers=await bearer(settings, people.asha),
    )
    assert response.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    record = await AuditRecord.get(kind="permission.denied")
    assert (record.actor_id, record.subject) == (people.asha.id, "Query.triageQueue")


TRANSFER = """mutation T($n: String!) { performAction(input: {action: TRANSFER,
  registrationNumber: $n, categoryCode: "WSD-WS-NOW-AREA", note: "Water, not garbage"}) {
  grievance { registrationNumber } errors { code } } }"""


async def test_after_a_transfer_the_payload_shows_nothing(
    client: httpx.AsyncClient, rt: Runtime, people: People
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    ward_gro = await _officer(Role.GRO, "UDD", "UDD-BBMP-W150", mobile="+919700030106")
    response = await client.post(
        "/graphql",
        json={"query": TRANSFER, "variables": {"n": grievance.registration_number}},
        headers=await bearer(rt.settings, ward_gro),
    )
    assert data_of(response.json())["performAction"] == {"grievance": None, "errors": []}
    assert (await Grievance.get(id=grievance.id)).transfers == 1


@pytest.fixture
async def hub_ws(rt: Runtime) -> AsyncIterator[str]:
    async with serve(create_app(rt.settings, jobs=rt.jobs, broker=rt.broker)) as url:
        yield url


async def test_a_subscription_ends_when_the_grievance_leaves_the_subscribers_scope(
    rt: Runtime, people: People, hub_ws: str
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    number = grievance.registration_number
    ward_gro = await _officer(Role.GRO, "UDD", "UDD-BBMP-W150", mobile="+919700030107")
    async with session(hub_ws, await bearer(rt.settings, ward_gro)) as ws:
        await subscribe(ws, number)
        await until(lambda: local(rt).subscriber_count(grievance_channel(number)) == 1)
        comment = lifecycle.ActionRequest(Action.COMMENT, number, note="Looking into it")
        await lifecycle.act(rt, actor_for(ward_gro), comment)
        heard = await receive(ws)
        assert heard["payload"]["data"]["grievanceUpdates"]["action"] == "COMMENT"
        transfer = lifecycle.ActionRequest(
            Action.TRANSFER, number, category_code="WSD-WS-NOW-AREA", note="Water, not garbage"
        )
        await lifecycle.act(rt, actor_for(ward_gro), transfer)
        # the transfer itself is not shown: the stream completes
        assert await receive(ws) == {"type": "complete", "id": "1"}
