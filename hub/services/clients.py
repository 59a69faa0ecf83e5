"""Service accounts: department systems and portals sign in with client credentials.

A client's secret is 32 random bytes shown once. It is stored as a SHA-256 digest, not
argon2: a password needs a slow hash because people choose guessable ones; a random
256-bit secret cannot be guessed, and a slow hash on an unauthenticated endpoint would
hand attackers a cheap way to burn the hub's CPU. Rotation issues a new secret and keeps
the old one working for ``HUB_CLIENT_SECRET_GRACE_HOURS``, so a system can be
redeployed without an outage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from auth.passwords import new_client_secret
from hub.enums import Role, UserKind
from hub.errors import DomainError
from hub.models import AuthSession, Department, ServiceClient, User
from hub.runtime import Runtime
from hub.services import audit
from hub.services.audit import Origin
from hub.services.signin import SignInRefused, TokenPair, open_session, revoke_session

SERVICE_ROLES = (Role.DEPARTMENT_SYSTEM, Role.PORTAL)
_CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
WRONG_CLIENT = "The client id or secret is wrong."


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str  # shown once; only its digest is kept


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_client(
    *,
    name: str,
    role: Role,
    department_code: str | None = None,
    system: str = "",
    client_id: str | None = None,
) -> Credentials:
    """A service account and its first secret. A department system belongs to one
    department; a portal names its system code (e.g. ``cpgrams``)."""
    if role not in SERVICE_ROLES:
        raise DomainError.one("role", "invalid", "A client is a department_system or a portal.")
    chosen = client_id or f"cli-{secrets.token_hex(6)}"
    if not _CLIENT_ID.match(chosen):
        raise DomainError.one(
            "client_id", "invalid", "3-64 characters: lower-case letters, digits, . _ -"
        )
    department = None
    if role == Role.DEPARTMENT_SYSTEM:
        if not department_code:
            raise DomainError.one(
                "department", "required", "A department system needs its department."
            )
        department = await Department.get_or_none(code=department_code, active=True)
        if department is None:
            raise DomainError.one("department", "unknown", f"No department {department_code!r}.")
    if role == Role.PORTAL and not system:
        raise DomainError.one("system", "required", "A portal needs its system code.")
    if await ServiceClient.exists(id=chosen):
        raise DomainError.one("client_id", "taken", f"Client {chosen!r} exists already.")
    secret = new_client_secret()
    async with in_transaction():
        user = await User.create(
            kind=UserKind.SERVICE,
            name=name[:200],
            roles=[role.value],
            department=department,
            system=system,
        )
        await ServiceClient.create(id=chosen, user=user, secret_hash=_digest(secret))
    await audit.record("client.created", subject=chosen, detail={"role": role.value})
    return Credentials(chosen, secret)


async def rotate_secret(client_id: str, grace_hours: int) -> Credentials:
    now = dt.datetime.now(dt.UTC)
    client = await ServiceClient.get_or_none(id=client_id, active=True)
    if client is None:
        raise DomainError.one("client_id", "unknown", f"No active client {client_id!r}.")
    secret = new_client_secret()
    client.previous_secret_hash = client.secret_hash
    client.previous_valid_until = now + dt.timedelta(hours=grace_hours)
    client.secret_hash = _digest(secret)
    client.rotated_at = now
    await client.save()
    await audit.record("client.rotated", subject=client_id, detail={"grace_hours": grace_hours})
    return Credentials(client_id, secret)


async def disable(client_id: str) -> bool:
    """Stop a client signing in, and end the sign-ins it has: its tokens stop at once."""
    client = await ServiceClient.get_or_none(id=client_id, active=True)
    if client is None:
        return False
    await ServiceClient.filter(id=client_id).update(active=False)
    for session_id in await AuthSession.filter(user_id=client.user_id, revoked_at=None).values_list(
        "id", flat=True
    ):
        await revoke_session(str(session_id), "client disabled")
    await audit.record("client.disabled", subject=client_id)
    return True


async def client_token(rt: Runtime, client_id: str, secret: str, origin: Origin) -> TokenPair:
    """An access token for a service account (no refresh token: it signs in again)."""
    now = dt.datetime.now(dt.UTC)
    client = None
    if client_id and len(client_id) <= 64 and "\x00" not in client_id:
        client = (
            await ServiceClient.filter(id=client_id, active=True).select_related("user").first()
        )
    presented = _digest(secret or "")
    matches = client is not None and (
        hmac.compare_digest(presented, client.secret_hash)
        or (
            bool(client.previous_secret_hash)
            and client.previous_valid_until is not None
            and client.previous_valid_until > now
            and hmac.compare_digest(presented, client.previous_secret_hash)
        )
    )
    if client is None or not matches or not client.user.active:
        await audit.record("client.failed", origin=origin, subject=(client_id or "")[:64])
        raise SignInRefused("INVALID_CLIENT", WRONG_CLIENT)
    pair = await open_session(rt.settings, client.user, "client", origin, now=now, refresh=False)
    await audit.record("client.token", origin=origin, user_id=client.user.id, subject=client_id)
    return pair


__all__ = ["Credentials", "client_token", "create_client", "disable", "rotate_secret"]
