"""``hub bench seed`` writes consistent rows fast; the lifecycle baselines run on them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.bench import lifecycle
from hub.enums import OPEN_STATUSES
from hub.services import phones
from tests.conftest import ROOT, create_pg_database, drop_pg_database, pg_url

pytestmark = pytest.mark.postgres

GRIEVANCES = 2000
NUMBER = re.compile(r"^KA-(?P<dept>[A-Z]+)-(?P<year>\d{4})-(?P<seq>\d{7})$")
MOBILE = re.compile(r"^\+91[6-9]\d{9}$")
OPEN = sorted(str(s) for s in OPEN_STATUSES)


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[str]:
    name = await create_pg_database()
    url = pg_url(name)
    try:
        done = await asyncio.to_thread(
            hub, "bench", "seed", "--grievances", str(GRIEVANCES), "--database-url", url
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"seeded {GRIEVANCES} grievances" in done.stdout
        yield url
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def conn(seeded: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(seeded, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def test_seed_writes_consistent_grievances(conn: asyncpg.Connection) -> None:
    numbers = [
        r["registration_number"]
        for r in await conn.fetch("SELECT registration_number FROM grievance")
    ]
    assert len(numbers) == GRIEVANCES == len(set(numbers))
    assert all(NUMBER.match(n) for n in numbers)

    events = await conn.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT grievance_id) AS grievances,"
        " bool_and(action = 'FILE') AS all_file FROM grievance_event"
    )
    assert (events["n"], events["grievances"], events["all_file"]) == (GRIEVANCES, GRIEVANCES, True)

    statuses = dict(await conn.fetch("SELECT status, count(*) FROM grievance GROUP BY status"))
    assert set(statuses) == {"PENDING_ASSIGNMENT", "ASSIGNED", "RESOLVED", "CLOSED"}
    assert sum(statuses[s] for s in ("PENDING_ASSIGNMENT", "ASSIGNED")) > GRIEVANCES * 0.7

    # ids in filing order; every row where it should be
    problems = await conn.fetchval(
        """
        SELECT count(*) FROM grievance g
        JOIN office o ON o.id = g.office_id
        JOIN taxonomy_node c ON c.id = g.category_id
        LEFT JOIN grievance_escalation e ON e.grievance_id = g.id
        LEFT JOIN hub_user a ON a.id = g.assignee_id
        WHERE o.department_id <> g.department_id OR c.department_id <> g.department_id
           OR (g.status = 'PENDING_ASSIGNMENT') <> (g.assignee_id IS NULL)
           OR (a.id IS NOT NULL AND (a.office_id <> g.office_id OR NOT a.roles @> '["lme"]'))
           OR e.grievance_id IS NULL OR e.due_at IS DISTINCT FROM g.due_at
           OR (g.status = ANY($1::varchar[])) <> (e.escalate_at IS NOT NULL)
           OR (g.status IN ('RESOLVED', 'CLOSED')) <> (g.answered_at IS NOT NULL)
           OR (g.status = 'CLOSED') <> (g.closed_at IS NOT NULL)
           OR e.level <> 0 OR g.due_at <= g.created_at
           OR g.created_at < now() - interval '731 days' OR g.created_at > now()
        """,
        OPEN,
    )
    assert problems == 0
    unordered = await conn.fetchval(
        "SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back"
        " FROM grievance) t WHERE back"
    )
    assert unordered == 0
    due = await conn.fetchval(lifecycle.DUE_COUNT, OPEN, dt.datetime.now(dt.UTC))
    assert 0 < due < GRIEVANCES


async def test_seed_advances_counters_and_sequences(conn: asyncpg.Connection) -> None:
    highest: dict[str, int] = {}
    for row in await conn.fetch("SELECT registration_number FROM grievance"):
        match = NUMBER.match(row["registration_number"])
        assert match is not None
        key = f"reg:KA:{match['dept']}:{match['year']}"
        highest[key] = max(highest.get(key, 0), int(match["seq"]))
    counters = dict(await conn.fetch("SELECT key, value FROM counter WHERE key LIKE 'reg:%'"))
    assert counters == highest  # the next filing draws one past the highest number

    assert await conn.fetchval(
        "SELECT last_value >= (SELECT max(id) FROM grievance) FROM grievance_id_seq"
    )
    assert await conn.fetchval(
        "SELECT last_value >= (SELECT max(id) FROM hub_user) FROM hub_user_id_seq"
    )
    definitions = " ".join(
        r["indexdef"]
        for r in await conn.fetch(
            "SELECT indexdef FROM pg_indexes"
            " WHERE tablename IN ('grievance', 'grievance_escalation', 'grievance_event')"
        )
    )
    for columns in (
        "(assignee_id, due_at)",
        "(citizen_id, created_at)",
        "(grievance_id, id)",
        "(officer_id, due_at)",
        "(escalate_at)",
    ):
        assert columns in definitions  # the indexes dropped for the load are back
    keys = {
        r["conname"]
        for r in await conn.fetch(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid IN"
            " ('grievance'::regclass, 'grievance_escalation'::regclass,"
            " 'grievance_event'::regclass)"
        )
    }
    assert {
        "grievance_citizen_id_fkey",
        "grievance_event_grievance_id_fkey",
        "grievance_escalation_grievance_id_fkey",
        "grievance_escalation_officer_id_fkey",
    } <= keys
    assert len(keys) == 12  # and so are the foreign keys


async def test_seed_writes_officers_and_citizens(conn: asyncpg.Connection) -> None:
    users = await conn.fetch("SELECT mobile, language, roles, department_id FROM hub_user")
    mobiles = [u["mobile"] for u in users]
    assert len(set(mobiles)) == len(users) and all(MOBILE.match(m) for m in mobiles)
    assert {u["language"] for u in users} == {"en", "hi"}
    citizens = [u for u in users if u["roles"] == '["citizen"]']
    assert len(citizens) == GRIEVANCES // 5
    departments = {u["department_id"] for u in users if u["department_id"] is not None}
    for role in ("lme", "gro", "nodal_officer", "hod"):
        holders = [u for u in users if u["roles"] == f'["{role}"]']
        assert {u["department_id"] for u in holders} == departments, role
        if role != "hod":
            assert len(holders) >= 2 * len(departments), role


async def test_second_seed_refuses_a_filled_database(seeded: str) -> None:
    done = await asyncio.to_thread(
        hub, "bench", "seed", "--grievances", "10", "--database-url", seeded
    )
    assert done.returncode == 2
    assert "already holds users or grievances" in done.stderr


async def test_baseline_queries_run(seeded: str) -> None:
    pool = await asyncpg.create_pool(seeded, min_size=1, max_size=2)
    try:
        workload = await lifecycle.choose_workload(pool, random.Random(3), 50)
        assert workload.lme_open > 0 and workload.tracked and workload.mobiles

        first = await lifecycle.inbox_page(pool, workload.lme_id, None)
        assert 0 < len(first) <= 21
        assert [(r["due_at"], r["id"]) for r in first] == sorted(
            (r["due_at"], r["id"]) for r in first
        )
        if len(first) == 21:
            last = first[19]
            second = await lifecycle.inbox_page(pool, workload.lme_id, (last["due_at"], last["id"]))
            assert second and second[0]["id"] == first[20]["id"]

        number, department, _ = workload.tracked[0]
        row = await pool.fetchrow(lifecycle.TRACK_SQL, number, department)
        assert row is not None and row["registration_number"] == number

        rows = await pool.fetch(
            lifecycle.SEARCH_SQL, workload.mobiles[0], workload.search_department
        )
        assert rows
        assert [r["created_at"] for r in rows] == sorted(
            (r["created_at"] for r in rows), reverse=True
        )
    finally:
        await pool.close()


async def test_every_seeded_mobile_is_one_the_hub_accepts(conn: asyncpg.Connection) -> None:
    mobiles = [r["mobile"] for r in await conn.fetch("SELECT mobile FROM hub_user")]
    assert mobiles and all(phones.indian_mobile(m) == m for m in mobiles if m)


async def test_the_hub_answers_every_benched_read(seeded: str) -> None:
    """Each read is asked as someone who may see it: a GRO of the grievance's office, the
    department's nodal officer for search; a refusal or an empty answer would be timed as
    if it were the work."""
    done = await asyncio.to_thread(
        hub, "bench", "lifecycle", "--database-url", seeded, "--requests", "40",
        "--clients", "2", "--warmup", "4", "--rounds", "1", "--json",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: slower than a target
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["inbox"]["requests"] > 0  # the LME's own (a small seed's LME may page
    # past the end of their inbox: an empty page there is the data, not a refusal)
    for name in ("tracking", "search"):
        assert figures[name]["requests"] > 0, (name, figures[name])
        assert (figures[name]["failed"], figures[name]["baseline_failed"]) == (0, 0), (
            name,
            done.stdout[-2000:],
        )


async def test_escalation_preparation_makes_every_grievance_due(conn: asyncpg.Connection) -> None:
    await lifecycle.prepare_due(conn, GRIEVANCES)
    due = await conn.fetchval(
        "SELECT count(*) FROM grievance g JOIN grievance_escalation e ON e.grievance_id = g.id"
        " WHERE g.status = ANY($1::varchar[]) AND e.escalate_at < now() AND e.level = 0",
        OPEN,
    )
    assert due == GRIEVANCES


async def test_escalation_bench_escalates_every_due_grievance_once(seeded: str) -> None:
    done = await asyncio.to_thread(
        hub, "bench", "escalation", "--due", str(GRIEVANCES), "--database-url", seeded,
        "--broker", "memory", "--batch", "300", "--workers", "3", "--json",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]  # 1: slower than the target
    figures = json.loads(done.stdout.splitlines()[-1])
    assert (figures["due"], figures["escalated"], figures["due_after"]) == (
        GRIEVANCES,
        GRIEVANCES,
        0,
    )
    assert (figures["batch"], figures["workers"], figures["broker"]) == (300, 3, "memory")
    assert set(figures["server"]) == set(lifecycle.SERVER_SETTINGS)  # read in context
    assert "server: shared_buffers=" in done.stdout
    connection = await asyncpg.connect(seeded, timeout=10)
    try:
        steps = await connection.fetchval(
            "SELECT count(DISTINCT grievance_id) FROM grievance_event WHERE action = 'ESCALATE'"
            " AND after->>'escalation_level' = '1'"
        )
        sent = await connection.fetchval(
            "SELECT count(*) FROM outbox_message WHERE topic = 'grievance.changed'"
        )
    finally:
        await connection.close()
    assert steps == GRIEVANCES and sent >= GRIEVANCES
