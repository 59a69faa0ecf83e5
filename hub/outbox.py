"""The transactional outbox and its relay.

A change that must reach another system writes an ``OutboxMessage`` in the
same transaction. The relay claims due messages (a lease, so a crashed
relay's claims come back), hands each to its connector, and records the
result: DELIVERED, a retry with capped exponential backoff and jitter, or
DEAD after the last attempt. Per grievance and connector, a message waits
until every earlier one is delivered. A per-connector circuit breaker keeps
the relay off a system that keeps failing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tortoise import connections
from tortoise.expressions import Q
from tortoise.functions import Count, Min
from tortoise.transactions import in_transaction

from connectors.base import Connector, DeliveryResult, OutboundMessage
from hub.enums import OutboxStatus
from hub.models import Grievance, OutboxMessage
from hub.settings import Settings

logger = logging.getLogger("hub.outbox")

LEASE = dt.timedelta(seconds=60)
DELIVERY_TIMEOUT_SECONDS = 30.0
_UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.DELIVERING, OutboxStatus.DEAD)
KEY_CHECK_BATCH = 900  # below SQLite's smallest host-parameter limit


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def enqueue(
    grievance: Grievance, topic: str, payload: dict[str, Any], key: str, connectors: tuple[str, ...]
) -> list[OutboxMessage]:
    """Write one message per connector; call inside the transaction of the change."""
    due = now()
    return [
        await OutboxMessage.create(
            grievance=grievance,
            connector=name,
            topic=topic,
            payload=payload,
            idempotency_key=f"{key}:{name}",
            next_attempt_at=due,
        )
        for name in connectors
    ]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox row to write: plain data, cheap to build by the million."""

    grievance_id: int | None
    connector: str
    topic: str
    payload: dict[str, Any]
    idempotency_key: str
    next_attempt_at: dt.datetime


_PG_COLUMNS = (
    "grievance_id, connector, topic, payload, idempotency_key,"
    " status, attempts, next_attempt_at, last_error, created_at"
)


def pg_insert_from(source: str, created_at: str, *, new_keys: bool = False) -> str:
    """SQL inserting new outbox rows from ``source``, a query of (grievance id, connector,
    topic, payload as jsonb, idempotency key, next attempt at); keys already in the outbox
    are skipped. ``created_at`` is the SQL (a parameter) for the rows' creation time.

    ``new_keys``: the caller knows no key can be there yet (each carries the id of an event
    written in the same transaction), so the insert skips the conflict check; a repeated
    key then fails the transaction instead of being skipped."""
    return (  # constants and the caller's SQL: no values
        f"INSERT INTO outbox_message ({_PG_COLUMNS})"  # noqa: S608
        f" SELECT s.grievance_id, s.connector, s.topic, s.payload, s.key,"
        f" '{OutboxStatus.PENDING.value}', 0, s.due, '', {created_at}"
        f" FROM ({source}) AS s(grievance_id, connector, topic, payload, key, due)"
        + ("" if new_keys else " ON CONFLICT (idempotency_key) DO NOTHING")
    )


# The rows travel as one JSON array of [grievance id, connector, topic, payload, key, next
# attempt at]: one parameter, encoded in one call. As six arrays the driver checked and
# encoded every element (about 2.5 µs a row) on top of one encoder call per payload (2 µs).
_PG_ROWS = (
    "SELECT (r->>0)::bigint, r->>1, r->>2, r->3, r->>4, (r->>5)::timestamptz"
    " FROM jsonb_array_elements($1::jsonb) AS r"
)
# a CTE so the driver reports the rows inserted (its INSERT tag parsing reads the OID)
_PG_INSERT = {
    new_keys: "WITH written AS ("  # noqa: S608
    + pg_insert_from(_PG_ROWS, "$2", new_keys=new_keys)
    + " RETURNING 1) SELECT count(*) AS n FROM written"
    for new_keys in (False, True)
}
# one encoder for every batch: json.dumps with options builds a new one per call
_to_json = json.JSONEncoder(ensure_ascii=False).encode
_PG_BATCH = 20000


async def write_new(rows: list[OutboxRow], *, new_keys: bool = False) -> int:
    """Insert the rows whose idempotency key is not in the outbox yet: one statement per
    batch on PostgreSQL (the escalation job writes millions), a key check and a bulk
    insert elsewhere. ``new_keys``: see ``pg_insert_from``."""
    unique = list({row.idempotency_key: row for row in rows}.values())
    if not unique:
        return 0
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        written = 0
        for start in range(0, len(unique), _PG_BATCH):
            batch = unique[start : start + _PG_BATCH]
            written += await _pg_insert(conn, batch, new_keys)
        return written
    keys = [row.idempotency_key for row in unique]
    existing: set[str] = set()
    for start in range(0, len(keys), KEY_CHECK_BATCH):
        found = await OutboxMessage.filter(
            idempotency_key__in=keys[start : start + KEY_CHECK_BATCH]
        ).values_list("idempotency_key", flat=True)
        existing.update(str(key) for key in found)
    fresh = [
        OutboxMessage(
            grievance_id=row.grievance_id,
            connector=row.connector,
            topic=row.topic,
            payload=row.payload,
            idempotency_key=row.idempotency_key,
            next_attempt_at=row.next_attempt_at,
        )
        for row in unique
        if row.idempotency_key not in existing
    ]
    if fresh:
        await OutboxMessage.bulk_create(fresh, batch_size=1000)
    return len(fresh)


async def _pg_insert(conn: Any, batch: list[OutboxRow], new_keys: bool) -> int:
    rows = await conn.execute_query_dict(
        _PG_INSERT[new_keys], [_pg_rows_json(batch), dt.datetime.now(dt.UTC)]
    )
    return int(rows[0]["n"])


def _pg_rows_json(batch: list[OutboxRow]) -> str:
    """The rows as ``_PG_ROWS`` reads them. A time as an ISO string in UTC, as the driver
    would send it (a naive one is local time to both); a batch's rows mostly share one."""
    stamps = {
        moment: moment.astimezone(dt.UTC).isoformat()
        for moment in {row.next_attempt_at for row in batch}
    }
    return _to_json(
        [
            [
                row.grievance_id,
                row.connector,
                row.topic,
                row.payload,
                row.idempotency_key,
                stamps[row.next_attempt_at],
            ]
            for row in batch
        ]
    )


def backoff(attempt: int, cap_seconds: int, rng: random.Random | None = None) -> dt.timedelta:
    """Full jitter over 2**attempt seconds, capped."""
    ceiling = min(cap_seconds, 2 ** min(attempt, 30))
    return dt.timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` failures in a row; lets one trial through after ``cooldown``."""

    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None

    def allows(self, clock: float) -> bool:
        return self.opened_at is None or clock - self.opened_at >= self.cooldown

    def record(self, ok: bool, clock: float) -> None:
        if ok:
            self.failures, self.opened_at = 0, None
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = clock


@dataclass
class RelayStats:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    skipped_open_circuit: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.dead


@dataclass
class Relay:
    settings: Settings
    connectors: Mapping[str, Connector]
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)

    def _breaker(self, name: str) -> CircuitBreaker:
        return self.breakers.setdefault(name, CircuitBreaker())

    async def run_once(self) -> RelayStats:
        """Claim one batch of due messages and deliver them."""
        stats = RelayStats()
        clock = time.monotonic()
        closed = [name for name in self.connectors if self._breaker(name).allows(clock)]
        for message in await self._claim(closed):
            if self._breaker(message.connector).allows(time.monotonic()):
                await self._deliver(message, stats)
            else:  # the circuit opened during this batch: hand the claim back untouched
                await OutboxMessage.filter(id=message.id, status=OutboxStatus.DELIVERING).update(
                    status=OutboxStatus.PENDING, lease_until=None
                )
                stats.skipped_open_circuit += 1
        return stats

    async def drain(self, max_batches: int = 1000) -> RelayStats:
        """Run batches until nothing due is left (bounded)."""
        total = RelayStats()
        for _ in range(max_batches):
            stats = await self.run_once()
            total.delivered += stats.delivered
            total.retried += stats.retried
            total.dead += stats.dead
            total.skipped_open_circuit += stats.skipped_open_circuit
            if stats.handled == 0:
                break
        return total

    async def _claim(self, connectors: list[str]) -> list[OutboxMessage]:
        if not connectors:
            return []
        moment = now()
        due = Q(status=OutboxStatus.PENDING, next_attempt_at__lte=moment) | Q(
            status=OutboxStatus.DELIVERING, lease_until__lt=moment
        )
        async with in_transaction() as conn:
            candidates = (
                await OutboxMessage.filter(due, connector__in=connectors)
                .order_by("id")
                .limit(self.settings.outbox_batch_size)
                .select_for_update(skip_locked=True)
                .using_db(conn)
            )
            if not candidates:
                return []
            heads = await self._stream_heads(candidates, conn)
            claimed = [
                m
                for m in candidates
                if m.grievance_id is None or heads.get((m.grievance_id, m.connector)) == m.id
            ]
            if claimed:
                await (
                    OutboxMessage.filter(id__in=[m.id for m in claimed])
                    .using_db(conn)
                    .update(status=OutboxStatus.DELIVERING, lease_until=moment + LEASE)
                )
        return claimed

    @staticmethod
    async def _stream_heads(
        candidates: list[OutboxMessage], conn: Any
    ) -> dict[tuple[int, str], int]:
        """The oldest unfinished message of each (grievance, connector) stream."""
        grievance_ids = {m.grievance_id for m in candidates if m.grievance_id is not None}
        if not grievance_ids:
            return {}
        rows = (
            await OutboxMessage.filter(grievance_id__in=grievance_ids, status__in=_UNFINISHED)
            .annotate(head=Min("id"))
            .group_by("grievance_id", "connector")
            .using_db(conn)
            .values("grievance_id", "connector", "head")
        )
        return {(row["grievance_id"], row["connector"]): row["head"] for row in rows}

    async def _deliver(self, message: OutboxMessage, stats: RelayStats) -> None:
        connector = self.connectors[message.connector]
        attempt = message.attempts + 1
        outbound = OutboundMessage(
            id=message.id,
            idempotency_key=message.idempotency_key,
            topic=message.topic,
            payload=message.payload,
            attempt=attempt,
        )
        try:
            result = await asyncio.wait_for(
                connector.deliver(outbound), timeout=DELIVERY_TIMEOUT_SECONDS
            )
        except Exception as exc:  # a connector must not raise; if it does, it is a failure
            result = DeliveryResult.failure(f"{type(exc).__name__}: {exc}")
        self._breaker(message.connector).record(result.ok, time.monotonic())
        await self._record(message, attempt, result, stats)

    async def _record(
        self, message: OutboxMessage, attempt: int, result: DeliveryResult, stats: RelayStats
    ) -> None:
        changes: dict[str, Any] = {"attempts": attempt, "lease_until": None}
        if result.ok:
            changes.update(status=OutboxStatus.DELIVERED, delivered_at=now(), last_error="")
            stats.delivered += 1
        elif result.permanent or attempt >= self.settings.outbox_max_attempts:
            changes.update(status=OutboxStatus.DEAD, last_error=result.detail[:2000])
            stats.dead += 1
            logger.error(
                "outbox message is DEAD",
                extra={
                    "outbox_id": message.id,
                    "connector": message.connector,
                    "attempts": attempt,
                    "error": result.detail[:500],
                },
            )
        else:
            wait = backoff(attempt, self.settings.outbox_backoff_cap_seconds)
            changes.update(
                status=OutboxStatus.PENDING,
                next_attempt_at=now() + wait,
                last_error=result.detail[:2000],
            )
            stats.retried += 1
            logger.warning(
                "outbox delivery failed; will retry",
                extra={
                    "outbox_id": message.id,
                    "connector": message.connector,
                    "attempts": attempt,
                    "retry_in_s": round(wait.total_seconds(), 1),
                },
            )
        # Only the lease holder records: a message whose lease ran out and was
        # re-claimed elsewhere is left to its new holder.
        await OutboxMessage.filter(id=message.id, status=OutboxStatus.DELIVERING).update(**changes)


async def replay_dead(ids: list[int] | None = None) -> int:
    """Put DEAD messages back in the queue with a fresh attempt budget."""
    query = OutboxMessage.filter(status=OutboxStatus.DEAD)
    if ids:
        query = query.filter(id__in=ids)
    return int(await query.update(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now()))


async def counts() -> dict[str, int]:
    rows = await OutboxMessage.annotate(n=Count("id")).group_by("status").values("status", "n")
    result = {status.value: 0 for status in OutboxStatus}
    result.update({str(row["status"]): int(row["n"]) for row in rows})
    return result
