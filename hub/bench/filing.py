"""``hub bench filing``: the hub's fileGrievance throughput against a bare baseline.

One invocation re-creates the benchmark database, then serves and loads the
baseline (``hub.bench.baseline_app``) and the hub (``hub serve``, with its
in-process outbox relay) one after the other, with the same clients, the same
request body and the same database pool size, starting each from empty
filing tables.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from hub.bench import database
from hub.bench.loadgen import Check, LoadResult, run_load
from hub.bench.servers import HOST, ServerError, free_port, hub_env, serving
from hub.bench.workload import request_body
from hub.settings import Settings

TARGET_RATIO = 0.3
FAILURE_KINDS_SHOWN = 5


@dataclass(frozen=True)
class FilingOptions:
    clients: int
    duration: float
    warmup: float
    database_url: str
    as_json: bool


@dataclass(frozen=True)
class Run:
    name: str
    load: LoadResult
    rows: dict[str, int]

    def figures(self) -> dict[str, Any]:
        p50, p99 = self.load.latency_ms(50), self.load.latency_ms(99)
        return {
            "ok": self.load.ok,
            "failed": self.load.failed,
            "rate": round(self.load.rate, 1),
            "p50_ms": None if p50 is None else round(p50, 1),
            "p99_ms": None if p99 is None else round(p99, 1),
            "failures": dict(self.load.failures),
            "rows": self.rows,
        }


def run_filing(settings: Settings, options: FilingOptions) -> int:
    try:
        url = database.checked_url(options.database_url, settings)
        baseline, hub = asyncio.run(_until_terminated(settings.replace(database_url=url), options))
    except (database.BenchDatabaseError, ServerError) as exc:
        print(f"hub bench: {exc}", file=sys.stderr)
        return 2
    except asyncio.CancelledError:
        print("hub bench: terminated; the servers were stopped", file=sys.stderr)
        return 128 + signal.SIGTERM
    print(render(options, url, baseline, hub))
    if options.as_json:
        print(json.dumps(summary(options, baseline, hub)))
    return 0 if all(run.load.ok and not run.load.failed for run in (baseline, hub)) else 1


async def _until_terminated(settings: Settings, options: FilingOptions) -> tuple[Run, Run]:
    """Run the benchmark; SIGTERM cancels it, so the servers are still stopped."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await _bench(settings, options)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _bench(settings: Settings, options: FilingOptions) -> tuple[Run, Run]:
    url = settings.database_url
    _say(f"re-creating {settings.database_url_redacted} ...")
    env = hub_env(url)
    await database.recreate(url)
    citizen_id = await database.prepare(url, env)
    headers = {"X-Hub-Dev-User": str(citizen_id)}

    await database.reset_filings(url)
    port = free_port()
    baseline_args = (
        "-m",
        "uvicorn",
        "hub.bench.baseline_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    )
    async with serving("baseline", baseline_args, env, port) as base_url:
        _say(f"loading the baseline at {base_url} ...")
        baseline_load = await _load(f"{base_url}/file", headers, _baseline_ok, options)
    baseline = Run("baseline", baseline_load, await database.filing_counts(url))

    await database.reset_filings(url)
    port = free_port()
    hub_args = ("-m", "hub.cli", "serve", "--host", HOST, "--port", str(port))
    async with serving("hub", hub_args, env, port) as base_url:
        _say(f"loading the hub at {base_url} ...")
        hub_load = await _load(f"{base_url}/graphql", headers, _hub_ok, options)
    hub = Run("hub", hub_load, await database.filing_counts(url))
    return baseline, hub


async def _load(
    url: str, headers: dict[str, str], check: Check, options: FilingOptions
) -> LoadResult:
    return await run_load(
        url,
        body=request_body(),
        headers=headers,
        check=check,
        clients=options.clients,
        duration=options.duration,
        warmup=options.warmup,
    )


def _hub_ok(status: int, body: Any) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("errors"):
        return f"GraphQL error: {body['errors'][0].get('message', '?')}"[:200]
    payload = (body.get("data") or {}).get("fileGrievance") or {}
    if payload.get("errors") != []:
        return f"payload errors: {payload.get('errors')}"[:200]
    if not (payload.get("grievance") or {}).get("registrationNumber"):
        return "no registration number"
    return None


def _baseline_ok(status: int, body: Any) -> str | None:
    if status != 200:
        return f"HTTP {status}"
    if not isinstance(body, dict) or not body.get("registrationNumber"):
        return "no registration number"
    return None


def ratio(baseline: Run, hub: Run) -> float | None:
    return hub.load.rate / baseline.load.rate if baseline.load.rate else None


def verdict(value: float | None) -> str:
    return "PASS" if value is not None and value >= TARGET_RATIO else "BELOW"


def render(options: FilingOptions, url: str, baseline: Run, hub: Run) -> str:
    lines = [
        f"filing benchmark: {options.clients} clients, {options.duration:g} s measured "
        f"after {options.warmup:g} s warm-up, each server on {url}",
        f"{'':10} {'ok':>8} {'failed':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for run in (baseline, hub):
        figures = run.figures()
        lines.append(
            f"{run.name:10} {figures['ok']:>8} {figures['failed']:>7} {figures['rate']:>9.1f} "
            f"{_ms(figures['p50_ms']):>8} {_ms(figures['p99_ms']):>8}"
        )
    for run in (baseline, hub):
        for reason, count in run.load.failures.most_common(FAILURE_KINDS_SHOWN):
            lines.append(f"  {run.name} failure x{count}: {reason}")
    value = ratio(baseline, hub)
    shown = "n/a" if value is None else f"{value:.2f}"
    lines.append(f"hub / baseline rate: {shown} (target >= {TARGET_RATIO}): {verdict(value)}")
    return "\n".join(lines)


def summary(options: FilingOptions, baseline: Run, hub: Run) -> dict[str, Any]:
    value = ratio(baseline, hub)
    return {
        "benchmark": "filing",
        "clients": options.clients,
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "baseline": baseline.figures(),
        "hub": hub.figures(),
        "ratio": None if value is None else round(value, 3),
        "target": TARGET_RATIO,
        "verdict": verdict(value),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
