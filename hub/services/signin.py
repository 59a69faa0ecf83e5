"""Signing in: one-time codes by SMS, sessions, access and refresh tokens.

- ``request_otp``: a code to any valid Indian mobile number. Known or unknown, active or
  not, the answer looks the same (no account enumeration); a citizen's account is made
  on the first correct code. Throttles (resend gap, burst, daily per number, per IP and
  for the whole hub) are counted in the database, so they hold across replicas.
- ``verify_otp``: each try is claimed with one atomic UPDATE on the challenge, so neither
  aliases, batches nor many connections get more than ``otp_max_attempts`` guesses.
  Staff with a password (or all staff, by setting) give it too.
- A sign-in is a session: the family of refresh tokens rotating from it. A refresh token
  works once; a second use revokes the whole family (someone holds a stolen copy).
- Every token issued is a row by ``jti``: logout revokes the session, an admin revokes by
  ``jti``, and a request's access token is checked against its row.

The code itself goes straight to the SMS connector, not through the outbox: the outbox
keeps its payloads, and a code must never be stored except as a hash.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from auth import otp, passwords
from auth.actor import Actor
from auth.tokens import Signer, TokenError, TokenType
from connectors.base import OutboundMessage, close_connector
from hub.enums import Role, UserKind
from hub.errors import DomainError
from hub.models import AuthSession, AuthToken, OtpChallenge, User
from hub.ratelimit import client_network
from hub.runtime import Runtime
from hub.services import audit, phones
from hub.services.audit import Origin
from hub.services.registration import next_value
from hub.services.sla import IST
from hub.services.users import actor_for
from hub.settings import Settings

logger = logging.getLogger("hub.signin")
CHALLENGE_ID_MAX = 32
WRONG_CODE = "The code is wrong or has expired; ask for a new one."
NOT_SIGNED_IN = "The token is not valid; sign in again."


class SignInRefused(Exception):
    """A refused sign-in step. ``code`` is stable for clients; the message never says
    whether an account exists."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Challenge:
    id: str
    expires_at: dt.datetime
    resend_after: dt.datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: dt.datetime
    refresh_token: str | None  # none for a service account's client-credentials token
    refresh_expires_at: dt.datetime | None
    session_id: str


@functools.lru_cache(maxsize=8)
def signer(settings: Settings) -> Signer:
    return Signer.from_settings(settings)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_id() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, 144 random bits


# --- one-time codes -----------------------------------------------------------------------


async def request_otp(rt: Runtime, raw_mobile: str, origin: Origin) -> Challenge:
    settings = rt.settings
    mobile = phones.indian_mobile(raw_mobile or "")
    if mobile is None:
        raise DomainError.one(
            "mobile", "invalid", "Not an Indian mobile number; give 10 digits, e.g. 98765 43210."
        )
    now = _now()
    challenge_id = _new_id()
    code = otp.new_code()
    expires = now + dt.timedelta(seconds=settings.otp_seconds)
    async with in_transaction() as conn:
        # one number's requests queue here, so concurrent ones cannot all pass the gap
        if conn.capabilities.dialect == "postgres":
            await conn.execute_query("SELECT pg_advisory_xact_lock(hashtext($1))", [mobile])
        # an IPv6 client may use any address of its /64: count the network
        network = client_network(origin.ip) if origin.ip else ""
        refusal = await _throttle(settings, mobile, network, now)
        user = await User.get_or_none(mobile=mobile)
        send = user is None or user.active
        if refusal is None:
            await OtpChallenge.create(
                id=challenge_id,
                mobile=mobile,
                code_hash=otp.code_hash(settings.secret_key, challenge_id, code),
                ip=network,
                sent=send,
                created_at=now,
                expires_at=expires,
            )
    if refusal is not None:
        rule, wait = refusal
        seconds = max(1, int(wait.total_seconds() + 0.999))
        await audit.record(
            "otp.throttled", origin=origin, subject=phones.masked(mobile), detail={"rule": rule}
        )
        raise SignInRefused(
            "THROTTLED",
            f"Too many codes asked for; try again in {seconds} seconds.",
            retry_after=seconds,
        )
    await audit.record(
        "otp.requested", origin=origin, subject=phones.masked(mobile), user_id=_id(user)
    )
    if send:
        await _send_code(rt, challenge_id, mobile, code, user.language if user else "en")
    return Challenge(challenge_id, expires, now + dt.timedelta(seconds=settings.otp_resend_seconds))


async def _throttle(
    settings: Settings, mobile: str, ip: str, now: dt.datetime
) -> tuple[str, dt.timedelta] | None:
    """Which rule refuses a code now, and for how long; SMS costs money. The same rules
    apply whether or not the number has an account."""
    window = now - dt.timedelta(minutes=settings.otp_burst_minutes)
    recent = await OtpChallenge.filter(mobile=mobile, created_at__gt=window).order_by("created_at")
    if recent:
        wait = recent[-1].created_at + dt.timedelta(seconds=settings.otp_resend_seconds) - now
        if wait > dt.timedelta(0):
            return "resend", wait
    if len(recent) >= settings.otp_burst_max:
        oldest = recent[-settings.otp_burst_max].created_at
        return "burst", oldest - window
    day_start = _ist_midnight(now)
    tomorrow = day_start + dt.timedelta(days=1)
    today = OtpChallenge.filter(created_at__gte=day_start)
    if await today.filter(mobile=mobile).count() >= settings.otp_daily_per_number:
        return "daily_number", tomorrow - now
    if ip and await today.filter(ip=ip).count() >= settings.otp_daily_per_ip:
        return "daily_ip", tomorrow - now
    sent_today = await next_value(f"otp:{day_start.astimezone(IST).date().isoformat()}")
    if sent_today > settings.otp_daily_global:
        logger.warning("the daily budget of %s sign-in codes is spent", settings.otp_daily_global)
        return "daily_global", tomorrow - now
    return None


def _ist_midnight(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(IST)
    return dt.datetime.combine(local.date(), dt.time(), IST).astimezone(dt.UTC)


# "OTP" right before the code: every log redactor masks the digits after it
_CODE_TEXT = {
    "en": "Grievance Hub sign-in OTP {code}. It expires in {minutes} minutes. "
    "Do not share it with anyone.",
    "hi": "ग्रीवेंस हब साइन-इन OTP {code}। यह {minutes} मिनट में समाप्त होगा। इसे किसी के साथ साझा न करें।",
}


async def _send_code(rt: Runtime, challenge_id: str, mobile: str, code: str, lang: str) -> None:
    text = _CODE_TEXT.get(lang, _CODE_TEXT["en"]).format(
        code=code, minutes=max(1, rt.settings.otp_seconds // 60)
    )
    sink = rt.sms
    if sink is None:  # a runtime outside the app (a script): a sink for this one code
        from connectors.registry import SMS_SINKS

        sink = SMS_SINKS[rt.settings.sms_sink](rt.settings)
    try:
        result = await sink.deliver(
            OutboundMessage(
                id=0,
                idempotency_key=f"otp:{challenge_id}",
                topic="otp",
                payload={"to": mobile, "text": text},
                attempt=1,
            )
        )
    finally:
        if sink is not rt.sms:
            await close_connector(sink)
    if not result.ok:
        # the answer must not differ for unknown numbers, and they get codes too: say
        # only that sending failed, which a known number's owner can retry
        logger.warning("sign-in code not sent: %s", result.detail)
        raise SignInRefused("NOT_SENT", "The code could not be sent; try again shortly.")


async def verify_otp(
    rt: Runtime, challenge_id: str, code: str, password: str | None, origin: Origin
) -> TokenPair:
    settings = rt.settings
    now = _now()
    if not challenge_id or len(challenge_id) > CHALLENGE_ID_MAX or "\x00" in challenge_id:
        raise SignInRefused("INVALID_CODE", WRONG_CODE)
    # one try, claimed atomically: concurrent guesses cannot exceed the limit
    claimed = await OtpChallenge.filter(
        id=challenge_id,
        consumed_at=None,
        attempts__lt=settings.otp_max_attempts,
        expires_at__gt=now,
    ).update(attempts=F("attempts") + 1)
    challenge = await OtpChallenge.get_or_none(id=challenge_id) if claimed else None
    if challenge is None or not otp.code_matches(
        settings.secret_key, challenge_id, code or "", challenge.code_hash
    ):
        await _failed(origin, challenge, "code")
        raise SignInRefused("INVALID_CODE", WRONG_CODE)
    user = await User.get_or_none(mobile=challenge.mobile)
    if not challenge.sent or (user is not None and not user.active):
        await _failed(origin, challenge, "inactive")
        raise SignInRefused("INVALID_CODE", WRONG_CODE)
    method = "otp"
    if user is not None and _needs_password(settings, user):
        if not password:
            await _failed(origin, challenge, "password_missing")
            raise SignInRefused(
                "PASSWORD_REQUIRED", "This account also needs its password; send it with the code."
            )
        if not user.password_hash or not passwords.verify_password(user.password_hash, password):
            await _failed(origin, challenge, "password")
            raise SignInRefused("INVALID_CREDENTIALS", "The code or the password is wrong.")
        method = "otp+password"
    consumed = await OtpChallenge.filter(id=challenge_id, consumed_at=None).update(consumed_at=now)
    if not consumed:  # another request used this code a moment ago
        await _failed(origin, challenge, "consumed")
        raise SignInRefused("INVALID_CODE", WRONG_CODE)
    if user is None:
        user = await _citizen(challenge.mobile)
    pair = await open_session(settings, user, method, origin, now=now)
    await audit.record(
        "login.succeeded",
        actor=actor_for(user),
        origin=origin,
        subject=phones.masked(challenge.mobile),
        detail={"method": method, "session": pair.session_id},
    )
    return pair


def _needs_password(settings: Settings, user: User) -> bool:
    return bool(user.password_hash) or (
        settings.staff_password_required and user.kind == UserKind.EMPLOYEE
    )


async def _failed(origin: Origin, challenge: OtpChallenge | None, why: str) -> None:
    await audit.record(
        "login.failed",
        origin=origin,
        subject=phones.masked(challenge.mobile) if challenge else "",
        detail={"reason": why, "attempts": challenge.attempts if challenge else None},
    )


async def _citizen(mobile: str) -> User:
    """The first sign-in of a number makes its citizen account, once under races: the
    loser of a concurrent create finds the winner's (outside the failed transaction,
    which PostgreSQL has aborted)."""
    found = await User.get_or_none(mobile=mobile)
    if found is not None:
        return found
    try:
        async with in_transaction():
            return await User.create(
                mobile=mobile, kind=UserKind.CITIZEN, roles=[Role.CITIZEN.value]
            )
    except IntegrityError:
        return await User.get(mobile=mobile)


def _id(user: User | None) -> int | None:
    return user.id if user is not None else None


# --- sessions and tokens ------------------------------------------------------------------


async def open_session(
    settings: Settings,
    user: User,
    method: str,
    origin: Origin,
    *,
    now: dt.datetime | None = None,
    refresh: bool = True,
) -> TokenPair:
    """A new sign-in for ``user`` and its first tokens (a service account gets no
    refresh token: it signs in again with its credentials)."""
    moment = (now or _now()).replace(microsecond=0)
    access_life = dt.timedelta(seconds=settings.access_token_seconds)
    expires = moment + (dt.timedelta(days=settings.refresh_token_days) if refresh else access_life)
    session = await AuthSession.create(
        id=_new_id(),
        user_id=user.id,
        method=method,
        ip=origin.ip,
        user_agent=origin.user_agent,
        created_at=moment,
        expires_at=expires,
    )
    return await _issue(settings, session, user, moment, refresh=refresh)


async def _issue(
    settings: Settings, session: AuthSession, user: User, now: dt.datetime, *, refresh: bool
) -> TokenPair:
    # tokens count whole seconds: keep the rows' times the tokens' own
    now = now.replace(microsecond=0)
    if session.expires_at - now < dt.timedelta(seconds=2):
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    access_life = dt.timedelta(seconds=settings.access_token_seconds)
    access_expires = min(now + access_life, session.expires_at.replace(microsecond=0))
    access_jti = _new_id()
    rows = [
        AuthToken(
            jti=access_jti,
            session_id=session.id,
            kind="access",
            issued_at=now,
            expires_at=access_expires,
        )
    ]
    claims = {"sid": session.id, "roles": list(user.roles)}
    access = signer(settings).issue(
        str(user.id), "access", access_jti, access_expires - now, now=now, claims=claims
    )
    refresh_token = None
    if refresh:
        refresh_jti = _new_id()
        rows.append(
            AuthToken(
                jti=refresh_jti,
                session_id=session.id,
                kind="refresh",
                issued_at=now,
                expires_at=session.expires_at.replace(microsecond=0),
            )
        )
        refresh_token = signer(settings).issue(
            str(user.id),
            "refresh",
            refresh_jti,
            session.expires_at.replace(microsecond=0) - now,
            now=now,
            claims={"sid": session.id},
        )
    await AuthToken.bulk_create(rows)
    return TokenPair(
        access_token=access,
        access_expires_at=access_expires,
        refresh_token=refresh_token,
        refresh_expires_at=session.expires_at if refresh else None,
        session_id=session.id,
    )


def _verify(settings: Settings, token: str, kind: TokenType) -> str:
    """The token's jti, or ``SignInRefused`` with the reason kept out of the message."""
    try:
        return signer(settings).verify(token, kind).token_id
    except TokenError as exc:
        raise SignInRefused(
            "TOKEN_EXPIRED" if exc.reason == "expired" else "INVALID_TOKEN",
            "The token has expired; refresh it or sign in again."
            if exc.reason == "expired"
            else NOT_SIGNED_IN,
        ) from None


async def refresh(rt: Runtime, token: str, origin: Origin) -> TokenPair:
    """Rotate: the refresh token is spent and a new pair issued in the same session. A
    spent token presented again revokes the session and everything issued from it."""
    settings = rt.settings
    try:
        jti = _verify(settings, token, "refresh")
    except SignInRefused as exc:
        await audit.record("token.refresh_failed", origin=origin, detail={"reason": exc.code})
        raise
    now = _now()
    spent = await AuthToken.filter(
        jti=jti, kind="refresh", used_at=None, revoked_at=None, expires_at__gt=now
    ).update(used_at=now)
    row = await AuthToken.get_or_none(jti=jti).select_related("session", "session__user")
    if row is None:
        await audit.record("token.refresh_failed", origin=origin, detail={"reason": "unknown"})
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    session, user = row.session, row.session.user
    if not spent:
        if row.used_at is not None and session.revoked_at is None:
            await revoke_session(session.id, "reuse", now=now)
            await audit.record(
                "token.reuse",
                actor=actor_for(user),
                origin=origin,
                subject=f"session {session.id}",
                detail={"jti": jti},
            )
            logger.warning("refresh token reused: session %s revoked", session.id)
        else:
            await _refresh_failed(origin, user, "spent or revoked")
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    if session.revoked_at is not None or session.expires_at <= now or not user.active:
        await _refresh_failed(origin, user, "session ended")
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    pair = await _issue(settings, session, user, now, refresh=True)
    await audit.record(
        "token.refreshed", actor=actor_for(user), origin=origin, subject=f"session {session.id}"
    )
    return pair


async def _refresh_failed(origin: Origin, user: User, why: str) -> None:
    await audit.record(
        "token.refresh_failed", origin=origin, user_id=user.id, detail={"reason": why}
    )


async def revoke_session(session_id: str, reason: str, *, now: dt.datetime | None = None) -> bool:
    moment = now or _now()
    async with in_transaction():
        changed = await AuthSession.filter(id=session_id, revoked_at=None).update(
            revoked_at=moment, revoked_reason=reason[:32]
        )
        await AuthToken.filter(session_id=session_id, revoked_at=None).update(revoked_at=moment)
    return bool(changed)


async def logout(actor: Actor, origin: Origin) -> bool:
    if actor.session_id is None:
        return False
    done = await revoke_session(actor.session_id, "logout")
    await audit.record("logout", actor=actor, origin=origin, subject=f"session {actor.session_id}")
    return done


async def revoke_token(actor: Actor, jti: str, origin: Origin) -> bool:
    """Admin: revoke the sign-in a token (access or refresh, by ``jti``) belongs to."""
    if not actor.has(Role.ADMIN):
        raise PermissionError("Only an admin revokes sign-ins by token id.")
    row = await AuthToken.get_or_none(jti=jti[:CHALLENGE_ID_MAX]) if jti else None
    done = await revoke_session(row.session_id, "revoked") if row is not None else False
    await audit.record(
        "token.revoked",
        actor=actor,
        origin=origin,
        subject=f"jti {jti[:40]}",
        detail={"found": done},
    )
    return done


async def still_valid(actor: Actor) -> bool:
    """Whether the sign-in behind an actor still holds (a WebSocket checks before each
    operation and update: sign-out, revocation, expiry and a disabled account end it).
    Actors without a token (the dev header, the hub's own jobs) have nothing to lose."""
    if actor.token_id is None:
        return True
    return await AuthToken.exists(
        jti=actor.token_id,
        revoked_at=None,
        expires_at__gt=_now(),
        session__revoked_at=None,
        session__user__active=True,
    )


async def authenticate(settings: Settings, token: str) -> Actor:
    """The actor an access token speaks for; ``SignInRefused`` when it is not valid,
    expired, revoked (logout, reuse, an admin) or its account is disabled."""
    jti = _verify(settings, token, "access")
    row = (
        await AuthToken.filter(jti=jti, kind="access", revoked_at=None)
        .select_related("session", "session__user")
        .first()
    )
    now = _now()
    if row is None or row.expires_at <= now or row.session.revoked_at is not None:
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    user = row.session.user
    if not user.active:
        raise SignInRefused("INVALID_TOKEN", NOT_SIGNED_IN)
    actor = actor_for(user)
    return Actor(
        user_id=actor.user_id,
        kind=actor.kind,
        roles=actor.roles,
        department_id=actor.department_id,
        office_id=actor.office_id,
        system=actor.system,
        session_id=row.session_id,
        token_id=jti,
    )


async def purge_expired(now: dt.datetime) -> dict[str, int]:
    """Codes are kept two days (the daily caps count them), tokens until they expire,
    sessions until their last token is gone."""
    codes = await OtpChallenge.filter(created_at__lt=now - dt.timedelta(days=2)).delete()
    tokens = await AuthToken.filter(expires_at__lt=now).delete()
    sessions = await AuthSession.filter(expires_at__lt=now, tokens__jti__isnull=True).delete()
    return {"codes": codes, "tokens": tokens, "sessions": sessions}


__all__ = [
    "Challenge",
    "SignInRefused",
    "TokenPair",
    "authenticate",
    "logout",
    "open_session",
    "purge_expired",
    "refresh",
    "request_otp",
    "revoke_session",
    "revoke_token",
    "signer",
    "still_valid",
    "verify_otp",
]
