"""E-mail: the ``email`` channel, printed to the log in dev or sent over SMTP.

A message's payload carries ``to``, ``subject`` and ``text``. The Message-ID
comes from the idempotency key, so a retried message is the same message to
every mail system that dedupes on it.
"""

from __future__ import annotations

import logging
import re
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from connectors.base import DeliveryResult, OutboundMessage
from connectors.sms import redact

logger = logging.getLogger("hub.connectors.email")

SMTP_TIMEOUT_SECONDS = 20.0
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9.\-]")


def mask_email(address: str) -> str:
    """asha.rao@example.in -> a***@example.in"""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else "***"


def message_id(idempotency_key: str, sender: str) -> str:
    """One Message-ID per idempotency key, in the sender's domain."""
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{_UNSAFE_ID.sub('.', idempotency_key)}@{domain}>"


def _fields(message: OutboundMessage) -> tuple[str, str, str] | DeliveryResult:
    to = message.payload.get("to")
    subject = message.payload.get("subject")
    text = message.payload.get("text")
    if not isinstance(to, str) or "@" not in to:
        return DeliveryResult.failure("payload field 'to' is not an e-mail address", permanent=True)
    if not isinstance(subject, str) or not subject:
        return DeliveryResult.failure("payload field 'subject' is missing", permanent=True)
    if not isinstance(text, str) or not text:
        return DeliveryResult.failure("payload field 'text' is missing or empty", permanent=True)
    return to, subject, text


class ConsoleEmail:
    """Dev sink: the mail goes to the log, the address masked."""

    name = "email"

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        fields = _fields(message)
        if isinstance(fields, DeliveryResult):
            return fields
        to, subject, text = fields
        logger.info(
            "email to %s: %s\n%s",
            mask_email(to),
            redact(subject),
            redact(text),
            extra={"outbox_id": message.id, "topic": message.topic, "attempt": message.attempt},
        )
        return DeliveryResult.success("printed")


class SmtpEmail:
    """One SMTP session per message; STARTTLS and login when configured."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = False,
        timeout_seconds: float = SMTP_TIMEOUT_SECONDS,
        tls_context: ssl.SSLContext | None = None,  # None: the system's trusted CAs
    ) -> None:
        if "@" not in sender:
            raise ValueError(
                f"Config 'HUB_EMAIL_FROM' has value '{sender}'. Must be an e-mail address."
            )
        if not host:
            raise ValueError("Config 'HUB_SMTP_HOST' is empty. HUB_EMAIL_SINK=smtp needs a host.")
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password = password
        self.starttls = starttls
        self.timeout = timeout_seconds
        self.tls_context = tls_context

    def compose(self, message: OutboundMessage, to: str, subject: str, text: str) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = to
        mail["Subject"] = subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = message_id(message.idempotency_key, self.sender)
        mail.set_content(text, charset="utf-8")  # Hindi text: UTF-8, never ASCII
        return mail

    async def deliver(self, message: OutboundMessage) -> DeliveryResult:
        fields = _fields(message)
        if isinstance(fields, DeliveryResult):
            return fields
        to, subject, text = fields
        mail = self.compose(message, to, subject, text)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self.user or None,
                password=self.password or None,
                # False, not None: None lets aiosmtplib upgrade on its own when offered
                start_tls=self.starttls,
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            permanent = all(500 <= code < 600 for code in codes)
            return DeliveryResult.failure(
                f"SMTP refused the recipient ({', '.join(map(str, codes))})", permanent=permanent
            )
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            # a 5xx about this message will be refused again; a 4xx is "try later"
            return DeliveryResult.failure(
                f"SMTP refused the message: {exc.code} {redact(exc.message)[:200]}",
                permanent=500 <= exc.code < 600,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # login, sender or greeting problems are the hub's configuration, not the
            # message's: retry (the circuit breaker holds off) until someone fixes it
            return DeliveryResult.failure(f"SMTP error: {exc.code} {redact(exc.message)[:200]}")
        except (aiosmtplib.SMTPException, OSError) as exc:  # refused, dropped, timed out
            return DeliveryResult.failure(
                f"SMTP failed: {type(exc).__name__}: {redact(str(exc))[:200]}"
            )
        return DeliveryResult.success("sent", external_id=str(mail["Message-ID"]))
