"""``hub worker``: arq workers on Redis, supervised.

arq's worker returns (or raises) when Redis goes away; the supervisor loop
starts a fresh one with capped backoff until it is told to stop. Outbox
state lives in the database, so nothing is lost while Redis is down: the
cron relay picks up every due row once the worker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from typing import Any

from arq.connections import RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from hub import db
from hub.jobs import (
    DIGEST_JOB,
    ESCALATION_JOB,
    PURGE_JOB,
    RELAY_JOB,
    ROUTING_JOB,
    digest,
    escalate,
    job_context,
    purge,
    rebuild_routing,
    relay_outbox,
)
from hub.pubsub import make_broker
from hub.settings import Settings

logger = logging.getLogger("hub.worker")

MAX_RESTART_DELAY = 30.0
# A worker that ran this long was healthy: its death starts a new outage, so the
# restart delay starts again from 1 s instead of staying at the cap forever.
HEALTHY_RUN_SECONDS = 60.0


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise ValueError("Config 'HUB_REDIS_URL' is unset. `hub worker` needs Redis.")
    rs = RedisSettings.from_dsn(settings.redis_url)
    rs.conn_retries = 2
    rs.conn_retry_delay = 1
    return rs


def build_worker(settings: Settings, ctx: dict[str, Any], *, burst: bool = False) -> Worker:
    every = max(1, settings.outbox_poll_seconds)
    return Worker(
        functions=[
            func(relay_outbox, name=RELAY_JOB, keep_result=0, max_tries=3),
            func(rebuild_routing, name=ROUTING_JOB, keep_result=3600, max_tries=1),
            func(escalate, name=ESCALATION_JOB, keep_result=0, max_tries=1),
            func(digest, name=DIGEST_JOB, keep_result=0, max_tries=1),
            func(purge, name=PURGE_JOB, keep_result=0, max_tries=1),
        ],
        cron_jobs=[
            *(
                [
                    cron(
                        rebuild_routing,
                        name=f"cron:{ROUTING_JOB}",
                        hour={h % 24 for h in range(2, 26, hours)} if hours < 24 else {2},
                        minute={15},
                        unique=True,
                        timeout=3600,
                    )
                ]
                if (hours := settings.routing_rebuild_hours)
                else []
            ),
            cron(
                escalate,
                name=f"cron:{ESCALATION_JOB}",
                minute=set(range(0, 60, max(1, settings.escalation_poll_seconds // 60))),
                unique=True,
                timeout=1800,
            ),
            cron(
                digest,
                name=f"cron:{DIGEST_JOB}",
                # the summary hour is IST (UTC+5:30)
                hour={(settings.summary_hour * 60 - 330) % 1440 // 60},
                minute={(settings.summary_hour * 60 - 330) % 60},
                unique=True,
                timeout=1800,
            ),
            cron(
                purge,
                name=f"cron:{PURGE_JOB}",
                hour={21},  # 02:30 IST, when nobody is signing in
                minute={0},
                unique=True,
                timeout=1800,
            ),
            cron(
                relay_outbox,
                name=f"cron:{RELAY_JOB}",
                second=set(range(0, 60, every)),
                run_at_startup=True,
                unique=True,
            ),
        ],
        redis_settings=redis_settings(settings),
        ctx=ctx,
        burst=burst,
        handle_signals=False,
        poll_delay=0.2,
        max_jobs=10,
    )


async def supervise(settings: Settings, stop: asyncio.Event, *, burst: bool = False) -> int:
    """Run workers until ``stop`` is set (or one burst completes); return the restart count."""
    await db.connect(settings)
    restarts = 0
    delay = 1.0
    broker = make_broker(settings)  # hub replicas hear of the jobs' changes (Redis pub/sub)
    try:
        # Inside the try: a refused start must still close the database, or the
        # SQLite driver's thread keeps the process alive after the message.
        await db.require_migrated()
        await broker.start()
        ctx = {**job_context(settings), "broker": broker}
        while not stop.is_set():
            worker = build_worker(settings, dict(ctx), burst=burst)
            started = time.monotonic()
            task = asyncio.create_task(worker.main())
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if task in done:
                exc = task.exception()
                if exc is None and burst:
                    await _close(worker)
                    break
                if time.monotonic() - started >= HEALTHY_RUN_SECONDS:
                    delay = 1.0
                logger.warning(
                    "worker stopped: %s; restarting in %.1fs",
                    type(exc).__name__ if exc else "returned",
                    delay,
                )
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await _close(worker)
            if stop.is_set():
                break
            restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.8, 1.2))
            delay = min(MAX_RESTART_DELAY, delay * 2)
    finally:
        await broker.stop()
        await db.disconnect()
    return restarts


async def _close(worker: Worker) -> None:
    try:
        await asyncio.wait_for(worker.close(), timeout=5)
    except asyncio.CancelledError:
        # ``Worker.close`` cancels the worker's job tasks and gathers them; a task
        # cancelled before it ran surfaces here as CancelledError. Only pass it on
        # when this task itself is being cancelled, or the supervisor would die.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # Redis is gone: nothing left to close cleanly
        logger.debug("closing the worker failed", exc_info=True)


def run(settings: Settings, *, burst: bool = False) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        logger.info("worker starting", extra={"redis": settings.redis_url})
        await supervise(settings, stop, burst=burst)
        logger.info("worker stopped")

    asyncio.run(main())
