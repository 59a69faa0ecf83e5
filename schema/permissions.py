"""Permissions declared on fields: which roles may use a field at all.

Every root field says who may use it, ``permission_classes=[Allow.to(Role.GRO, ...)]``,
``[Allow.signed_in()]`` or ``[Allow.anyone()]``; a test fails on a root field without
one. Which grievances a permitted actor then sees is the scope rule in
``hub.services.grievances.visible_to``: a field is refused with an error that may say
so, an object out of scope looks missing.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from graphql import GraphQLError
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from hub.enums import Role
from hub.services import audit
from schema.context import Info

OFFICERS = (Role.GRO, Role.LME, Role.NODAL_OFFICER, Role.HOD)
STATEWIDE = (Role.LEADERSHIP, Role.ADMIN)
FILERS = (Role.CITIZEN, Role.OPERATOR, Role.PORTAL, Role.DEPARTMENT_SYSTEM)
# who works grievances of a department, or of the whole state
STAFF = (*OFFICERS, *STATEWIDE, Role.DEPARTMENT_SYSTEM)

UNAUTHENTICATED = "Not authenticated: sign in first."


class Allow(BasePermission):
    """The field's audience: anyone, anyone signed in, or actors holding one of ``roles``.

    Refusals are GraphQL errors: UNAUTHENTICATED without an actor, FORBIDDEN for a role
    the field is not for (recorded in the audit log). A ``quiet`` permission answers
    null or an empty list instead, for edges whose absence says nothing."""

    roles: ClassVar[frozenset[Role] | None] = None  # None: any signed-in actor
    public: ClassVar[bool] = False
    quiet: ClassVar[bool] = False

    @classmethod
    def to(cls, *roles: Role) -> type[Allow]:
        return cls._variant("Allow" + "".join(r.title().replace("_", "") for r in roles), roles)

    @classmethod
    def signed_in(cls) -> type[Allow]:
        return cls._variant("AllowSignedIn", None)

    @classmethod
    def anyone(cls) -> type[Allow]:
        return cls._variant("AllowAnyone", None, public=True)

    @classmethod
    def _variant(
        cls, name: str, roles: tuple[Role, ...] | None, *, public: bool = False
    ) -> type[Allow]:
        chosen = frozenset(roles) if roles is not None else None
        return cast(
            "type[Allow]", type(name, (cls,), {"roles": chosen, "public": public, "quiet": False})
        )

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if self.public:
            return True
        actor = info.context.actor
        if actor is None:
            if self.quiet:
                return False
            await audit.record(
                "permission.denied",
                subject=f"{info.path.typename}.{info.field_name}",
                detail={"reason": "unauthenticated"},
            )
            raise GraphQLError(UNAUTHENTICATED, extensions={"code": "UNAUTHENTICATED"})
        if self.roles is None or actor.has(*self.roles):
            return True
        if self.quiet:
            return False
        subject = f"{info.path.typename}.{info.field_name}"
        await audit.record("permission.denied", actor=actor, subject=subject)
        raise GraphQLError(
            f"Forbidden: {subject} is not for your role.", extensions={"code": "FORBIDDEN"}
        )


# the plain "signed in" of the first fields; Allow.signed_in() says the same
IsAuthenticated = Allow.signed_in()


def quietly(*roles: Role) -> list[FieldExtension]:
    """``extensions=quietly(...)``: for other actors the edge is null or empty, no error."""
    allowed = cast("type[Allow]", type("Quietly", (Allow.to(*roles),), {"quiet": True}))
    return [PermissionExtension([allowed()], use_directives=False, fail_silently=True)]
