"""What a running hub process holds: its settings and its job queue."""

from __future__ import annotations

from dataclasses import dataclass

from hub.jobs import JobQueue
from hub.settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    jobs: JobQueue
