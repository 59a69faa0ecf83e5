"""Registration numbers: human-readable, unique, never reused.

A number is drawn from a per (state, department, year) counter with one
atomic upsert, in its own short transaction, before the filing transaction
starts: concurrent filings never wait on each other's commits. A filing that
then fails leaves a gap in the sequence; a number is never handed out twice.
"""

from __future__ import annotations

import datetime as dt

from tortoise import connections

from hub.settings import Settings

_UPSERT = (
    "INSERT INTO counter (key, value) VALUES ({p}, 1) "
    "ON CONFLICT (key) DO UPDATE SET value = counter.value + 1 RETURNING value"
)


async def next_value(key: str) -> int:
    conn = connections.get("default")
    placeholder = "$1" if conn.capabilities.dialect == "postgres" else "?"
    rows = await conn.execute_query_dict(_UPSERT.format(p=placeholder), [key])
    return int(rows[0]["value"])


async def next_registration_number(
    settings: Settings, department_code: str, when: dt.datetime
) -> str:
    fields = {"state": settings.state_code, "dept": department_code, "year": when.year}
    sequence = await next_value("reg:{state}:{dept}:{year}".format(**fields))
    return settings.registration_format.format(seq=sequence, **fields)
