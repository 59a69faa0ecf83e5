"""The ASGI app: Starlette routes, GraphQL at /graphql, health and readiness probes."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from tortoise import connections

from hub import db
from hub.jobs import JobQueue, make_queue
from hub.logs import request_id
from hub.runtime import Runtime
from hub.services.users import dev_actor
from hub.settings import Settings
from schema import build_schema
from schema.context import Context

logger = logging.getLogger("hub.app")
DEV_HEADER = "x-hub-dev-user"


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


class HubGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(production=settings.is_production),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
        )
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Strawberry answers unparseable requests in plain text; clients expect GraphQL errors.
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = _error(exc.status_code, exc.reason, "BAD_REQUEST")
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        actor = None
        reference = request.headers.get(DEV_HEADER)
        if reference and self.runtime.settings.dev_auth_enabled:
            actor = await dev_actor(reference)
        return Context(runtime=self.runtime, actor=actor, request=request, response=response)


class Guard:
    """Request ids, the body-size cap, and the dev header's refusal in production."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            await self._guarded(scope, receive, send, headers, rid)
        finally:
            request_id.reset(token)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], rid: str
    ) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        if scope["type"] == "http":
            refusal = self._refusal(headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
        limit = self.settings.max_body_bytes
        seen = 0

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, capped_receive, send_with_id)
        except _BodyTooLarge:
            await self._too_large()(scope, receive, send_with_id)

    def _refusal(self, headers: dict[str, str]) -> Response | None:
        if DEV_HEADER in headers and not self.settings.dev_auth_enabled:
            return _error(
                401,
                "The X-Hub-Dev-User header is a dev-mode convenience; production "
                "mode refuses it. Sign in instead.",
                "DEV_AUTH_DISABLED",
            )
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return _error(400, "Content-Length is not a number.", "BAD_REQUEST")
            if int(length) > self.settings.max_body_bytes:
                return self._too_large()
        return None

    def _too_large(self) -> Response:
        return _error(
            413,
            f"Request body is larger than {self.settings.max_body_bytes} bytes.",
            "PAYLOAD_TOO_LARGE",
        )


class _BodyTooLarge(Exception):
    pass


def create_app(settings: Settings, jobs: JobQueue | None = None) -> Starlette:
    queue = jobs or make_queue(settings)
    runtime = Runtime(settings=settings, jobs=queue)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect(settings)
        try:
            await db.require_migrated()
            await queue.start()
            logger.info(
                "hub ready",
                extra={
                    "env": settings.env,
                    "database": settings.database_url_redacted,
                    "jobs": type(queue).__name__,
                },
            )
            yield
        finally:
            await queue.stop()
            await db.disconnect()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await readiness(settings)
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "service": "grievance-hub",
                "graphql": "/graphql",
                "health": "/healthz",
                "ready": "/readyz",
            }
        )

    graphql = HubGraphQL(runtime)
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(Guard, settings=settings)
    return app


async def readiness(settings: Settings) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
        pending = await db.pending_migrations()
        checks["migrations"] = "ok" if not pending else f"{len(pending)} pending: run hub migrate"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if settings.redis_url:
        checks["redis"] = await _redis_check(settings.redis_url)
    return checks


async def _redis_check(url: str) -> str:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        started = time.monotonic()
        await client.ping()
        return "ok" if time.monotonic() - started < 1 else "slow"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    finally:
        await client.aclose()
