"""``hub bench seed``: a PostgreSQL database with N grievances, fast.

Migrates, loads the sample taxonomy, then writes officers (LMEs and GROs per
office; nodal officers and a HoD per department), operators, N/5 citizens and
N grievances with one FILE event each, through asyncpg COPY in chunks. Filing
moments run over the past two years in id order. Open grievances
(PENDING_ASSIGNMENT, ASSIGNED) are ``--open-share`` of them, the rest RESOLVED
or CLOSED; ``--due-share`` of the open ones are already past ``escalate_at``
(set apart from ``due_at`` so the share can be chosen). The grievance and
timeline tables' plain indexes and foreign keys are dropped for the load and
restored after it in the same transaction, as a restore does: each index built
and each reference checked in one pass. The registration counters
end past every number written, so later filings never collide.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from hub import db
from hub.bench import database
from hub.enums import Action, Channel, GrievanceStatus, Role, UserKind
from hub.settings import Settings

YEAR_SECONDS = 365 * 86400
SPAN_SECONDS = 2 * YEAR_SECONDS
CHUNK = 20_000
GROS_PER_OFFICE = 2
NODAL_PER_DEPARTMENT = 2
OPERATORS = 5
HINDI_SHARE = 0.3
ASSIGNED_SHARE_OF_OPEN = 0.6
RESOLVED_SHARE_OF_ANSWERED = 0.4
CLOSURE_REASONS = ("RESOLVED", "PARTIALLY_RESOLVED", "NOT_IN_JURISDICTION", "POLICY_MATTER")
CHANNELS: tuple[tuple[Channel, float], ...] = (
    (Channel.WEB, 0.35),
    (Channel.APP, 0.25),
    (Channel.WHATSAPP, 0.15),
    (Channel.CALL_CENTRE, 0.15),
    (Channel.CSC, 0.10),
)
ON_BEHALF = frozenset({Channel.CALL_CENTRE, Channel.CSC})
PLACES = (
    "near the bus stop",
    "behind the school",
    "on the main road",
    "in our lane",
    "by the park",
)
COMPLAINTS = (
    "{what} {where} for over a week; nobody has come.",
    "{what} {where}. Complained twice already, please act.",
    "Please look into this: {what} {where}.",
    "{what} {where}, elderly residents are suffering.",
)

GRIEVANCE_COLUMNS = (
    "id",
    "registration_number",
    "citizen_id",
    "filed_by_id",
    "channel",
    "category_id",
    "department_id",
    "office_id",
    "boundary_id",
    "latitude",
    "longitude",
    "address",
    "description",
    "status",
    "assignee_id",
    "transfers",
    "reopens",
    "appeal_level",
    "resolution",
    "closure_reason",
    "rating",
    "feedback",
    "answered_at",
    "closed_at",
    "due_at",
    "version",
    "created_at",
    "updated_at",
)
LADDER_COLUMNS = ("grievance_id", "level", "officer_id", "escalate_at", "due_at")
EVENT_COLUMNS = (
    "grievance_id",
    "action",
    "actor_id",
    "actor_role",
    "actor_office_id",
    "from_status",
    "to_status",
    "before",
    "after",
    "note",
    "created_at",
)
USER_COLUMNS = (
    "id",
    "kind",
    "name",
    "mobile",
    "email",
    "language",
    "roles",
    "office_id",
    "department_id",
    "active",
    "created_at",
)
LOADED_TABLES = ("grievance", "grievance_escalation", "grievance_event")
_PLAIN_INDEXES = """
SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = $1::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""
_FOREIGN_KEYS = """
SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
WHERE conrelid = $1::regclass AND contype = 'f' ORDER BY conname
"""
_COUNTER_UPSERT = (
    "INSERT INTO counter (key, value) VALUES ($1, $2) "
    "ON CONFLICT (key) DO UPDATE SET value = GREATEST(counter.value, EXCLUDED.value)"
)


class SeedError(RuntimeError):
    """The database cannot be seeded as asked."""


@dataclass(frozen=True)
class SeedOptions:
    grievances: int
    database_url: str
    recreate: bool = False
    open_share: float = 0.85
    due_share: float = 0.3
    citizens: int | None = None  # default: one per five grievances
    lmes_per_office: int | None = None  # default: scaled with N (2 to 20)
    chunk: int = CHUNK
    seed: int = 7

    @property
    def citizen_count(self) -> int:
        return self.citizens or max(10, self.grievances // 5)

    @property
    def lme_count(self) -> int:
        return self.lmes_per_office or min(20, max(2, self.grievances // 50_000))


@dataclass
class SeedReport:
    grievances: int = 0
    events: int = 0
    citizens: int = 0
    staff: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    due: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    index_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "grievances": self.grievances,
            "events": self.events,
            "citizens": self.citizens,
            "staff": self.staff,
            "statuses": dict(sorted(self.statuses.items())),
            "due": self.due,
            "seconds": round(self.seconds, 1),
            "load_seconds": round(self.load_seconds, 1),
            "index_seconds": round(self.index_seconds, 1),
        }


@dataclass(frozen=True)
class Category:
    id: int
    code: str
    name: str
    department_id: int
    department_code: str
    sla_days: int
    offices: tuple[int, ...]


@dataclass
class World:
    """What grievances are spread over: categories, offices, their places and people."""

    categories: list[Category]
    office_boundaries: dict[int, list[int]]
    office_codes: dict[int, str]
    lmes: dict[int, list[int]] = field(default_factory=dict)  # office id -> user ids
    operators: list[int] = field(default_factory=list)
    first_citizen: int = 0
    citizens: int = 0


def mobile(index: int) -> str:
    """A distinct valid Indian mobile for each index below 1e9: +91 9, then 9 digits. The 9
    series is allocated whole; parts of the 6, 7 and 8 series are not, and libphonenumber
    (which the hub's search checks numbers against) refuses those."""
    return f"+91{9_000_000_000 + (index * 7919 + 104_729) % 1_000_000_000}"


def run_seed(settings: Settings, options: SeedOptions) -> int:
    try:
        report = asyncio.run(seed(settings, options, progress=_say))
    except (database.BenchDatabaseError, SeedError) as exc:
        print(f"hub bench seed: {exc}", file=sys.stderr)
        return 2
    print(
        f"seeded {report.grievances} grievances ({_statuses(report)}; {report.due} open past "
        f"escalate_at), {report.events} FILE events, {report.citizens} citizens, "
        f"{report.staff} staff in {report.seconds:.1f} s "
        f"(COPY {report.load_seconds:.1f} s, indexes and keys {report.index_seconds:.1f} s)"
    )
    print(json.dumps({"benchmark": "seed", **report.as_dict()}))
    return 0


async def seed(
    settings: Settings, options: SeedOptions, progress: Callable[[str], None] | None = None
) -> SeedReport:
    say = progress or (lambda message: None)
    if options.grievances < 1:
        raise SeedError("--grievances must be at least 1")
    if not (0 <= options.open_share <= 1 and 0 <= options.due_share <= 1):
        raise SeedError("--open-share and --due-share are shares between 0 and 1")
    if options.recreate:
        url = database.checked_url(options.database_url, settings)
    elif options.database_url.split("://", 1)[0] in {"postgres", "postgresql"}:
        url = options.database_url
    else:
        raise SeedError(f"--database-url must be a postgres:// URL, not {options.database_url!r}")
    started = time.perf_counter()
    target = settings.replace(database_url=url)
    if options.recreate:
        say(f"re-creating {target.database_url_redacted} ...")
        await database.recreate(url)
    await db.migrate(target)
    await _load_sample_rules(target)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await _require_empty(conn)
        report = SeedReport()
        world = await _world(conn)
        rng = random.Random(options.seed)
        await _users(conn, world, options, rng, report)
        say(f"{report.staff} staff and {report.citizens} citizens written")
        await _grievances(conn, settings, world, options, rng, report, say)
        say("analyzing ...")
        for table in ("hub_user", *LOADED_TABLES):
            await conn.execute(f"ANALYZE {table}")
    finally:
        await conn.close()
    report.seconds = time.perf_counter() - started
    return report


async def _load_sample_rules(settings: Settings) -> None:
    from hub.services.taxonomy import load_rule_set
    from routing_rules.rules import read_rules

    await db.connect(settings)
    try:
        await load_rule_set(read_rules(database.SAMPLE_RULES))
    finally:
        await db.disconnect()


async def _require_empty(conn: Any) -> None:
    busy = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM grievance) OR EXISTS (SELECT 1 FROM hub_user)"
    )
    if busy:
        raise SeedError(
            "the database already holds users or grievances; seed a fresh one "
            "(--recreate drops and re-creates it)"
        )


async def _world(conn: Any) -> World:
    nodes = await conn.fetch(
        "SELECT n.id, n.code, n.names, n.sla_days, n.department_id, d.code AS department_code,"
        " EXISTS (SELECT 1 FROM taxonomy_node c WHERE c.parent_id = n.id AND c.active)"
        " AS has_children"
        " FROM taxonomy_node n JOIN department d ON d.id = n.department_id"
        " WHERE n.active AND d.active ORDER BY n.code"
    )
    parents = {
        row["code"]: row["parent"]
        for row in await conn.fetch(
            "SELECT n.code, p.code AS parent FROM taxonomy_node n"
            " LEFT JOIN taxonomy_node p ON p.id = n.parent_id"
        )
    }
    offices = await conn.fetch(
        "SELECT id, code, department_id, is_headquarters, categories FROM office WHERE active"
        " ORDER BY code"
    )
    covered: dict[int, list[int]] = defaultdict(list)
    for row in await conn.fetch("SELECT office_id, boundary_id FROM office_boundary"):
        covered[row["office_id"]].append(row["boundary_id"])
    children: dict[int, list[int]] = defaultdict(list)
    every_boundary = []
    for row in await conn.fetch("SELECT id, parent_id FROM boundary WHERE active ORDER BY id"):
        every_boundary.append(row["id"])
        if row["parent_id"] is not None:
            children[row["parent_id"]].append(row["id"])
    office_boundaries = {
        row["id"]: (_below(covered[row["id"]], children) if covered[row["id"]] else every_boundary)
        for row in offices
    }
    categories = []
    for row in nodes:
        if row["has_children"]:
            continue
        lineage = set(_lineage(row["code"], parents))
        eligible = tuple(
            office["id"]
            for office in offices
            if office["department_id"] == row["department_id"]
            and (not _codes(office["categories"]) or lineage & set(_codes(office["categories"])))
        )
        if not eligible:
            continue
        names = _json_object(row["names"])
        categories.append(
            Category(
                id=row["id"],
                code=row["code"],
                name=str(names.get("en") or row["code"]),
                department_id=row["department_id"],
                department_code=row["department_code"],
                sla_days=row["sla_days"] or 30,
                offices=eligible,
            )
        )
    if not categories:
        raise SeedError("no active leaf category has an office; load a taxonomy with offices")
    return World(
        categories=categories,
        office_boundaries=office_boundaries,
        office_codes={row["id"]: row["code"] for row in offices},
    )


def _lineage(code: str, parents: dict[str, str | None]) -> Iterator[str]:
    current: str | None = code
    while current is not None:
        yield current
        current = parents.get(current)


def _below(roots: list[int], children: dict[int, list[int]]) -> list[int]:
    out, stack = [], list(roots)
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(children.get(node, ()))
    return sorted(out)


def _json_object(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return value if isinstance(value, dict) else {}


def _codes(raw: Any) -> list[str]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return [str(code) for code in value] if isinstance(value, list) else []


async def _users(
    conn: Any, world: World, options: SeedOptions, rng: random.Random, report: SeedReport
) -> None:
    now = dt.datetime.now(dt.UTC)
    offices = await conn.fetch(
        "SELECT o.id, o.code, o.department_id, o.is_headquarters, d.code AS department_code"
        " FROM office o JOIN department d ON d.id = o.department_id WHERE o.active ORDER BY o.code"
    )
    rows: list[tuple[Any, ...]] = []

    def staff(name: str, roles: Sequence[Role], office: Any, department_id: int | None) -> int:
        user_id = len(rows) + 1
        language = "hi" if rng.random() < HINDI_SHARE else "en"
        rows.append(
            (
                user_id,
                str(UserKind.EMPLOYEE),
                name,
                mobile(user_id),
                None,
                language,
                json.dumps([str(role) for role in roles]),
                office,
                department_id,
                True,
                now,
            )
        )
        return user_id

    headquarters: dict[int, int] = {}
    for office in offices:
        if office["is_headquarters"] or office["department_id"] not in headquarters:
            headquarters[office["department_id"]] = office["id"]
        world.lmes[office["id"]] = [
            staff(
                f"LME {k + 1}, {office['code']}", [Role.LME], office["id"], office["department_id"]
            )
            for k in range(options.lme_count)
        ]
        for k in range(GROS_PER_OFFICE):
            staff(
                f"GRO {k + 1}, {office['code']}", [Role.GRO], office["id"], office["department_id"]
            )
    codes = {office["department_id"]: office["department_code"] for office in offices}
    for department_id, office_id in sorted(headquarters.items()):
        for k in range(NODAL_PER_DEPARTMENT):
            staff(
                f"Nodal officer {k + 1}, {codes[department_id]}",
                [Role.NODAL_OFFICER],
                office_id,
                department_id,
            )
        staff(f"HoD, {codes[department_id]}", [Role.HOD], office_id, department_id)
    world.operators = [
        staff(f"Operator {k + 1}", [Role.OPERATOR], None, None) for k in range(OPERATORS)
    ]
    report.staff = len(rows)
    await _copy_users(conn, rows)

    world.first_citizen = len(rows) + 1
    world.citizens = options.citizen_count
    citizen_roles = json.dumps([str(Role.CITIZEN)])
    kind = str(UserKind.CITIZEN)
    for start in range(0, world.citizens, options.chunk):
        batch = []
        for k in range(start, min(start + options.chunk, world.citizens)):
            user_id = world.first_citizen + k
            batch.append(
                (
                    user_id,
                    kind,
                    f"Citizen {k + 1}",
                    mobile(user_id),
                    None,
                    "hi" if rng.random() < HINDI_SHARE else "en",
                    citizen_roles,
                    None,
                    None,
                    True,
                    now - dt.timedelta(seconds=rng.random() * SPAN_SECONDS),
                )
            )
        await _copy_users(conn, batch)
    report.citizens = world.citizens
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('hub_user', 'id'), (SELECT max(id) FROM hub_user))"
    )


# text columns the ORM fills with a default ('' for a password hash) are NOT NULL without a
# database default: COPY writes the ORM's empty text into each one it finds
_UNLISTED_TEXT = """
SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'hub_user' AND is_nullable = 'NO'
  AND column_default IS NULL AND data_type IN ('character varying', 'text')
  AND NOT column_name = ANY($1::text[])
ORDER BY ordinal_position
"""


async def _copy_users(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    extra = [r["column_name"] for r in await conn.fetch(_UNLISTED_TEXT, list(USER_COLUMNS))]
    blanks = ("",) * len(extra)
    await conn.copy_records_to_table(
        "hub_user", records=[row + blanks for row in rows], columns=(*USER_COLUMNS, *extra)
    )


async def _grievances(
    conn: Any,
    settings: Settings,
    world: World,
    options: SeedOptions,
    rng: random.Random,
    report: SeedReport,
    say: Callable[[str], None],
) -> None:
    await conn.execute("SET maintenance_work_mem = '256MB'")
    first_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM grievance"))
    sequences: Counter[tuple[str, int]] = Counter()
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    async with conn.transaction():
        # bulk-load like a restore: plain indexes and foreign keys come back after the rows,
        # built and checked in one pass each (an invalid reference fails the whole load)
        dropped, references = [], []
        for table in LOADED_TABLES:
            for row in await conn.fetch(_PLAIN_INDEXES, table):
                dropped.append(row["definition"])
                await conn.execute(f'DROP INDEX "{row["name"]}"')
            for row in await conn.fetch(_FOREIGN_KEYS, table):
                references.append(
                    f'ALTER TABLE {table} ADD CONSTRAINT "{row["name"]}" {row["definition"]}'
                )
                await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{row["name"]}"')
        maker = _RowMaker(settings, world, options, rng, now, sequences)
        for start in range(0, options.grievances, options.chunk):
            count = min(options.chunk, options.grievances - start)
            grievances, ladders, events = maker.chunk(first_id + start, start, count)
            await conn.copy_records_to_table(
                "grievance", records=grievances, columns=GRIEVANCE_COLUMNS
            )
            await conn.copy_records_to_table(
                "grievance_escalation", records=ladders, columns=LADDER_COLUMNS
            )
            await conn.copy_records_to_table(
                "grievance_event", records=events, columns=EVENT_COLUMNS
            )
            report.grievances += len(grievances)
            report.events += len(events)
            say(
                f"  {report.grievances}/{options.grievances} grievances "
                f"({time.perf_counter() - started:.1f} s)"
            )
        report.load_seconds = time.perf_counter() - started
        say(f"rebuilding {len(dropped)} indexes ...")
        indexed = time.perf_counter()
        for definition in dropped:
            await conn.execute(definition)
        say(f"checking {len(references)} foreign keys ...")
        for definition in references:
            await conn.execute(definition)
        report.index_seconds = time.perf_counter() - indexed
        for (department, year), value in sorted(sequences.items()):
            key = f"reg:{settings.state_code}:{department}:{year}"
            await conn.execute(_COUNTER_UPSERT, key, value)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('grievance', 'id'),"
            " (SELECT max(id) FROM grievance))"
        )
    report.statuses = maker.statuses
    report.due = maker.due


class _RowMaker:
    """Grievance and FILE event rows, in filing order."""

    def __init__(
        self,
        settings: Settings,
        world: World,
        options: SeedOptions,
        rng: random.Random,
        now: dt.datetime,
        sequences: Counter[tuple[str, int]],
    ) -> None:
        self.settings = settings
        self.world = world
        self.options = options
        self.rng = rng
        self.now = now
        self.origin = now - dt.timedelta(seconds=SPAN_SECONDS)
        self.step = SPAN_SECONDS / options.grievances
        self.sequences = sequences
        self.statuses: Counter[str] = Counter()
        self.due = 0
        self.channels = [channel for channel, _ in CHANNELS]
        self.channel_weights = [weight for _, weight in CHANNELS]

    def chunk(
        self, first_id: int, first_index: int, count: int
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        grievances: list[tuple[Any, ...]] = []
        ladders: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        channels = self.rng.choices(self.channels, self.channel_weights, k=count)
        for k in range(count):
            grievance, ladder, event = self.row(first_id + k, first_index + k, channels[k])
            grievances.append(grievance)
            ladders.append(ladder)
            events.append(event)
        return grievances, ladders, events

    def row(
        self, grievance_id: int, index: int, channel: Channel
    ) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
        rng, world, options = self.rng, self.world, self.options
        filed = self.origin + dt.timedelta(seconds=(index + rng.random()) * self.step)
        category = rng.choice(world.categories)
        office = rng.choice(category.offices)
        boundary = rng.choice(world.office_boundaries[office])
        citizen = world.first_citizen + rng.randrange(world.citizens)
        filed_by = rng.choice(world.operators) if channel in ON_BEHALF else None
        due = filed + dt.timedelta(days=category.sla_days)

        status = GrievanceStatus.PENDING_ASSIGNMENT
        assignee: int | None = None
        escalate_at = answered = closed = rating = None
        resolution, reason = "{}", ""
        if rng.random() < options.open_share:
            if rng.random() < ASSIGNED_SHARE_OF_OPEN:
                status, assignee = GrievanceStatus.ASSIGNED, rng.choice(world.lmes[office])
            if rng.random() < options.due_share:
                escalate_at = filed + (self.now - filed) * rng.random()  # between filing and now
                self.due += 1
            else:
                escalate_at = self.now + dt.timedelta(seconds=3600 + rng.random() * 14 * 86400)
        else:
            assignee = rng.choice(world.lmes[office])
            answered = min(
                filed + dt.timedelta(days=category.sla_days * (0.2 + 1.3 * rng.random())),
                self.now,
            )
            reason = rng.choice(CLOSURE_REASONS)
            resolution = json.dumps(
                {
                    "text": "Inspected and attended to.",
                    "closure_reason": reason,
                    "by": assignee,
                    "at": answered.isoformat(),
                },
                separators=(",", ":"),
            )
            status = GrievanceStatus.RESOLVED
            if rng.random() >= RESOLVED_SHARE_OF_ANSWERED:
                status = GrievanceStatus.CLOSED
                closed = min(answered + dt.timedelta(seconds=rng.random() * 7 * 86400), self.now)
                rating = rng.randint(1, 5)
        self.statuses[status] += 1

        key = (category.department_code, filed.year)
        self.sequences[key] += 1
        number = self.settings.registration_format.format(
            state=self.settings.state_code,
            dept=category.department_code,
            year=filed.year,
            seq=self.sequences[key],
        )
        what = category.name
        description = rng.choice(COMPLAINTS).format(what=what, where=rng.choice(PLACES))
        updated = closed or answered or filed
        grievance = (
            grievance_id,
            number,
            citizen,
            filed_by,
            str(channel),
            category.id,
            category.department_id,
            office,
            boundary,
            None,
            None,
            f"{rng.randint(1, 400)}, {rng.randint(1, 30)}th Cross",
            description,
            str(status),
            assignee,
            0,
            0,
            0,
            resolution,
            reason,
            rating,
            "",
            answered,
            closed,
            due,
            1,
            filed,
            updated,
        )
        filed_status = (
            GrievanceStatus.PENDING_ASSIGNMENT if assignee is None else GrievanceStatus.ASSIGNED
        )
        after = json.dumps(
            {
                "registration_number": number,
                "status": str(filed_status),
                "channel": str(channel),
                "category": category.code,
                "department": category.department_code,
                "office": world.office_codes[office],
                "due_at": due.isoformat(),
                "filed_at": filed.isoformat(),
            },
            separators=(",", ":"),
        )
        event = (
            grievance_id,
            str(Action.FILE),
            filed_by or citizen,
            str(Role.OPERATOR if filed_by else Role.CITIZEN),
            None,
            None,
            str(filed_status),
            "{}",
            after,
            "",
            filed,
        )
        return grievance, (grievance_id, 0, None, escalate_at, due), event


def _statuses(report: SeedReport) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(report.statuses.items()))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
