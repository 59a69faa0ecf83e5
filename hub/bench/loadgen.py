"""A closed-loop HTTP load generator: N clients, each with one request in flight.

Every client posts the same body back to back for the warm-up plus the
measured window. A request counts when it completes inside the window; its
latency is recorded when the server's answer passes the check.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

REQUEST_TIMEOUT_SECONDS = 10.0

# (HTTP status, decoded JSON body) -> None when the answer is a success, else why not.
Check = Callable[[int, Any], "str | None"]


@dataclass
class LoadResult:
    duration: float
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def rate(self) -> float:
        return self.ok / self.duration

    def latency_ms(self, percent: float) -> float | None:
        value = percentile(self.latencies, percent)
        return None if value is None else value * 1000


def percentile(values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


async def run_load(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    check: Check,
    clients: int,
    duration: float,
    warmup: float,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    window_start = loop.time() + warmup
    window_end = window_start + duration
    result = LoadResult(duration=duration)

    async def client(session: aiohttp.ClientSession) -> None:
        while (sent := loop.time()) < window_end:
            failure = await _request(session, url, body, check)
            done = loop.time()
            if not window_start <= done <= window_end:
                continue
            if failure is None:
                result.latencies.append(done - sent)
            else:
                result.failures[failure] += 1

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=clients),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        headers={"Content-Type": "application/json", **headers},
    )
    limit = warmup + duration + REQUEST_TIMEOUT_SECONDS + 5
    async with session, asyncio.timeout(limit), asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(client(session))
    return result


async def _request(
    session: aiohttp.ClientSession, url: str, body: bytes, check: Check
) -> str | None:
    try:
        async with session.post(url, data=body) as response:
            status = response.status
            raw = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__
    try:
        decoded = json.loads(raw)
    except ValueError:
        return f"HTTP {status}, body is not JSON"
    return check(status, decoded)
