"""``hub bench lifecycle`` and ``hub bench escalation`` on a seeded database.

lifecycle: serves the hub (``hub serve``, dev mode) on a database written by
``hub bench seed`` and times three read operations over HTTP GraphQL, each
beside the same read issued directly with asyncpg in the same run, with the
same clients and the same inputs:

- inbox: the LME with the most open assigned grievances pages through their
  inbox, 20 at a time (page 1, then the cursor the previous page returned);
- tracking: a GRO of the grievance's office looks up a random registration
  number (a GRO sees their own office's grievances);
- search: the busiest department's nodal officer (who sees the department)
  searches by a random citizen's mobile number.

escalation: makes ``--due`` open grievances past ``escalate_at`` (re-opening
answered ones when fewer are open), then times one full run of
``hub.services.escalation.escalate_due``, with the subscribers' updates published
to ``--broker`` (none by default: the figure is the database's work).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from hub.bench import DEFAULT_DATABASE_URL, _bounded
from hub.enums import OPEN_STATUSES, GrievanceStatus
from hub.settings import Settings

if TYPE_CHECKING:  # the CLI registers these commands on every start: load the rest lazily
    import aiohttp

PAGE = 20
INBOX_PAGES = 5
TARGETS_MS = {"inbox": 50.0, "tracking": 20.0, "search": 50.0}
REQUEST_TIMEOUT_SECONDS = 10.0
FAILURES_SHOWN = 3
ESCALATION_TARGET_S = 60.0
# Jobs go to Redis, as in production, with no worker taking them: the in-process runner's
# escalation and digest passes (due within a minute of start-up) would otherwise run inside
# the server being timed, and change the database. Redis being down only delays start-up.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

INBOX_QUERY = (
    "query Inbox($after: String) { inbox(first: 20, after: $after) { nodes { "
    "registrationNumber status dueAt slaColour pendencyBucket } "
    "pageInfo { endCursor hasNextPage } } }"
)
TRACK_QUERY = (
    "query Track($n: String!) { grievance(registrationNumber: $n) { registrationNumber "
    "status dueAt slaColour department { code } } }"
)
# until slaColour exists (schema/schema.graphql), tracking can be timed without it
TRACK_QUERY_PLAIN = (
    "query Track($n: String!) { grievance(registrationNumber: $n) { registrationNumber "
    "status dueAt department { code } } }"
)
SEARCH_QUERY = (
    "query ByMobile($m: String!) { searchGrievances(filter: {mobile: $m}, first: 20) { "
    "nodes { registrationNumber status filedAt } pageInfo { endCursor hasNextPage } } }"
)

INBOX_STATUSES = sorted(str(status) for status in OPEN_STATUSES)
INBOX_SQL = (
    "SELECT id, registration_number, status, due_at, created_at FROM grievance "
    "WHERE assignee_id = $1 AND status = ANY($2::varchar[]) "
    "ORDER BY due_at, id LIMIT 21"
)
INBOX_NEXT_SQL = (
    "SELECT id, registration_number, status, due_at, created_at FROM grievance "
    "WHERE assignee_id = $1 AND status = ANY($2::varchar[]) AND (due_at, id) > ($3, $4) "
    "ORDER BY due_at, id LIMIT 21"
)
TRACK_SQL = (
    "SELECT g.registration_number, g.status, g.due_at, g.created_at, d.code AS department "
    "FROM grievance g LEFT JOIN department d ON d.id = g.department_id "
    "WHERE g.registration_number = $1 AND g.department_id = $2"
)
SEARCH_SQL = (
    "SELECT g.id, g.registration_number, g.status, g.created_at FROM grievance g "
    "JOIN hub_user u ON u.id = g.citizen_id "
    "WHERE u.mobile = $1 AND g.department_id = $2 "
    "ORDER BY g.created_at DESC, g.id DESC LIMIT 21"
)
BUSIEST_LME_SQL = (
    "SELECT assignee_id, count(*) AS open FROM grievance "
    "WHERE assignee_id IS NOT NULL AND status = ANY($1::varchar[]) "
    "GROUP BY assignee_id ORDER BY open DESC, assignee_id LIMIT 1"
)
# who looks a grievance up: a GRO of its office (a GRO sees their office's grievances)
GROS_SQL = (
    "SELECT DISTINCT ON (office_id) office_id, department_id, id FROM hub_user "
    "WHERE active AND office_id IS NOT NULL AND roles @> '[\"gro\"]'::jsonb "
    "ORDER BY office_id, id"
)
# who searches a department's complainants by mobile: its nodal officer (department-wide)
NODAL_SQL = (
    "SELECT id FROM hub_user WHERE active AND department_id = $1 "
    "AND roles @> '[\"nodal_officer\"]'::jsonb ORDER BY id LIMIT 1"
)


_T = TypeVar("_T")


class BenchSetupError(RuntimeError):
    """The database is not one ``hub bench seed`` wrote, or lacks what a run needs."""


@dataclass(frozen=True)
class LifecycleOptions:
    database_url: str
    requests: int = 2000
    clients: int = 4
    warmup: int = 100
    rounds: int = 2
    redis_url: str = DEFAULT_REDIS_URL
    seed: int = 11
    as_json: bool = False


@dataclass(frozen=True)
class Workload:
    grievances: int
    lme_id: int
    lme_open: int
    tracked: list[tuple[str, int, int]]  # registration number, department id, GRO id
    search_department: int
    search_officer: int
    mobiles: list[str]


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    def add(self, seconds: float, failure: str | None) -> None:
        if failure is None:
            self.latencies.append(seconds)
        else:
            self.failures[failure] += 1

    def ms(self, percent: float) -> float | None:
        from hub.bench.loadgen import percentile

        value = percentile(self.latencies, percent)
        return None if value is None else value * 1000


@dataclass
class Operation:
    name: str
    target_ms: float
    hub: Samples = field(default_factory=Samples)
    baseline: Samples = field(default_factory=Samples)
    note: str = ""

    def figures(self) -> dict[str, Any]:
        p99, base99 = self.hub.ms(99), self.baseline.ms(99)
        ratio = p99 / base99 if p99 is not None and base99 else None
        return {
            "p50_ms": _round(self.hub.ms(50)),
            "p99_ms": _round(p99),
            "baseline_p50_ms": _round(self.baseline.ms(50)),
            "baseline_p99_ms": _round(base99),
            "ratio_p99": None if ratio is None else round(ratio, 2),
            "target_ms": self.target_ms,
            "requests": len(self.hub.latencies),
            "failed": sum(self.hub.failures.values()),
            "baseline_failed": sum(self.baseline.failures.values()),
            "ok": self.ok,
            **({"note": self.note} if self.note else {}),
        }

    @property
    def ok(self) -> bool:
        p99 = self.hub.ms(99)
        return (
            p99 is not None
            and p99 <= self.target_ms
            and not self.hub.failures
            and not self.baseline.failures
        )


# A call: (client number, request number) -> why it failed, or None.
Call = Callable[[int, int], Awaitable["str | None"]]


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add seed, lifecycle and escalation to ``hub bench``'s subcommands."""
    seed = sub.add_parser(
        "seed",
        help="write N grievances (and their officers and citizens) into PostgreSQL, fast",
        description=(
            "Migrate, load the sample taxonomy, then COPY officers, citizens and N grievances "
            "with their FILE events. The database must hold no users or grievances yet, or "
            "give --recreate to drop and re-create it. The last line is one JSON object."
        ),
    )
    seed.add_argument("--grievances", type=_bounded(int, 1, 50_000_000), default=1_000_000)
    seed.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    seed.add_argument("--recreate", action="store_true", help="DROP and re-create it first")
    seed.add_argument(
        "--open-share", type=_bounded(float, 0.0, 1.0), default=0.85, help="share left open (0.85)"
    )
    seed.add_argument(
        "--due-share",
        type=_bounded(float, 0.0, 1.0),
        default=0.3,
        help="share of the open ones already past escalate_at (0.3)",
    )
    seed.add_argument("--citizens", type=_bounded(int, 1, 50_000_000), default=None)
    seed.add_argument("--lmes-per-office", type=_bounded(int, 1, 1000), default=None)
    seed.add_argument("--json", action="store_true", help="(the last line is always JSON)")
    seed.set_defaults(bench_run=_run_seed)

    lifecycle = sub.add_parser(
        "lifecycle",
        help="inbox, tracking and search latency over HTTP beside direct asyncpg",
        description=(
            "Serve the hub on a database written by `hub bench seed` and time an LME's "
            "inbox pages, tracking by registration number and search by mobile over HTTP "
            "GraphQL, each beside the same read issued with asyncpg in the same run."
        ),
    )
    lifecycle.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    lifecycle.add_argument(
        "--requests",
        type=_bounded(int, 10, 1_000_000),
        default=2000,
        help="measured requests per operation and side (2000)",
    )
    lifecycle.add_argument("--clients", type=_bounded(int, 1, 64), default=4, help="(4)")
    lifecycle.add_argument(
        "--warmup", type=_bounded(int, 0, 100_000), default=100, help="unmeasured requests (100)"
    )
    lifecycle.add_argument(
        "--rounds",
        type=_bounded(int, 1, 10),
        default=2,
        help="alternate baseline and hub this many times per operation (2)",
    )
    lifecycle.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help=f"where the served hub queues jobs, none taken: no periodic job runs in it "
        f"({DEFAULT_REDIS_URL})",
    )
    lifecycle.add_argument("--json", action="store_true", help="end with one line of JSON")
    lifecycle.set_defaults(bench_run=_run_lifecycle)

    escalation = sub.add_parser(
        "escalation",
        help="one full escalation run over grievances past escalate_at",
        description=(
            "Make --due open grievances past escalate_at at level 0 (re-opening answered ones "
            "when fewer are open), then time one run of the escalation job. Changes the "
            "database: give it one written by `hub bench seed`."
        ),
    )
    escalation.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    escalation.add_argument(
        "--due",
        type=_bounded(int, 0, 50_000_000),
        default=1_000_000,
        help="grievances to make due first, at most all of them; 0: as they are (1000000)",
    )
    escalation.add_argument(
        "--broker",
        choices=BROKERS,
        default="none",
        help="where the run publishes each grievance's update: none (the default), memory "
        "(the in-process broker, as the embedded job), or redis (as the arq worker; "
        f"--redis-url, {DEFAULT_REDIS_URL})",
    )
    escalation.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    escalation.add_argument(
        "--batch", type=_bounded(int, 1, 100_000), default=None, help="grievances per batch"
    )
    escalation.add_argument(
        "--workers", type=_bounded(int, 1, 16), default=None, help="batches in flight at once"
    )
    escalation.add_argument("--json", action="store_true", help="end with one line of JSON")
    escalation.set_defaults(bench_run=_run_escalation)


def _run_seed(settings: Settings, args: argparse.Namespace) -> int:
    from hub.bench.seed import SeedOptions, run_seed

    options = SeedOptions(
        grievances=args.grievances,
        database_url=args.database_url,
        recreate=args.recreate,
        open_share=args.open_share,
        due_share=args.due_share,
        citizens=args.citizens,
        lmes_per_office=args.lmes_per_office,
    )
    return run_seed(settings, options)


def _run_lifecycle(settings: Settings, args: argparse.Namespace) -> int:
    options = LifecycleOptions(
        database_url=args.database_url,
        requests=args.requests,
        clients=args.clients,
        warmup=args.warmup,
        rounds=args.rounds,
        redis_url=args.redis_url,
        as_json=args.json,
    )
    return run_lifecycle(settings, options)


def _run_escalation(settings: Settings, args: argparse.Namespace) -> int:
    options = EscalationOptions(
        due=args.due,
        broker=args.broker,
        redis_url=args.redis_url,
        batch=args.batch,
        workers=args.workers,
    )
    return run_escalation(settings, args.database_url, args.due, args.json, options)


# --- lifecycle ---------------------------------------------------------------------------


def run_lifecycle(settings: Settings, options: LifecycleOptions) -> int:
    from hub.bench.database import BenchDatabaseError
    from hub.bench.servers import ServerError

    try:
        url = _postgres_url(options.database_url)
        workload, operations = asyncio.run(_until_terminated(_lifecycle(url, options)))
    except (BenchSetupError, ServerError, BenchDatabaseError) as exc:
        print(f"hub bench lifecycle: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:
        print("hub bench lifecycle: terminated; the server was stopped", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(render(options, workload, operations))
    if options.as_json:
        print(json.dumps(summary(options, workload, operations)))
    return 0 if all(op.ok for op in operations) else 1


async def _until_terminated(work: Awaitable[_T]) -> _T:
    """SIGTERM cancels the run, so the server under test is still stopped."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await work
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _lifecycle(url: str, options: LifecycleOptions) -> tuple[Workload, list[Operation]]:
    import aiohttp
    import asyncpg  # type: ignore[import-untyped]

    from hub.bench.servers import HOST, free_port, hub_env, serving

    rng = random.Random(options.seed)
    pool = await asyncpg.create_pool(
        url, min_size=options.clients, max_size=options.clients, timeout=10
    )
    try:
        _say("choosing the workload ...")
        workload = await choose_workload(pool, rng, options.requests + options.warmup)
        env = {**hub_env(url), "HUB_REDIS_URL": options.redis_url}
        port = free_port()
        args = ("-m", "hub.cli", "serve", "--host", HOST, "--port", str(port))
        async with (
            serving("hub", args, env, port) as base_url,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=options.clients),
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
                headers={"Content-Type": "application/json"},
            ) as session,
        ):
            graphql = f"{base_url}/graphql"
            operations = []
            notes: dict[str, str] = {}
            for name, pair in _pairs(session, graphql, pool, workload, options, notes).items():
                operation = Operation(name, TARGETS_MS[name])
                await _measure(operation, *pair, options)
                operation.note = operation.note or notes.get(name, "")
                operations.append(operation)
        return workload, operations
    finally:
        await pool.close()


def _pairs(
    session: aiohttp.ClientSession,
    url: str,
    pool: Any,
    workload: Workload,
    options: LifecycleOptions,
    notes: dict[str, str],
) -> dict[str, tuple[Call, Call]]:
    """For each operation: (the hub's call, the baseline's call)."""
    clients = options.clients
    hub_cursor: list[str | None] = [None] * clients
    sql_cursor: list[tuple[Any, int] | None] = [None] * clients
    lme_headers = {"X-Hub-Dev-User": str(workload.lme_id)}
    search_headers = {"X-Hub-Dev-User": str(workload.search_officer)}

    async def inbox_hub(client: int, n: int) -> str | None:
        after = None if n % INBOX_PAGES == 0 else hub_cursor[client]
        body, failure = await post(
            session, url, INBOX_QUERY, {"after": after}, lme_headers, "inbox"
        )
        if failure is None:
            page = body["data"]["inbox"]
            if not page["nodes"]:
                return "empty inbox page"
            hub_cursor[client] = page["pageInfo"]["endCursor"]
        return failure

    async def inbox_sql(client: int, n: int) -> str | None:
        cursor = None if n % INBOX_PAGES == 0 else sql_cursor[client]
        rows = await inbox_page(pool, workload.lme_id, cursor)
        if not rows:
            return "empty inbox page"
        last = rows[min(len(rows), PAGE) - 1]
        sql_cursor[client] = (last["due_at"], last["id"])
        return None

    track_query = [TRACK_QUERY]

    async def track_hub(client: int, n: int) -> str | None:
        number, _, gro = workload.tracked[n % len(workload.tracked)]
        body, failure = await post(
            session, url, track_query[0], {"n": number}, {"X-Hub-Dev-User": str(gro)}, "grievance"
        )
        if failure is not None and "slaColour" in failure and track_query[0] == TRACK_QUERY:
            track_query[0] = TRACK_QUERY_PLAIN  # the field is not there yet: time without it
            notes["tracking"] = "without slaColour (not in the schema)"
            return failure
        if failure is None and body["data"]["grievance"] is None:
            return "grievance not found"
        return failure

    async def track_sql(client: int, n: int) -> str | None:
        number, department, _ = workload.tracked[n % len(workload.tracked)]
        row = await pool.fetchrow(TRACK_SQL, number, department)
        return None if row is not None else "grievance not found"

    async def search_hub(client: int, n: int) -> str | None:
        mobile = workload.mobiles[n % len(workload.mobiles)]
        body, failure = await post(
            session, url, SEARCH_QUERY, {"m": mobile}, search_headers, "searchGrievances"
        )
        if failure is None and not body["data"]["searchGrievances"]["nodes"]:
            return "no grievances found"
        return failure

    async def search_sql(client: int, n: int) -> str | None:
        mobile = workload.mobiles[n % len(workload.mobiles)]
        rows = await pool.fetch(SEARCH_SQL, mobile, workload.search_department)
        return None if rows else "no grievances found"

    return {
        "inbox": (inbox_hub, inbox_sql),
        "tracking": (track_hub, track_sql),
        "search": (search_hub, search_sql),
    }


async def _measure(operation: Operation, hub: Call, sql: Call, options: LifecycleOptions) -> None:
    per_round = max(1, options.requests // options.rounds)
    for number in range(options.rounds):
        warmup = options.warmup if number == 0 else 0
        for side, call, samples in (
            ("baseline", sql, operation.baseline),
            ("hub", hub, operation.hub),
        ):
            _say(f"{operation.name}: {side}, round {number + 1}/{options.rounds} ...")
            await drive(call, samples, per_round, options.clients, warmup, start=number * per_round)
    if operation.hub.failures and not operation.hub.latencies:
        operation.note = "every hub request failed: " + operation.hub.failures.most_common(1)[0][0]


async def drive(
    call: Call, samples: Samples, requests: int, clients: int, warmup: int, start: int = 0
) -> None:
    """``clients`` closed loops share ``requests`` calls after ``warmup`` unmeasured ones."""
    import aiohttp
    import asyncpg

    total = warmup + requests
    counter = iter(range(total))

    async def client(number: int) -> None:
        for n in counter:
            began = time.perf_counter()
            try:
                failure = await call(number, start + n)
            except (aiohttp.ClientError, TimeoutError, asyncpg.PostgresError) as exc:
                failure = f"{type(exc).__name__}: {exc}"[:200]
            if n >= warmup:
                samples.add(time.perf_counter() - began, failure)

    async with asyncio.TaskGroup() as group:
        for number in range(clients):
            group.create_task(client(number))


async def post(
    session: aiohttp.ClientSession,
    url: str,
    query: str,
    variables: dict[str, Any],
    headers: dict[str, str],
    root: str,
) -> tuple[Any, str | None]:
    payload = json.dumps({"query": query, "variables": variables})
    async with session.post(url, data=payload, headers=headers) as response:
        status = response.status
        raw = await response.read()
    try:
        body = json.loads(raw)
    except ValueError:
        return None, f"HTTP {status}, body is not JSON"
    if body.get("errors"):
        return body, f"GraphQL error: {body['errors'][0].get('message', '?')}"[:200]
    if status != 200:
        return body, f"HTTP {status}"
    if root not in (body.get("data") or {}):
        return body, f"no {root} in the answer"
    return body, None


async def inbox_page(pool: Any, lme_id: int, cursor: tuple[Any, int] | None) -> list[Any]:
    if cursor is None:
        rows: list[Any] = await pool.fetch(INBOX_SQL, lme_id, INBOX_STATUSES)
    else:
        rows = await pool.fetch(INBOX_NEXT_SQL, lme_id, INBOX_STATUSES, *cursor)
    return rows


async def choose_workload(pool: Any, rng: random.Random, samples: int) -> Workload:
    """The busiest LME, random grievances with their office's GRO, a department's citizens
    with its nodal officer."""
    bounds = await pool.fetchrow("SELECT min(id) AS low, max(id) AS high FROM grievance")
    if bounds is None or bounds["high"] is None:
        raise BenchSetupError("the database holds no grievances; run `hub bench seed` first")
    count = int(await pool.fetchval("SELECT count(*) FROM grievance"))
    lme = await pool.fetchrow(BUSIEST_LME_SQL, INBOX_STATUSES)
    if lme is None:
        raise BenchSetupError("no open grievance is assigned to anyone")
    gro_rows = await pool.fetch(GROS_SQL)
    gros = {row["office_id"]: row["id"] for row in gro_rows}
    departments = sorted({int(row["department_id"]) for row in gro_rows})
    low, high = int(bounds["low"]), int(bounds["high"])
    wanted = min(samples, count)
    ids = [rng.randint(low, high) for _ in range(wanted)]
    tracked = [
        (row["registration_number"], row["department_id"], gros[row["office_id"]])
        for row in await pool.fetch(
            "SELECT registration_number, department_id, office_id FROM grievance "
            "WHERE id = ANY($1::int[]) AND department_id IS NOT NULL",
            ids,
        )
        if row["office_id"] in gros
    ]
    if not tracked:
        raise BenchSetupError("no grievance is in an office with a GRO")
    rng.shuffle(tracked)
    busiest = await pool.fetchrow(
        "SELECT department_id, count(*) AS n FROM grievance WHERE department_id = ANY($1::int[]) "
        "GROUP BY department_id ORDER BY n DESC, department_id LIMIT 1",
        departments,
    )
    department = int(busiest["department_id"])
    searcher = await pool.fetchval(NODAL_SQL, department)
    if searcher is None:
        raise BenchSetupError("the busiest department has no nodal officer to search")
    mobiles: list[str] = []
    for _ in range(20):  # draws of random grievances until enough are the department's
        ids = [rng.randint(low, high) for _ in range(wanted * 2)]
        mobiles += [
            row["mobile"]
            for row in await pool.fetch(
                "SELECT u.mobile FROM grievance g JOIN hub_user u ON u.id = g.citizen_id "
                "WHERE g.id = ANY($1::int[]) AND g.department_id = $2 AND u.mobile IS NOT NULL",
                ids,
                department,
            )
        ]
        if len(mobiles) >= wanted:
            break
    if not mobiles:
        raise BenchSetupError("no citizen with a mobile number filed in the busiest department")
    rng.shuffle(mobiles)
    return Workload(
        grievances=count,
        lme_id=int(lme["assignee_id"]),
        lme_open=int(lme["open"]),
        tracked=tracked,
        search_department=department,
        search_officer=int(searcher),
        mobiles=mobiles[:wanted],
    )


def render(options: LifecycleOptions, workload: Workload, operations: Sequence[Operation]) -> str:
    lines = [
        f"lifecycle benchmark: {workload.grievances} grievances, {options.clients} clients, "
        f"{options.requests} requests per operation and side in {options.rounds} round(s); "
        f"inbox of LME #{workload.lme_id} ({workload.lme_open} open)",
        f"{'':10} {'hub p50':>8} {'hub p99':>8} {'sql p50':>8} {'sql p99':>8} "
        f"{'p99 x':>6} {'target':>7}",
    ]
    for op in operations:
        f = op.figures()
        ratio = "-" if f["ratio_p99"] is None else f"{f['ratio_p99']:.1f}"
        verdict = "PASS" if op.ok else "FAIL"
        lines.append(
            f"{op.name:10} {_ms(f['p50_ms']):>8} {_ms(f['p99_ms']):>8} "
            f"{_ms(f['baseline_p50_ms']):>8} {_ms(f['baseline_p99_ms']):>8} {ratio:>6} "
            f"{op.target_ms:>5.0f}ms {verdict}"
        )
        for side, samples in (("hub", op.hub), ("sql", op.baseline)):
            for reason, count in samples.failures.most_common(FAILURES_SHOWN):
                lines.append(f"  {side} failure x{count}: {reason}")
    return "\n".join(lines)


def summary(
    options: LifecycleOptions, workload: Workload, operations: Sequence[Operation]
) -> dict[str, Any]:
    return {
        "benchmark": "lifecycle",
        "grievances": workload.grievances,
        "clients": options.clients,
        "requests": options.requests,
        **{op.name: op.figures() for op in operations},
        "ok": all(op.ok for op in operations),
    }


# --- escalation --------------------------------------------------------------------------

PREPARE_REOPEN = """
UPDATE grievance SET status = CASE WHEN assignee_id IS NULL THEN $2 ELSE $3 END,
    answered_at = NULL, closed_at = NULL, rating = NULL, closure_reason = '',
    resolution = '{}'::jsonb
WHERE id IN (
    SELECT id FROM grievance WHERE NOT status = ANY($1::varchar[])
    ORDER BY created_at DESC LIMIT $4
)
"""
PREPARE_DUE = """
UPDATE grievance_escalation SET level = 0, officer_id = NULL,
    escalate_at = $2::timestamptz - make_interval(secs => 60 + (grievance_id % 2592000))
WHERE grievance_id IN (
    SELECT id FROM grievance WHERE status = ANY($1::varchar[])
    ORDER BY created_at DESC LIMIT $3
) AND NOT (level = 0 AND officer_id IS NULL AND coalesce(escalate_at < $2, false))
"""
DUE_COUNT = (
    "SELECT count(*) FROM grievance_escalation AS e JOIN grievance AS g ON g.id = e.grievance_id"
    " WHERE g.status = ANY($1::varchar[]) AND e.escalate_at <= $2"
)
BROKERS = ("none", "memory", "redis")
# what decides how much a pass writes and how often it waits on checkpoints
SERVER_SETTINGS = (
    "shared_buffers",
    "max_wal_size",
    "checkpoint_timeout",
    "wal_compression",
    "synchronous_commit",
)


@dataclass(frozen=True)
class EscalationOptions:
    due: int = 1_000_000
    broker: str = "none"
    redis_url: str = DEFAULT_REDIS_URL
    batch: int | None = None  # None: the job's own
    workers: int | None = None


@dataclass
class EscalationRun:
    grievances: int = 0
    open: int = 0
    due: int = 0
    prepare_seconds: float = 0.0
    seconds: float | None = None
    escalated: int | None = None
    due_after: int | None = None
    broker: str = "none"
    batch: int | None = None
    workers: int | None = None
    error: str = ""
    # the server settings that govern a write-heavy pass, so a figure can be read in context
    server: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        rate = (
            self.escalated / self.seconds if self.escalated is not None and self.seconds else None
        )
        return {
            "benchmark": "escalation",
            "grievances": self.grievances,
            "open": self.open,
            "due": self.due,
            "prepare_s": round(self.prepare_seconds, 1),
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "escalated": self.escalated,
            "per_second": None if rate is None else round(rate),
            "due_after": self.due_after,
            "broker": self.broker,
            "batch": self.batch,
            "workers": self.workers,
            "target_s": ESCALATION_TARGET_S,
            "server": self.server,
            "ok": self.ok,
            **({"error": self.error} if self.error else {}),
        }

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.seconds is not None
            and self.seconds <= ESCALATION_TARGET_S
            and bool(self.escalated)
        )


def run_escalation(
    settings: Settings,
    url: str,
    due: int,
    as_json: bool,
    options: EscalationOptions | None = None,
) -> int:
    from hub.bench import database

    try:
        url = database.checked_url(url, settings)
        run = asyncio.run(
            escalation_run(settings.replace(database_url=url), due, options or EscalationOptions())
        )
    except (BenchSetupError, database.BenchDatabaseError) as exc:
        print(f"hub bench escalation: {exc}", file=sys.stderr)
        return 2
    f = run.figures()
    if run.error:
        print(f"escalation: not run: {run.error}")
    else:
        rate = "-" if f["per_second"] is None else f"{f['per_second']}/s"
        print(
            f"escalation: {f['due']} of {f['open']} open grievances due "
            f"(prepared in {f['prepare_s']} s); one run took {f['seconds']} s, escalated "
            f"{f['escalated']} ({rate}; batches of {f['batch']}, {f['workers']} at once, "
            f"updates to {f['broker']}), {f['due_after']} still due; target <= "
            f"{ESCALATION_TARGET_S:.0f} s: {'PASS' if run.ok else 'FAIL'}"
        )
        print("  server: " + ", ".join(f"{k}={v}" for k, v in run.server.items()))
    if as_json:
        print(json.dumps(f))
    return 0 if run.ok else 1


async def escalation_run(
    settings: Settings, due: int, options: EscalationOptions | None = None
) -> EscalationRun:
    import asyncpg

    from hub import db

    options = options or EscalationOptions(due=due)
    run = EscalationRun(broker=options.broker)
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        run.grievances = int(await conn.fetchval("SELECT count(*) FROM grievance"))
        if run.grievances == 0:
            raise BenchSetupError("the database holds no grievances; run `hub bench seed` first")
        started = time.perf_counter()
        await prepare_due(conn, min(due, run.grievances))
        run.prepare_seconds = time.perf_counter() - started
        now = dt.datetime.now(dt.UTC)
        statuses = sorted(str(s) for s in OPEN_STATUSES)
        run.open = int(
            await conn.fetchval(
                "SELECT count(*) FROM grievance WHERE status = ANY($1::varchar[])", statuses
            )
        )
        run.due = int(await conn.fetchval(DUE_COUNT, statuses, now))
        run.server = {name: str(await conn.fetchval(f"SHOW {name}")) for name in SERVER_SETTINGS}
    finally:
        await conn.close()
    try:
        escalation = importlib.import_module("hub.services.escalation")
        escalate_due = escalation.escalate_due
    except (ImportError, AttributeError) as exc:
        run.error = f"hub.services.escalation.escalate_due is not there yet ({exc})"
        return run
    run.batch = options.batch or getattr(escalation, "BATCH", None)
    run.workers = options.workers or getattr(escalation, "WORKERS", None)
    knobs = {
        name: value
        for name, value in (("batch", options.batch), ("workers", options.workers))
        if value is not None
    }
    _say(f"escalating {run.due} due grievances ...")
    broker = _broker(options)
    await db.connect(settings)
    try:
        if broker is not None:
            await broker.start()
        started = time.perf_counter()
        stats = await escalate_due(settings, now=None, broker=broker, **knobs)
        run.seconds = time.perf_counter() - started
        run.escalated = int(stats.escalated)
    finally:
        if broker is not None:
            await broker.stop()
        await db.disconnect()
    conn = await asyncpg.connect(settings.database_url, timeout=10)
    try:
        run.due_after = int(await conn.fetchval(DUE_COUNT, statuses, dt.datetime.now(dt.UTC)))
    finally:
        await conn.close()
    return run


def _broker(options: EscalationOptions) -> Any:
    from hub.pubsub import InProcessBroker, RedisBroker

    if options.broker == "memory":
        return InProcessBroker()
    if options.broker == "redis":
        return RedisBroker(options.redis_url)
    return None


async def prepare_due(conn: Any, due: int) -> None:
    """At least ``due`` open grievances at level 0 and past escalate_at (the newest ones)."""
    if due <= 0:
        return
    statuses = sorted(str(s) for s in OPEN_STATUSES)
    open_count = int(
        await conn.fetchval(
            "SELECT count(*) FROM grievance WHERE status = ANY($1::varchar[])", statuses
        )
    )
    if open_count < due:
        _say(f"re-opening {due - open_count} answered grievances ...")
        await conn.execute(
            PREPARE_REOPEN,
            statuses,
            str(GrievanceStatus.PENDING_ASSIGNMENT),
            str(GrievanceStatus.ASSIGNED),
            due - open_count,
        )
    _say(f"making {due} open grievances due ...")
    await conn.execute(PREPARE_DUE, statuses, dt.datetime.now(dt.UTC), due)
    _say("vacuuming ...")
    await conn.execute("VACUUM (ANALYZE) grievance, grievance_escalation")


# --- helpers -----------------------------------------------------------------------------


def _postgres_url(url: str) -> str:
    if urlsplit(url).scheme not in {"postgres", "postgresql"}:
        raise BenchSetupError(f"--database-url must be a postgres:// URL, not {url!r}")
    return url


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
