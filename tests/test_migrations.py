"""Migrations: checked in, complete, and applied the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.migrations.autodetector import MigrationAutodetector
from tortoise.migrations.executor import MigrationTarget

from hub import db
from hub.app import create_app
from hub.models import Escalation, Grievance, GrievanceEvent, OutboxMessage
from hub.services import escalation
from hub.settings import Settings
from tests.conftest import create_pg_database, drop_pg_database, pg_url


async def test_applied_migrations_leave_nothing_pending(settings: Settings) -> None:
    assert await db.pending_migrations() == []
    await db.require_migrated()


async def test_models_have_no_changes_missing_from_migrations(settings: Settings) -> None:
    from tortoise.context import get_current_context

    context = get_current_context()
    assert context is not None and context.apps is not None
    apps_config = {db.APP: {"models": ["hub.models"], "migrations": "hub.migrations"}}
    changes = await MigrationAutodetector(context.apps, apps_config).changes()
    assert changes == [], (
        "models changed without a migration: run "
        "`tortoise -c hub.db.TORTOISE_ORM makemigrations hub -n <what_changed>`"
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_fresh_database_is_refused_until_migrated(
    backend: str, tmp_path: Path, settings: Settings
) -> None:
    pg_name = await create_pg_database() if backend == "postgres" else None
    url = pg_url(pg_name) if pg_name else f"sqlite://{tmp_path / 'fresh.sqlite3'}"
    fresh = settings.replace(database_url=url)
    try:
        app = create_app(fresh)
        with pytest.raises(db.NotMigratedError, match="Run: hub migrate"):
            async with app.router.lifespan_context(app):
                pass
        assert await db.migrate(fresh) == [
            "hub.0001_initial",
            "hub.0002_routing",
            "hub.0003_lifecycle",
            "hub.0004_auth",
            "hub.0005_escalation_apart",
            "hub.0006_outbox_key_unchecked",
        ]
        assert await db.migrate(fresh) == []  # idempotent
    finally:
        await db.connect(settings)  # hand the session its database back
        if pg_name:
            await drop_pg_database(pg_name)


_OLD_ROWS = (
    "INSERT INTO hub_user (id, kind, name, mobile, language, roles, active, created_at,"
    " password_hash, system) VALUES (1, 'citizen', 'Asha', '+919900000001', 'en', '[]', TRUE,"
    " '2026-01-01T00:00:00+00:00', '', ''), (2, 'employee', 'Nodal', '+919900000002', 'en',"
    " '[\"nodal_officer\"]', TRUE, '2026-01-01T00:00:00+00:00', '', '')",
    "INSERT INTO grievance (id, registration_number, citizen_id, channel, description, status,"
    " escalation_level, escalated_to_id, escalate_at, due_at, version, created_at, updated_at,"
    " appeal_level, closure_reason, feedback, reopens, resolution, transfers) VALUES"
    " (1, 'KA-UDD-2026-0000001', 1, 'web', 'Garbage', 'ASSIGNED', 1, 2,"
    " '2026-01-05T00:00:00+00:00', '2026-01-04T00:00:00+00:00', 3, '2026-01-01T00:00:00+00:00',"
    " '2026-01-01T00:00:00+00:00', 0, '', '', 0, '{}', 0)",
    "INSERT INTO grievance_event (id, grievance_id, action, actor_role, to_status, before, after,"
    " note, created_at) VALUES (1, 1, 'FILE', 'citizen', 'PENDING_ASSIGNMENT', '{}', '{}', '',"
    " '2026-01-01T00:00:00+00:00')",
)


@contextlib.asynccontextmanager
async def _at_0004_with_rows(
    backend: str, tmp_path: Path, settings: Settings
) -> AsyncIterator[BaseDBAsyncClient]:
    """A database of this backend migrated to 0004 and holding ``_OLD_ROWS``, connected for
    the block; the session's own database is connected again after it."""
    pg_name = await create_pg_database() if backend == "postgres" else None
    url = pg_url(pg_name) if pg_name else f"sqlite://{tmp_path / 'old.sqlite3'}"
    try:
        await db.connect(settings.replace(database_url=url))
        conn = connections.get("default")
        await db._executor().migrate([MigrationTarget("hub", "0004_auth")])
        for statement in _OLD_ROWS:
            await conn.execute_query(statement)
        yield conn
    finally:
        await db.connect(settings)  # hand the session its database back
        if pg_name:
            await drop_pg_database(pg_name)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_escalations_move_to_their_own_rows_with_nothing_lost(
    backend: str, tmp_path: Path, settings: Settings
) -> None:
    """0005 on a database with grievances: each one's ladder is copied as it stood, and on
    SQLite (which rebuilds the table) the timeline still points at it and keys are back on."""
    async with _at_0004_with_rows(backend, tmp_path, settings):
        await db._executor().migrate()
        ladder = await Escalation.get(grievance_id=1)
        assert (ladder.level, ladder.officer_id) == (1, 2)
        assert ladder.escalate_at == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        assert ladder.due_at == dt.datetime(2026, 1, 4, tzinfo=dt.UTC)
        row = await escalation.attached(await Grievance.get(id=1))
        assert (row.version, row.escalation_level, row.escalated_to_id) == (3, 1, 2)
        assert await GrievanceEvent.filter(grievance_id=1).count() == 1
        with pytest.raises(IntegrityError):  # the timeline's RESTRICT holds again
            await Grievance.filter(id=1).delete()


_OUTBOX_ROWS = (
    "INSERT INTO outbox_message (grievance_id, connector, topic, payload, idempotency_key,"
    " status, attempts, next_attempt_at, last_error, created_at) VALUES"
    " (1, 'sms', 'notify.filed', '{\"to\": \"+919900000001\"}', 'KA-UDD-2026-0000001:1:1:sms',"
    " 'PENDING', 0, '2026-01-01T00:00:00+00:00', '', '2026-01-01T00:00:00+00:00'),"
    " (NULL, 'email', 'notify.summary', '{}', 'summary:2026-01-01:2:email', 'DEAD', 5,"
    " '2026-01-01T00:00:00+00:00', 'refused', '2026-01-01T00:00:00+00:00')"
)
_OUTBOX_INDEXES = {"idx_outbox_mess_status_4d04e0", "idx_outbox_mess_grievan_7df6a4"}


async def _outbox_catalogue() -> tuple[bool, set[str]]:
    """Whether the outbox's grievance key is a constraint, and the outbox's index names."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        _, keys = await conn.execute_query(
            "SELECT 1 FROM pg_constraint WHERE conrelid = 'outbox_message'::regclass"
            " AND contype = 'f'"
        )
        _, indexes = await conn.execute_query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'outbox_message'"
        )
        return bool(keys), {row["indexname"] for row in indexes}
    _, keys = await conn.execute_query("PRAGMA foreign_key_list(outbox_message)")
    _, indexes = await conn.execute_query("PRAGMA index_list(outbox_message)")
    return bool(keys), {row["name"] for row in indexes}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_outbox_key_goes_unchecked_with_every_message_kept(
    backend: str, tmp_path: Path, settings: Settings
) -> None:
    """0006 on a database with messages: the rows, their ids and the dispatcher's indexes
    stay, new ids carry on after the old; undone, the constraint is back."""
    async with _at_0004_with_rows(backend, tmp_path, settings) as conn:
        await db._executor().migrate([MigrationTarget("hub", "0005_escalation_apart")])
        await conn.execute_query(_OUTBOX_ROWS)
        assert (await _outbox_catalogue())[0]
        await db._executor().migrate()
        checked, indexes = await _outbox_catalogue()
        assert not checked and indexes >= _OUTBOX_INDEXES
        rows = (
            await OutboxMessage.all()
            .order_by("id")
            .values_list("id", "grievance_id", "idempotency_key", "status", "attempts", "payload")
        )
        assert rows == [
            (1, 1, "KA-UDD-2026-0000001:1:1:sms", "PENDING", 0, {"to": "+919900000001"}),
            (2, None, "summary:2026-01-01:2:email", "DEAD", 5, {}),
        ]
        later = await OutboxMessage.create(
            grievance_id=1, connector="sms", topic="notify.x", payload={},
            idempotency_key="later", next_attempt_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        assert later.id == 3
        await db._executor().migrate([MigrationTarget("hub", "0005_escalation_apart")])
        checked, indexes = await _outbox_catalogue()
        assert checked and indexes >= _OUTBOX_INDEXES
        assert await OutboxMessage.all().count() == 3
