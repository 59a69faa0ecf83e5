"""Jobs: plain ``async def job(ctx)`` functions, run by one of two runners.

- ``InProcessRunner``: the embedded default (no Redis): a background task in
  the hub process runs the jobs on a timer and when kicked.
- arq workers (``hub worker``, see ``hub.worker``): the same functions, queued
  through Redis. Delivery state lives in the database, never only in Redis,
  so losing Redis loses no message: the next pass finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any, Protocol

from connectors.registry import build_registry
from hub.outbox import Relay
from hub.services.sla import IST
from hub.settings import Settings

logger = logging.getLogger("hub.jobs")

RELAY_JOB = "relay_outbox"


def job_context(settings: Settings) -> dict[str, Any]:
    """What every job gets in ``ctx``: created once per runner or worker."""
    return {"settings": settings, "relay": Relay(settings, build_registry(settings))}


async def relay_outbox(ctx: dict[str, Any]) -> dict[str, int]:
    stats = await ctx["relay"].drain()
    return {"delivered": stats.delivered, "retried": stats.retried, "dead": stats.dead}


async def rebuild_routing(ctx: dict[str, Any]) -> dict[str, int]:
    """Retrain the routing model from routed grievances; every process loads the newest."""
    from hub.services import routing

    settings: Settings = ctx["settings"]
    done = await routing.rebuild_model(settings.routing_history_limit, settings=settings)
    logger.info(
        "routing model rebuilt: %s examples, model %s (%s)",
        done.examples,
        done.model_id,
        done.note or "ok",
    )
    return {"examples": done.examples, "model_id": done.model_id or 0}


async def escalate(ctx: dict[str, Any]) -> dict[str, int]:
    """Escalate grievances whose level's time ran out; close answered ones left unrated."""
    from hub.pubsub import InProcessBroker
    from hub.runtime import Runtime
    from hub.services import escalation, lifecycle

    settings: Settings = ctx["settings"]
    # the process's broker: subscribers hear of the job's changes too
    broker = ctx.get("broker") or InProcessBroker()
    stats = await escalation.escalate_due(settings, broker=broker)
    runtime = Runtime(settings=settings, jobs=_Quiet(), broker=broker)
    closed = await lifecycle.auto_close_due(runtime)
    return {"escalated": stats.escalated, "auto_closed": closed}


async def digest(ctx: dict[str, Any]) -> dict[str, int]:
    """The daily summary to each HoD and the reminders to nodal officers: once per IST day
    however often it runs (the messages' keys carry the date)."""
    from hub.services import notifications

    settings: Settings = ctx["settings"]
    moment = dt.datetime.now(dt.UTC)
    summaries = await notifications.send_daily_summaries(settings, moment)
    reminders = await notifications.send_reminders(settings, moment)
    return {"summaries": summaries, "reminders": reminders}


async def purge(ctx: dict[str, Any]) -> dict[str, int]:
    """Drop spent sign-in codes and expired tokens (the audit keeps the history)."""
    from hub.services import signin

    return await signin.purge_expired(dt.datetime.now(dt.UTC))


class _Quiet:
    """A job's own queue: the relay runs on its own timer or cron anyway."""

    async def outbox_changed(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


ROUTING_JOB = "rebuild_routing"
ESCALATION_JOB = "escalate"
DIGEST_JOB = "digest"
PURGE_JOB = "purge"
JOBS = (relay_outbox, rebuild_routing, escalate, digest, purge)


class JobQueue(Protocol):
    async def outbox_changed(self) -> None:
        """New outbox rows were committed: deliver them soon."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InProcessRunner:
    """Runs the relay in this process every poll interval, or sooner when kicked."""

    def __init__(self, settings: Settings, ctx: dict[str, Any] | None = None) -> None:
        self.ctx = ctx or job_context(settings)
        self.interval = settings.outbox_poll_seconds
        self.rebuild_every = settings.routing_rebuild_hours * 3600
        self._next_rebuild = time.monotonic() + self.rebuild_every
        self.escalate_every = settings.escalation_poll_seconds
        self._next_escalation = time.monotonic() + min(self.escalate_every, 60)
        self.summary_hour = settings.summary_hour
        self._digest_day: dt.date | None = None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def outbox_changed(self) -> None:
        self._kick.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hub-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_pending(self) -> dict[str, int]:
        return await relay_outbox(self.ctx)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=self.interval)
            self._kick.clear()
            try:
                await relay_outbox(self.ctx)
            except Exception:  # keep the loop alive; the rows stay due in the database
                logger.exception("in-process relay pass failed")
            if time.monotonic() >= self._next_escalation:
                self._next_escalation = time.monotonic() + self.escalate_every
                await self._guarded(escalate, "escalation pass failed")
            today = dt.datetime.now(IST)
            if today.hour >= self.summary_hour and self._digest_day != today.date():
                self._digest_day = today.date()
                await self._guarded(digest, "daily digest failed")
                await self._guarded(purge, "purge of expired sign-ins failed")
            if self.rebuild_every and time.monotonic() >= self._next_rebuild:
                self._next_rebuild += self.rebuild_every
                try:
                    await rebuild_routing(self.ctx)
                except Exception:  # the current model keeps serving
                    logger.exception("routing model rebuild failed")

    async def _guarded(self, job: Any, failure: str) -> None:
        try:
            await job(self.ctx)
        except Exception:  # the next pass tries again; state is in the database
            logger.exception(failure)


class ArqQueue:
    """Queues jobs for ``hub worker``; a lost Redis only delays delivery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: Any = None

    async def start(self) -> None:
        from arq import create_pool

        from hub.worker import redis_settings

        try:
            self._pool = await create_pool(redis_settings(self.settings))
        except Exception as exc:  # Redis down at start: the worker's cron still relays
            logger.warning("cannot reach Redis to queue jobs: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def outbox_changed(self) -> None:
        if self._pool is None:
            return
        try:
            # One queued relay at a time: a relay pass drains everything due.
            await self._pool.enqueue_job(RELAY_JOB, _job_id=RELAY_JOB)
        except Exception as exc:
            logger.warning("cannot queue the outbox relay: %s", type(exc).__name__)


def make_queue(settings: Settings) -> JobQueue:
    if settings.redis_url:
        return ArqQueue(settings)
    return InProcessRunner(settings)
