"""SMS: the ``sms`` channel, printed to the log in dev or posted to an HTTP gateway.

A message's payload carries ``to`` (E.164, e.g. +919876543210) and ``text``.
Mobile numbers and OTPs never reach a log line or a stored error: the
console sink masks them, and the gateway's answers are redacted before they
become a ``DeliveryResult`` detail (the relay stores and logs details).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import aiohttp

from connectors.base import DeliveryResult, OutboundMessage

logger = logging.getLogger("hub.connectors.sms")

# Indian mobiles (optionally +91/0-prefixed, maybe spaced), any other run of 10+ digits,
# and 4-8 digit codes after "otp". Registration numbers (KA-UDD-2026-0000001) survive.
_DIGITS = re.compile(r"(?<!\d)(?:(?:\+?91[\s-]?|0)?[6-9]\d{4}[\s-]?\d{5}|\+?\d{10,})(?!\d)")
_OTP = re.compile(r"(?i)(otp\D{0,12})\d{4,8}")
GATEWAY_TIMEOUT_SECONDS = 10.0
# 408 and 429 say "not now", not "never": the gateway may take the same message later.
_RETRYABLE_4XX = frozenset({408, 429})


def mask_mobile(number: str) -> str:
    """+919876543210 -> +91******3210: enough to tell numbers apart, not to dial one."""
    digits = re.sub(r"\D", "", number)
    if len(digits) < 10:
        return "*" * len(digits)
    local = digits[-10:]
    plus = "+" if number.lstrip().startswith("+") else ""
    prefix = plus + digits[:-10] if len(digits) > 10 else ""
    return f"{prefix}******{local[-4:]}"


def redact(text: str) -> str:
    """Mask every mobile-like number and OTP inside free text."""
    masked = _DIGITS.sub(lambda m: mask_mobile(m.group(0)), text)
    return _OTP.sub(r"\1******", masked)


def _fields(message: OutboundMessage) -> tuple[str, str] | DeliveryResult:
    to = message.payload.get("to")
    text = message.payload.get("text")
    if not isinstance(to, str) or not to:
        return DeliveryResult.failure("payload field 'to' is missing: no mobile", permanent=True)
    if not isinstance(text, str) or not text:
        return DeliveryResult.failure("payload field 'text' is missing or empty", permanent=True)
    return to, text


class ConsoleSms:
    """Dev sink: the text goes to the log, the number masked."""

    name = "sms"

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        fields = _fields(message)
        if isinstance(fields, DeliveryResult):
            return fields
        to, text = fields
        logger.info(
            "sms to %s: %s",
            mask_mobile(to),
            redact(text),
            extra={"outbox_id": message.id, "topic": message.topic, "attempt": message.attempt},
        )
        return DeliveryResult.success("printed")


class HttpSms:
    """POSTs JSON to the gateway; 2xx is sent, other 4xx never will be, the rest may be."""

    name = "sms"

    def __init__(
        self,
        url: str,
        key: str,
        sender_id: str,
        timeout_seconds: float = GATEWAY_TIMEOUT_SECONDS,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"Config 'HUB_SMS_GATEWAY_URL' has value '{url}'. "
                "HUB_SMS_SINK=http needs an http:// or https:// URL."
            )
        self.url = url
        self.key = key
        self.sender_id = sender_id
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        # One pooled session per event loop: a session cannot cross loops, and a
        # connection per SMS would cost a TLS handshake per message.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        fields = _fields(message)
        if isinstance(fields, DeliveryResult):
            return fields
        to, text = fields
        body = {
            "sender_id": self.sender_id,
            "to": to,
            "text": text,
            "idempotency_key": message.idempotency_key,
        }
        headers = {"X-Api-Key": self.key, "Idempotency-Key": message.idempotency_key}
        try:
            async with self._client().post(self.url, json=body, headers=headers) as response:
                status = response.status
                answer = await response.text()
        except TimeoutError:
            return DeliveryResult.failure("SMS gateway timed out")
        except aiohttp.ClientError as exc:
            return DeliveryResult.failure(f"SMS gateway unreachable: {type(exc).__name__}")
        detail = f"SMS gateway answered {status}: {redact(answer[:300])}"
        if 200 <= status < 300:
            return DeliveryResult.success(detail, external_id=_external_id(answer))
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            return DeliveryResult.failure(detail, permanent=True)
        return DeliveryResult.failure(detail)


def _external_id(answer: str) -> str | None:
    """The gateway's message id, when it answers JSON with one."""
    try:
        data: Any = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("message_id", "id"):
            if isinstance(data.get(key), str | int):
                return str(data[key])
    return None
