"""What a running hub process holds: its settings, its job queue and its update broker."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.jobs import JobQueue
from hub.pubsub import Broker, InProcessBroker
from hub.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    jobs: JobQueue
    broker: Broker = field(default_factory=InProcessBroker)
