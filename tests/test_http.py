"""The HTTP surface: probes, bad requests, and what production mode hides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.runtime import Runtime
from hub.services import taxonomy as taxonomy_service
from hub.settings import Settings
from tests.conftest import People, gql, run_hub

READ = "query($n: String!) { grievance(registrationNumber: $n) { status } }"


@pytest.fixture
async def production(rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    settings = rt.settings.replace(env="production", secret_key="p" * 48, sms_sink="http")
    app = create_app(settings, jobs=rt.jobs)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub.test"
    ) as http:
        yield http


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}


async def test_readiness_fails_when_redis_is_configured_but_down(rt: Runtime) -> None:
    settings = rt.settings.replace(redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, jobs=rt.jobs)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub.test"
    ) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("unreachable")


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert echoed.headers["x-request-id"] == "trace-42"


async def test_oversized_body_is_refused_with_a_graphql_error(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    big = {"query": "{ departments { code } }", "variables": {"pad": "x" * settings.max_body_bytes}}
    response = await client.post("/graphql", json=big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_oversized_chunked_body_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ departments { code } }", "pad": "'
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_malformed_json_gets_a_graphql_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Unable to parse request body as JSON"


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "\xc7"}',
        b"\xff\xfe{}",
        b'{"query": "{ \xe0\xa4 }"}',
        # valid JSON, but a lone surrogate is no text a database can store
        b'{"query": "query($n: String!) { grievance(registrationNumber: $n) { status } }",'
        b' "variables": {"n": "\\ud800x"}}',
    ],
)
async def test_a_body_that_is_not_utf8_is_a_bad_request_not_a_crash(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_lone_surrogate_is_named_where_it_is(client: httpx.AsyncClient) -> None:
    body = (
        b'{"query": "query($n: String!) { grievance(registrationNumber: $n) { status } }",'
        b' "variables": {"n": "\\ud800x"}}'
    )
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "variables.n holds a lone surrogate" in response.json()["errors"][0]["message"]


async def test_a_refused_input_carries_a_code_and_the_fields(
    client: httpx.AsyncClient, people: People
) -> None:
    answer = await gql(client, "{ inbox(first: 500) { nodes { status } } }", as_user=people.udd_gro)
    error = answer["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "fields": ["first"]}
    assert error["message"].startswith("first: ")


async def test_unknown_field_and_bad_variable_are_named(
    client: httpx.AsyncClient, people: People
) -> None:
    unknown = await gql(client, "{ departments { code budget } }", as_user=people.asha)
    assert "Cannot query field 'budget' on type 'Department'" in unknown["errors"][0]["message"]
    bad_var = await gql(client, READ, {"n": 42}, as_user=people.asha)
    message = bad_var["errors"][0]["message"]
    assert "Variable '$n' has invalid value: String cannot represent a non string value" in message


async def test_public_catalogue(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        '{ departments { code name(locale: "hi") } '
        'categories(departmentCode: "WSD") { code level } }',
    )
    codes = [d["code"] for d in body["data"]["departments"]]
    assert codes == ["RDPR", "SWD", "UDD", "WSD"]
    assert [c["code"] for c in body["data"]["categories"]] == ["WSD-SW", "WSD-WS"]


async def test_dev_mode_serves_graphiql(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_production_refuses_the_dev_header_and_graphiql(
    production: httpx.AsyncClient, people: People
) -> None:
    refused = await gql(production, READ, {"n": "x"}, as_user=people.asha)
    assert refused["errors"][0]["extensions"]["code"] == "DEV_AUTH_DISABLED"
    page = await production.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 405 and "graphiql" not in page.text.lower()


async def test_production_masks_internal_errors(
    production: httpx.AsyncClient, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("password=hunter2 at db.internal")

    monkeypatch.setattr(taxonomy_service, "active_departments", broken)
    query = {"query": "{ departments { code } }"}
    dev = (await client.post("/graphql", json=query)).json()
    assert "hunter2" in dev["errors"][0]["message"]
    prod = (await production.post("/graphql", json=query)).json()
    assert prod["errors"][0]["message"] == "Internal error."
    for body in (dev, prod):
        assert "Traceback" not in str(body) and 'File "' not in str(body)
    assert "hunter2" not in str(prod)


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {
        "HUB_DATABASE_URL": f"sqlite://{tmp_path / 'empty.sqlite3'}",
        "PATH": "/usr/bin:/bin",
        "HUB_PORT": "8799",
    }
    result = run_hub("serve", env=env)
    assert result.returncode == 2
    assert "not migrated" in result.stderr and "Run: hub migrate" in result.stderr
