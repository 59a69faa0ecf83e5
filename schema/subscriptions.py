"""Subscriptions: live updates to one grievance, for those who may see it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry
from graphql import GraphQLError

from auth.actor import Actor
from hub import enums
from hub.pubsub import Feed, grievance_channel
from hub.services import grievances as service
from hub.services import signin
from schema.context import Info
from schema.permissions import Allow
from schema.types import GrievanceStatus, WorkflowAction

logger = logging.getLogger("hub.graphql")
NOT_FOUND = "No grievance with that registration number."
NUMBER_MAX = 64  # the column's width: anything longer names no grievance


@strawberry.type(description="A committed change to a grievance.")
class GrievanceUpdate:
    registration_number: str
    status: GrievanceStatus  # type: ignore[valid-type]
    action: WorkflowAction  # type: ignore[valid-type]
    version: int = strawberry.field(description="Grows with every change: gaps mean missed ones.")
    at: dt.datetime


def update_of(message: dict[str, Any]) -> GrievanceUpdate | None:
    try:
        return GrievanceUpdate(
            registration_number=str(message["registrationNumber"]),
            status=enums.GrievanceStatus(message["status"]),
            action=enums.Action(message["action"]),
            version=int(message["version"]),
            at=dt.datetime.fromisoformat(message["at"]),
        )
    except (KeyError, TypeError, ValueError):  # e.g. a newer replica's new status
        logger.warning("skipped an update this version cannot read")
        return None


async def _updates(feed: Feed, actor: Actor, grievance_id: int) -> AsyncGenerator[GrievanceUpdate]:
    """The stream, while the actor's sign-in holds and they may still see the grievance:
    each update is checked again (a sign-out or revocation ends the sign-in; a transfer,
    reassignment, reopening or escalation moves a grievance out of someone's scope), and
    the stream completes, without that update, once either is gone. Updates are a few per
    grievance a day: two indexed lookups each cost little."""
    try:
        async for message in feed:
            update = update_of(message)
            if update is None:
                continue
            if not await signin.still_valid(actor):
                logger.info("subscription ended: the subscriber's sign-in ended")
                return
            if not await service.can_see(actor, grievance_id):
                logger.info("subscription ended: the grievance left the subscriber's scope")
                return
            yield update
    finally:
        feed.close()


def _not_found() -> GraphQLError:
    return GraphQLError(NOT_FOUND, extensions={"code": "NOT_FOUND"})


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[Allow.signed_in()],
        description="Changes to a grievance as they are committed; an error when it is "
        "missing or not yours to see.",
    )
    async def grievance_updates(
        self, info: Info, registration_number: str
    ) -> AsyncIterator[GrievanceUpdate]:
        actor = info.context.actor
        assert actor is not None
        number = registration_number.strip()
        if not number or len(number) > NUMBER_MAX:
            raise _not_found()
        feed = info.context.runtime.broker.subscribe(grievance_channel(number))
        try:
            # Subscribed before the check: a change committed after it is not missed.
            await feed.open()
            visible = await service.get_grievance(actor, number)
        except BaseException:
            feed.close()
            raise
        if visible is None:  # missing and not yours look the same
            feed.close()
            raise _not_found()
        return _updates(feed, actor, visible.id)
