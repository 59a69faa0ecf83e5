"""Migrations: checked in, complete, and applied the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise.migrations.autodetector import MigrationAutodetector

from hub import db
from hub.app import create_app
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
        ]
        assert await db.migrate(fresh) == []  # idempotent
    finally:
        await db.connect(settings)  # hand the session its database back
        if pg_name:
            await drop_pg_database(pg_name)
