"""Live updates: committed changes fanned out to subscribers (GraphQL subscriptions).

- ``InProcessBroker``: the embedded default. Subscribers in this process only.
- ``RedisBroker``: Redis PUBLISH/SUBSCRIBE, so every hub replica's subscribers
  hear every replica's changes. One SUBSCRIBE connection per process, shared
  by all of its subscribers; reconnects with backoff when Redis drops.

Live updates are a convenience on top of the database, never the record: a
publish happens after the change is committed and never raises into the
caller; a message lost while Redis is down is still in the timeline. Each
subscriber has a bounded queue: a slow one loses its oldest messages (the
``version`` in each message shows the gap) and never slows a publisher.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from hub.models import Grievance, GrievanceEvent
from hub.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from hub.runtime import Runtime

logger = logging.getLogger("hub.pubsub")

Message = dict[str, Any]
QUEUE_SIZE = 64  # messages held per subscriber; beyond that the oldest go


def grievance_channel(registration_number: str) -> str:
    return f"grievance:{registration_number}"


def update_message(grievance: Grievance, event: GrievanceEvent) -> Message:
    """What subscribers hear about one committed change (camelCase: it goes to clients)."""
    return {
        "registrationNumber": grievance.registration_number,
        "status": str(grievance.status),
        "action": str(event.action),
        "version": grievance.version,
        "at": event.created_at.isoformat(),
    }


async def announce(rt: Runtime, grievance: Grievance, event: GrievanceEvent) -> None:
    """Tell the grievance's subscribers about a change; call after the commit."""
    message = update_message(grievance, event)
    await rt.broker.publish(grievance_channel(grievance.registration_number), message)


PIPELINE_CHUNK = 1000


class Broker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop delivering; every open feed ends."""

    async def publish(self, channel: str, message: Message) -> None:
        """Send ``message`` (JSON-able) to the channel's subscribers; logs, never raises."""

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        """``publish`` for many (channel, message) pairs at once (a job's batch)."""

    def subscribe(self, channel: str) -> Feed:
        """A feed of the channel's messages; subscribed once opened (``async with``)."""


class Feed:
    """One subscriber's messages on one channel.

    ``async with broker.subscribe(ch) as feed: async for message in feed: ...``.
    Opening returns once the subscription is live, so nothing published after
    that is missed. Closing (or dropping the feed) unsubscribes.
    """

    def __init__(
        self,
        channel: str,
        fanout: Fanout,
        size: int = QUEUE_SIZE,
        confirm: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.channel = channel
        self.dropped = 0
        self._fanout = fanout
        self._confirm = confirm
        self._buffer: collections.deque[Message] = collections.deque(maxlen=max(1, size))
        self._wake = asyncio.Event()
        self._opened = False
        self._closed = False

    async def open(self) -> None:
        if self._opened:
            return
        self._opened = True
        self._fanout.add(self)
        if self._confirm is not None:
            await self._confirm(self.channel)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._fanout.remove(self)
        self._wake.set()

    async def aclose(self) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, message: Message) -> None:
        """Queue a message; when the queue is full the oldest one goes."""
        if self._closed:
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("slow subscriber on %s: dropping its oldest updates", self.channel)
        self._buffer.append(message)
        self._wake.set()

    async def __aenter__(self) -> Feed:
        try:
            await self.open()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        await self.open()
        while not self._buffer:
            if self._closed:
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        if self._closed:
            raise StopAsyncIteration
        return self._buffer.popleft()


class Fanout:
    """This process's open feeds by channel. Feeds are held weakly: one dropped
    without being closed (a cancelled request) unsubscribes itself."""

    def __init__(self, on_idle: Callable[[str], None] | None = None) -> None:
        self._feeds: dict[str, weakref.WeakSet[Feed]] = {}
        self._on_idle = on_idle

    def add(self, feed: Feed) -> None:
        self._feeds.setdefault(feed.channel, weakref.WeakSet()).add(feed)

    def remove(self, feed: Feed) -> None:
        feeds = self._feeds.get(feed.channel)
        if feeds is None:
            return
        feeds.discard(feed)
        if not feeds:
            del self._feeds[feed.channel]
            if self._on_idle is not None:
                self._on_idle(feed.channel)

    def deliver(self, channel: str, message: Message) -> int:
        feeds = self._feeds.get(channel)
        if not feeds:
            self._feeds.pop(channel, None)
            return 0
        targets = list(feeds)
        for feed in targets:
            feed.offer(message)
        return len(targets)

    def count(self, channel: str) -> int:
        return len(self._feeds.get(channel, ()))

    def channels(self) -> list[str]:
        return [channel for channel, feeds in self._feeds.items() if feeds]

    def close_all(self) -> None:
        for feeds in list(self._feeds.values()):
            for feed in list(feeds):
                feed.close()
        self._feeds.clear()


def _roundtrip(message: Message) -> Message:
    """What a subscriber gets: the message as JSON carries it, wherever it went."""
    decoded = json.loads(json.dumps(message))
    if not isinstance(decoded, dict):
        raise TypeError("a message is a JSON object")
    return decoded


class InProcessBroker:
    """Subscribers in this process only: the embedded default."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._fanout = Fanout()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._fanout.close_all()

    async def publish(self, channel: str, message: Message) -> None:
        if not self._fanout.count(channel):  # nobody listens: skip the JSON round trip
            return
        try:
            self._fanout.deliver(channel, _roundtrip(message))
        except Exception:
            logger.exception("cannot publish an update on %s", channel)

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)

    def subscribe(self, channel: str) -> Feed:
        return Feed(channel, self._fanout, self.queue_size)

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.count(channel)


class RedisBroker:
    """Redis PUBLISH/SUBSCRIBE shared by every replica on the same Redis database.

    Redis pub/sub ignores database numbers, so channels are prefixed with the
    URL's database (or ``namespace``): hubs on one Redis server but different
    databases stay apart.
    """

    CONTROL = "pubsub:control"  # always subscribed, so the connection stays in pub/sub mode

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        confirm_timeout: float = 5.0,
        idle_seconds: float = 30.0,
        max_backoff: float = 30.0,
        client_name: str = "grievance-hub-pubsub",
        namespace: str | None = None,
    ) -> None:
        self.url = url
        self.queue_size = queue_size
        self.confirm_timeout = confirm_timeout
        self.idle_seconds = idle_seconds
        self.max_backoff = max_backoff
        self.client_name = client_name
        database = urlsplit(url).path.strip("/") or "0"
        self.prefix = f"hub:{namespace or database}:"
        self._fanout = Fanout(on_idle=self._idle)
        self._publisher: Redis | None = None
        self._listener: Redis | None = None
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer at a time on the SUBSCRIBE connection
        self._pongs: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._publisher = Redis.from_url(
            self.url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2
        )
        self._listener = Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_keepalive=True,
            client_name=self.client_name,
        )
        self._reader = asyncio.create_task(self._listen(), name="hub-pubsub")

    async def stop(self) -> None:
        self._fanout.close_all()  # first: the unsubscribes it schedules are cancelled below
        tasks = [t for t in (self._reader, *self._chores) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._reader = None
        for client in (self._publisher, self._listener):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._publisher = self._listener = None

    async def publish(self, channel: str, message: Message) -> None:
        try:
            if self._publisher is None:
                raise RuntimeError("the broker is not started")
            await self._publisher.publish(self.prefix + channel, json.dumps(message))
        except Exception as exc:
            logger.warning("cannot publish an update on %s: %s", channel, type(exc).__name__)

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        """Pipelined, a thousand to a round trip: a job's batch costs a few round trips,
        not one per grievance."""
        try:
            if self._publisher is None:
                raise RuntimeError("the broker is not started")
            for start in range(0, len(messages), PIPELINE_CHUNK):
                pipe = self._publisher.pipeline(transaction=False)
                for channel, message in messages[start : start + PIPELINE_CHUNK]:
                    pipe.publish(self.prefix + channel, json.dumps(message))
                await pipe.execute()
        except Exception as exc:
            logger.warning("cannot publish %s updates: %s", len(messages), type(exc).__name__)

    def subscribe(self, channel: str) -> Feed:
        return Feed(channel, self._fanout, self.queue_size, confirm=self._confirm)

    def subscriber_count(self, channel: str) -> int:
        return self._fanout.count(channel)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def _confirm(self, channel: str) -> None:
        """SUBSCRIBE, then PING with a token: Redis answers in order, so the pong
        means the subscription is live. Redis down: the feed stays registered and
        is subscribed when the connection comes back."""
        token = uuid.uuid4().hex
        try:
            async with asyncio.timeout(self.confirm_timeout):
                await self._connected.wait()
                async with self._lock:
                    if self._pubsub is None:
                        raise ConnectionError("pub/sub connection lost")
                    answered = asyncio.get_running_loop().create_future()
                    self._pongs[token] = answered
                    await self._pubsub.subscribe(self.prefix + channel)
                    await self._pubsub.ping(token)
                await answered
        except Exception as exc:  # timeout, connection lost, a RedisError
            logger.warning("subscription to %s not confirmed yet: %s", channel, type(exc).__name__)
        finally:
            self._pongs.pop(token, None)

    def _idle(self, channel: str) -> None:
        """The channel's last local feed closed: UNSUBSCRIBE, unless someone came back."""
        try:
            task = asyncio.get_running_loop().create_task(self._unsubscribe(channel))
        except RuntimeError:  # no loop (interpreter shutdown): the reader tidies up later
            return
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if self._fanout.count(channel) or self._pubsub is None:
                return
            try:
                await self._pubsub.unsubscribe(self.prefix + channel)
            except Exception as exc:  # the reader notices a broken connection
                logger.debug("unsubscribe from %s failed: %s", channel, type(exc).__name__)

    async def _listen(self) -> None:
        failures = 0
        while True:
            assert self._listener is not None
            pubsub = self._listener.pubsub()
            try:
                async with self._lock:
                    channels = [self.prefix + c for c in self._fanout.channels()]
                    await pubsub.subscribe(self.prefix + self.CONTROL, *channels)
                    self._pubsub = pubsub
                if failures:
                    logger.info("Redis pub/sub reconnected after %s failed attempts", failures)
                failures = 0
                self._connected.set()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning("Redis pub/sub connection lost: %s", type(exc).__name__)
            finally:
                self._connected.clear()
                self._pubsub = None
                for waiter in self._pongs.values():
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("pub/sub connection lost"))
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            delay = min(self.max_backoff, 0.25 * 2 ** min(failures, 10))
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def _read(self, pubsub: PubSub) -> None:
        heard = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=self.idle_seconds)
            if message is not None:
                heard = time.monotonic()
                self._handle(message)
                continue
            if time.monotonic() - heard > 2 * self.idle_seconds:
                raise ConnectionError("Redis stopped answering pings")
            async with self._lock:
                await pubsub.ping()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pong":
            waiter = self._pongs.get(str(message.get("data")))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return
        if kind != "message":
            return
        channel = str(message["channel"]).removeprefix(self.prefix)
        if channel == self.CONTROL:
            return
        try:
            payload = json.loads(message["data"])
            if not isinstance(payload, dict):
                raise TypeError("not a JSON object")
        except (TypeError, ValueError):
            logger.warning("dropped a malformed update on %s", channel)
            return
        if not self._fanout.deliver(channel, payload):
            self._idle(channel)  # nobody here listens any more (a feed dropped unclosed)


def make_broker(settings: Settings) -> Broker:
    if settings.redis_url:
        return RedisBroker(settings.redis_url)
    return InProcessBroker()
