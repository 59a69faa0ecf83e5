"""The authorization matrix's small world: one actor of each kind and two grievances.

G is UDD's, at the ward office UDD-BBMP-W150, filed by the operator for the citizen,
assigned to the LME, escalated to the nodal officer, sent to the portal ("cpgrams"),
with an attachment, an ATR and a rating (some written directly: the matrix is about
who sees what, not about the workflow). T awaits triage with UDD as the best guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hub.enums import Action, Channel, GrievanceStatus, Role, UserKind
from hub.models import Attachment, Department, Escalation, ExternalLink, Grievance, Office, User
from hub.runtime import Runtime
from hub.services import lifecycle, privacy
from hub.services.grievances import FilingData, file_grievance
from hub.services.users import actor_for
from hub.settings import Settings
from tests.conftest import bearer

ACTORS = (
    "anonymous",
    "citizen",
    "other_citizen",
    "operator",
    "gro",
    "other_gro",
    "lme",
    "nodal",
    "hod",
    "other_hod",
    "leadership",
    "admin",
    "department_system",
    "other_department_system",
    "portal",
    "other_portal",
)
WARD_OFFICE = "UDD-BBMP-W150"
ADDRESS = "12, 4th Cross, Ward 150"


@dataclass
class World:
    settings: Settings
    users: dict[str, User | None]
    values: dict[str, Any] = field(default_factory=dict)

    async def headers(self, actor: str) -> dict[str, str]:
        """A fresh sign-in's bearer token for each operation: signOut and revokeToken in
        the matrix end the sign-in they are sent with, and no other operation's."""
        return await bearer(self.settings, self.users[actor])


async def build(rt: Runtime) -> World:
    udd = await Department.get(code="UDD")
    wsd = await Department.get(code="WSD")
    ward = await Office.get(code=WARD_OFFICE)
    serial = iter(range(10, 99))

    async def user(
        kind: UserKind,
        role: Role,
        department: Department | None = None,
        office: Office | None = None,
        system: str = "",
        mobile: str | None = None,
    ) -> User:
        number = mobile or (None if kind == UserKind.SERVICE else f"+9197000000{next(serial)}")
        return await User.create(
            mobile=number,
            name=f"{role.value} {system or (department.code if department else '')}".strip(),
            kind=kind,
            roles=[role.value],
            department=department,
            office=office,
            system=system,
        )

    E, S = UserKind.EMPLOYEE, UserKind.SERVICE
    users: dict[str, User | None] = {
        "anonymous": None,
        "citizen": await user(UserKind.CITIZEN, Role.CITIZEN, mobile="+919900004321"),
        "other_citizen": await user(UserKind.CITIZEN, Role.CITIZEN, mobile="+919900008765"),
        "operator": await user(E, Role.OPERATOR),
        "gro": await user(E, Role.GRO, udd, ward),
        "other_gro": await user(E, Role.GRO, wsd),
        "lme": await user(E, Role.LME, udd, ward),
        "nodal": await user(E, Role.NODAL_OFFICER, udd),
        "hod": await user(E, Role.HOD, udd),
        "other_hod": await user(E, Role.HOD, wsd),
        "leadership": await user(E, Role.LEADERSHIP),
        "admin": await user(E, Role.ADMIN),
        "department_system": await user(S, Role.DEPARTMENT_SYSTEM, udd, system="udd-erp"),
        "other_department_system": await user(S, Role.DEPARTMENT_SYSTEM, wsd, system="wsd-erp"),
        "portal": await user(S, Role.PORTAL, system="cpgrams"),
        "other_portal": await user(S, Role.PORTAL, system="other-portal"),
    }
    citizen, operator = users["citizen"], users["operator"]
    assert citizen is not None and citizen.mobile and operator is not None
    filed = await file_grievance(
        rt,
        actor_for(operator),
        FilingData(
            description="Garbage has not been collected from our lane for a week.",
            channel=Channel.CALL_CENTRE,
            category_code="UDD-ULB-SWM-GARB-DOOR",
            boundary_code="KA-BLR-BBMP-W150",
            address=ADDRESS,
            citizen_mobile=citizen.mobile,
        ),
    )
    assert filed.office_id == ward.id and filed.citizen_id == citizen.id
    gro, lme, nodal = users["gro"], users["lme"], users["nodal"]
    assert gro is not None and lme is not None and nodal is not None
    request = lifecycle.ActionRequest(Action.ASSIGN, filed.registration_number, assignee_id=lme.id)
    await lifecycle.act(rt, actor_for(gro), request)
    now = dt.datetime.now(dt.UTC)
    await Escalation.filter(grievance_id=filed.id).update(level=1, officer_id=nodal.id)
    await Grievance.filter(id=filed.id).update(
        resolution={
            "atr": "Cleared the garbage point.",
            "closure_reason": "REDRESSED",
            "remarks": "done",
            "at": now.isoformat(),
        },
        closure_reason="REDRESSED",
        rating=4,
        feedback="Quick work.",
        answered_at=now,
        closed_at=now,
    )
    await ExternalLink.create(grievance_id=filed.id, system="cpgrams", external_id="CPG-1")
    await Attachment.create(
        grievance_id=filed.id,
        filename="lane.png",
        purpose="photo",
        content_type="image/png",
        size_bytes=68,
        sha256="0" * 64,
        storage_key="authz-world-lane",
        uploaded_by_id=citizen.id,
    )
    triage = await file_grievance(
        rt,
        actor_for(citizen),
        FilingData(description="Something is wrong near our house.", channel=Channel.WEB),
    )
    await Grievance.filter(id=triage.id).update(
        status=GrievanceStatus.TRIAGE, category_id=None, department_id=udd.id, office_id=None
    )
    values = {
        "G": filed.registration_number,
        "T": triage.registration_number,
        "citizen_mobile": citizen.mobile,
        "address": ADDRESS,
        "masked_mobile": privacy.mask_mobile(citizen.mobile),
    }
    return World(settings=rt.settings, users=users, values=values)
