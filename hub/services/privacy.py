"""Who sees a complainant's mobile number and address in full: those who contact or visit.

Everyone who may see a grievance sees the complainant's name; the mobile number and
the address are shown in full only to the citizen themself, whoever filed it for them
(an operator, portal or department system), the officers answerable for it (its GRO,
its LME, the officer it is escalated to, its department's nodal officer and HoD) and
its department's system. Leadership, admins and everyone else see them masked.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth.actor import Actor
from hub.enums import Role
from hub.models import Grievance
from hub.services import phones

WITHHELD = "withheld"


@dataclass(frozen=True)
class Contact:
    name: str
    mobile: str | None
    language: str
    masked: bool


def needs_contact(actor: Actor, grievance: Grievance) -> bool:
    """Whether the actor contacts or visits the complainant of this grievance."""
    if actor.has(Role.SYSTEM):
        return True  # the hub itself: forwarding to the department's own system
    me = actor.user_id
    if me is not None and me in (
        grievance.citizen_id,
        grievance.filed_by_id,
        grievance.assignee_id,
        grievance.escalated_to_id,
    ):
        return True
    if actor.department_id is None or actor.department_id != grievance.department_id:
        return False
    if actor.has(Role.NODAL_OFFICER, Role.HOD, Role.DEPARTMENT_SYSTEM):
        return True
    # the GRO who assigns it: of its office, or of the department when no office has it
    return actor.has(Role.GRO) and (
        actor.office_id is None or grievance.office_id in (None, actor.office_id)
    )


def mask_mobile(mobile: str) -> str:
    """``+919900004321`` -> ``+91******4321``: the country code and the last digits."""
    return phones.masked(mobile)


def contact(
    actor: Actor, grievance: Grievance, name: str, mobile: str | None, language: str
) -> Contact:
    if needs_contact(actor, grievance):
        return Contact(name, mobile, language, masked=False)
    return Contact(name, mask_mobile(mobile) if mobile else None, language, masked=True)


def address(actor: Actor, grievance: Grievance, boundary_name: str | None) -> str | None:
    """The grievance's address, or for those who do not visit only the area it is in."""
    if not grievance.address or needs_contact(actor, grievance):
        return grievance.address
    return boundary_name or WITHHELD
