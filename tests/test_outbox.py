"""The outbox relay: at-least-once, in order per grievance, backoff, DEAD, replay, breaker."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from connectors.base import DeliveryResult, OutboundMessage
from hub import outbox
from hub.enums import Channel, OutboxStatus
from hub.models import OutboxMessage
from hub.outbox import CircuitBreaker, Relay, backoff
from hub.runtime import Runtime
from hub.services.grievances import FilingData, file_grievance
from tests.conftest import People


@dataclass
class DepartmentSystem:
    """A receiving system that fails the first ``failures`` calls, then accepts."""

    name: str = "dept"
    failures: int = 0
    permanent: bool = False
    raises: bool = False
    received: list[OutboundMessage] = field(default_factory=list)

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if self.failures > 0:
            self.failures -= 1
            if self.raises:
                raise ConnectionResetError("peer reset")
            return DeliveryResult.failure("503 from department", permanent=self.permanent)
        self.received.append(message)
        return DeliveryResult.success()


async def file_some(rt: Runtime, people: People, count: int) -> list[str]:
    numbers = []
    for i in range(count):
        g = await file_grievance(
            rt,
            people.actor(people.asha),
            FilingData(
                description=f"Streetlight number {i} is broken on my road.",
                channel=Channel.APP,
                category_code="UDD-ULB-SL-OFF",
            ),
        )
        numbers.append(g.registration_number)
    return numbers


def relay_for(rt: Runtime, system: DepartmentSystem, **changes: object) -> Relay:
    return Relay(rt.settings.replace(connectors=(system.name,), **changes), {system.name: system})


async def make_due_now() -> None:
    await OutboxMessage.filter(status=OutboxStatus.PENDING).update(next_attempt_at=outbox.now())


async def test_transient_failure_backs_off_then_delivers(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    await file_some(rt, people, 1)
    system = DepartmentSystem(failures=2)
    relay = relay_for(rt, system)

    first = await relay.run_once()
    assert (first.retried, first.delivered) == (1, 0)
    message = await OutboxMessage.get(connector="dept")
    assert message.status == OutboxStatus.PENDING and message.attempts == 1
    assert message.next_attempt_at > outbox.now()  # backed off
    assert "503" in message.last_error
    assert (await relay.run_once()).handled == 0  # not due yet

    await make_due_now()
    await relay.run_once()
    await make_due_now()
    assert (await relay.run_once()).delivered == 1
    await message.refresh_from_db()
    assert message.status == OutboxStatus.DELIVERED and message.attempts == 3
    assert len(system.received) == 1


async def test_dead_after_the_last_attempt_and_replayable(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    await file_some(rt, people, 1)
    system = DepartmentSystem(failures=10, raises=True)
    relay = relay_for(rt, system, outbox_max_attempts=3)
    for _ in range(3):
        await make_due_now()
        await relay.run_once()
    message = await OutboxMessage.get(connector="dept")
    assert message.status == OutboxStatus.DEAD and message.attempts == 3
    assert "ConnectionResetError" in message.last_error
    assert (await outbox.counts())["DEAD"] == 1

    system.failures = 0
    assert await outbox.replay_dead() == 1
    assert (await relay.run_once()).delivered == 1


async def test_permanent_rejection_is_dead_at_once(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    await file_some(rt, people, 1)
    stats = await relay_for(rt, DepartmentSystem(failures=1, permanent=True)).run_once()
    assert stats.dead == 1


async def test_messages_of_one_grievance_go_in_order(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    [number] = await file_some(rt, people, 1)
    grievance = (await OutboxMessage.get(connector="dept")).grievance_id
    for step in range(2, 4):  # two later events for the same grievance
        await OutboxMessage.create(
            grievance_id=grievance,
            connector="dept",
            topic=f"grievance.step{step}",
            payload={"registration_number": number, "step": step},
            idempotency_key=f"{number}:step{step}:dept",
            next_attempt_at=outbox.now(),
        )
    system = DepartmentSystem(failures=1)
    relay = relay_for(rt, system)
    stats = await relay.run_once()
    assert (stats.retried, stats.delivered) == (1, 0)  # the later ones wait behind the first
    await make_due_now()
    await relay.drain()
    assert [m.topic for m in system.received] == [
        "grievance.filed",
        "grievance.step2",
        "grievance.step3",
    ]


async def test_an_expired_lease_is_claimed_again(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    await file_some(rt, people, 1)
    # a relay claimed the message and died before recording anything
    await OutboxMessage.filter(connector="dept").update(
        status=OutboxStatus.DELIVERING, lease_until=outbox.now() - dt.timedelta(seconds=1)
    )
    assert (await relay_for(rt, DepartmentSystem()).run_once()).delivered == 1


async def test_open_circuit_stops_calls_to_a_failing_system(rt: Runtime, people: People) -> None:
    rt = Runtime(rt.settings.replace(connectors=("dept",)), rt.jobs)
    await file_some(rt, people, 6)
    system = DepartmentSystem(failures=100)
    relay = relay_for(rt, system)
    relay.breakers["dept"] = CircuitBreaker(threshold=5, cooldown=3600)
    first = await relay.run_once()  # six grievances: five failures open the circuit
    assert (first.retried, first.skipped_open_circuit) == (5, 1)
    assert 100 - system.failures == 5
    await make_due_now()
    second = await relay.run_once()
    assert second.handled == 0
    assert 100 - system.failures == 5  # no more calls while the circuit is open
    relay.breakers["dept"].cooldown = 0  # after the cool-down one trial goes through
    system.failures = 0
    await make_due_now()
    assert (await relay.run_once()).delivered == 6  # the trial succeeded: circuit closed


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    waits = [backoff(n, cap_seconds=60, rng=rng).total_seconds() for n in range(1, 12)]
    assert 1 <= waits[0] <= 2
    assert waits[4] > waits[0]
    assert all(w <= 60 for w in waits)
    assert len({round(w, 3) for w in waits[6:]}) > 1  # jittered, not a fixed 60
