"""Who is acting: every hub service call takes an ``Actor``."""

from __future__ import annotations

from dataclasses import dataclass

from hub.enums import Role, UserKind

STAFF_ROLES = frozenset({Role.GRO, Role.LME, Role.NODAL_OFFICER, Role.HOD, Role.DEPARTMENT_SYSTEM})
STATEWIDE_ROLES = frozenset({Role.LEADERSHIP, Role.ADMIN, Role.SYSTEM})
# Most senior first: the role an actor's timeline entries are recorded under.
_SENIORITY = (
    Role.SYSTEM,
    Role.ADMIN,
    Role.LEADERSHIP,
    Role.HOD,
    Role.NODAL_OFFICER,
    Role.GRO,
    Role.LME,
    Role.DEPARTMENT_SYSTEM,
    Role.PORTAL,
    Role.OPERATOR,
    Role.CITIZEN,
)


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    kind: UserKind
    roles: frozenset[Role]
    department_id: int | None = None
    office_id: int | None = None
    # a service account's system code (e.g. "cpgrams" for a portal)
    system: str | None = None
    # the sign-in this request's token belongs to, for logout and revocation
    session_id: str | None = None
    token_id: str | None = None

    @property
    def role(self) -> Role:
        """The role recorded on the timeline: the most senior one the actor holds."""
        for role in _SENIORITY:
            if role in self.roles:
                return role
        return Role.CITIZEN

    def has(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_statewide(self) -> bool:
        return self.has(*STATEWIDE_ROLES)

    @property
    def is_department_staff(self) -> bool:
        return self.department_id is not None and self.has(*STAFF_ROLES)

    @classmethod
    def internal(cls) -> Actor:
        """The hub itself (jobs: escalation, auto-close, routing)."""
        return cls(user_id=None, kind=UserKind.SERVICE, roles=frozenset({Role.SYSTEM}))
