"""``hub serve`` in production mode on loopback, as the fuzz tests and ``make audit`` meet it.

One recipe for both:

- a temporary SQLite file (production refuses SQLite unless told; the fuzz is about the
  HTTP and GraphQL surface, which is the same on PostgreSQL), migrated and loaded with the
  sample rules by the ``hub`` command, as an operator does;
- demo officers, citizens and grievances, and fresh tokens for a few actors, written by
  ``tests/fuzzing/seed.py`` in a child process with the server's settings;
- ``hub serve`` in a child process on a free port, its SMS gateway and SMTP server on
  closed loopback ports (so nothing leaves the machine and every send fails, as a real
  outage would), its JSON log kept in a file to look for tracebacks afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RULES = ROOT / "routing_rules" / "sample"
START_SECONDS = 30.0
# Rate limits high enough that a fuzz run measures the API, not the 429s (the most the
# settings allow); a separate server with low limits checks the 429s themselves.
UNLIMITED = {"HUB_RATE_LIMIT_PER_IP": "1000000", "HUB_RATE_LIMIT_PER_ACTOR": "1000000"}


def free_port() -> int:
    """A port nobody listens on now (the kernel's pick; free until someone binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class HubFailed(RuntimeError):
    """A step of the recipe failed; the message holds its output."""


@dataclass
class Server:
    """A running ``hub serve``."""

    url: str  # http://127.0.0.1:PORT
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def log_problems(self) -> list[str]:
        """Log lines of our own failures: error-level records and tracebacks. (Refused
        requests log at info; a failed resolver or a 500 logs at error with its trace.)"""
        problems = []
        for line in self.log_lines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"level": "", "msg": line}
            if not isinstance(entry, dict):
                continue
            level = str(entry.get("level", "")).lower()
            if level in {"error", "critical"} or "Traceback" in line:
                problems.append(line)
        return problems

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Hub:
    """A prepared database and the environment that serves it (see the module's doc)."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    targets: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def prepare(cls, workdir: Path) -> Hub:
        workdir.mkdir(parents=True, exist_ok=True)
        hub = cls(workdir, production_env(workdir))
        hub.run("migrate")
        hub.run("rules", "load", str(SAMPLE_RULES))
        hub.targets = hub.seed("prepare")["targets"]
        return hub

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        """A ``hub`` command in a child process; its output, or ``HubFailed``."""
        return _run([sys.executable, "-m", "hub.cli", *args], env or self.env)

    def seed(self, command: str) -> dict[str, Any]:
        out = _run([sys.executable, "-m", "tests.fuzzing.seed", command], self.env)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result

    def tokens(self) -> dict[str, str]:
        """Access tokens (15 minutes) for the actors of ``seed.ACTORS``, signed in now."""
        tokens: dict[str, str] = self.seed("tokens")["tokens"]
        return tokens

    @contextlib.contextmanager
    def serve(self, **overrides: str) -> Iterator[Server]:
        """``hub serve`` with this environment plus ``overrides`` (HUB_* variables)."""
        port = free_port()
        env = {
            **self.env,
            "HUB_PORT": str(port),
            "HUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **overrides,
        }
        log_path = self.workdir / f"serve-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = Server(f"http://127.0.0.1:{port}", log_path, process)
        try:
            _wait_until_up(server)
            yield server
        finally:
            server.stop()


def production_env(workdir: Path) -> dict[str, str]:
    """Production mode on a SQLite file in ``workdir``; nothing inherited from ``HUB_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        {
            "HUB_ENV": "production",
            "HUB_DATABASE_URL": f"sqlite://{workdir / 'hub.sqlite3'}",
            "HUB_ALLOW_SQLITE_IN_PRODUCTION": "true",
            "HUB_SECRET_KEY": secrets.token_urlsafe(48),
            "HUB_SMS_SINK": "http",
            "HUB_SMS_GATEWAY_URL": f"http://127.0.0.1:{free_port()}/sms",
            "HUB_EMAIL_SINK": "smtp",
            "HUB_SMTP_HOST": "127.0.0.1",
            "HUB_SMTP_PORT": str(free_port()),
            "HUB_STORAGE_DIR": str(workdir / "attachments"),
            "HUB_LOG_FORMAT": "json",
            "HUB_LOG_LEVEL": "info",
            **UNLIMITED,
        }
    )
    return env


def _run(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise HubFailed(
            f"{' '.join(command[2:])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    tail = "\n".join(server.log_lines()[-30:])
    raise HubFailed(f"hub serve did not come up at {server.url}:\n{tail}")
