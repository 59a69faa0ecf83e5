"""What a running hub process holds: its settings, its job queue, its update broker, and
the SMS sink that sends sign-in codes (built from the settings unless one is given)."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base import Connector
from hub.jobs import JobQueue
from hub.pubsub import Broker, InProcessBroker
from hub.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    jobs: JobQueue
    broker: Broker = field(default_factory=InProcessBroker)
    sms: Connector | None = None
