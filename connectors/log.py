"""Writes each message to the log: the embedded default's stand-in for a real system."""

from __future__ import annotations

import logging

from connectors.base import DeliveryResult, OutboundMessage

logger = logging.getLogger("hub.connectors.log")


class LogConnector:
    name = "log"

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        logger.info(
            "delivered %s",
            message.topic,
            extra={
                "outbox_id": message.id,
                "idempotency_key": message.idempotency_key,
                "topic": message.topic,
                "registration_number": message.payload.get("registration_number"),
                "attempt": message.attempt,
            },
        )
        return DeliveryResult.success("logged")
