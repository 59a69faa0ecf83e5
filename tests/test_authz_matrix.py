"""The authorization matrix: every schema coordinate, as every kind of actor.

One world per database (tests/authz/world.py) serves every (coordinate, actor) pair;
each operation is sent once per actor over HTTP (subscriptions over graphql-transport-ws)
and its answer judged for every coordinate it exercises. The coverage tests fail when
the schema and tests/authz/matrix.yaml disagree, and when a root field declares no
permission.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import graphql
import httpx
import pytest
from strawberry.permission import PermissionExtension
from websockets.asyncio.client import connect

import schema
from hub.app import create_app
from hub.jobs import InProcessRunner
from hub.models import Grievance, GrievanceEvent
from hub.pubsub import announce
from hub.runtime import Runtime
from hub.services import routing
from hub.settings import Settings
from schema.permissions import Allow
from tests.authz import world as authz_world
from tests.authz.matrix import Entry, Operation, load, observe, variables_for
from tests.conftest import truncate
from tests.test_subscriptions import PROTOCOL, serve

ENTRIES = load()
PAIRS = [(coordinate, actor) for coordinate in ENTRIES for actor in authz_world.ACTORS]


@dataclass
class Session:
    """The world, the app serving it, and each (operation, actor)'s answer, asked once."""

    world: authz_world.World
    rt: Runtime
    http: httpx.AsyncClient
    ws_url: str
    answers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def values(self, actor: str) -> dict[str, Any]:
        # a fresh number per actor: one-time codes are throttled per number
        index = authz_world.ACTORS.index(actor)
        return {**self.world.values, "actor_mobile": f"+9196{index:08d}"}

    async def answer(self, op: Operation, actor: str) -> dict[str, Any]:
        key = (op.name, actor)
        if key not in self.answers:
            ask = self._subscribe if op.subscription else self._post
            self.answers[key] = await ask(op, actor)
        return self.answers[key]

    async def _post(self, op: Operation, actor: str) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": op.query, "variables": variables_for(op, self.values(actor))},
            headers=await self.world.headers(actor),
        )
        body: dict[str, Any] = response.json()
        return body

    async def _subscribe(self, op: Operation, actor: str) -> dict[str, Any]:
        """Subscribe, then announce a change to G until the first message arrives."""
        payload = {"query": op.query, "variables": variables_for(op, self.values(actor))}
        async with connect(self.ws_url, subprotocols=[PROTOCOL]) as ws:
            init = {"type": "connection_init", "payload": await self.world.headers(actor)}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            for _ in range(200):
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.05))
                except TimeoutError:
                    await self._announce_change()
                    continue
                if message["type"] == "error":
                    return {"data": None, "errors": message["payload"]}
                assert message["type"] == "next", message
                body: dict[str, Any] = message["payload"]
                return body
        raise AssertionError(f"{actor}: no answer to the subscription")

    async def _announce_change(self) -> None:
        grievance = await Grievance.get(registration_number=self.world.values["G"])
        event = await GrievanceEvent.filter(grievance_id=grievance.id).order_by("-id").first()
        assert event is not None
        await announce(self.rt, grievance, event)


@pytest.fixture(scope="module")
async def session(database: Settings) -> AsyncIterator[Session]:
    """One world per database for the whole module: the matrix only reads it, apart from
    comments and filings that change nobody's scope."""
    await truncate()
    routing.forget()
    # one address asks everything here: the rate limits are another test's business
    settings = database.replace(rate_limit_per_ip=1_000_000, rate_limit_per_actor=1_000_000)
    rt = Runtime(settings=settings, jobs=InProcessRunner(settings))
    app = create_app(settings, jobs=rt.jobs, broker=rt.broker)
    world = await authz_world.build(rt)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http,
        serve(app) as ws_url,
    ):
        yield Session(world=world, rt=rt, http=http, ws_url=ws_url)


@pytest.mark.parametrize(("coordinate", "actor"), PAIRS)
async def test_authorization_matrix(session: Session, coordinate: str, actor: str) -> None:
    entry: Entry = ENTRIES[coordinate]
    body = await session.answer(entry.op, actor)
    seen = observe(body, entry, session.values(actor))
    assert seen == entry.expect[actor], (
        f"{coordinate} as {actor}: the matrix says {entry.expect[actor]}, got {seen}; "
        f"answer: {json.dumps(body)[:600]}"
    )


def _schema_coordinates() -> set[str]:
    built = graphql.build_schema(schema.sdl())
    return {
        f"{name}.{field_name}"
        for name, kind in built.type_map.items()
        if isinstance(kind, graphql.GraphQLObjectType) and not name.startswith("__")
        for field_name in kind.fields
    }


def test_every_schema_field_is_in_the_matrix() -> None:
    missing = sorted(_schema_coordinates() - set(ENTRIES))
    assert not missing, f"add to tests/authz/matrix.yaml: {', '.join(missing)}"


def test_the_matrix_names_only_fields_the_schema_has() -> None:
    stale = sorted(set(ENTRIES) - _schema_coordinates())
    assert not stale, f"no longer in the schema, remove from the matrix: {', '.join(stale)}"


def test_every_root_field_declares_who_may_use_it() -> None:
    undeclared = []
    for root in (schema.Query, schema.Mutation, schema.Subscription):
        definition = root.__strawberry_definition__
        for root_field in definition.fields:
            declared = [
                permission
                for extension in root_field.extensions
                if isinstance(extension, PermissionExtension)
                for permission in extension.permissions
                if isinstance(permission, Allow)
            ]
            if not declared:
                undeclared.append(f"{definition.name}.{root_field.graphql_name or root_field.name}")
    assert not undeclared, f"declare permission_classes=[Allow...] on: {undeclared}"
