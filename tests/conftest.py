"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL and Redis are the real servers on 127.0.0.1. When one is down the
tests that need it skip with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise import connections

from auth.actor import Actor
from hub import db
from hub.app import create_app
from hub.enums import Role, UserKind
from hub.jobs import InProcessRunner
from hub.models import Department, Office, User
from hub.runtime import Runtime
from hub.services import routing
from hub.services.taxonomy import load_rule_set
from hub.services.users import actor_for
from hub.settings import Settings
from routing_rules.rules import read_rules

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_RULES = ROOT / "routing_rules" / "sample"


def _cpgrams_dir() -> Path:
    """The real CPGRAMS data: beside the project (../shared), or the workplace's copy."""
    if chosen := os.environ.get("HUB_TEST_CPGRAMS_DIR"):
        return Path(chosen)
    for candidate in (ROOT.parent / "shared", Path("/work/shared")):
        if (candidate / "data" / "cpgrams" / "Complaint_Category.csv").is_file():
            return candidate / "data" / "cpgrams"
    return ROOT.parent / "shared" / "data" / "cpgrams"


CPGRAMS_DIR = _cpgrams_dir()
PG_HOST = os.environ.get("HUB_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("HUB_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("HUB_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"
PER_TEST_TABLES = (
    "auth_token",
    "auth_session",
    "service_client",
    "otp_challenge",
    "audit_record",
    "outbox_message",
    "external_link",
    "attachment",
    "grievance_event",
    "grievance_escalation",
    "grievance",
    "hub_user",
    "counter",
    "routing_model",
)


# append-only tables: tests lift their delete triggers on SQLite to start afresh
SQLITE_NO_DELETE = {
    table: f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in ("grievance_event", "audit_record")
}


def unavailable(what: str, why: str, how: str) -> None:
    message = f"{what} is not available ({why}); start it with: {how}"
    if IN_CI:
        pytest.fail(f"CI=true requires {message}", pytrace=False)
    pytest.skip(message)


PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


async def pg_admin() -> asyncpg.Connection:
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3
    )


def pg_url(name: str) -> str:
    return f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


async def create_pg_database() -> str:
    try:
        conn = await pg_admin()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        unavailable("PostgreSQL", f"{PG_HOST}:{PG_PORT}: {type(exc).__name__}", PG_START)
    name = f"hub_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await pg_admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """A migrated database with the sample taxonomy, connected for the whole session."""
    pg_name = None
    if request.param == "postgres":
        pg_name = await create_pg_database()
        url = pg_url(pg_name)
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'hub.sqlite3'}"
    settings = Settings(database_url=url, connectors=("log",), db_pool_size=20)
    await db.migrate(settings)
    await db.connect(settings)
    await load_rule_set(read_rules(SAMPLE_RULES))
    try:
        yield settings
    finally:
        await db.disconnect()
        if pg_name:
            await drop_pg_database(pg_name)


async def truncate() -> None:
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(f"TRUNCATE {', '.join(PER_TEST_TABLES)} RESTART IDENTITY")
    else:
        for table in SQLITE_NO_DELETE:
            await conn.execute_script(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        for table in PER_TEST_TABLES:
            await conn.execute_script(f"DELETE FROM {table}")
        for statement in SQLITE_NO_DELETE.values():
            await conn.execute_script(statement)


@pytest.fixture
async def settings(database: Settings) -> Settings:
    await truncate()
    routing.forget()  # a router holding a model from the last test's rows
    return database


@pytest.fixture
def runner(settings: Settings) -> InProcessRunner:
    return InProcessRunner(settings)


@pytest.fixture
def rt(settings: Settings, runner: InProcessRunner) -> Runtime:
    return Runtime(settings=settings, jobs=runner)


@dataclass
class People:
    asha: User  # a citizen
    ravi: User  # another citizen
    operator: User
    udd_gro: User
    wsd_gro: User
    leader: User

    def actor(self, user: User) -> Actor:
        return actor_for(user)


@pytest.fixture
async def people(settings: Settings) -> People:
    udd = await Department.get(code="UDD")
    wsd = await Department.get(code="WSD")
    udd_office, _ = await Office.get_or_create(
        code="UDD-HQ", defaults={"name": "UDD HQ", "department": udd}
    )

    async def user(mobile: str, name: str, kind: UserKind, roles: list[Role], **kw: Any) -> User:
        return await User.create(
            mobile=mobile, name=name, kind=kind, roles=[r.value for r in roles], **kw
        )

    return People(
        asha=await user("+919900000001", "Asha", UserKind.CITIZEN, [Role.CITIZEN]),
        ravi=await user("+919900000002", "Ravi", UserKind.CITIZEN, [Role.CITIZEN]),
        operator=await user("+919800000003", "Op", UserKind.EMPLOYEE, [Role.OPERATOR]),
        udd_gro=await user(
            "+919700030003",
            "UDD GRO",
            UserKind.EMPLOYEE,
            [Role.GRO],
            department=udd,
            office=udd_office,
        ),
        wsd_gro=await user(
            "+919700040003", "WSD GRO", UserKind.EMPLOYEE, [Role.GRO], department=wsd
        ),
        leader=await user("+919800000001", "Leader", UserKind.EMPLOYEE, [Role.LEADERSHIP]),
    )


@dataclass
class Staff:
    lme: User
    other_lme: User
    nodal: User
    hod: User
    wsd_lme: User


@pytest.fixture
async def staff(people: People) -> Staff:
    """UDD's field officers (at its headquarters), nodal officer and HoD; an LME of WSD."""
    udd = await Department.get(code="UDD")
    wsd = await Department.get(code="WSD")
    hq = await Office.get(code="UDD-HQ")

    async def officer(mobile: str, name: str, role: Role, department: Department) -> User:
        office = hq if department.id == udd.id and role == Role.LME else None
        return await User.create(
            mobile=mobile,
            name=name,
            kind=UserKind.EMPLOYEE,
            roles=[role.value],
            department=department,
            office=office,
        )

    return Staff(
        lme=await officer("+919700030010", "UDD LME", Role.LME, udd),
        other_lme=await officer("+919700030011", "UDD LME 2", Role.LME, udd),
        nodal=await officer("+919700030012", "UDD Nodal", Role.NODAL_OFFICER, udd),
        hod=await officer("+919700030013", "UDD HoD", Role.HOD, udd),
        wsd_lme=await officer("+919700040010", "WSD LME", Role.LME, wsd),
    )


@pytest.fixture
async def client(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the ASGI app; the database is already connected by ``database``."""
    app = create_app(rt.settings, jobs=rt.jobs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def bearer(settings: Settings, user: User | None) -> dict[str, str]:
    """Act as ``user`` the way clients do: the access token of a real sign-in (a session
    and token rows, as after an OTP or client-credentials sign-in). Anonymous: nothing."""
    from hub.services import signin
    from hub.services.audit import Origin

    if user is None:
        return {}
    method = "client" if user.kind == UserKind.SERVICE else "otp"
    tokens = await signin.open_session(
        settings, user, method, Origin(), refresh=user.kind != UserKind.SERVICE
    )
    return {"Authorization": f"Bearer {tokens.access_token}"}


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    as_user: User | None = None,
) -> dict[str, Any]:
    headers = {"X-Hub-Dev-User": str(as_user.id)} if as_user else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` of a response that must have no errors."""
    assert not body.get("errors"), body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        unavailable("Redis", f"{REDIS_URL}: {type(exc).__name__}", REDIS_START)
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def run_hub(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The ``hub`` command in a child process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
