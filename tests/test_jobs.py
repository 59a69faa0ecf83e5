"""A citizen files; the department system receives it, whichever job runner relays it.

The embedded default relays in-process when kicked; with Redis, ``hub worker``
runs the same job through arq, and a Redis outage only delays delivery: the
outbox lives in the database, so no grievance is lost while Redis is down.
The department system here is the ``log`` connector.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest
from arq.constants import default_queue_name
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

import hub.worker
from hub.enums import Channel, OutboxStatus
from hub.jobs import RELAY_JOB, ArqQueue, InProcessRunner, job_context
from hub.models import OutboxMessage
from hub.runtime import Runtime
from hub.services.grievances import FilingData, file_grievance
from hub.settings import Settings
from hub.worker import build_worker, supervise
from tests.conftest import ROOT, People, run_hub, unavailable

GARBAGE = FilingData(
    description="Garbage has not been collected from our lane for a week.",
    channel=Channel.WEB,
    category_code="UDD-ULB-SWM-GARB-DOOR",
    boundary_code="KA-BLR-BBMP-W150",
)


async def file_some(rt: Runtime, people: People, count: int) -> list[str]:
    """Asha files ``count`` grievances; returns their registration numbers."""
    actor = people.actor(people.asha)
    return [(await file_grievance(rt, actor, GARBAGE)).registration_number for _ in range(count)]


async def statuses() -> list[OutboxStatus]:
    return [m.status for m in await OutboxMessage.filter(connector="log").order_by("id")]


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Poll ``check`` until it holds or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def all_delivered(count: int) -> bool:
    return await statuses() == [OutboxStatus.DELIVERED] * count


def clean_env(**hub_vars: str) -> dict[str, str]:
    """This process's environment without any HUB_* variable, plus ``hub_vars``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(hub_vars)
    return env


# --- in-process ----------------------------------------------------------------------------


async def test_in_process_runner_delivers_as_soon_as_a_grievance_is_filed(
    settings: Settings, people: People
) -> None:
    # An hour between timer passes: only the kick from the filing can deliver in time.
    runner = InProcessRunner(settings.replace(outbox_poll_seconds=3600))
    rt = Runtime(settings=settings, jobs=runner)
    await runner.start()
    try:
        await file_some(rt, people, 3)
        assert await eventually(lambda: all_delivered(3), within=5), await statuses()
        assert [m.attempts for m in await OutboxMessage.filter(connector="log")] == [1, 1, 1]

        # the loop keeps running: a later filing is delivered too
        await file_some(rt, people, 1)
        assert await eventually(lambda: all_delivered(4), within=5), await statuses()
    finally:
        await runner.stop()


# --- arq worker, in this process -----------------------------------------------------------


# arq 0.28's Worker.close calls redis-py's deprecated ``close()``; pytest makes warnings errors
ARQ_CLOSE_WARNING = "ignore:Call to deprecated close:DeprecationWarning"


@pytest.mark.redis
@pytest.mark.filterwarnings(ARQ_CLOSE_WARNING)
async def test_arq_worker_delivers_what_the_hub_queued(
    settings: Settings, people: People, redis_url: str
) -> None:
    with_redis = settings.replace(redis_url=redis_url)
    redis = AsyncRedis.from_url(redis_url)
    try:
        await redis.flushdb()
        queue = ArqQueue(with_redis)
        await queue.start()
        try:
            await file_some(Runtime(settings=with_redis, jobs=queue), people, 3)
        finally:
            await queue.stop()
        # stored, not yet delivered; one relay job waits in Redis for a worker
        assert await statuses() == [OutboxStatus.PENDING] * 3
        assert await redis.zscore(default_queue_name, RELAY_JOB) is not None
    finally:
        await redis.aclose()

    worker = build_worker(with_redis, job_context(with_redis), burst=True)
    try:
        await asyncio.wait_for(worker.main(), timeout=60)
    finally:
        await worker.close()
    assert worker.jobs_complete >= 1
    assert worker.jobs_failed == 0
    assert await statuses() == [OutboxStatus.DELIVERED] * 3
    assert [m.attempts for m in await OutboxMessage.filter(connector="log")] == [1, 1, 1]


# --- `hub worker` as a process, through a Redis restart -------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_log(path: Path) -> IO[bytes]:
    return path.open("ab")


class RedisServer:
    """A redis-server of this test's own, on a fixed port, that can be killed and restarted."""

    def __init__(self, port: int, log: IO[bytes]) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.proc = await asyncio.create_subprocess_exec(
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = AsyncRedis.from_url(self.url, socket_connect_timeout=1)
        try:

            async def answers() -> bool:
                assert self.proc is not None
                assert self.proc.returncode is None, "redis-server exited at start"
                try:
                    return bool(await client.ping())
                except (RedisError, OSError):
                    return False

            assert await eventually(answers, within=15), f"redis-server on {self.port} is mute"
        finally:
            await client.aclose()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.proc.wait(), timeout=15)
        self.proc = None


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


async def test_worker_survives_a_redis_restart_and_loses_nothing(
    settings: Settings, people: People, tmp_path: Path
) -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not on PATH", "apt-get install redis-server")
    log_path = tmp_path / "processes.log"
    log = open_log(log_path)
    redis = RedisServer(free_port(), log)
    worker: asyncio.subprocess.Process | None = None
    queue = ArqQueue(settings.replace(redis_url=redis.url))
    rt = Runtime(settings=settings, jobs=queue)
    try:
        await redis.start()
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub.cli", "worker",
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=clean_env(
                HUB_DATABASE_URL=settings.database_url,
                HUB_REDIS_URL=redis.url,
                HUB_OUTBOX_POLL_SECONDS="1",
                HUB_LOG_FORMAT="text",
            ),
        )  # fmt: skip
        await queue.start()

        async def delivered(count: int) -> bool:
            assert worker is not None
            assert worker.returncode is None, f"the worker exited:\n{tail(log_path)}"
            return await all_delivered(count)

        # Redis up: filings reach the department system
        await file_some(rt, people, 3)
        assert await eventually(lambda: delivered(3), within=30), tail(log_path)

        # Redis dies; the supervisor notices and keeps trying
        await redis.kill()

        async def supervisor_restarting() -> bool:
            return "restarting in" in log_path.read_text(errors="replace")

        assert await eventually(supervisor_restarting, within=15), tail(log_path)

        # citizens can still file; their grievances wait in the outbox
        await file_some(rt, people, 3)
        assert await statuses() == [OutboxStatus.DELIVERED] * 3 + [OutboxStatus.PENDING] * 3
        await asyncio.sleep(1)  # nothing can deliver them while Redis is down
        assert await statuses() == [OutboxStatus.DELIVERED] * 3 + [OutboxStatus.PENDING] * 3

        # Redis is back: the supervised worker delivers every waiting grievance, once
        await redis.start()
        assert await eventually(lambda: delivered(6), within=30), tail(log_path)
        assert [m.attempts for m in await OutboxMessage.filter(connector="log")] == [1] * 6
        assert worker.returncode is None

        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), timeout=15) == 0, tail(log_path)
    finally:
        await queue.stop()
        if worker is not None and worker.returncode is None:
            worker.kill()
            await worker.wait()
        await redis.kill()
        log.close()


# --- supervisor restart policy -------------------------------------------------------------


class FakeWorker:
    """Stands in for an arq worker whose Redis drops after ``life`` seconds."""

    def __init__(self, life: float) -> None:
        self.life = life

    async def main(self) -> None:
        await asyncio.sleep(self.life)
        raise ConnectionError("Connection closed by server.")

    async def close(self) -> None:
        # like arq's Worker.close when a job task was cancelled before it ran
        job = asyncio.create_task(asyncio.sleep(1))
        job.cancel()
        await asyncio.gather(job)


async def test_supervisor_backoff_starts_over_after_a_healthy_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outages close together back off; a worker that ran healthily resets the delay."""
    stop = asyncio.Event()
    lives = iter([0.0, 0.0, 1.5, 0.0])  # the third worker ran "long" (> HEALTHY_RUN_SECONDS)

    def build(settings: Settings, ctx: dict[str, Any], *, burst: bool = False) -> FakeWorker:
        life = next(lives, None)
        if life is None:
            stop.set()
            return FakeWorker(3600)
        return FakeWorker(life)

    async def nothing() -> None:
        return None

    fake_db = SimpleNamespace(
        connect=lambda settings: nothing(), disconnect=nothing, require_migrated=nothing
    )
    monkeypatch.setattr(hub.worker, "db", fake_db)
    monkeypatch.setattr(hub.worker, "build_worker", build)
    monkeypatch.setattr(hub.worker, "HEALTHY_RUN_SECONDS", 1.0)
    monkeypatch.setattr(hub.worker, "random", SimpleNamespace(uniform=lambda a, b: 0.0))
    caplog.set_level("WARNING", logger="hub.worker")

    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    restarts = await asyncio.wait_for(supervise(settings, stop), timeout=30)

    assert restarts == 4
    delays = [
        float(m.group(1))
        for m in (re.search(r"restarting in ([\d.]+)s", r.getMessage()) for r in caplog.records)
        if m
    ]
    assert delays == [1.0, 2.0, 1.0, 2.0]


# --- refusals --------------------------------------------------------------------------------


def test_worker_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    # the database check comes first, so this Redis address is never dialled
    result = run_hub(
        "worker",
        env=clean_env(
            HUB_DATABASE_URL=f"sqlite://{tmp_path / 'fresh.sqlite3'}",
            HUB_REDIS_URL="redis://127.0.0.1:1/0",
        ),
    )
    assert result.returncode == 2, result.stderr
    assert "not migrated" in result.stderr
    assert "hub migrate" in result.stderr


def test_worker_without_redis_url_says_which_setting(tmp_path: Path) -> None:
    result = run_hub(
        "worker", env=clean_env(HUB_DATABASE_URL=f"sqlite://{tmp_path / 'hub.sqlite3'}")
    )
    assert result.returncode == 2, result.stderr
    assert "HUB_REDIS_URL" in result.stderr
