"""GraphQL hardening, as an attacker meets it: query limits, no introspection or hints in
production, one operation per request and only by POST, CORS and WebSocket origins from the
settings, rate limits per address and per account, and one sign-in field per document."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import strawberry
from graphql import get_introspection_query
from redis.asyncio import Redis
from starlette.applications import Starlette
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from hub.app import create_app
from hub.ratelimit import MemoryRateLimiter, RedisRateLimiter, address_key
from hub.runtime import Runtime
from hub.settings import Settings
from schema import build_schema, hardening, sdl
from tests.conftest import People, gql
from tests.test_subscriptions import PROTOCOL, serve

PRODUCTION: dict[str, Any] = {
    "env": "production",
    "secret_key": "p" * 48,
    "sms_sink": "http",
    "sms_gateway_url": "http://127.0.0.1:9/sms",
}
APP = "https://app.example.in"
EVIL = "https://evil.example"
WINDOW_START = 1_800_000_000.0  # a multiple of 60: a minute's first second
TYPENAME = {"query": "{ __typename }"}


def frozen_clock(app: Starlette, at: float = WINDOW_START + 15) -> None:
    """Every request of the test in one rate-limit window, 45 s before its end."""
    limiter = app.state.limiter
    assert isinstance(limiter, MemoryRateLimiter)
    limiter.clock = lambda: at


@contextlib.asynccontextmanager
async def hub(
    rt: Runtime,
    *,
    client: tuple[str, int] = ("127.0.0.1", 50000),
    wrap: Callable[[Starlette], Any] | None = None,
    **changes: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with some settings changed, spoken to from ``client``."""
    app = create_app(rt.settings.replace(**changes), jobs=rt.jobs)
    frozen_clock(app)
    transport = httpx.ASGITransport(app=wrap(app) if wrap else app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def post(http: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("code", "") for e in body.get("errors", [])}


def nested(depth: int, leaf: str = "code") -> str:
    """``{ f { f { ... leaf } } }`` with ``depth`` fields on the path."""
    return "{ " + "f { " * (depth - 1) + leaf + " }" * depth


# -- depth, aliases, tokens --------------------------------------------------------------


async def test_a_fifty_deep_query_is_refused_before_it_runs(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        body = await post(http, nested(50))
    assert body.get("data") is None
    assert "QUERY_TOO_DEEP" in codes(body)
    assert "nests fields more than 12 deep" in json.dumps(body)


async def test_depth_counts_fields_from_the_root_through_fragments(rt: Runtime) -> None:
    deep = "{ grievance(registrationNumber: $n) { category { ...C } } }"
    fragment = "fragment C on Category { department { code } }"
    query = f"query($n: String!) {deep} {fragment}"
    async with hub(rt, max_query_depth=4) as http:
        assert "QUERY_TOO_DEEP" not in codes(await post(http, query, n="x"))
    async with hub(rt, max_query_depth=3) as http:
        refused = await post(http, query, n="x")
    assert "QUERY_TOO_DEEP" in codes(refused) and refused.get("data") is None


async def test_a_thousand_aliases_are_refused(rt: Runtime) -> None:
    many = "{ " + " ".join(f"a{i}: departments {{ code }}" for i in range(1000)) + " }"
    async with hub(rt, **PRODUCTION) as http:
        started = time.monotonic()
        body = await post(http, many)
    assert body.get("data") is None and body["errors"]
    assert time.monotonic() - started < 2


async def test_one_alias_over_the_limit_is_refused(rt: Runtime) -> None:
    def aliases(n: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    async with hub(rt, max_aliases=20) as http:
        assert (await post(http, aliases(20)))["data"]["a19"] == "Query"
        refused = await post(http, aliases(21))
        # an alias in a fragment counts at every spread
        spread = await post(
            http,
            "{ departments { ...A } categories { ...A } } "
            "fragment A on Department { " + " ".join(f"x{i}: code" for i in range(11)) + " }",
        )
    assert codes(refused) == {"TOO_MANY_ALIASES"}
    assert "21 aliases; at most 20" in refused["errors"][0]["message"]
    assert "TOO_MANY_ALIASES" in codes(spread)


async def test_a_100_kb_document_is_refused_by_its_token_count(rt: Runtime) -> None:
    query = "{ " + "__typename " * 10_000 + "}"
    assert len(query) > 100_000
    async with hub(rt, **PRODUCTION) as http:
        body = await post(http, query)
    assert body.get("data") is None
    assert "Document contains more than 3000 tokens" in body["errors"][0]["message"]


def doubling(n: int) -> str:
    """``n`` fragments, each spreading the next twice: 2^n walks for a checker that walks a
    fragment again at every spread (strawberry's depth and alias limiters do)."""
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    return f"{{ ...F0 }} {chain} fragment F{n} on Query {{ __typename }}"


async def test_fragments_spreading_fragments_cost_linear_time(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        started = time.monotonic()
        answered = await post(http, doubling(30))
        refused = await post(http, doubling(hardening.MAX_FRAGMENT_NESTING + 1))
    assert time.monotonic() - started < 2
    assert answered == {"data": {"__typename": "Query"}}
    assert codes(refused) == {"FRAGMENTS_TOO_NESTED"}


async def test_unknown_and_cyclic_fragments_are_plain_validation_errors(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        unknown = await post(http, "{ ...Nope }")
        cyclic = await post(
            http, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
        )
    # validation errors, not crashes; production says no more than that (names would leak
    # the schema to tools that rebuild it without introspection)
    for answer in (unknown, cyclic):
        assert answer["errors"] == [
            {"message": hardening.CONCEALED, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
        ]
    async with hub(rt) as http:
        unknown = await post(http, "{ ...Nope }")
        cyclic = await post(
            http, "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
        )
    assert unknown["errors"][0]["message"] == "Unknown fragment 'Nope'."
    assert any("Cannot spread fragment 'A' within itself" in e["message"] for e in cyclic["errors"])


def test_the_limit_rules_are_the_same_classes_on_every_request() -> None:
    """ValidationCache keys its entries on the rule classes: new ones would never hit."""
    factories = hardening.extensions(Settings())
    first, second = ([factory() for factory in factories] for _ in range(2))
    rules = [getattr(e, "validation_rules", None) for e in first]
    assert rules == [getattr(e, "validation_rules", None) for e in second]
    assert any(rules)


# -- introspection, GraphiQL and suggestions ---------------------------------------------


async def test_production_refuses_introspection_but_answers_typename(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        schema = await post(http, "{ __schema { types { name } } }")
        one_type = await post(http, '{ __type(name: "Grievance") { fields { name } } }')
        hidden = await post(
            http, "{ departments { code } ...F } fragment F on Query { __schema { description } }"
        )
        typename = await post(http, "{ __typename departments { __typename } }")
    for body in (schema, one_type, hidden):
        assert body.get("data") is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INTROSPECTION_DISABLED"]
    assert typename["data"]["__typename"] == "Query"


async def test_dev_answers_graphiqls_introspection_but_not_a_deep_one(
    client: httpx.AsyncClient,
) -> None:
    full = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
        one_of=True,
    )
    body = await post(client, full)
    assert "errors" not in body and body["data"]["__schema"]["queryType"]["name"] == "Query"
    abuse = "{ __schema { types { " + "fields { type { " * 10 + "name" + " } }" * 10 + " } } }"
    assert "QUERY_TOO_DEEP" in codes(await post(client, abuse))


TYPOS = {
    "field": "{ departments { nam } }",
    "argument": '{ grievance(registrationNo: "x") { status } }',
    "type": "query($n: Strin!) { grievance(registrationNumber: $n) { status } }",
    "enum value": "{ inbox(statuses: [PENDING_ASSIGNMEN]) { nodes { status } } }",
    "input field": '{ searchGrievances(filter: { mobil: "1" }) { nodes { status } } }',
    "fragment type": "{ ...F } fragment F on Querry { __typename }",
}


@pytest.mark.parametrize("typo", sorted(TYPOS))
async def test_production_never_suggests_names(rt: Runtime, typo: str) -> None:
    async with hub(rt, **PRODUCTION) as http:
        body = await post(http, TYPOS[typo])
    assert body["errors"], typo
    assert "Did you mean" not in json.dumps(body)
    assert "?" not in body["errors"][0]["message"]


async def test_production_never_suggests_enum_values_in_variables(rt: Runtime) -> None:
    query = "query($s: [GrievanceStatus!]) { inbox(statuses: $s) { nodes { status } } }"
    async with hub(rt, **PRODUCTION) as http:
        body = await post(http, query, s=["PENDING_ASSIGNMEN"])
    assert "does not exist in 'GrievanceStatus' enum" in body["errors"][0]["message"]
    assert "Did you mean" not in json.dumps(body)


async def test_dev_keeps_suggestions_for_graphiql(client: httpx.AsyncClient) -> None:
    body = await post(client, TYPOS["argument"])
    assert "Did you mean 'registrationNumber'?" in body["errors"][0]["message"]


def test_the_sdl_is_the_same_in_every_mode() -> None:
    production = Settings(**PRODUCTION, max_query_depth=3, max_aliases=1)
    assert build_schema(production).as_str() + "\n" == sdl()


# -- one operation per request, by POST ---------------------------------------------------


@pytest.mark.parametrize("mode", ["dev", "production"])
async def test_a_batch_is_refused(rt: Runtime, mode: str) -> None:
    async with hub(rt, **(PRODUCTION if mode == "production" else {})) as http:
        response = await http.post("/graphql", json=[TYPENAME, TYPENAME])
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"].startswith("Batched operations (a JSON array) are not accepted")


@pytest.mark.parametrize("mode", ["dev", "production"])
async def test_get_runs_no_operation(rt: Runtime, mode: str) -> None:
    async with hub(rt, **(PRODUCTION if mode == "production" else {})) as http:
        query = await http.get("/graphql", params={"query": "{ departments { code } }"})
        mutation = await http.get("/graphql", params={"query": "mutation { signOut { ok } }"})
    for response in (query, mutation):
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_graphiql_is_served_in_dev_only(rt: Runtime, client: httpx.AsyncClient) -> None:
    assert "graphiql" in (await client.get("/graphql", headers={"accept": "text/html"})).text
    async with hub(rt, **PRODUCTION) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 405 and "graphiql" not in page.text.lower()


async def test_production_keeps_the_csrf_guard_on_multipart(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        response = await http.post(
            "/graphql", files={"operations": (None, json.dumps(TYPENAME)), "map": (None, "{}")}
        )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "CSRF_REFUSED"


# -- one sign-in field per document -------------------------------------------------------


@strawberry.type
class _Query:
    @strawberry.field
    def verify_otp(self) -> bool:  # a Query field of the same name signs nobody in
        return True


@strawberry.type
class _Mutation:
    @strawberry.mutation
    def request_otp(self, mobile: str) -> bool:
        return True

    @strawberry.mutation
    def verify_otp(self, code: str) -> bool:
        return code == "123456"

    @strawberry.mutation
    def refresh_token(self) -> bool:
        return True

    @strawberry.mutation
    def client_token(self) -> bool:
        return True

    @strawberry.mutation
    def sign_out(self) -> bool:
        return True


TINY = strawberry.Schema(
    query=_Query, mutation=_Mutation, extensions=hardening.extensions(Settings())
)
GUESSES = " ".join(f'g{n}: verifyOtp(code: "{n:06d}")' for n in range(5))
REFUSED = {
    "aliased guesses": f"mutation {{ {GUESSES} }}",
    "the same field twice": 'mutation { verifyOtp(code: "1") verifyOtp(code: "1") }',
    "two sign-in fields": 'mutation { requestOtp(mobile: "1") refreshToken }',
    "fragments": (
        "mutation { ...A ...B } "
        'fragment A on Mutation { a: verifyOtp(code: "1") } '
        'fragment B on Mutation { b: verifyOtp(code: "2") }'
    ),
    "inline fragments": "mutation { ... on Mutation { clientToken } ... { c: clientToken } }",
}
ALLOWED = {
    "one": 'mutation { verifyOtp(code: "123456") }',
    "one and others": 'mutation { verifyOtp(code: "123456") signOut }',
    "one and a query": "mutation A { clientToken } query B { __typename }",
    "a query field of that name": "{ a: verifyOtp b: verifyOtp }",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_several_sign_in_fields_in_one_document_are_refused(case: str) -> None:
    result = TINY.execute_sync(REFUSED[case])
    assert result.data is None and result.errors
    assert [e.extensions for e in result.errors] == [{"code": "ONE_SIGN_IN_FIELD"}]
    message = result.errors[0].message
    assert "A document may hold one sign-in field" in message
    assert "Did you mean" not in message


def test_the_refusal_names_the_fields() -> None:
    guesses = TINY.execute_sync(REFUSED["aliased guesses"]).errors
    mixed = TINY.execute_sync(REFUSED["two sign-in fields"]).errors
    assert guesses and "this one has 'verifyOtp' 5 times" in guesses[0].message
    assert mixed and "'refreshToken' once, 'requestOtp' once" in mixed[0].message


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_one_sign_in_field_per_document_is_fine(case: str) -> None:
    operation = "A" if case == "one and a query" else None
    result = TINY.execute_sync(ALLOWED[case], operation_name=operation)
    assert result.errors is None, result.errors


async def test_the_hubs_own_sign_in_cannot_be_guessed_in_bulk(rt: Runtime) -> None:
    guesses = " ".join(
        f'g{n}: verifyOtp(challengeId: "c", code: "{n:06d}") {{ __typename }}' for n in range(3)
    )
    async with hub(rt, **PRODUCTION) as http:
        body = await post(http, f"mutation {{ {guesses} }}")
    assert body.get("data") is None
    assert codes(body) == {"ONE_SIGN_IN_FIELD"}


# -- CORS -----------------------------------------------------------------------------------


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-hub-csrf, x-request-id",
    }


async def test_cors_lets_listed_origins_call_without_credentials(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION, cors_origins=(APP,)) as http:
        allowed = await http.options("/graphql", headers=preflight(APP))
        refused = await http.options("/graphql", headers=preflight(EVIL))
        simple = await http.post("/graphql", json=TYPENAME, headers={"origin": APP})
        elsewhere = await http.post("/graphql", json=TYPENAME, headers={"origin": EVIL})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    headers = allowed.headers["access-control-allow-headers"].lower()
    for name in ("authorization", "content-type", "x-hub-csrf", "apollo-require-preflight"):
        assert name in headers
    assert "x-hub-dev-user" not in headers
    assert "access-control-allow-credentials" not in allowed.headers
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == APP
    assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
    # the server answers, but the browser keeps the answer from the page on another origin
    assert "access-control-allow-origin" not in elsewhere.headers


async def test_no_origin_is_allowed_by_default(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION) as http:
        response = await http.options("/graphql", headers=preflight(APP))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_a_bad_origin_setting_names_the_variable(rt: Runtime) -> None:
    with pytest.raises(ValueError, match=r"Config 'HUB_CORS_ORIGINS' has value 'app\.example\.in'"):
        create_app(rt.settings.replace(cors_origins=("app.example.in",)), jobs=rt.jobs)
    with pytest.raises(ValueError, match="Config 'HUB_WS_ORIGINS'"):
        create_app(rt.settings.replace(ws_origins=("https://a.in/path",)), jobs=rt.jobs)


# -- WebSocket origins ------------------------------------------------------------------------


async def handshake(url: str, origin: str | None) -> int:
    """101 when the socket opens (and the protocol acknowledges), else the HTTP status."""
    try:
        async with connect(
            url, subprotocols=[PROTOCOL], origin=Origin(origin) if origin else None
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


@pytest.mark.parametrize(
    ("changes", "origin", "status"),
    [
        ({"ws_origins": (APP,)}, APP, 101),
        ({"ws_origins": (APP,)}, EVIL, 403),
        ({"ws_origins": (APP,)}, None, 101),  # not a browser: no cookies to ride on
        ({"cors_origins": (APP,)}, APP, 101),  # unset: the CORS origins
        ({"cors_origins": (APP,)}, EVIL, 403),
        ({}, EVIL, 403),
        ({"cors_origins": (EVIL,), "ws_origins": (APP,)}, EVIL, 403),
    ],
)
async def test_websocket_origins_come_from_the_settings(
    rt: Runtime, changes: dict[str, Any], origin: str | None, status: int
) -> None:
    settings = rt.settings.replace(**PRODUCTION, **changes)
    async with serve(create_app(settings, jobs=rt.jobs, broker=rt.broker)) as url:
        assert await handshake(url, origin) == status


async def test_a_page_served_by_the_hub_itself_may_open_a_socket(rt: Runtime) -> None:
    async with serve(create_app(rt.settings, jobs=rt.jobs, broker=rt.broker)) as url:
        same = "http://" + url.removeprefix("ws://").split("/", 1)[0]
        assert await handshake(url, same) == 101


# -- rate limits ------------------------------------------------------------------------------


async def test_a_flood_from_one_address_gets_429(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION, rate_limit_per_ip=3) as http:
        answered = [await http.post("/graphql", json=TYPENAME) for _ in range(3)]
        refused = await http.post("/graphql", json=TYPENAME)
        other_path = await http.get("/readyz")
        liveness = await http.get("/healthz")
    assert [r.status_code for r in answered] == [200, 200, 200]
    assert refused.status_code == other_path.status_code == 429
    assert refused.headers["retry-after"] == "45"
    assert refused.headers["x-request-id"]
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 45}
    assert "at most 3 a minute" in error["message"]
    assert liveness.status_code == 200


async def test_other_addresses_are_counted_apart(rt: Runtime) -> None:
    settings = rt.settings.replace(rate_limit_per_ip=1)
    app = create_app(settings, jobs=rt.jobs)
    frozen_clock(app)
    statuses = []
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            statuses.append((await http.post("/graphql", json=TYPENAME)).status_code)
    assert statuses == [200, 200, 429]


async def test_the_next_window_starts_afresh(rt: Runtime) -> None:
    app = create_app(rt.settings.replace(rate_limit_per_ip=1), jobs=rt.jobs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        frozen_clock(app, WINDOW_START + 59.5)
        first = await http.post("/graphql", json=TYPENAME)
        second = await http.post("/graphql", json=TYPENAME)
        frozen_clock(app, WINDOW_START + 60)
        third = await http.post("/graphql", json=TYPENAME)
    assert [first.status_code, second.status_code, third.status_code] == [200, 429, 200]
    assert second.headers["retry-after"] == "1"


async def test_a_flood_from_one_account_gets_429(rt: Runtime, people: People) -> None:
    async with hub(rt, rate_limit_per_actor=2) as http:
        asha = [await gql(http, "{ __typename }", as_user=people.asha) for _ in range(3)]
        ravi = await gql(http, "{ __typename }", as_user=people.ravi)
        anonymous = await post(http, "{ __typename }")
        refused = await http.post(
            "/graphql", json=TYPENAME, headers={"X-Hub-Dev-User": str(people.asha.id)}
        )
    assert [body.get("data") for body in asha[:2]] == [{"__typename": "Query"}] * 2
    assert asha[2]["errors"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 45}
    assert "from your account: at most 2 a minute" in asha[2]["errors"][0]["message"]
    assert ravi["data"] == anonymous["data"] == {"__typename": "Query"}
    assert refused.status_code == 429 and refused.headers["retry-after"] == "45"


async def test_an_allowed_page_can_read_the_429(rt: Runtime) -> None:
    async with hub(rt, **PRODUCTION, rate_limit_per_ip=1, cors_origins=(APP,)) as http:
        await http.post("/graphql", json=TYPENAME, headers={"origin": APP})
        refused = await http.post("/graphql", json=TYPENAME, headers={"origin": APP})
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == APP


async def test_every_operation_on_a_socket_counts(rt: Runtime) -> None:
    """graphql-transport-ws runs queries and mutations too: a socket is no way around."""
    settings = rt.settings.replace(**PRODUCTION, rate_limit_per_ip=3)
    app = create_app(settings, jobs=rt.jobs, broker=rt.broker)
    frozen_clock(app)
    async with serve(app) as url, connect(url, subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))  # the handshake counted: 1
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        replies = []
        for op in ("1", "2", "3"):
            payload = {"query": "{ __typename }"}
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
            replies.append(await next_for(ws, op))
        assert await handshake(url, None) == 429  # nor a new socket
    assert [r["type"] for r in replies] == ["next", "next", "error"]
    assert replies[2]["payload"][0]["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 45}


async def next_for(ws: ClientConnection, op: str) -> dict[str, Any]:
    """The first message for operation ``op`` other than its ``complete``."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("id") == op and message["type"] != "complete":
            return message


async def test_a_refused_handshake_is_answered_429(rt: Runtime) -> None:
    settings = rt.settings.replace(rate_limit_per_ip=1)
    app = create_app(settings, jobs=rt.jobs, broker=rt.broker)
    frozen_clock(app)
    async with serve(app) as url:
        assert await handshake(url, None) == 101
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=[PROTOCOL]):
                pass
    response = refused.value.response
    assert response.status_code == 429
    assert Headers(response.headers)["Retry-After"] == "45"
    assert json.loads(response.body)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


# -- the client's address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trusted", "statuses"),
    [((), [200, 429, 429]), (("127.0.0.1",), [200, 200, 429]), (("127.0.0.0/8",), [200, 200, 429])],
)
async def test_x_forwarded_for_counts_only_from_trusted_proxies(
    rt: Runtime, trusted: tuple[str, ...], statuses: list[int]
) -> None:
    """uvicorn rewrites the client from X-Forwarded-For for HUB_FORWARDED_ALLOW_IPS only."""
    settings = rt.settings.replace(rate_limit_per_ip=1, forwarded_allow_ips=trusted)

    def behind_uvicorn(app: Starlette) -> Any:
        return ProxyHeadersMiddleware(app, trusted_hosts=list(settings.forwarded_allow_ips))

    async with hub(
        rt, wrap=behind_uvicorn, rate_limit_per_ip=1, forwarded_allow_ips=trusted
    ) as http:
        seen = [
            (
                await http.post("/graphql", json=TYPENAME, headers={"x-forwarded-for": xff})
            ).status_code
            for xff in ("203.0.113.1", "203.0.113.2", "203.0.113.2")
        ]
    assert seen == statuses


@pytest.mark.parametrize(
    ("trusted", "passed"), [((), []), (("10.0.0.1", "10.1.0.0/16"), ["10.0.0.1", "10.1.0.0/16"])]
)
def test_serve_hands_the_trusted_proxies_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, trusted: tuple[str, ...], passed: list[str]
) -> None:
    import uvicorn

    from hub import cli

    seen: dict[str, Any] = {}

    async def migrated(settings: Settings) -> None:
        return None

    monkeypatch.setattr(cli, "_require_migrated", migrated)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    args = argparse.Namespace(host=None, port=None, access_log=False)
    assert cli.cmd_serve(Settings(forwarded_allow_ips=trusted), args) == 0
    assert seen["proxy_headers"] is True
    assert seen["forwarded_allow_ips"] == passed


def test_an_ipv6_client_is_counted_by_its_prefix() -> None:
    assert address_key(("2001:db8:1:2:aaaa::1", 1)) == address_key(("2001:db8:1:2:bbbb::9", 2))
    assert address_key(("2001:db8:1:3::1", 1)) == "ip:2001:db8:1:3::/64"
    assert address_key(("::ffff:192.0.2.7", 1)) == "ip:192.0.2.7"
    assert address_key(None) == "ip:unknown"


# -- the counters -----------------------------------------------------------------------------


@pytest.mark.redis
async def test_replicas_share_their_counters_in_redis(redis_url: str) -> None:
    now = [WINDOW_START + 50.0]
    first = RedisRateLimiter(redis_url, prefix="test:rl:", clock=lambda: now[0])
    second = RedisRateLimiter(redis_url, prefix="test:rl:", clock=lambda: now[0])
    admin = Redis.from_url(redis_url)
    try:
        await first.start()
        await second.start()
        decisions = [await limiter.hit("ip:192.0.2.1", 3) for limiter in (first, second) * 2]
        assert [d.allowed for d in decisions] == [True, True, True, False]
        assert decisions[3].retry_after == 10
        ttl = await admin.ttl(f"test:rl:ip:192.0.2.1:{int(WINDOW_START // 60)}")
        assert 0 < ttl <= 61
        now[0] += 10  # the next minute
        assert (await second.hit("ip:192.0.2.1", 3)).allowed
    finally:
        await first.stop()
        await second.stop()
        await admin.aclose()


async def test_counting_goes_on_in_memory_while_redis_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", clock=lambda: WINDOW_START)
    await limiter.start()
    try:
        decisions = [await limiter.hit("ip:192.0.2.1", 2) for _ in range(3)]
    finally:
        await limiter.stop()
    assert [d.allowed for d in decisions] == [True, True, False]
    assert "rate limits counted in this process" in caplog.text


async def test_memory_keeps_only_the_current_window() -> None:
    now = [WINDOW_START]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    for n in range(100):
        await limiter.hit(f"ip:192.0.2.{n}", 1)
    now[0] += 60
    await limiter.hit("ip:192.0.2.1", 1)
    assert len(limiter._counts) == 1


@pytest.mark.parametrize("repeat", [40, 400])
async def test_directive_overloading_is_refused_before_it_runs(rt: Runtime, repeat: int) -> None:
    """An attacker piles directives on one field (graphql-cop's 'directive overloading'):
    the duplicates are a validation error, and a long pile is refused by the token limit."""
    async with hub(rt, **PRODUCTION) as http:
        answer = await post(http, "{ __typename " + "@skip(if: false) " * repeat + "}")
    assert answer.get("data") is None and answer["errors"]
    assert not any("Internal error" in error["message"] for error in answer["errors"])
