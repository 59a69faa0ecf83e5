"""Database wiring: the Tortoise config, start-up checks and migrations."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.executor import MigrationExecutor

from hub.settings import Settings, sqlite_path

APP = "hub"


class NotMigratedError(RuntimeError):
    """The database lacks migrations this code needs."""


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool still rolls back an open transaction on release; the hub keeps no
    session state (no SET, LISTEN or advisory locks), so the extra RESET ALL round trip
    per release is skipped."""


def tortoise_config(settings: Settings) -> dict[str, Any]:
    url = settings.database_url
    connection: str | dict[str, Any] = url
    if url.startswith("sqlite"):
        path = sqlite_path(settings)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    else:
        if "maxsize=" not in url:
            url += ("&" if "?" in url else "?") + f"minsize=1&maxsize={settings.db_pool_size}"
        connection = expand_db_url(url)
        if "asyncpg" in connection["engine"]:
            connection["credentials"]["reset"] = _keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            APP: {
                "models": ["hub.models"],
                "migrations": "hub.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _config_from_env() -> dict[str, Any]:
    from hub.settings import load_settings

    return tortoise_config(load_settings())


def __getattr__(name: str) -> Any:
    # ``tortoise -c hub.db.TORTOISE_ORM makemigrations`` reads the config lazily.
    if name == "TORTOISE_ORM":
        return _config_from_env()
    raise AttributeError(name)


async def connect(settings: Settings) -> None:
    # Tortoise caches compiled SQL per connection *name*; a process that reconnects the
    # same name to another dialect (the test suite: SQLite, then PostgreSQL) must drop it.
    EXECUTOR_CACHE.clear()
    from hub.services import routing  # a router built from another database is not this one's

    routing.forget()
    # The global fallback lets requests see the context set up by the lifespan task.
    await Tortoise.init(config=tortoise_config(settings), _enable_global_fallback=True)


async def disconnect() -> None:
    await Tortoise.close_connections()


def _executor() -> MigrationExecutor:
    apps_config = {APP: {"models": ["hub.models"], "migrations": "hub.migrations"}}
    return MigrationExecutor(get_connection("default"), apps_config)


async def pending_migrations() -> list[str]:
    """Names of migrations not yet applied on the connected database."""
    steps = await _executor().plan()
    return [f"{step.migration.app_label}.{step.migration.name}" for step in steps]


async def migrate(settings: Settings) -> list[str]:
    """Apply every pending migration; return the names applied."""
    await connect(settings)
    try:
        pending = await pending_migrations()
        if pending:
            await _executor().migrate()
        return pending
    finally:
        await disconnect()


async def require_migrated() -> None:
    pending = await pending_migrations()
    if pending:
        raise NotMigratedError(
            f"The database is not migrated: {len(pending)} pending migration(s) "
            f"({', '.join(pending)}). Run: hub migrate"
        )


def dialect() -> str:
    return str(get_connection("default").capabilities.dialect)
