"""Signing in: a citizen's code by SMS, an officer's password, a department system's
client credentials, refresh rotation, sign-out; and attackers guessing, replaying,
flooding and forging."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from tortoise import connections

from auth.passwords import hash_password
from connectors.base import DeliveryResult, OutboundMessage
from hub.app import create_app
from hub.enums import Role, UserKind
from hub.models import AuditRecord, AuthSession, AuthToken, OtpChallenge, ServiceClient, User
from hub.runtime import Runtime
from hub.services import clients, signin
from hub.services.audit import Origin
from hub.settings import Settings
from tests.conftest import People, data_of

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

REQUEST = """mutation($m: String!) { requestOtp(mobile: $m) {
  challenge { id expiresAt resendAfter } retryAfterSeconds errors { field code message } } }"""
VERIFY = """mutation($c: String!, $code: String!, $p: String) {
  verifyOtp(challengeId: $c, code: $code, password: $p) {
    tokens { accessToken refreshToken tokenType expiresIn expiresAt refreshExpiresAt }
    errors { field code message } } }"""
REFRESH = """mutation($t: String!) { refreshToken(refreshToken: $t) {
  tokens { accessToken refreshToken } errors { field code message } } }"""
CLIENT = """mutation($id: String!, $s: String!) { clientToken(clientId: $id, clientSecret: $s) {
  tokens { accessToken refreshToken expiresIn } errors { field code message } } }"""
ME = "{ me { id kind roles departmentCode officeCode } }"
SIGN_OUT = "mutation { signOut { signedOut } }"
REVOKE = "mutation($j: String!) { revokeToken(jti: $j) { signedOut } }"


@dataclass
class SmsBox:
    """The SMS gateway as the test sees it: every message the hub sent."""

    sent: list[OutboundMessage] = field(default_factory=list)
    fail: bool = False
    name: str = "sms"

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if self.fail:
            return DeliveryResult.failure("gateway down")
        self.sent.append(message)
        return DeliveryResult.success("queued")

    def code_for(self, mobile: str) -> str:
        for message in reversed(self.sent):
            if message.payload["to"] == mobile:
                found = re.search(r"\b(\d{6})\b", message.payload["text"])
                assert found
                return found.group(1)
        raise AssertionError(f"no code sent to {mobile}")


@pytest.fixture
def sms() -> SmsBox:
    return SmsBox()


@pytest.fixture
async def http(rt: Runtime, sms: SmsBox) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(rt.settings, jobs=rt.jobs, sms=sms)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def ask_code(http: httpx.AsyncClient, mobile: str) -> dict[str, Any]:
    payload: dict[str, Any] = data_of(await post(http, REQUEST, {"m": mobile}))["requestOtp"]
    return payload


async def sign_in(
    http: httpx.AsyncClient, sms: SmsBox, mobile: str, password: str | None = None
) -> dict[str, Any]:
    challenge = (await ask_code(http, mobile))["challenge"]
    payload: dict[str, Any] = data_of(
        await post(
            http, VERIFY, {"c": challenge["id"], "code": sms.code_for(mobile), "p": password}
        )
    )["verifyOtp"]
    return payload


async def kinds() -> list[str]:
    return [r.kind for r in await AuditRecord.all().order_by("id")]


# --- a citizen ----------------------------------------------------------------------------


async def test_a_citizen_signs_in_with_the_code_sent_by_sms(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    asked = await ask_code(http, "98765 43210")
    assert asked["errors"] == [] and asked["challenge"]["id"]
    assert len(sms.sent) == 1 and sms.sent[0].payload["to"] == "+919876543210"
    signed = await sign_in_with(http, asked["challenge"]["id"], sms.code_for("+919876543210"))
    tokens = signed["tokens"]
    assert tokens["tokenType"] == "Bearer" and 0 < tokens["expiresIn"] <= 900
    me = data_of(await post(http, ME, token=tokens["accessToken"]))["me"]
    assert me["kind"] == "CITIZEN" and me["roles"] == ["CITIZEN"]
    # the first sign-in made the account; the next one finds it
    await _age_challenges(seconds=31)
    again = await sign_in(http, sms, "+919876543210")
    me_again = data_of(await post(http, ME, token=again["tokens"]["accessToken"]))["me"]
    assert me_again["id"] == me["id"]
    assert await User.filter(mobile="+919876543210").count() == 1


async def sign_in_with(http: httpx.AsyncClient, challenge: str, code: str) -> dict[str, Any]:
    payload: dict[str, Any] = data_of(await post(http, VERIFY, {"c": challenge, "code": code}))[
        "verifyOtp"
    ]
    return payload


async def test_the_code_is_stored_only_as_a_hash_bound_to_its_challenge(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    first = (await ask_code(http, "+919876543210"))["challenge"]["id"]
    code = sms.code_for("+919876543210")
    row = await OtpChallenge.get(id=first)
    assert code not in row.code_hash and len(row.code_hash) == 64
    other = (await ask_code(http, "+919812345678"))["challenge"]["id"]
    # the right digits on another number's challenge are wrong
    refused = await sign_in_with(http, other, code)
    assert refused["tokens"] is None and refused["errors"][0]["code"] == "INVALID_CODE"


async def test_every_number_gets_the_same_answer(
    http: httpx.AsyncClient, sms: SmsBox, people: People
) -> None:
    people.ravi.active = False
    await people.ravi.save()
    known = await ask_code(http, people.asha.mobile or "")
    unknown = await ask_code(http, "+919000000009")
    disabled = await ask_code(http, people.ravi.mobile or "")
    for answer in (known, unknown, disabled):
        assert answer["errors"] == [] and answer["retryAfterSeconds"] is None
        assert set(answer["challenge"]) == {"id", "expiresAt", "resendAfter"}
    # a disabled account gets no SMS, and no code it could guess works
    assert [m.payload["to"] for m in sms.sent] == [people.asha.mobile, "+919000000009"]
    for guess in ("000000", "123456"):
        refused = await sign_in_with(http, disabled["challenge"]["id"], guess)
        assert refused["errors"][0]["code"] == "INVALID_CODE"


@pytest.mark.parametrize(
    "mobile",
    ["12345", "+14155552671", "080 2222 1111", "98765432100", "abcdefghij", "", "9" * 200],
)
async def test_a_number_that_is_not_an_indian_mobile_is_refused_by_name(
    http: httpx.AsyncClient, sms: SmsBox, mobile: str
) -> None:
    answer = await ask_code(http, mobile)
    assert answer["challenge"] is None
    assert answer["errors"][0]["field"] == "mobile" and answer["errors"][0]["code"] == "invalid"
    assert sms.sent == []


async def test_a_code_works_once(http: httpx.AsyncClient, sms: SmsBox) -> None:
    challenge = (await ask_code(http, "+919876543210"))["challenge"]["id"]
    code = sms.code_for("+919876543210")
    assert (await sign_in_with(http, challenge, code))["tokens"]
    again = await sign_in_with(http, challenge, code)
    assert again["tokens"] is None and again["errors"][0]["code"] == "INVALID_CODE"


async def test_an_expired_code_is_refused(http: httpx.AsyncClient, sms: SmsBox) -> None:
    challenge = (await ask_code(http, "+919876543210"))["challenge"]["id"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await OtpChallenge.filter(id=challenge).update(expires_at=past)
    refused = await sign_in_with(http, challenge, sms.code_for("+919876543210"))
    assert refused["errors"][0]["code"] == "INVALID_CODE"


async def test_five_wrong_codes_kill_the_challenge(http: httpx.AsyncClient, sms: SmsBox) -> None:
    challenge = (await ask_code(http, "+919876543210"))["challenge"]["id"]
    code = sms.code_for("+919876543210")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert (await sign_in_with(http, challenge, wrong))["errors"][0]["code"] == "INVALID_CODE"
    refused = await sign_in_with(http, challenge, code)
    assert refused["tokens"] is None
    assert (await OtpChallenge.get(id=challenge)).attempts == 5


async def test_many_connections_guessing_at_once_get_five_tries_in_all(
    rt: Runtime, sms: SmsBox
) -> None:
    runtime = Runtime(settings=rt.settings, jobs=rt.jobs, sms=sms)
    challenge = await signin.request_otp(runtime, "+919876543210", Origin(ip="198.51.100.1"))
    code = sms.code_for("+919876543210")
    guesses = [f"{n:06d}" for n in range(40) if f"{n:06d}" != code] + [code]

    async def guess(value: str) -> bool:
        try:
            await signin.verify_otp(runtime, challenge.id, value, None, Origin())
        except signin.SignInRefused:
            return False
        return True

    results = await asyncio.gather(*(guess(g) for g in guesses))
    row = await OtpChallenge.get(id=challenge.id)
    assert row.attempts == 5
    assert not results[-1]  # the right code came after the five tries were spent


async def test_codes_to_one_number_are_throttled(http: httpx.AsyncClient, sms: SmsBox) -> None:
    assert (await ask_code(http, "+919876543210"))["challenge"]
    too_soon = await ask_code(http, "+919876543210")
    assert too_soon["challenge"] is None and too_soon["errors"][0]["code"] == "THROTTLED"
    assert 1 <= too_soon["retryAfterSeconds"] <= 30
    # move the first request back 31 s: a second is allowed, then a third; a fourth in ten
    # minutes is not, however long the caller waited between them
    for _ in range(2):
        await _age_challenges(seconds=31)
        assert (await ask_code(http, "+919876543210"))["challenge"]
    await _age_challenges(seconds=31)
    burst = await ask_code(http, "+919876543210")
    assert burst["errors"][0]["code"] == "THROTTLED" and burst["retryAfterSeconds"] > 30
    assert len(sms.sent) == 3
    assert "otp.throttled" in await kinds()


async def _age_challenges(seconds: int) -> None:
    for row in await OtpChallenge.all():
        row.created_at -= dt.timedelta(seconds=seconds)
        await row.save()


async def test_daily_caps_per_number_per_ip_and_for_the_hub(
    rt: Runtime, sms: SmsBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the caps count from midnight in India: run at noon there, so that the codes aged
    # below (44 minutes in all) stay in the same day whatever the clock says
    today = dt.datetime.now(signin.IST).date()
    noon = dt.datetime.combine(today, dt.time(12), signin.IST).astimezone(dt.UTC)
    monkeypatch.setattr(signin, "_now", lambda: noon)
    settings = rt.settings.replace(
        otp_resend_seconds=30, otp_daily_per_number=4, otp_daily_per_ip=6, otp_daily_global=8
    )
    runtime = Runtime(settings=settings, jobs=rt.jobs, sms=sms)

    async def ask(mobile: str, ip: str) -> str | None:
        try:
            await signin.request_otp(runtime, mobile, Origin(ip=ip))
        except signin.SignInRefused as exc:
            return f"{exc.code} after {exc.retry_after}"
        return None

    for _ in range(4):  # spaced out past the resend gap and the burst window
        assert await ask("+919876543210", "192.0.2.1") is None
        await _age_challenges(seconds=11 * 60)
    assert (await ask("+919876543210", "192.0.2.9") or "").startswith("THROTTLED")
    assert await ask("+919812345678", "192.0.2.1") is None
    assert await ask("+919812345679", "192.0.2.1") is None
    assert await ask("+919812345670", "192.0.2.1") is not None  # the address's daily cap
    assert await ask("+919812345671", "192.0.2.2") is None  # 7 sent today by the hub
    assert await ask("+919812345672", "192.0.2.3") is None  # 8
    assert await ask("+919812345673", "192.0.2.4") is not None  # the hub's budget
    assert len(sms.sent) == 8


async def test_a_gateway_failure_says_try_again(http: httpx.AsyncClient, sms: SmsBox) -> None:
    sms.fail = True
    answer = await ask_code(http, "+919876543210")
    assert answer["challenge"] is None and answer["errors"][0]["code"] == "NOT_SENT"


# --- officers -----------------------------------------------------------------------------


async def test_an_officer_with_a_password_gives_it_after_the_code(
    http: httpx.AsyncClient, sms: SmsBox, people: People
) -> None:
    gro = people.udd_gro
    gro.password_hash = hash_password("correct horse battery", hasher=CHEAP)
    await gro.save()
    mobile = gro.mobile or ""
    without = await sign_in(http, sms, mobile)
    assert without["tokens"] is None and without["errors"][0]["code"] == "PASSWORD_REQUIRED"
    await _age_challenges(seconds=31)
    wrong = await sign_in(http, sms, mobile, password="tr0ub4dor")
    assert wrong["tokens"] is None and wrong["errors"][0]["code"] == "INVALID_CREDENTIALS"
    await _age_challenges(seconds=31)
    right = await sign_in(http, sms, mobile, password="correct horse battery")
    me = data_of(await post(http, ME, token=right["tokens"]["accessToken"]))["me"]
    assert me["roles"] == ["GRO"] and me["departmentCode"] == "UDD"
    assert me["officeCode"] == "UDD-HQ"
    session = await AuthSession.get(user_id=gro.id)
    assert session.method == "otp+password" and session.ip == "203.0.113.7"


async def test_when_passwords_are_required_an_officer_without_one_cannot_sign_in(
    rt: Runtime, sms: SmsBox, people: People
) -> None:
    runtime = Runtime(
        settings=rt.settings.replace(staff_password_required=True), jobs=rt.jobs, sms=sms
    )
    challenge = await signin.request_otp(runtime, people.udd_gro.mobile or "", Origin())
    code = sms.code_for(people.udd_gro.mobile or "")
    with pytest.raises(signin.SignInRefused) as refused:
        await signin.verify_otp(runtime, challenge.id, code, "anything", Origin())
    assert refused.value.code == "INVALID_CREDENTIALS"
    # citizens are not staff: their code alone is enough
    challenge = await signin.request_otp(runtime, people.asha.mobile or "", Origin())
    pair = await signin.verify_otp(
        runtime, challenge.id, sms.code_for(people.asha.mobile or ""), None, Origin()
    )
    assert pair.access_token


# --- tokens -------------------------------------------------------------------------------


async def test_a_refresh_token_works_once_and_its_reuse_ends_the_sign_in(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    first = (await sign_in(http, sms, "+919876543210"))["tokens"]
    second = data_of(await post(http, REFRESH, {"t": first["refreshToken"]}))["refreshToken"]
    fresh = second["tokens"]
    assert fresh["refreshToken"] != first["refreshToken"]
    assert data_of(await post(http, ME, token=fresh["accessToken"]))["me"]
    # someone replays the spent token: refused, and everything from that sign-in dies
    replay = data_of(await post(http, REFRESH, {"t": first["refreshToken"]}))["refreshToken"]
    assert replay["tokens"] is None and replay["errors"][0]["code"] == "INVALID_TOKEN"
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {fresh['accessToken']}"},
    )
    assert response.status_code == 401
    after = data_of(await post(http, REFRESH, {"t": fresh["refreshToken"]}))["refreshToken"]
    assert after["tokens"] is None
    session = await AuthSession.get()
    assert session.revoked_reason == "reuse"
    assert "token.reuse" in await kinds()


async def test_tokens_of_one_kind_do_not_pass_for_the_other(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    tokens = (await sign_in(http, sms, "+919876543210"))["tokens"]
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {tokens['refreshToken']}"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_TOKEN"
    as_refresh = data_of(await post(http, REFRESH, {"t": tokens["accessToken"]}))["refreshToken"]
    assert as_refresh["errors"][0]["code"] == "INVALID_TOKEN"


async def test_signing_out_ends_the_access_and_refresh_tokens(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    tokens = (await sign_in(http, sms, "+919876543210"))["tokens"]
    signed_out = data_of(await post(http, SIGN_OUT, token=tokens["accessToken"]))
    assert signed_out["signOut"]["signedOut"] is True
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert response.status_code == 401
    refreshed = data_of(await post(http, REFRESH, {"t": tokens["refreshToken"]}))
    assert refreshed["refreshToken"]["tokens"] is None


async def test_an_admin_revokes_a_sign_in_by_token_id(
    http: httpx.AsyncClient, sms: SmsBox, rt: Runtime
) -> None:
    admin = await User.create(
        mobile="+919800000099", kind=UserKind.EMPLOYEE, roles=[Role.ADMIN.value], name="Admin"
    )
    admin_tokens = await signin.open_session(rt.settings, admin, "otp", Origin())
    victim = (await sign_in(http, sms, "+919876543210"))["tokens"]
    jti = signin.signer(rt.settings).verify(victim["accessToken"], "access").token_id
    # a citizen may not
    refused = await post(http, REVOKE, {"j": jti}, token=victim["accessToken"])
    assert refused["errors"] and refused["data"] is None
    done = data_of(await post(http, REVOKE, {"j": jti}, token=admin_tokens.access_token))
    assert done["revokeToken"]["signedOut"] is True
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {victim['accessToken']}"},
    )
    assert response.status_code == 401
    assert await AuthToken.filter(revoked_at=None, session__user_id=admin.id).count() == 2


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [
        ("Basic dXNlcjpwYXNz", 400, "INVALID_AUTHORIZATION"),
        ("Bearer", 400, "INVALID_AUTHORIZATION"),
        ("Bearer a b", 400, "INVALID_AUTHORIZATION"),
        ("Bearer not-a-token", 401, "INVALID_TOKEN"),
        ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", 401, "INVALID_TOKEN"),
    ],
)
async def test_bad_authorization_headers_get_a_status_not_anonymity(
    http: httpx.AsyncClient, header: str, status: int, code: str
) -> None:
    response = await http.post("/graphql", json={"query": ME}, headers={"Authorization": header})
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_an_expired_access_token_says_so(http: httpx.AsyncClient, rt: Runtime) -> None:
    user = await User.create(mobile="+919876543210", kind=UserKind.CITIZEN, roles=["citizen"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    tokens = await signin.open_session(rt.settings, user, "otp", Origin(), now=past)
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"


async def test_a_disabled_account_loses_access_at_once(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    tokens = (await sign_in(http, sms, "+919876543210"))["tokens"]
    await User.filter(mobile="+919876543210").update(active=False)
    response = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert response.status_code == 401


# --- service accounts ---------------------------------------------------------------------


async def test_a_department_system_signs_in_with_client_credentials(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    creds = await clients.create_client(
        name="UDD ERP", role=Role.DEPARTMENT_SYSTEM, department_code="UDD", client_id="udd-erp"
    )
    stored = await ServiceClient.get(id="udd-erp")
    assert creds.secret not in stored.secret_hash
    got = data_of(await post(http, CLIENT, {"id": "udd-erp", "s": creds.secret}))["clientToken"]
    assert got["tokens"]["refreshToken"] is None
    me = data_of(await post(http, ME, token=got["tokens"]["accessToken"]))["me"]
    assert me["kind"] == "SERVICE" and me["roles"] == ["DEPARTMENT_SYSTEM"]
    assert me["departmentCode"] == "UDD"
    for client_id, secret in (("udd-erp", "wrong"), ("nobody", creds.secret), ("", "")):
        refused = data_of(await post(http, CLIENT, {"id": client_id, "s": secret}))
        assert refused["clientToken"]["errors"][0]["code"] == "INVALID_CLIENT"
    assert (await kinds()).count("client.failed") == 3


async def test_a_rotated_secret_keeps_working_for_the_grace_period_only(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    old = await clients.create_client(name="CPGRAMS", role=Role.PORTAL, system="cpgrams")
    new = await clients.rotate_secret(old.client_id, grace_hours=24)
    for secret in (old.secret, new.secret):
        answer = data_of(await post(http, CLIENT, {"id": old.client_id, "s": secret}))
        assert answer["clientToken"]["tokens"], secret
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await ServiceClient.filter(id=old.client_id).update(previous_valid_until=past)
    expired = data_of(await post(http, CLIENT, {"id": old.client_id, "s": old.secret}))
    assert expired["clientToken"]["errors"][0]["code"] == "INVALID_CLIENT"
    assert await clients.disable(old.client_id)
    disabled = data_of(await post(http, CLIENT, {"id": old.client_id, "s": new.secret}))
    assert disabled["clientToken"]["errors"][0]["code"] == "INVALID_CLIENT"


# --- the audit ----------------------------------------------------------------------------


async def test_sign_ins_leave_an_append_only_audit_without_codes_or_numbers(
    http: httpx.AsyncClient, sms: SmsBox, caplog: pytest.LogCaptureFixture
) -> None:
    # the database drivers' own DEBUG lines print SQL parameters; hub.logs redacts those
    caplog.set_level(logging.INFO, logger="tortoise")
    caplog.set_level(logging.WARNING, logger="aiosqlite")
    caplog.set_level(logging.DEBUG)
    challenge = (await ask_code(http, "+919876543210"))["challenge"]["id"]
    code = sms.code_for("+919876543210")
    await sign_in_with(http, challenge, "000000" if code != "000000" else "111111")
    tokens = (await sign_in_with(http, challenge, code))["tokens"]
    data_of(await post(http, REFRESH, {"t": tokens["refreshToken"]}))
    assert await kinds() == [
        "otp.requested",
        "login.failed",
        "login.succeeded",
        "token.refreshed",
    ]
    records = await AuditRecord.all()
    assert {r.ip for r in records} == {"203.0.113.7"}
    assert records[0].subject == "+91******3210"
    dumped = " ".join(f"{r.subject} {r.detail}" for r in records) + caplog.text
    assert "9876543210" not in dumped and code not in dumped
    conn = connections.get("default")
    for statement in ("UPDATE audit_record SET kind = 'x'", "DELETE FROM audit_record"):
        with pytest.raises(Exception, match="append-only"):
            await conn.execute_script(statement)


async def test_the_dev_console_sink_never_prints_the_code(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    from connectors.sms import ConsoleSms

    caplog.set_level(logging.INFO, logger="tortoise")
    caplog.set_level(logging.WARNING, logger="aiosqlite")
    caplog.set_level(logging.DEBUG)
    runtime = Runtime(settings=rt.settings, jobs=rt.jobs, sms=ConsoleSms())
    challenge = await signin.request_otp(runtime, "+919876543210", Origin())
    assert "sms to +91******3210" in caplog.text and "OTP ******" in caplog.text
    # the code is not in the log: try every code against the stored hash to find it
    row = await OtpChallenge.get(id=challenge.id)
    logged_digits = set(re.findall(r"\d{6}", caplog.text))
    from auth import otp

    assert not any(
        otp.code_matches(rt.settings.secret_key, row.id, digits, row.code_hash)
        for digits in logged_digits
    )


async def test_spent_codes_and_expired_tokens_are_purged(rt: Runtime, sms: SmsBox) -> None:
    user = await User.create(mobile="+919876543210", kind=UserKind.CITIZEN, roles=["citizen"])
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    await signin.open_session(rt.settings, user, "otp", Origin(), now=long_ago)
    live = await signin.open_session(rt.settings, user, "otp", Origin())
    runtime = Runtime(settings=rt.settings, jobs=rt.jobs, sms=sms)
    await signin.request_otp(runtime, "+919876543210", Origin())
    await OtpChallenge.all().update(created_at=long_ago)
    purged = await signin.purge_expired(dt.datetime.now(dt.UTC))
    assert purged == {"codes": 1, "tokens": 2, "sessions": 1}
    assert [s.id for s in await AuthSession.all()] == [live.session_id]
    assert await AuthToken.filter(session_id=live.session_id).count() == 2


async def test_a_subscription_signs_in_with_a_bearer_token_in_connection_init(
    rt: Runtime, people: People
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from hub.services.grievances import file_grievance
    from tests.test_subscriptions import GARBAGE, PROTOCOL, receive, serve, session, subscribe

    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    tokens = await signin.open_session(rt.settings, people.asha, "otp", Origin())
    async with serve(create_app(rt.settings, jobs=rt.jobs, broker=rt.broker)) as url:
        bearer = {"Authorization": f"Bearer {tokens.access_token}"}
        async with session(url, bearer) as ws:
            await subscribe(ws, grievance.registration_number)
            with pytest.raises(TimeoutError):  # accepted: it waits for changes, no error
                await asyncio.wait_for(receive(ws), 0.3)
        for bad in ({"Authorization": "Bearer forged"}, {"Authorization": "Basic eA=="}):
            async with connect(url, subprotocols=[PROTOCOL]) as raw:
                await raw.send(json.dumps({"type": "connection_init", "payload": bad}))
                with pytest.raises(ConnectionClosed) as closed:
                    await receive(raw)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_socket_closes_once_its_sign_in_ends(rt: Runtime, people: People) -> None:
    from websockets.exceptions import ConnectionClosed

    from hub.services.grievances import file_grievance
    from tests.test_subscriptions import GARBAGE, receive, serve, session, subscribe

    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    tokens = await signin.open_session(rt.settings, people.asha, "otp", Origin())
    bearer = {"Authorization": f"Bearer {tokens.access_token}"}
    app = create_app(rt.settings, jobs=rt.jobs, broker=rt.broker)
    async with serve(app) as url, session(url, bearer) as ws:
        me = {"query": "{ me { id } }"}
        await ws.send(json.dumps({"id": "a", "type": "subscribe", "payload": me}))
        assert (await receive(ws))["payload"]["data"]["me"]["id"] == people.asha.id
        await receive(ws)  # complete
        await signin.revoke_session(tokens.session_id, "logout")
        await subscribe(ws, grievance.registration_number, "b")
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_addresses_of_one_ipv6_64_share_the_daily_cap(rt: Runtime, sms: SmsBox) -> None:
    runtime = Runtime(settings=rt.settings.replace(otp_daily_per_ip=2), jobs=rt.jobs, sms=sms)
    refused = 0
    for n in range(1, 5):
        try:
            await signin.request_otp(runtime, f"+91981234567{n}", Origin(ip=f"2001:db8::{n}"))
        except signin.SignInRefused:
            refused += 1
    assert (len(sms.sent), refused) == (2, 2)


async def test_two_first_sign_ins_of_one_number_make_one_account(settings: Settings) -> None:
    made = await asyncio.gather(*(signin._citizen("+919876543210") for _ in range(4)))
    assert len({user.id for user in made}) == 1
    assert await User.filter(mobile="+919876543210").count() == 1


async def test_failed_refreshes_and_refused_tokens_are_audited(
    http: httpx.AsyncClient, sms: SmsBox
) -> None:
    tokens = (await sign_in(http, sms, "+919876543210"))["tokens"]
    data_of(await post(http, SIGN_OUT, token=tokens["accessToken"]))
    data_of(await post(http, REFRESH, {"t": tokens["refreshToken"]}))  # its session ended
    data_of(await post(http, REFRESH, {"t": "forged"}))
    response = await http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {tokens['accessToken']}"}
    )
    assert response.status_code == 401
    anonymous = await post(http, ME)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    records = await AuditRecord.all().order_by("id")
    tail = [(r.kind, r.detail.get("reason")) for r in records][-5:]
    assert tail == [
        ("logout", None),
        ("token.refresh_failed", "spent or revoked"),
        ("token.refresh_failed", "INVALID_TOKEN"),
        ("token.refused", "INVALID_TOKEN"),
        ("permission.denied", "unauthenticated"),
    ]
    assert {r.ip for r in records} == {"203.0.113.7"}


async def test_disabling_a_client_ends_its_tokens_at_once(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    creds = await clients.create_client(name="CPGRAMS", role=Role.PORTAL, system="cpgrams")
    got = data_of(await post(http, CLIENT, {"id": creds.client_id, "s": creds.secret}))
    token = got["clientToken"]["tokens"]["accessToken"]
    assert data_of(await post(http, ME, token=token))["me"]["roles"] == ["PORTAL"]
    assert await clients.disable(creds.client_id)
    response = await http.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
