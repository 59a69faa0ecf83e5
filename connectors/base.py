"""The one protocol every connector implements.

A connector turns an outbox message into a call on another system and
reports what happened. It never raises into its caller: a failure is a
``DeliveryResult`` with ``ok=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundMessage:
    id: int
    idempotency_key: str
    topic: str
    payload: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    detail: str = ""
    permanent: bool = False  # retrying cannot help (e.g. the receiver rejected the payload)
    external_id: str | None = None

    @classmethod
    def success(cls, detail: str = "", external_id: str | None = None) -> DeliveryResult:
        return cls(ok=True, detail=detail, external_id=external_id)

    @classmethod
    def failure(cls, detail: str, *, permanent: bool = False) -> DeliveryResult:
        return cls(ok=False, detail=detail, permanent=permanent)


class Connector(Protocol):
    name: str

    async def deliver(self, message: OutboundMessage) -> DeliveryResult: ...


async def close_connector(connector: Connector) -> None:
    """Release what a connector holds (an HTTP session), if it holds anything."""
    close = getattr(connector, "aclose", None)
    if close is not None:
        await close()
