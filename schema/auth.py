"""Signing in and out: one-time codes, token refresh, client credentials, who am I."""

from __future__ import annotations

import datetime as dt

import strawberry

from hub import enums
from hub.errors import DomainError
from hub.models import User
from hub.services import clients, signin
from hub.services.audit import Origin
from schema.context import Info
from schema.grievances import errors_of
from schema.permissions import Allow
from schema.types import UserError

AccountRole = strawberry.enum(enums.Role, name="AccountRole")
AccountKind = strawberry.enum(enums.UserKind, name="AccountKind")


@strawberry.type(description="A code is on its way by SMS; verify it with this id.")
class OtpChallenge:
    id: str
    expires_at: dt.datetime
    resend_after: dt.datetime = strawberry.field(description="When another code may be asked.")


@strawberry.type
class RequestOtpPayload:
    challenge: OtpChallenge | None
    errors: list[UserError]
    retry_after_seconds: int | None = strawberry.field(
        default=None, description="Set when throttled: wait this long before asking again."
    )


@strawberry.type(description="Send accessToken as 'Authorization: Bearer <token>'.")
class Tokens:
    access_token: str
    token_type: str
    expires_at: dt.datetime
    expires_in: int = strawberry.field(description="Seconds the access token lives.")
    refresh_token: str | None = strawberry.field(
        description="Works once: each refresh returns a new one. None for service accounts."
    )
    refresh_expires_at: dt.datetime | None


@strawberry.type
class SignInPayload:
    tokens: Tokens | None
    errors: list[UserError]


@strawberry.type
class SignOutPayload:
    signed_out: bool


@strawberry.type(description="The signed-in account.")
class Me:
    id: int
    kind: AccountKind  # type: ignore[valid-type]
    name: str
    roles: list[AccountRole]  # type: ignore[valid-type]
    language: str
    department_code: str | None
    office_code: str | None


def _tokens(pair: signin.TokenPair) -> Tokens:
    now = dt.datetime.now(dt.UTC)
    return Tokens(
        access_token=pair.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme, not a secret)
        expires_at=pair.access_expires_at,
        expires_in=max(0, int((pair.access_expires_at - now).total_seconds())),
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
    )


def _refused(field: str, exc: signin.SignInRefused) -> SignInPayload:
    return SignInPayload(
        tokens=None, errors=[UserError(field=field, code=exc.code, message=exc.message)]
    )


def _origin(info: Info) -> Origin:
    return Origin.of(info.context.request)


@strawberry.type
class AuthQuery:
    @strawberry.field(permission_classes=[Allow.signed_in()])
    async def me(self, info: Info) -> Me:
        actor = info.context.actor
        assert actor is not None and actor.user_id is not None
        user = await User.get(id=actor.user_id).prefetch_related("department", "office")
        return Me(
            id=user.id,
            kind=user.kind,
            name=user.name,
            roles=sorted(actor.roles),
            language=user.language,
            department_code=user.department.code if user.department else None,
            office_code=user.office.code if user.office else None,
        )


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        permission_classes=[Allow.anyone()],
        description="Send a sign-in code by SMS. The answer is the same for every number.",
    )
    async def request_otp(self, info: Info, mobile: str) -> RequestOtpPayload:
        try:
            challenge = await signin.request_otp(info.context.runtime, mobile, _origin(info))
        except DomainError as exc:
            return RequestOtpPayload(challenge=None, errors=errors_of(exc))
        except signin.SignInRefused as exc:
            return RequestOtpPayload(
                challenge=None,
                errors=[UserError(field="mobile", code=exc.code, message=exc.message)],
                retry_after_seconds=exc.retry_after,
            )
        return RequestOtpPayload(
            challenge=OtpChallenge(
                id=challenge.id,
                expires_at=challenge.expires_at,
                resend_after=challenge.resend_after,
            ),
            errors=[],
        )

    @strawberry.mutation(
        permission_classes=[Allow.anyone()],
        description="Sign in with the code (and the password, for staff who have one).",
    )
    async def verify_otp(
        self, info: Info, challenge_id: str, code: str, password: str | None = None
    ) -> SignInPayload:
        try:
            pair = await signin.verify_otp(
                info.context.runtime, challenge_id, code, password, _origin(info)
            )
        except signin.SignInRefused as exc:
            return _refused("password" if "PASSWORD" in exc.code else "code", exc)
        return SignInPayload(tokens=_tokens(pair), errors=[])

    @strawberry.mutation(
        permission_classes=[Allow.anyone()],
        description="Trade a refresh token (once) for new tokens.",
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> SignInPayload:
        try:
            pair = await signin.refresh(info.context.runtime, refresh_token, _origin(info))
        except signin.SignInRefused as exc:
            return _refused("refreshToken", exc)
        return SignInPayload(tokens=_tokens(pair), errors=[])

    @strawberry.mutation(
        permission_classes=[Allow.anyone()],
        description="A department system's or portal's access token, by client credentials.",
    )
    async def client_token(self, info: Info, client_id: str, client_secret: str) -> SignInPayload:
        try:
            pair = await clients.client_token(
                info.context.runtime, client_id, client_secret, _origin(info)
            )
        except signin.SignInRefused as exc:
            return _refused("clientSecret", exc)
        return SignInPayload(tokens=_tokens(pair), errors=[])

    @strawberry.mutation(
        permission_classes=[Allow.signed_in()],
        description="End this sign-in: its access and refresh tokens stop working.",
    )
    async def sign_out(self, info: Info) -> SignOutPayload:
        actor = info.context.actor
        assert actor is not None
        return SignOutPayload(signed_out=await signin.logout(actor, _origin(info)))

    @strawberry.mutation(
        permission_classes=[Allow.to(enums.Role.ADMIN)],
        description="Admin: end the sign-in a token belongs to, by the token's jti.",
    )
    async def revoke_token(self, info: Info, jti: str) -> SignOutPayload:
        actor = info.context.actor
        assert actor is not None
        done = await signin.revoke_token(actor, jti, _origin(info))
        return SignOutPayload(signed_out=done)
