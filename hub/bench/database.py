"""The benchmark database: re-created, migrated and loaded with the sample rules."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

from hub.bench.servers import run_hub_command
from hub.bench.workload import CITIZEN_MOBILE
from hub.enums import Role, UserKind
from hub.settings import Settings

SAMPLE_RULES = Path(__file__).resolve().parent.parent.parent / "routing_rules" / "sample"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = frozenset({"postgres", "template0", "template1"})
FILING_TABLES = ("outbox_message", "external_link", "attachment", "grievance_event", "grievance")


class BenchDatabaseError(ValueError):
    """The benchmark database URL cannot be used."""


def checked_url(url: str, settings: Settings) -> str:
    """The URL as ``postgres://...``; refuses anything but a throwaway PostgreSQL database."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise BenchDatabaseError(f"--database-url must be a postgres:// URL, not {url!r}")
    name = database_name(url)
    if not _NAME.match(name) or name in _RESERVED:
        raise BenchDatabaseError(
            f"--database-url names database {name!r}; use a lower-case name of its own, "
            "such as hub_bench (it is dropped and re-created)"
        )
    if not settings.is_sqlite and _where(url) == _where(settings.database_url):
        raise BenchDatabaseError(
            f"--database-url names HUB_DATABASE_URL's database {name!r}; the benchmark "
            "drops its database, so give it another one"
        )
    return urlunsplit(parts._replace(scheme="postgres"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _where(url: str) -> tuple[str | None, int | None, str]:
    parts = urlsplit(url)
    return parts.hostname, parts.port, database_name(url)


async def recreate(url: str) -> None:
    name = database_name(url)
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def prepare(url: str, env: Mapping[str, str]) -> int:
    """Migrate, load the sample rules and create the citizen; return the citizen's id."""
    await run_hub_command(("migrate",), env)
    await run_hub_command(("rules", "load", str(SAMPLE_RULES)), env)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        citizen_id: int = await conn.fetchval(
            "INSERT INTO hub_user (kind, name, mobile, language, roles, active, created_at)"
            " VALUES ($1, 'Bench Citizen', $2, 'en', $3, true, now()) RETURNING id",
            str(UserKind.CITIZEN),
            CITIZEN_MOBILE,
            json.dumps([str(Role.CITIZEN)]),
        )
        return citizen_id
    finally:
        await conn.close()


async def reset_filings(url: str) -> None:
    """Empty the filing tables and the counters, and checkpoint, so each run starts alike."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f"TRUNCATE {', '.join(FILING_TABLES)} RESTART IDENTITY")
        await conn.execute("DELETE FROM counter")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def filing_counts(url: str) -> dict[str, int]:
    """Rows a run left: grievances, events, outbox rows and how many were delivered."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM grievance) AS grievances,"
            " (SELECT count(*) FROM grievance_event) AS events,"
            " (SELECT count(*) FROM outbox_message) AS outbox,"
            " (SELECT count(*) FROM outbox_message WHERE status = 'DELIVERED') AS delivered"
        )
        return {key: int(value) for key, value in dict(row).items()}
    finally:
        await conn.close()
