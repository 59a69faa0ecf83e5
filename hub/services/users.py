"""Accounts: turning a stored user into the ``Actor`` that services take."""

from __future__ import annotations

from auth.actor import Actor
from hub.enums import Role
from hub.models import User


def actor_for(user: User) -> Actor:
    return Actor(
        user_id=user.id,
        kind=user.kind,
        roles=frozenset(Role(role) for role in user.roles),
        department_id=user.department_id,
        office_id=user.office_id,
        system=user.system or None,
    )


async def dev_actor(reference: str) -> Actor | None:
    """Dev mode only: the actor named by a user id or a mobile number."""
    from hub.services.grievances import normalise_mobile

    reference = reference.strip()
    if reference.isdigit() and len(reference) < 10:
        user = await User.get_or_none(id=int(reference), active=True)
    else:
        mobile = normalise_mobile(reference)
        user = await User.get_or_none(mobile=mobile, active=True) if mobile else None
    return actor_for(user) if user else None
