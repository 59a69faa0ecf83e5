"""The filing benchmark's baseline: a hub filing's writes on bare Starlette + asyncpg.

``python -m uvicorn hub.bench.baseline_app:app`` with ``HUB_DATABASE_URL`` (and
optionally ``HUB_DB_POOL_SIZE``, ``HUB_STATE_CODE``, ``HUB_REGISTRATION_FORMAT``,
``HUB_CONNECTORS``) set. POST /file takes the hub's GraphQL request body and the
``X-Hub-Dev-User`` header, draws a registration number, then writes the
grievance, its FILE event and one outbox row per connector in one transaction.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.bench.workload import BOUNDARY_CODE, CATEGORY_CODE
from hub.enums import Action, Channel, GrievanceStatus, OutboxStatus, Role
from hub.settings import Settings, load_settings

FILED_TOPIC = "grievance.filed"

COUNTER_UPSERT = (
    "INSERT INTO counter (key, value) VALUES ($1, 1) "
    "ON CONFLICT (key) DO UPDATE SET value = counter.value + 1 RETURNING value"
)
INSERT_GRIEVANCE = """
INSERT INTO grievance (
    registration_number, citizen_id, channel, category_id, department_id, boundary_id,
    description, status, due_at, version, created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)
RETURNING id
"""
INSERT_LADDER = """
INSERT INTO grievance_escalation (grievance_id, level, escalate_at, due_at) VALUES ($1, 0, $2, $2)
"""
INSERT_EVENT = """
INSERT INTO grievance_event (
    grievance_id, action, actor_id, actor_role, to_status, before, after, note, created_at
) VALUES ($1, $2, $3, $4, $5, '{}', $6, '', $7)
RETURNING id
"""
INSERT_OUTBOX = """
INSERT INTO outbox_message (
    grievance_id, connector, topic, payload, idempotency_key, status, attempts,
    next_attempt_at, last_error, created_at
) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, '', $7)
"""
CATEGORY = """
SELECT n.id, n.sla_days, d.id AS department_id, d.code AS department_code
FROM taxonomy_node n JOIN department d ON d.id = n.department_id
WHERE n.code = $1 AND n.active
"""


@dataclass(frozen=True)
class Category:
    code: str
    id: int
    sla_days: int | None
    department_id: int
    department_code: str


class Baseline:
    def __init__(self) -> None:
        self.settings = Settings()
        self.pool: Any = None
        self.category: Category | None = None
        self.boundary_id: int | None = None

    async def start(self) -> None:
        self.settings = load_settings()
        self.pool = await asyncpg.create_pool(
            self.settings.database_url, min_size=1, max_size=self.settings.db_pool_size
        )
        row = await self.pool.fetchrow(CATEGORY, CATEGORY_CODE)
        if row is None:
            raise RuntimeError(f"category {CATEGORY_CODE} is not loaded")
        self.category = Category(code=CATEGORY_CODE, **dict(row))
        self.boundary_id = await self.pool.fetchval(
            "SELECT id FROM boundary WHERE code = $1 AND active", BOUNDARY_CODE
        )

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def file(self, request: Request) -> Response:
        category = self.category
        assert category is not None
        try:
            data = (await request.json())["variables"]["input"]
            description = str(data["description"]).strip()
            citizen_id = int(request.headers["x-hub-dev-user"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "bad request"}, status_code=400)
        if data.get("categoryCode") != category.code or data.get("boundaryCode") != BOUNDARY_CODE:
            return JSONResponse({"error": "unknown category or boundary"}, status_code=422)
        filed_at = dt.datetime.now(dt.UTC)
        fields = {
            "state": self.settings.state_code,
            "dept": category.department_code,
            "year": filed_at.year,
        }
        sequence = await self.pool.fetchval(
            COUNTER_UPSERT, "reg:{state}:{dept}:{year}".format(**fields)
        )
        number = self.settings.registration_format.format(seq=sequence, **fields)
        due = filed_at + dt.timedelta(days=category.sla_days) if category.sla_days else None
        status = GrievanceStatus.PENDING_ASSIGNMENT
        after = {
            "registration_number": number,
            "status": str(status),
            "channel": str(Channel.WEB),
            "category": category.code,
            "department": category.department_code,
            "due_at": due.isoformat() if due else None,
            "filed_at": filed_at.isoformat(),
        }
        async with self.pool.acquire() as conn, conn.transaction():
            grievance_id = await conn.fetchval(
                INSERT_GRIEVANCE,
                number,
                citizen_id,
                str(Channel.WEB),
                category.id,
                category.department_id,
                self.boundary_id,
                description,
                str(status),
                due,
                filed_at,
            )
            await conn.execute(INSERT_LADDER, grievance_id, due)
            event_id = await conn.fetchval(
                INSERT_EVENT,
                grievance_id,
                str(Action.FILE),
                citizen_id,
                str(Role.CITIZEN),
                str(status),
                _json(after),
                filed_at,
            )
            payload = _json({**after, "event_id": event_id})
            for connector in self.settings.connectors:
                await conn.execute(
                    INSERT_OUTBOX,
                    grievance_id,
                    connector,
                    FILED_TOPIC,
                    payload,
                    f"{number}:{event_id}:{connector}",
                    str(OutboxStatus.PENDING),
                    dt.datetime.now(dt.UTC),
                )
        return JSONResponse({"registrationNumber": number})


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


def create_app() -> Starlette:
    baseline = Baseline()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await baseline.start()
        try:
            yield
        finally:
            await baseline.stop()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/file", baseline.file, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


app = create_app()
