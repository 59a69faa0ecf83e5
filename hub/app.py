"""The ASGI app: Starlette routes, GraphQL at /graphql, health and readiness probes."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData, GraphQLRequestProtocol
from strawberry.http.websocket_origin import normalize_allowed_origins
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UnsetType
from tortoise import connections

from auth.actor import Actor
from connectors.base import Connector, DeliveryResult, OutboundMessage, close_connector
from connectors.registry import SMS_SINKS
from hub import db
from hub.jobs import InProcessRunner, JobQueue, make_queue
from hub.logs import request_id
from hub.pubsub import Broker, make_broker
from hub.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    Refusal,
    check_actor,
    check_address,
    make_limiter,
)
from hub.runtime import Runtime
from hub.services import attachments, audit, signin
from hub.services.users import dev_actor
from hub.settings import Settings, SettingsError
from routing_rules.text import use_lexicons
from schema import build_schema
from schema.context import Context

logger = logging.getLogger("hub.app")
DEV_HEADER = "x-hub-dev-user"
# Bodies a browser may POST cross-site without a CORS preflight, and headers it may not.
SIMPLE_CONTENT_TYPES = {"multipart/form-data", "application/x-www-form-urlencoded", "text/plain"}
CSRF_HEADERS = ("x-hub-csrf", "apollo-require-preflight")
# What a page on an allowed origin may send: a bearer token, a JSON body, the CSRF headers
# of multipart uploads and a request id to trace by.
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-Hub-CSRF",
    "Apollo-Require-Preflight",
    "X-Request-Id",
)
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


def _too_many(refusal: Refusal) -> JSONResponse:
    return JSONResponse(
        {"errors": [refusal.error]},
        status_code=429,
        headers={"Retry-After": str(refusal.retry_after)},
    )


class _Limited(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _origins(name: str, origins: tuple[str, ...]) -> frozenset[str]:
    """Origins as browsers send them (``https://app.example.in``, no path or slash)."""
    try:
        return normalize_allowed_origins(origins)
    except ValueError:
        raise SettingsError(
            f"Config '{name}' has value '{','.join(origins)}'. Must list origins like "
            "https://app.example.in (scheme, host, optional port; no path), or *."
        ) from None


def _surrogate_at(value: Any, path: str = "") -> str | None:
    """Where in a decoded JSON body a string (or key) holds a lone surrogate:
    'variables.input.description'."""
    if isinstance(value, str):
        return path if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _has_surrogate(str(key)):
                return here
            found = _surrogate_at(item, here)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _surrogate_at(item, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _socket_origins(settings: Settings) -> frozenset[str]:
    if settings.ws_origins:
        return _origins("HUB_WS_ORIGINS", settings.ws_origins)
    return _origins("HUB_CORS_ORIGINS", settings.cors_origins)


@dataclass
class SocketContext(Context):
    """A WebSocket's context: one per connection; graphql-transport-ws fills
    ``connection_params`` from the connection_init payload."""

    connection_params: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None  # why the handshake's credentials were refused


def _lowered(params: Mapping[str, Any]) -> dict[str, str]:
    """A connection_init payload as credentials: header-like keys, string values."""
    return {
        key.lower(): str(value)
        for key, value in params.items()
        if isinstance(key, str) and isinstance(value, str | int) and not isinstance(value, bool)
    }


class _CountedTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, where every operation a socket starts counts as a request,
    and runs only while the sign-in it was opened with holds (a socket outlives tokens:
    sign-out, revocation, expiry or a disabled account closes it, 4401)."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        view = self.view
        actor = self.context.actor if self.connection_acknowledged else None
        if actor is not None and not await signin.still_valid(actor):
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        if self.connection_acknowledged and isinstance(view, HubGraphQL):
            refusal = await view.socket_refusal(self.context)
            if refusal is not None:
                error: Any = {"id": message["id"], "type": "error", "payload": [refusal.error]}
                await self.send_message(error)
                return
        await super().handle_subscribe(message)


class HubGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = _CountedTransportWS

    def __init__(self, runtime: Runtime, limiter: RateLimiter | None = None) -> None:
        settings = runtime.settings
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
            multipart_uploads_enabled=True,  # safe only behind Guard's CSRF check
            # one WebSocket protocol to guard: the legacy graphql-ws is not offered
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # a page on another origin may open a socket only from these; handshakes without
            # an Origin (not a browser: no ambient credentials) and same-origin ones may too
            allowed_origins=sorted(_socket_origins(settings)),
        )
        self.runtime = runtime
        self.limiter = limiter or MemoryRateLimiter()

    def decode_json(self, data: str | bytes) -> object:
        # a body that is not UTF-8 is as malformed as one that is not JSON: a 400, not a 500;
        # so is JSON text with a lone surrogate ("\ud800"), which no database can store
        try:
            decoded = json.loads(data)
            json.dumps(decoded, ensure_ascii=False).encode()
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", "", exc.start) from None
        except UnicodeEncodeError:
            where = _surrogate_at(decoded) or "a string"
            raise HTTPException(
                400, f"{where} holds a lone surrogate (such as \\ud800): not text"
            ) from None
        return decoded

    def _validate_batch_request(
        self, request_data: list[GraphQLRequestData], protocol: GraphQLRequestProtocol
    ) -> None:
        # One operation per request: a batch would multiply what one request may do.
        raise HTTPException(
            400, "Batched operations (a JSON array) are not accepted: send one per request."
        )

    def _refuse_get(self, request: Request) -> Response | None:
        """Operations come by POST only; a GET serves GraphiQL in dev and nothing else."""
        if request.method not in ("GET", "HEAD"):
            return None
        if self.graphql_ide and self.should_render_graphql_ide(self.request_adapter_class(request)):
            return None
        response = _error(
            405,
            "Send GraphQL operations with POST and a JSON body; GET runs none.",
            "METHOD_NOT_ALLOWED",
        )
        response.headers["Allow"] = "POST"
        return response

    async def socket_refusal(self, context: Context) -> Refusal | None:
        """Per address and per actor, as Guard and get_context count HTTP requests."""
        settings = self.runtime.settings
        client = context.request.scope.get("client") if context.request else None
        refusal = await check_address(self.limiter, settings, client)
        actor = context.actor
        if refusal is None and actor is not None and actor.user_id is not None:
            refusal = await check_actor(self.limiter, settings, actor.user_id)
        return refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # Strawberry answers unparseable requests in plain text; clients expect GraphQL errors.
        request = Request(scope=scope, receive=receive)
        try:
            response = self._refuse_get(request) or await self.run(request)
        except _Limited as exc:
            response = _too_many(exc.refusal)
        except Unauthorized as exc:
            response = _error(exc.status_code, exc.reason, exc.code)
            response.headers["WWW-Authenticate"] = exc.challenge
        except HTTPException as exc:
            response = _error(exc.status_code, exc.reason, "BAD_REQUEST")
        finally:
            await request.close()  # uploaded files' temp files
        await response(scope, receive, send)

    async def authenticate(self, credentials: Mapping[str, str]) -> Actor | None:
        """The one place an actor is found from what a client sent: HTTP headers, or
        a WebSocket's handshake headers and connection_init payload (lower-case keys).
        No credentials: anonymous. Bad ones: ``Unauthorized``, never anonymous."""
        header = credentials.get("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token or " " in token:
                raise Unauthorized(
                    400,
                    "The Authorization header must be 'Bearer <access token>'.",
                    "INVALID_AUTHORIZATION",
                    'Bearer error="invalid_request"',
                )
            try:
                return await signin.authenticate(self.runtime.settings, token)
            except signin.SignInRefused as exc:
                await audit.record("token.refused", detail={"reason": exc.code})
                raise Unauthorized(
                    401, exc.message, exc.code, 'Bearer error="invalid_token"'
                ) from None
        reference = credentials.get(DEV_HEADER)
        if reference and self.runtime.settings.dev_auth_enabled:
            return await dev_actor(reference)
        return None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            # a refused handshake credential is answered in on_ws_connect, in the protocol
            try:
                actor, refused = await self.authenticate(request.headers), None
            except Unauthorized as exc:
                actor, refused = None, exc.code
            return SocketContext(
                runtime=self.runtime,
                actor=actor,
                request=request,
                response=response,
                refused=refused,
            )
        actor = await self.authenticate(request.headers)
        if actor is not None and actor.user_id is not None:
            refusal = await check_actor(self.limiter, self.runtime.settings, actor.user_id)
            if refusal is not None:
                raise _Limited(refusal)
        return Context(runtime=self.runtime, actor=actor, request=request, response=response)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """connection_init: its payload may name the actor, as headers do over HTTP."""
        assert isinstance(context, SocketContext)
        if context.refused is not None:
            raise ConnectionRejectionError({"code": context.refused})
        params = _lowered(context.connection_params)
        if not self.runtime.settings.dev_auth_enabled and (
            DEV_HEADER in params or DEV_HEADER in context.request.headers
        ):
            raise ConnectionRejectionError({"code": "DEV_AUTH_DISABLED"})
        if DEV_HEADER in params or "authorization" in params:
            try:
                context.actor = await self.authenticate(params)
            except Unauthorized as exc:
                raise ConnectionRejectionError({"code": exc.code}) from None
        return UnsetType()  # acknowledge without a payload


class _SinkOnFirstUse:
    """A connector made when first used: an app that never sends a code needs no gateway."""

    name = "sms"

    def __init__(self, make: Callable[[], Connector]) -> None:
        self._make = make
        self._made: Connector | None = None

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if self._made is None:
            self._made = self._make()
        return await self._made.deliver(message)

    async def aclose(self) -> None:
        if self._made is not None:
            await close_connector(self._made)
            self._made = None


class Unauthorized(HTTPException):
    """Credentials that were sent and are wrong: answered with a status, never treated
    as anonymous."""

    def __init__(self, status: int, reason: str, code: str, challenge: str) -> None:
        super().__init__(status, reason)
        self.code = code
        self.challenge = challenge


class Guard:
    """Request ids, the per-address rate limit, the body-size cap, the CSRF check on
    form-like POSTs, and the dev header's refusal in production."""

    # The liveness probe costs nothing and must never be told to wait.
    UNCOUNTED_PATHS = frozenset({"/healthz"})

    def __init__(
        self, app: ASGIApp, settings: Settings, limiter: RateLimiter | None = None
    ) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter or MemoryRateLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        token = request_id.set(rid)
        client = scope.get("client")
        where = audit.current_origin.set(
            audit.Origin(
                ip=(str(client[0]) if client else "")[:64],
                user_agent=headers.get("user-agent", "")[:200],
            )
        )
        try:
            await self._guarded(scope, receive, send, headers, rid)
        finally:
            audit.current_origin.reset(where)
            request_id.reset(token)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], rid: str
    ) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        if scope["path"] not in self.UNCOUNTED_PATHS:
            # scope["client"]: uvicorn took it from X-Forwarded-For for trusted proxies only
            limited = await check_address(self.limiter, self.settings, scope.get("client"))
            if limited is not None:
                await _refuse(scope, receive, send_with_id, _too_many(limited))
                return
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


async def _refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    """Answer with ``response``; a WebSocket handshake is refused before it is accepted."""
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    socket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await socket.send_denial_response(response)
    else:
        await socket.close(code=1013)  # try again later


def _essence(content_type: str) -> str:
    """``multipart/form-data; boundary=x`` -> ``multipart/form-data``."""
    return content_type.split(";", 1)[0].strip().lower()


def create_app(
    settings: Settings,
    jobs: JobQueue | None = None,
    broker: Broker | None = None,
    sms: Connector | None = None,
) -> Starlette:
    use_lexicons(settings.lexicon_dir)  # a deployment's own lists with problems: no start
    queue = jobs or make_queue(settings)
    updates = broker or make_broker(settings)
    # one SMS sink for the process's sign-in codes (a pooled HTTP session), closed at exit
    codes = sms or _SinkOnFirstUse(lambda: SMS_SINKS[settings.sms_sink](settings))
    runtime = Runtime(settings=settings, jobs=queue, broker=updates, sms=codes)
    if isinstance(queue, InProcessRunner):  # its jobs' changes reach this app's subscribers
        queue.ctx["broker"] = updates

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await db.connect(settings)
        try:
            await db.require_migrated()
            await queue.start()
            await updates.start()
            await limiter.start()
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
            await limiter.stop()
            await updates.stop()
            await queue.stop()
            if sms is None:  # ours, not a caller's
                await close_connector(codes)
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
    limiter = make_limiter(settings)
    graphql = HubGraphQL(runtime, limiter)
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
    app.state.limiter = limiter
    app.add_middleware(Guard, settings=settings, limiter=limiter)
    # Outermost, so a page on an allowed origin can read refusals (429, 413, CSRF) too.
    # Credentials stay off: tokens travel in the Authorization header, never in cookies, so
    # no page needs the browser's cookies sent along, and none can ride on them.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(_origins("HUB_CORS_ORIGINS", settings.cors_origins)),
        allow_methods=["GET", "POST"],
        allow_headers=[*CORS_HEADERS, *([DEV_HEADER] if settings.dev_auth_enabled else [])],
        allow_credentials=False,
        expose_headers=["Retry-After", "X-Request-Id"],
        max_age=600,
    )
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
