"""A citizen files a grievance over GraphQL and reads it back; an attacker cannot."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from hub.enums import OutboxStatus, UserKind
from hub.jobs import InProcessRunner
from hub.models import Grievance, GrievanceEvent, Office, OutboxMessage, User
from tests.conftest import People, data_of, gql

FILE = """
mutation File($input: FileGrievanceInput!) {
  fileGrievance(input: $input) {
    grievance {
      registrationNumber status channel dueAt filedAt
      category { code slaDays department { code name } }
      timeline { action actorRole fromStatus toStatus }
    }
    errors { field code message }
  }
}
"""

READ = """
query Read($number: String!) {
  grievance(registrationNumber: $number) {
    registrationNumber status description
    department { code }
    timeline { action toStatus }
  }
}
"""

GARBAGE = {
    "description": "Garbage has not been collected from our lane for a week.",
    "categoryCode": "UDD-ULB-SWM-GARB-DOOR",
    "boundaryCode": "KA-BLR-BBMP-W150",
}


async def test_citizen_files_and_reads_back(
    client: httpx.AsyncClient, people: People, runner: InProcessRunner
) -> None:
    filed = data_of(await gql(client, FILE, {"input": GARBAGE}, as_user=people.asha))
    payload = filed["fileGrievance"]
    assert payload["errors"] == []
    grievance = payload["grievance"]
    number = grievance["registrationNumber"]
    assert re.fullmatch(r"KA-UDD-\d{4}-\d{7}", number)
    assert grievance["status"] == "PENDING_ASSIGNMENT"
    assert grievance["channel"] == "WEB"
    assert grievance["category"]["code"] == "UDD-ULB-SWM-GARB-DOOR"
    assert grievance["category"]["slaDays"] == 3  # inherited from the service
    assert grievance["category"]["department"]["code"] == "UDD"
    assert grievance["dueAt"] > grievance["filedAt"]
    assert grievance["timeline"] == [
        {
            "action": "FILE",
            "actorRole": "citizen",
            "fromStatus": None,
            "toStatus": "PENDING_ASSIGNMENT",
        }
    ]

    # one grievance, one event, one outbox row, all written together
    row = await Grievance.get(registration_number=number)
    assert await GrievanceEvent.filter(grievance_id=row.id).count() == 1
    message = await OutboxMessage.get(grievance_id=row.id, connector="log")
    assert message.status == OutboxStatus.PENDING
    assert message.payload["registration_number"] == number

    # the job runner delivers it to the log connector
    stats = await runner.run_pending()
    assert stats["delivered"] >= 1  # with the SMS acknowledging the filing
    await message.refresh_from_db()
    assert message.status == OutboxStatus.DELIVERED
    assert message.attempts == 1

    read = data_of(await gql(client, READ, {"number": number}, as_user=people.asha))
    assert read["grievance"]["department"] == {"code": "UDD"}
    assert read["grievance"]["timeline"] == [{"action": "FILE", "toStatus": "PENDING_ASSIGNMENT"}]


async def test_registration_numbers_are_sequential_per_department(
    client: httpx.AsyncClient, people: People
) -> None:
    numbers = []
    for _ in range(3):
        body = await gql(client, FILE, {"input": GARBAGE}, as_user=people.asha)
        numbers.append(data_of(body)["fileGrievance"]["grievance"]["registrationNumber"])
    sequences = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert sequences == [sequences[0], sequences[0] + 1, sequences[0] + 2]
    water = {**GARBAGE, "categoryCode": "WSD-WS-NOW-CONTAM"}
    body = await gql(client, FILE, {"input": water}, as_user=people.asha)
    assert data_of(body)["fileGrievance"]["grievance"]["registrationNumber"].startswith("KA-WSD-")


async def test_another_citizen_sees_nothing(client: httpx.AsyncClient, people: People) -> None:
    body = await gql(client, FILE, {"input": GARBAGE}, as_user=people.asha)
    number = data_of(body)["fileGrievance"]["grievance"]["registrationNumber"]

    stolen = await gql(client, READ, {"number": number}, as_user=people.ravi)
    missing = await gql(client, READ, {"number": "KA-UDD-2026-9999999"}, as_user=people.ravi)
    assert stolen == missing == {"data": {"grievance": None}}

    # staff of another department, or of another office of it (UDD's GRO at its
    # headquarters): same answer; the GRO of the ward's office and leadership see it
    for outsider in (people.wsd_gro, people.udd_gro):
        assert data_of(await gql(client, READ, {"number": number}, as_user=outsider)) == {
            "grievance": None
        }
    ward = await Office.get(code="UDD-BBMP-W150")
    ward_gro = await User.create(
        mobile="+919700030099",
        name="Ward GRO",
        kind=UserKind.EMPLOYEE,
        roles=["gro"],
        department_id=ward.department_id,
        office=ward,
    )
    for viewer in (ward_gro, people.leader):
        seen = data_of(await gql(client, READ, {"number": number}, as_user=viewer))
        assert seen["grievance"]["registrationNumber"] == number


async def test_anonymous_requests_are_refused(client: httpx.AsyncClient, people: People) -> None:
    body = await gql(client, FILE, {"input": GARBAGE})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await Grievance.all().count() == 0


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"description": "short"}, "description", "too_short"),
        ({"categoryCode": "NO-SUCH"}, "categoryCode", "unknown"),
        ({"categoryCode": "UDD-ULB-SWM-GARB"}, "categoryCode", "not_leaf"),
        ({"boundaryCode": "XX"}, "boundaryCode", "unknown"),
        # longer than any code: named, not an internal error echoing it
        ({"categoryCode": "X" * 300}, "categoryCode", "too_long"),
        ({"boundaryCode": "X" * 300}, "boundaryCode", "too_long"),
        ({"clientReference": "R" * 200}, "clientReference", "invalid"),
        ({"language": "x" * 20}, "language", "invalid"),
        ({"latitude": 12.9}, "latitude", "incomplete"),
        ({"latitude": 95.0, "longitude": 77.6}, "latitude", "out_of_range"),
    ],
)
async def test_bad_filing_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, people: People, change: dict[str, object], field: str, code: str
) -> None:
    body = await gql(client, FILE, {"input": {**GARBAGE, **change}}, as_user=people.asha)
    payload = data_of(body)["fileGrievance"]
    assert payload["grievance"] is None
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in payload["errors"]
    ]
    assert await Grievance.all().count() == 0
    assert await GrievanceEvent.all().count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_a_registration_number_longer_than_any_is_no_grievance(
    client: httpx.AsyncClient, people: People
) -> None:
    body = await gql(client, READ, {"number": "X" * 300}, as_user=people.asha)
    assert body.get("errors") is None and body["data"]["grievance"] is None


async def test_operator_files_for_a_caller(client: httpx.AsyncClient, people: People) -> None:
    call = {
        **GARBAGE,
        "channel": "CALL_CENTRE",
        "citizenMobile": "98450 12345",
        "citizenName": "Lakshmi",
    }
    payload = data_of(await gql(client, FILE, {"input": call}, as_user=people.operator))
    assert payload["fileGrievance"]["errors"] == []
    grievance = await Grievance.get(
        registration_number=payload["fileGrievance"]["grievance"]["registrationNumber"]
    )
    citizen = await User.get(id=grievance.citizen_id)
    assert citizen.mobile == "+919845012345"
    assert grievance.filed_by_id == people.operator.id

    no_mobile = {**GARBAGE, "channel": "CALL_CENTRE"}
    errors = data_of(await gql(client, FILE, {"input": no_mobile}, as_user=people.operator))
    assert errors["fileGrievance"]["errors"][0]["field"] == "citizenMobile"


async def test_staff_cannot_file(client: httpx.AsyncClient, people: People) -> None:
    refused = await gql(client, FILE, {"input": GARBAGE}, as_user=people.udd_gro)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await Grievance.all().count() == 0


async def test_retried_filing_with_client_reference_files_once(
    client: httpx.AsyncClient, people: People
) -> None:
    first = {**GARBAGE, "clientReference": "app-7f3a"}
    a = data_of(await gql(client, FILE, {"input": first}, as_user=people.asha))
    b = data_of(await gql(client, FILE, {"input": first}, as_user=people.asha))
    number = a["fileGrievance"]["grievance"]["registrationNumber"]
    assert b["fileGrievance"]["grievance"]["registrationNumber"] == number
    assert await Grievance.all().count() == 1
    assert await OutboxMessage.filter(connector="log").count() == 1


async def test_concurrent_filings_get_unique_numbers(
    client: httpx.AsyncClient, people: People
) -> None:

    bodies = await asyncio.gather(
        *(gql(client, FILE, {"input": GARBAGE}, as_user=people.asha) for _ in range(20))
    )
    numbers = [data_of(b)["fileGrievance"]["grievance"]["registrationNumber"] for b in bodies]
    assert len(set(numbers)) == 20
    assert await Grievance.all().count() == 20
    assert await OutboxMessage.filter(connector="log").count() == 20
