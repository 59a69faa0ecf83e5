"""The access audit: sign-ins, failed sign-ins, token refreshes, revocations, permission
denials and data exports, each an append-only record of who, what, when and from where.

It is apart from the grievance timeline (what happened to a grievance): this is what
happened at the door. Mobile numbers are kept masked; codes, passwords and tokens never.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auth.actor import Actor
from hub.logs import request_id
from hub.models import AuditRecord

logger = logging.getLogger("hub.audit")

# The kinds of record, so that reports and alerts can rely on them.
KINDS = frozenset(
    {
        "otp.requested",
        "otp.throttled",
        "login.succeeded",
        "login.failed",
        "token.refreshed",
        "token.refresh_failed",
        "token.refused",
        "token.reuse",
        "logout",
        "token.revoked",
        "client.token",
        "client.failed",
        "client.created",
        "client.rotated",
        "client.disabled",
        "password.set",
        "permission.denied",
        "data.search",
        "data.export",
    }
)
_USER_AGENT_MAX = 200


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the client's address (uvicorn has already applied
    X-Forwarded-For from trusted proxies) and its user agent."""

    ip: str = ""
    user_agent: str = ""

    @classmethod
    def of(cls, request: Any) -> Origin:
        if request is None:
            return cls()
        client = getattr(request, "client", None)
        headers: Mapping[str, str] = getattr(request, "headers", {}) or {}
        return cls(
            ip=(client.host if client is not None else "")[:64],
            user_agent=headers.get("user-agent", "")[:_USER_AGENT_MAX],
        )


# where the request being served came from (set by the app's Guard for every request), so
# a service deep in a call records it without being handed it
current_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "current_origin", default=None
)


async def record(
    kind: str,
    *,
    actor: Actor | None = None,
    origin: Origin | None = None,
    ip: str | None = None,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    user_id: int | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append one record. ``user_id`` names the account concerned when there is no actor
    yet (a sign-in); ``subject`` says what it was about (a field, a masked number)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown audit kind {kind!r}; add it to hub.services.audit.KINDS.")
    where = origin or current_origin.get() or Origin()
    await AuditRecord.create(
        at=at or dt.datetime.now(dt.UTC),
        kind=kind,
        actor_id=actor.user_id if actor is not None else user_id,
        actor_role=actor.role.value if actor is not None else "",
        subject=subject[:200],
        ip=(ip if ip is not None else where.ip)[:64],
        user_agent=where.user_agent[:_USER_AGENT_MAX],
        request_id=(request_id.get() or "")[:64],
        detail=detail or {},
    )
    logger.info("audit %s", kind, extra={"actor_id": actor.user_id if actor else user_id})


__all__ = ["KINDS", "Origin", "current_origin", "record"]
