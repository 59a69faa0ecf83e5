"""The ASGI app: Starlette routes, GraphQL at /graphql, health and readiness probes."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UnsetType
from tortoise import connections

from auth.actor import Actor
from hub import db
from hub.jobs import InProcessRunner, JobQueue, make_queue
from hub.logs import request_id
from hub.pubsub import Broker, make_broker
from hub.runtime import Runtime
from hub.services import attachments
from hub.services.users import dev_actor
from hub.settings import Settings
from schema import build_schema
from schema.context import Context

logger = logging.getLogger("hub.app")
DEV_HEADER = "x-hub-dev-user"
# Bodies a browser may POST cross-site without a CORS preflight, and headers it may not.
SIMPLE_CONTENT_TYPES = {"multipart/form-data", "application/x-www-form-urlencoded", "text/plain"}
CSRF_HEADERS = ("x-hub-csrf", "apollo-require-preflight")
_SIGNATURE = re.compile(r"([?&]sig=)[^&\s\"]*")


class _NoSignatures(logging.Filter):
    """Access logs print query strings; a download link's signature stays out of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SIGNATURE.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


_NO_SIGNATURES = _NoSignatures()


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status
    )


@dataclass
class SocketContext(Context):
    """A WebSocket's context: one per connection; graphql-transport-ws fills
    ``connection_params`` from the connection_init payload."""

    connection_params: dict[str, Any] = field(default_factory=dict)


def _lowered(params: Mapping[str, Any]) -> dict[str, str]:
    """A connection_init payload as credentials: header-like keys, string values."""
    return {
        key.lower(): str(value)
        for key, value in params.items()
        if isinstance(key, str) and isinstance(value, str | int) and not isinstance(value, bool)
    }


class HubGraphQL(GraphQL[Context, None]):
    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(production=settings.is_production),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
            multipart_uploads_enabled=True,  # safe only behind Guard's CSRF check
        )
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Strawberry answers unparseable requests in plain text; clients expect GraphQL errors.
        request = Request(scope=scope, receive=receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            response = _error(exc.status_code, exc.reason, "BAD_REQUEST")
        finally:
            await request.close()  # uploaded files' temp files
        await response(scope, receive, send)

    async def authenticate(self, credentials: Mapping[str, str]) -> Actor | None:
        """The one place an actor is found from what a client sent: HTTP headers, or
        a WebSocket's handshake headers and connection_init payload (lower-case keys)."""
        reference = credentials.get(DEV_HEADER)
        if reference and self.runtime.settings.dev_auth_enabled:
            return await dev_actor(reference)
        return None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        actor = await self.authenticate(request.headers)
        if isinstance(request, WebSocket):
            return SocketContext(
                runtime=self.runtime, actor=actor, request=request, response=response
            )
        return Context(runtime=self.runtime, actor=actor, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """connection_init: its payload may name the actor, as headers do over HTTP."""
        assert isinstance(context, SocketContext)
        params = _lowered(context.connection_params)
        if not self.runtime.settings.dev_auth_enabled and (
            DEV_HEADER in params or DEV_HEADER in context.request.headers
        ):
            raise ConnectionRejectionError({"code": "DEV_AUTH_DISABLED"})
        if DEV_HEADER in params:
            context.actor = await self.authenticate(params)
        return UnsetType()  # acknowledge without a payload


class Guard:
    """Request ids, the body-size cap, the CSRF check on form-like POSTs, and the dev
    header's refusal in production."""

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
            refusal = self._refusal(headers) or self._csrf_refusal(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send_with_id)
                return
        limit = self._body_limit(headers)
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
            if int(length) > self._body_limit(headers):
                return self._too_large()
        return None

    def _body_limit(self, headers: dict[str, str]) -> int:
        """A multipart upload may also carry max_attachments files of max_attachment_bytes."""
        if _essence(headers.get("content-type", "")) != "multipart/form-data":
            return self.settings.max_body_bytes
        files = self.settings.max_attachments * self.settings.max_attachment_bytes
        return self.settings.max_body_bytes + files

    def _csrf_refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        """A form or a script on any site can POST these content types here with the user's
        cookies and no CORS preflight; a custom header is what such a page cannot add."""
        if scope.get("method") != "POST" or scope["path"].rstrip("/") != "/graphql":
            return None
        if _essence(headers.get("content-type", "")) not in SIMPLE_CONTENT_TYPES:
            return None
        if any(headers.get(name, "").strip() for name in CSRF_HEADERS):
            return None
        return _error(
            400,
            "A POST to /graphql with a multipart/form-data, application/x-www-form-urlencoded "
            "or text/plain body must carry a non-empty X-Hub-CSRF (or Apollo-Require-Preflight) "
            "header; browsers cannot send it cross-site without a CORS preflight.",
            "CSRF_REFUSED",
        )

    def _too_large(self) -> Response:
        return _error(
            413,
            f"Request body is larger than {self.settings.max_body_bytes} bytes.",
            "PAYLOAD_TOO_LARGE",
        )


class _BodyTooLarge(Exception):
    pass


def _essence(content_type: str) -> str:
    """``multipart/form-data; boundary=x`` -> ``multipart/form-data``."""
    return content_type.split(";", 1)[0].strip().lower()


def create_app(
    settings: Settings, jobs: JobQueue | None = None, broker: Broker | None = None
) -> Starlette:
    queue = jobs or make_queue(settings)
    updates = broker or make_broker(settings)
    runtime = Runtime(settings=settings, jobs=queue, broker=updates)
    if isinstance(queue, InProcessRunner):  # its jobs' changes reach this app's subscribers
        queue.ctx["broker"] = updates

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect(settings)
        try:
            await db.require_migrated()
            await queue.start()
            await updates.start()
            logger.info(
                "hub ready",
                extra={
                    "env": settings.env,
                    "database": settings.database_url_redacted,
                    "jobs": type(queue).__name__,
                    "updates": type(updates).__name__,
                },
            )
            yield
        finally:
            await updates.stop()
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

    async def download(request: Request) -> Response:
        # the query string holds the signature: never log the URL
        found = await attachments.open_download(
            settings,
            request.path_params["attachment_id"],
            request.query_params.get("exp", ""),
            request.query_params.get("sig", ""),
        )
        if found is None:
            return _error(
                403, "This download link is invalid or has expired; ask for a new one.", "FORBIDDEN"
            )
        row, data = found
        return Response(
            data, media_type=row.content_type, headers=attachments.download_headers(row)
        )

    logging.getLogger("uvicorn.access").addFilter(_NO_SIGNATURES)
    graphql = HubGraphQL(runtime)
    app = Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),  # subscriptions: graphql-transport-ws
            Route("/files/{attachment_id:int}", download, methods=["GET"]),
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
