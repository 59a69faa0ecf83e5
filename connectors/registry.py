"""The explicit list of connectors a deployment may use, by name.

External systems are named in ``HUB_CONNECTORS``: every grievance event goes
to each of them. The ``sms`` and ``email`` channels are always present and
carry only notifications addressed to them; their sinks come from
``HUB_SMS_SINK`` and ``HUB_EMAIL_SINK``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connectors.base import Connector
from connectors.email import ConsoleEmail, SmtpEmail
from connectors.log import LogConnector
from connectors.sms import ConsoleSms, HttpSms
from hub.settings import Settings

FACTORIES: Mapping[str, Callable[[Settings], Connector]] = {
    "log": lambda settings: LogConnector(),
}

SMS_SINKS: Mapping[str, Callable[[Settings], Connector]] = {
    "console": lambda settings: ConsoleSms(),
    "http": lambda s: HttpSms(s.sms_gateway_url, s.sms_gateway_key, s.sms_sender_id),
}

EMAIL_SINKS: Mapping[str, Callable[[Settings], Connector]] = {
    "console": lambda settings: ConsoleEmail(),
    "smtp": lambda s: SmtpEmail(
        s.smtp_host,
        s.smtp_port,
        s.email_from,
        user=s.smtp_user,
        password=s.smtp_password,
        starttls=s.smtp_starttls,
    ),
}

CHANNELS = ("sms", "email")


class UnknownConnectorError(ValueError):
    pass


def build_registry(settings: Settings) -> dict[str, Connector]:
    """The external systems named in ``settings.connectors``, plus ``sms`` and ``email``."""
    names = settings.connectors
    channels = [name for name in names if name in CHANNELS]
    if channels:
        # an external-system connector gets every grievance event; a channel cannot take them
        raise UnknownConnectorError(
            f"Config 'HUB_CONNECTORS' names {', '.join(channels)}, which is a notification "
            "channel, not an external system: set HUB_SMS_SINK / HUB_EMAIL_SINK instead."
        )
    unknown = [name for name in names if name not in FACTORIES]
    if unknown:
        raise UnknownConnectorError(
            f"Config 'HUB_CONNECTORS' names unknown connector(s): {', '.join(unknown)}. "
            f"Known: {', '.join(sorted(FACTORIES))}."
        )
    registry = {name: FACTORIES[name](settings) for name in names}
    registry["sms"] = SMS_SINKS[settings.sms_sink](settings)
    registry["email"] = EMAIL_SINKS[settings.email_sink](settings)
    return registry
