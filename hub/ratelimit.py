"""Requests a minute per client address and per signed-in actor.

Fixed one-minute windows (wall clock, so every replica agrees on them): a burst may reach
twice the limit across a window's edge, which is the price of one counter per key. With
HUB_REDIS_URL the counters are shared by every replica (INCR and EXPIRE in one round trip);
without it they live in this process. A limiter never raises into a request: when Redis
fails, counting falls back to memory for a few seconds and the request goes on.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hub.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("hub.ratelimit")
WINDOW_SECONDS = 60
Clock = Callable[[], float]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds until the window that refused the request ends


class RateLimiter(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def hit(self, key: str, limit: int) -> Decision:
        """Count one request against ``key``; refuse it when the window holds more than
        ``limit``."""
        ...


def _window(now: float) -> tuple[int, int]:
    """(this window's number, seconds until it ends)."""
    window = int(now // WINDOW_SECONDS)
    return window, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def _decide(count: int, limit: int, retry_after: int) -> Decision:
    return Decision(True) if count <= limit else Decision(False, retry_after)


class MemoryRateLimiter:
    """This process's counters; only the current window's are kept."""

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._window = -1
        self._counts: dict[str, int] = {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self._counts.clear()

    async def hit(self, key: str, limit: int) -> Decision:
        window, retry_after = _window(self.clock())
        if window != self._window:
            self._window, self._counts = window, {}
        count = self._counts.get(key, 0) + 1
        self._counts[key] = count
        return _decide(count, limit, retry_after)


class RedisRateLimiter:
    """Counters shared by every replica: ``hub:ratelimit:KEY:WINDOW``, expiring after it."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "hub:ratelimit:",
        timeout: float = 0.5,
        fallback_seconds: float = 5.0,
        clock: Clock = time.time,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.fallback_seconds = fallback_seconds
        self.clock = clock
        self.fallback = MemoryRateLimiter(clock)
        self._client: Redis | None = None
        self._down_until = 0.0

    async def start(self) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(
            self.url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout
        )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def hit(self, key: str, limit: int) -> Decision:
        now = self.clock()
        if self._client is None or now < self._down_until:  # not started (no lifespan), or down
            return await self.fallback.hit(key, limit)
        window, retry_after = _window(now)
        name = f"{self.prefix}{key}:{window}"
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS + 1)
            count, _ = await pipe.execute()
        except Exception as exc:
            self._down_until = now + self.fallback_seconds
            logger.warning(
                "rate limits counted in this process for %ss: Redis failed (%s)",
                self.fallback_seconds,
                type(exc).__name__,
            )
            return await self.fallback.hit(key, limit)
        return _decide(int(count), limit, retry_after)


def make_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()


def address_key(client: tuple[str, int] | list[Any] | None) -> str:
    """``ip:ADDRESS`` for an ASGI ``scope["client"]`` (already rewritten by uvicorn from
    X-Forwarded-For for trusted proxies only)."""
    return f"ip:{client_network(str(client[0]) if client else '') or 'unknown'}"


def client_network(host: str) -> str:
    """What counts as one client: its IPv4 address, or its IPv6 /64 (one subscriber
    usually holds the whole prefix and may use any address in it)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)


def actor_key(user_id: int) -> str:
    return f"actor:{user_id}"


@dataclass(frozen=True)
class Refusal:
    """A request over a limit, as the client is told."""

    message: str
    retry_after: int

    @property
    def error(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "extensions": {"code": "RATE_LIMITED", "retryAfter": self.retry_after},
        }


async def check_address(
    limiter: RateLimiter, settings: Settings, client: tuple[str, int] | list[Any] | None
) -> Refusal | None:
    decision = await limiter.hit(address_key(client), settings.rate_limit_per_ip)
    if decision.allowed:
        return None
    return Refusal(
        f"Too many requests from your address: at most {settings.rate_limit_per_ip} a "
        f"minute. Try again in {decision.retry_after} s.",
        decision.retry_after,
    )


async def check_actor(limiter: RateLimiter, settings: Settings, user_id: int) -> Refusal | None:
    decision = await limiter.hit(actor_key(user_id), settings.rate_limit_per_actor)
    if decision.allowed:
        return None
    return Refusal(
        f"Too many requests from your account: at most {settings.rate_limit_per_actor} a "
        f"minute. Try again in {decision.retry_after} s.",
        decision.retry_after,
    )


__all__ = [
    "Decision",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Refusal",
    "check_actor",
    "check_address",
    "client_network",
    "make_limiter",
]
