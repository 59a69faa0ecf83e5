"""The workflow over GraphQL: an officer's inbox, tracking and search, actions and refusals."""

from __future__ import annotations

import datetime as dt

import httpx

from hub.enums import Action
from hub.models import Grievance
from hub.runtime import Runtime
from tests.conftest import People, Staff, data_of, gql
from tests.test_lifecycle import act, file

ACT = """
mutation Act($input: ActionInput!) {
  performAction(input: $input) {
    grievance { registrationNumber status version assignee { id name } allowedActions }
    errors { field code message }
    refusal { action state allowedActions message }
  }
}
"""

INBOX = """
query Inbox($after: String) {
  inbox(first: 2, after: $after) {
    nodes { registrationNumber status dueAt slaColour pendencyBucket }
    pageInfo { endCursor hasNextPage }
  }
}
"""

SEARCH = """
query Search($filter: GrievanceSearch!) {
  searchGrievances(filter: $filter, first: 10) {
    nodes { registrationNumber filedAt }
    pageInfo { hasNextPage }
  }
}
"""

MINE = "query { myGrievances(first: 10) { nodes { registrationNumber } } }"
REASONS = 'query { closureReasons { code name(locale: "hi") } }'


async def test_a_gro_assigns_and_the_lme_sees_it_first_in_the_inbox(
    client: httpx.AsyncClient, rt: Runtime, people: People, staff: Staff
) -> None:
    filed = [await file(rt, people.asha) for _ in range(3)]
    # the most urgent first: make the last one due soonest
    await Grievance.filter(id=filed[2].id).update(
        due_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )
    for grievance in filed:
        body = data_of(
            await gql(
                client,
                ACT,
                {
                    "input": {
                        "action": "ASSIGN",
                        "registrationNumber": grievance.registration_number,
                        "assigneeId": staff.lme.id,
                        "expectedVersion": 1,
                    }
                },
                as_user=people.udd_gro,
            )
        )["performAction"]
        assert body["errors"] == [] and body["refusal"] is None
        assert body["grievance"]["assignee"] == {"id": staff.lme.id, "name": "UDD LME"}
        assert "ASSIGN" not in body["grievance"]["allowedActions"]
    first = data_of(await gql(client, INBOX, as_user=staff.lme))["inbox"]
    numbers = [n["registrationNumber"] for n in first["nodes"]]
    assert numbers[0] == filed[2].registration_number
    assert first["nodes"][0]["slaColour"] == "RED"
    assert first["nodes"][0]["pendencyBucket"] == "UNDER_7_DAYS"
    assert first["pageInfo"]["hasNextPage"] is True
    rest = data_of(
        await gql(client, INBOX, {"after": first["pageInfo"]["endCursor"]}, as_user=staff.lme)
    )["inbox"]
    numbers += [n["registrationNumber"] for n in rest["nodes"]]
    assert sorted(numbers) == sorted(g.registration_number for g in filed)
    assert rest["pageInfo"]["hasNextPage"] is False
    # another LME's inbox is empty; a citizen's too
    other = data_of(await gql(client, INBOX, as_user=staff.other_lme))["inbox"]
    assert other["nodes"] == []


async def test_a_refusal_names_the_state_and_the_allowed_actions(
    client: httpx.AsyncClient, rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    body = data_of(
        await gql(
            client,
            ACT,
            {
                "input": {
                    "action": "RATE",
                    "registrationNumber": filed.registration_number,
                    "rating": 5,
                }
            },
            as_user=people.asha,
        )
    )["performAction"]
    assert body["grievance"] is None
    assert body["refusal"]["state"] == "PENDING_ASSIGNMENT"
    assert body["refusal"]["action"] == "RATE"
    assert "COMMENT" in body["refusal"]["allowedActions"]
    assert body["errors"][0]["code"] == "illegal_action"


async def test_an_unknown_closure_reason_is_a_field_error(
    client: httpx.AsyncClient, rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    await act(
        rt, people.udd_gro, Action.ASSIGN, filed.registration_number, assignee_id=staff.lme.id
    )
    body = data_of(
        await gql(
            client,
            ACT,
            {
                "input": {
                    "action": "RESOLVE",
                    "registrationNumber": filed.registration_number,
                    "atr": "Cleared the garbage point today.",
                    "closureReason": "BECAUSE",
                }
            },
            as_user=staff.lme,
        )
    )["performAction"]
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("closureReason", "unknown")]
    reasons = data_of(await gql(client, REASONS, as_user=staff.lme))["closureReasons"]
    assert len(reasons) == 11 and reasons[0]["code"] == "REDRESSED"
    assert all(r["name"] for r in reasons)


async def test_officers_search_by_mobile_within_their_department(
    client: httpx.AsyncClient, rt: Runtime, people: People, staff: Staff
) -> None:
    mine = await file(rt, people.asha)
    await file(rt, people.ravi)
    water = await file(rt, people.asha, category="WSD-WS-NOW-AREA")
    found = data_of(
        await gql(client, SEARCH, {"filter": {"mobile": "99000 00001"}}, as_user=people.udd_gro)
    )["searchGrievances"]
    assert [n["registrationNumber"] for n in found["nodes"]] == [mine.registration_number]
    by_name = data_of(
        await gql(client, SEARCH, {"filter": {"name": "ash"}}, as_user=people.leader)
    )["searchGrievances"]
    assert {n["registrationNumber"] for n in by_name["nodes"]} == {
        mine.registration_number,
        water.registration_number,
    }
    bad = await gql(client, SEARCH, {"filter": {"mobile": "12345"}}, as_user=people.udd_gro)
    assert bad["errors"][0]["message"].startswith("filter.mobile")
    listed = data_of(await gql(client, MINE, as_user=people.asha))["myGrievances"]["nodes"]
    assert [n["registrationNumber"] for n in listed] == [
        water.registration_number,
        mine.registration_number,
    ]


async def test_a_gro_lists_the_lmes_to_assign_to(
    client: httpx.AsyncClient, people: People, staff: Staff
) -> None:
    query = "query { officers(role: LME) { id name } }"
    listed = data_of(await gql(client, query, as_user=people.udd_gro))["officers"]
    assert {o["id"] for o in listed} == {staff.lme.id, staff.other_lme.id}
    refused = await gql(client, query, as_user=people.asha)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_timeline_shows_who_acted_from_where_and_what_changed(
    client: httpx.AsyncClient, rt: Runtime, people: People, staff: Staff
) -> None:
    filed = await file(rt, people.asha)
    await act(
        rt, people.udd_gro, Action.ASSIGN, filed.registration_number, assignee_id=staff.lme.id
    )
    query = """query R($n: String!) { grievance(registrationNumber: $n) {
      timeline { action actorRole actor { name } office { code } before after } } }"""
    body = data_of(await gql(client, query, {"n": filed.registration_number}, as_user=people.asha))
    filing, assigning = body["grievance"]["timeline"]
    assert filing["actor"] == {"name": "Asha"} and filing["before"] == {}
    assert assigning["actor"] == {"name": "UDD GRO"}
    assert assigning["office"] == {"code": "UDD-HQ"}
    assert assigning["before"]["assignee"] is None
    assert assigning["after"]["assignee"] == staff.lme.id and assigning["after"]["version"] == 2
