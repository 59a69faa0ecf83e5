"""Live updates: the brokers, and grievanceUpdates over a real graphql-transport-ws socket."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from auth.actor import Actor
from hub.app import create_app
from hub.enums import Action, Channel, GrievanceStatus, UserKind
from hub.models import Grievance, GrievanceEvent, User
from hub.pubsub import (
    Feed,
    InProcessBroker,
    RedisBroker,
    announce,
    grievance_channel,
    make_broker,
    update_message,
)
from hub.runtime import Runtime
from hub.services import grievances
from hub.services.grievances import FilingData, file_grievance
from hub.settings import Settings
from schema.subscriptions import NOT_FOUND
from tests.conftest import People

PROTOCOL = Subprotocol("graphql-transport-ws")
UPDATES = """
subscription Updates($n: String!) {
  grievanceUpdates(registrationNumber: $n) { registrationNumber status action version at }
}
"""
GARBAGE = FilingData(
    description="Garbage has not been collected from our lane for a week.",
    channel=Channel.WEB,
    category_code="UDD-ULB-SWM-GARB-DOOR",
    boundary_code="KA-BLR-BBMP-W150",
)


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {within}s")


async def nothing_arrives(feed: Feed, wait: float = 0.2) -> bool:
    try:
        await asyncio.wait_for(anext(feed), wait)
    except TimeoutError:
        return True
    return False


# -- InProcessBroker ---------------------------------------------------------------------


async def test_in_process_fans_out_to_every_subscriber_of_the_channel() -> None:
    broker = InProcessBroker()
    async with (
        broker.subscribe("a") as first,
        broker.subscribe("a") as second,
        broker.subscribe("b") as other,
    ):
        assert broker.subscriber_count("a") == 2
        await broker.publish("a", {"n": 1})
        assert await anext(first) == await anext(second) == {"n": 1}
        assert await nothing_arrives(other)
    assert broker.subscriber_count("a") == broker.subscriber_count("b") == 0


async def test_in_process_cleans_up_a_cancelled_or_dropped_subscriber() -> None:
    broker = InProcessBroker()
    heard: list[dict[str, Any]] = []

    async def listen() -> None:
        async with broker.subscribe("c") as feed:
            async for message in feed:
                heard.append(message)

    task = asyncio.create_task(listen())
    await until(lambda: broker.subscriber_count("c") == 1)
    await broker.publish("c", {"n": 1})
    await until(lambda: heard == [{"n": 1}])
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert broker.subscriber_count("c") == 0

    # a feed opened and then abandoned without closing (a request torn down) goes too
    abandoned = broker.subscribe("c")
    await abandoned.open()
    assert broker.subscriber_count("c") == 1
    del abandoned
    gc.collect()
    assert broker.subscriber_count("c") == 0
    await broker.publish("c", {"n": 2})  # nobody left: fine


async def test_slow_subscriber_loses_its_oldest_messages_and_never_blocks_publishers() -> None:
    broker = InProcessBroker(queue_size=3)
    async with broker.subscribe("s") as slow, broker.subscribe("s") as fast:
        async with asyncio.timeout(1):  # publishing never waits for a reader
            for n in range(5):
                await broker.publish("s", {"n": n})
                assert await anext(fast) == {"n": n}
        assert [await anext(slow) for _ in range(3)] == [{"n": 2}, {"n": 3}, {"n": 4}]
        assert (slow.dropped, fast.dropped) == (2, 0)


async def test_publish_never_raises_and_stop_ends_every_feed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = InProcessBroker()
    feed = broker.subscribe("x")
    await feed.open()
    collected = asyncio.create_task(_collect(feed))
    with caplog.at_level(logging.ERROR, "hub.pubsub"):
        await broker.publish("x", {"when": object()})  # not JSON: logged, not raised
    assert "cannot publish an update on x" in caplog.text
    await broker.stop()
    assert await asyncio.wait_for(collected, 1) == []
    assert feed.closed


async def _collect(feed: Feed) -> list[dict[str, Any]]:
    return [message async for message in feed]


def test_make_broker_follows_the_redis_setting() -> None:
    assert isinstance(make_broker(Settings()), InProcessBroker)
    redis = make_broker(Settings(redis_url="redis://127.0.0.1:6379/3"))
    assert isinstance(redis, RedisBroker)
    assert redis.prefix == "hub:3:"
    assert isinstance(Runtime(settings=Settings(), jobs=None).broker, InProcessBroker)  # type: ignore[arg-type]


# -- RedisBroker against the real Redis ------------------------------------------------


def _redis_broker(url: str, namespace: str, **options: Any) -> RedisBroker:
    name = f"hub-test-{uuid.uuid4().hex[:8]}"
    return RedisBroker(url, namespace=namespace, client_name=name, **options)


@contextlib.asynccontextmanager
async def started(*brokers: RedisBroker) -> AsyncIterator[None]:
    for broker in brokers:
        await broker.start()
    try:
        yield
    finally:
        for broker in brokers:
            await broker.stop()


@pytest.mark.redis
async def test_redis_replicas_hear_each_other(redis_url: str) -> None:
    space = uuid.uuid4().hex
    one, two = _redis_broker(redis_url, space), _redis_broker(redis_url, space)
    async with started(one, two), one.subscribe("g") as here, two.subscribe("g") as there:
        await one.publish("g", {"version": 1})
        assert await anext(here) == await anext(there) == {"version": 1}
        await two.publish("g", {"version": 2})
        assert await anext(here) == await anext(there) == {"version": 2}


@pytest.mark.redis
async def test_a_jobs_batch_of_updates_reaches_every_replica_in_order(redis_url: str) -> None:
    space = uuid.uuid4().hex
    one, two = _redis_broker(redis_url, space), _redis_broker(redis_url, space)
    # three pipeline chunks; the listened channel gets 50, within a feed's queue
    batch = [(f"g{n % 50}", {"version": n}) for n in range(2500)]
    async with started(one, two), two.subscribe("g1") as there:
        await one.publish_many(batch)
        async with asyncio.timeout(10):
            heard = [(await anext(there))["version"] for _ in range(len(batch) // 50)]
    assert heard == [n for n in range(2500) if n % 50 == 1]


async def test_in_process_batch_skips_channels_nobody_listens_to() -> None:
    broker = InProcessBroker()
    async with broker.subscribe("g1") as here:
        await broker.publish_many([("g0", {"version": 0}), ("g1", {"version": 1})])
        assert await anext(here) == {"version": 1}


@pytest.mark.redis
async def test_redis_unsubscribes_when_the_last_local_feed_goes(redis_url: str) -> None:
    space = uuid.uuid4().hex
    broker = _redis_broker(redis_url, space)
    admin = Redis.from_url(redis_url)
    channel = f"hub:{space}:g"
    try:
        async with started(broker):
            async with broker.subscribe("g"), broker.subscribe("g"):
                assert (await admin.pubsub_numsub(channel))[0][1] == 1  # one connection per hub
            for _ in range(100):
                if (await admin.pubsub_numsub(channel))[0][1] == 0:
                    break
                await asyncio.sleep(0.02)
            assert (await admin.pubsub_numsub(channel))[0][1] == 0
    finally:
        await admin.aclose()


@pytest.mark.redis
async def test_redis_reconnects_and_resubscribes_after_a_drop(redis_url: str) -> None:
    space = uuid.uuid4().hex
    broker = _redis_broker(redis_url, space)
    admin = Redis.from_url(redis_url, decode_responses=True)
    try:
        async with started(broker), broker.subscribe("g") as feed:
            await broker.publish("g", {"n": 0})
            assert await anext(feed) == {"n": 0}
            ours = [
                c
                for c in await admin.client_list(_type="pubsub")
                if c["name"] == broker.client_name
            ]
            assert len(ours) == 1
            await admin.client_kill_filter(_id=ours[0]["id"])
            await until(lambda: not broker.connected)
            await until(lambda: broker.connected, within=10)
            await broker.publish("g", {"n": 1})
            assert await asyncio.wait_for(anext(feed), 5) == {"n": 1}
    finally:
        await admin.aclose()


@pytest.mark.redis
async def test_redis_drops_malformed_messages_and_keeps_namespaces_apart(
    redis_url: str,
) -> None:
    space = uuid.uuid4().hex
    broker = _redis_broker(redis_url, space)
    stranger = _redis_broker(redis_url, f"{space}-other")
    admin = Redis.from_url(redis_url)
    try:
        async with started(broker, stranger), broker.subscribe("g") as feed:
            await admin.publish(f"hub:{space}:g", "not json")
            await admin.publish(f"hub:{space}:g", "[1, 2]")
            await stranger.publish("g", {"from": "another hub"})
            await broker.publish("g", {"from": "us"})
            assert await anext(feed) == {"from": "us"}
            assert await nothing_arrives(feed)
    finally:
        await admin.aclose()


async def test_redis_down_neither_raises_nor_hangs(caplog: pytest.LogCaptureFixture) -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0", confirm_timeout=0.2)
    with caplog.at_level(logging.WARNING, "hub.pubsub"):
        async with started(broker), asyncio.timeout(5):
            await broker.publish("g", {"n": 1})
            async with broker.subscribe("g") as feed:  # live once Redis answers
                assert broker.subscriber_count("g") == 1
                assert not feed.closed
    assert "cannot publish an update on g" in caplog.text
    assert "subscription to g not confirmed yet" in caplog.text


# -- grievanceUpdates over a real WebSocket ----------------------------------------------


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """The app on uvicorn at an ephemeral port; the database is the session's."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def hub_ws(rt: Runtime) -> AsyncIterator[str]:
    async with serve(create_app(rt.settings, jobs=rt.jobs, broker=rt.broker)) as url:
        yield url


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


@contextlib.asynccontextmanager
async def session(
    url: str, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await ws.send(json.dumps(init))
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


def as_user(user: User) -> dict[str, Any]:
    return {"X-Hub-Dev-User": str(user.id)}


async def subscribe(ws: ClientConnection, number: str, op: str = "1") -> None:
    payload = {"query": UPDATES, "variables": {"n": number}}
    await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))


def local(rt: Runtime) -> InProcessBroker:
    assert isinstance(rt.broker, InProcessBroker)
    return rt.broker


async def a_change(grievance: Grievance, by: User) -> GrievanceEvent:
    """A committed change: a comment on the timeline and the next version."""
    grievance.version += 1
    await grievance.save(update_fields=["version", "updated_at"])
    return await GrievanceEvent.create(
        grievance=grievance,
        action=Action.COMMENT,
        actor_id=by.id,
        actor_role="citizen",
        from_status=grievance.status,
        to_status=grievance.status,
        note="Any news?",
    )


async def test_citizen_hears_changes_to_own_grievance(
    rt: Runtime, people: People, hub_ws: str
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    number = grievance.registration_number
    channel = grievance_channel(number)
    async with session(hub_ws, as_user(people.asha)) as ws:
        await subscribe(ws, number)
        await until(lambda: local(rt).subscriber_count(channel) == 1)
        event = await a_change(grievance, people.asha)
        newer = {**update_message(grievance, event), "status": "FROM_A_NEWER_REPLICA"}
        await rt.broker.publish(channel, newer)  # unreadable here: skipped, the stream goes on
        await announce(rt, grievance, event)
        message = await receive(ws)
        assert message["type"] == "next" and message["id"] == "1"
        update = message["payload"]["data"]["grievanceUpdates"]
        assert dt.datetime.fromisoformat(update.pop("at")) == event.created_at
        assert update == {
            "registrationNumber": number,
            "status": "PENDING_ASSIGNMENT",
            "action": "COMMENT",
            "version": 2,
        }
        assert update_message(grievance, event)["status"] == GrievanceStatus.PENDING_ASSIGNMENT

        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await until(lambda: local(rt).subscriber_count(channel) == 0)

        await subscribe(ws, number, "2")
        await until(lambda: local(rt).subscriber_count(channel) == 1)
    await until(lambda: local(rt).subscriber_count(channel) == 0)  # the socket closed


async def test_a_change_committed_during_the_visibility_check_is_not_missed(
    rt: Runtime, people: People, hub_ws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    checked = grievances.get_grievance

    async def racing(actor: Actor, number: str) -> Grievance | None:
        found = await checked(actor, number)
        await announce(rt, grievance, await a_change(grievance, people.asha))
        return found

    monkeypatch.setattr(grievances, "get_grievance", racing)
    async with session(hub_ws, as_user(people.asha)) as ws:
        await subscribe(ws, grievance.registration_number)
        update = (await receive(ws))["payload"]["data"]["grievanceUpdates"]
    assert update["version"] == 2


async def test_staff_named_in_the_handshake_headers_hear_it_too(
    rt: Runtime, people: People, hub_ws: str
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    channel = grievance_channel(grievance.registration_number)
    # the GRO of the grievance's office (conftest's UDD GRO is at another office)
    ward_gro = await User.create(
        mobile="+919700030099",
        name="Ward GRO",
        kind=UserKind.EMPLOYEE,
        roles=["gro"],
        department_id=grievance.department_id,
        office_id=grievance.office_id,
    )
    async with session(hub_ws, headers=as_user(ward_gro)) as ws:
        await subscribe(ws, grievance.registration_number)
        await until(lambda: local(rt).subscriber_count(channel) == 1)
        await announce(rt, grievance, await a_change(grievance, people.asha))
        assert (await receive(ws))["payload"]["data"]["grievanceUpdates"]["version"] == 2


async def test_someone_elses_grievance_looks_missing(
    rt: Runtime, people: People, hub_ws: str
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    number = grievance.registration_number
    async with session(hub_ws, as_user(people.ravi)) as ws:
        await subscribe(ws, number, "1")
        denied = await receive(ws)
        await subscribe(ws, "KA-UDD-2026-9999999", "2")
        missing = await receive(ws)
    assert denied["type"] == missing["type"] == "error"
    assert denied["payload"] == missing["payload"]
    assert denied["payload"][0]["message"] == NOT_FOUND
    assert denied["payload"][0]["extensions"] == {"code": "NOT_FOUND"}
    assert local(rt).subscriber_count(grievance_channel(number)) == 0


async def test_unauthenticated_subscriptions_are_refused(
    rt: Runtime, people: People, hub_ws: str
) -> None:
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    for payload in (None, {}, {"X-Hub-Dev-User": "999999"}):
        async with session(hub_ws, payload) as ws:
            await subscribe(ws, grievance.registration_number)
            refused = await receive(ws)
        assert refused["type"] == "error", payload
        assert refused["payload"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_production_refuses_the_dev_user_on_websockets(rt: Runtime, people: People) -> None:
    settings = rt.settings.replace(env="production", secret_key="p" * 48, sms_sink="http")
    async with serve(create_app(settings, jobs=rt.jobs, broker=rt.broker)) as url:
        async with connect(url, subprotocols=[PROTOCOL]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": as_user(people.asha)}))
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.redis
async def test_updates_cross_replicas_through_redis(
    rt: Runtime, people: People, redis_url: str
) -> None:
    space = uuid.uuid4().hex
    serving, other = _redis_broker(redis_url, space), _redis_broker(redis_url, space)
    grievance = await file_grievance(rt, people.actor(people.asha), GARBAGE)
    channel = grievance_channel(grievance.registration_number)
    admin = Redis.from_url(redis_url)
    async with (
        contextlib.aclosing(admin),
        started(serving, other),
        serve(create_app(rt.settings, jobs=rt.jobs, broker=serving)) as url,
        session(url, as_user(people.asha)) as ws,
    ):
        await subscribe(ws, grievance.registration_number)
        for _ in range(250):  # until Redis has the serving replica's SUBSCRIBE
            if (await admin.pubsub_numsub(serving.prefix + channel))[0][1]:
                break
            await asyncio.sleep(0.02)
        # the change is committed on another replica: it publishes there
        other_replica = Runtime(settings=rt.settings, jobs=rt.jobs, broker=other)
        await announce(other_replica, grievance, await a_change(grievance, people.asha))
        update = (await receive(ws))["payload"]["data"]["grievanceUpdates"]
        assert update["registrationNumber"] == grievance.registration_number
        assert update["version"] == 2
