"""Demo data for the embedded default: officers, citizens and a few grievances.

Offices come from the sample rule files (``routing_rules/sample/offices.yaml``);
each department gets a HoD, nodal officer, GRO and LME at its headquarters,
and every other office a GRO and an LME."""

from __future__ import annotations

from dataclasses import dataclass

from hub.enums import Channel, Role, UserKind
from hub.models import Department, Grievance, Office, User
from hub.runtime import Runtime
from hub.services.grievances import FilingData, file_grievance
from hub.services.users import actor_for


@dataclass(frozen=True)
class DemoUser:
    mobile: str
    name: str
    roles: tuple[Role, ...]
    department: str | None = None
    language: str = "en"
    office: str | None = None  # default: the department's headquarters


OFFICER_ROLES = (
    (Role.HOD, "Head of Department"),
    (Role.NODAL_OFFICER, "Nodal Officer"),
    (Role.GRO, "Grievance Routing Officer"),
    (Role.LME, "Field Officer"),
)

CITIZENS = (
    DemoUser("+919900000001", "Asha Kumari", (Role.CITIZEN,), language="hi"),
    DemoUser("+919900000002", "Ravi Shankar", (Role.CITIZEN,)),
)
STATEWIDE = (
    DemoUser("+919800000001", "State Leadership Cell", (Role.LEADERSHIP,)),
    DemoUser("+919800000002", "Hub Administrator", (Role.ADMIN,)),
    DemoUser("+919800000003", "Call Centre Operator", (Role.OPERATOR,)),
)

# category None: filed as free text (a WhatsApp message): routed by the hub, or triaged
SAMPLE_GRIEVANCES: tuple[tuple[int, str | None, str | None, str], ...] = (
    (
        0,
        "UDD-ULB-SWM-GARB-DOOR",
        "KA-BLR-BBMP-W150-L1",
        "Garbage has not been collected from our street for five days and it smells.",
    ),
    (
        0,
        "WSD-WS-NOW-CONTAM",
        "KA-BLR-BBMP-W174",
        "The tap water in our building is muddy and smells of sewage since Monday.",
    ),
    (
        1,
        "SWD-PEN-OLD-DELAY",
        None,
        "My mother's old age pension has not been credited for the last three months.",
    ),
    (
        1,
        None,
        "KA-MYS-MCC",
        "Street lights near the bus stand are off and the road is dark at night.",
    ),
    (
        1,
        None,
        "KA-BLR-BBMP-W150",
        "The street light near the bus stop is not working for two weeks, batti band hai.",
    ),
    (
        1,
        None,
        None,
        "Nobody answers my complaints. This is the third time I am writing, please help.",
    ),
)


OFFICE_ROLES = (
    (Role.GRO, "Grievance Routing Officer"),
    (Role.LME, "Field Officer"),
)


def _mobile(department_index: int, role_index: int, prefix: str = "97") -> str:
    return f"+91{prefix}{department_index:04d}{role_index:04d}"


async def create_demo_data(rt: Runtime) -> list[DemoUser]:
    """Idempotent: a second run finds everything in place and files nothing new."""
    users: list[DemoUser] = [*CITIZENS, *STATEWIDE]
    for d_index, dept in enumerate(await Department.filter(active=True).order_by("code"), 1):
        for r_index, (role, title) in enumerate(OFFICER_ROLES, 1):
            users.append(
                DemoUser(
                    _mobile(d_index, r_index),
                    f"{title}, {dept.code}",
                    (role,),
                    department=dept.code,
                )
            )
    offices = (
        await Office.filter(active=True, is_headquarters=False, department__active=True)
        .select_related("department")
        .order_by("code")
    )
    for o_index, office in enumerate(offices, 1):
        for r_index, (role, title) in enumerate(OFFICE_ROLES, 1):
            users.append(
                DemoUser(
                    _mobile(o_index, r_index, prefix="96"),
                    f"{title}, {office.name}",
                    (role,),
                    department=office.department.code,
                    office=office.code,
                )
            )
    for user in users:
        await _ensure_user(user)
    if not await Grievance.exists():
        await _file_samples(rt)
    return users


async def _ensure_user(spec: DemoUser) -> User:
    existing = await User.get_or_none(mobile=spec.mobile)
    if existing is not None:
        return existing
    department = await Department.get(code=spec.department) if spec.department else None
    office_code = spec.office or (f"{spec.department}-HQ" if spec.department else None)
    office = await Office.get_or_none(code=office_code) if office_code else None
    kind = UserKind.CITIZEN if spec.roles == (Role.CITIZEN,) else UserKind.EMPLOYEE
    return await User.create(
        kind=kind,
        name=spec.name,
        mobile=spec.mobile,
        language=spec.language,
        roles=[r.value for r in spec.roles],
        department=department,
        office=office,
    )


async def _file_samples(rt: Runtime) -> None:
    for citizen_index, category, boundary, text in SAMPLE_GRIEVANCES:
        citizen = await User.get(mobile=CITIZENS[citizen_index].mobile)
        await file_grievance(
            rt,
            actor_for(citizen),
            FilingData(
                description=text,
                channel=Channel.WEB if category else Channel.WHATSAPP,
                category_code=category,
                boundary_code=boundary,
            ),
        )


def usage(users: list[DemoUser], base_url: str, *, serving: bool = True) -> str:
    state = "is serving" if serving else "is ready; `hub serve` serves it"
    lines = [
        f"Grievance Hub (dev) {state} at {base_url}",
        f"  GraphiQL:  {base_url}/graphql",
        f"  health:    {base_url}/healthz   readiness: {base_url}/readyz",
        "",
        "Act as a demo user by sending the dev-only header X-Hub-Dev-User: <mobile>",
        '(in GraphiQL: the Headers tab, e.g. {"X-Hub-Dev-User": "+919900000001"}).',
        "Real sign-in (requestOtp, verifyOtp) sends codes through the SMS sink, which never",
        "prints them: point HUB_SMS_SINK=http at a test gateway to try it end to end.",
    ]
    for user in users:
        scope = f" ({user.office or user.department})" if user.department else ""
        roles = ", ".join(r.value for r in user.roles)
        lines.append(f"  {user.mobile}  {roles:14} {user.name}{scope}")
    lines += [
        "",
        "File a grievance as a citizen:",
        f"  curl -s {base_url}/graphql -H 'content-type: application/json' \\",
        "    -H 'X-Hub-Dev-User: +919900000001' -d '{\"query\": \"mutation { fileGrievance("
        'input: {description: \\"Garbage not collected for a week\\", categoryCode: '
        '\\"UDD-ULB-SWM-GARB-DOOR\\"}) { grievance { registrationNumber status dueAt } '
        "errors { field message } } }\"}'",
        "",
        "Which office handles a category where, and why (offices: routing_rules/sample/):",
        "  hub jurisdiction UDD-ULB-SL-OFF --boundary KA-BLR-BBMP-W150",
        "  hub jurisdiction UDD-ULB-SWM-GARB-DOOR --at 12.94,77.70",
        "  hub rules unresolved",
        "",
        "Route a complaint's own words (Hindi, Hinglish, misspelt: all fine):",
        '  hub route "do din se paani nahi aa raha" --boundary KA-BLR-BBMP-W174',
        '  GraphQL: { routeSuggestions(text: "streetlight kharab hai") { suggestions { '
        "categoryCode departmentCode office { code } confidence explanation } } }",
        "  A GRO's triage queue: { triageQueue { registrationNumber description } }"
        " as +919700030003",
    ]
    return "\n".join(lines)
