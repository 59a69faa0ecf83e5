"""The ``hub`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from hub import db, logs
from hub.settings import Settings, SettingsError, load_settings, settings_table

SAMPLE_RULES = Path(__file__).resolve().parent.parent / "routing_rules" / "sample"


def _fail(message: str) -> int:
    print(f"hub: {message}", file=sys.stderr)
    return 2


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app

    settings = settings.replace(host=args.host or settings.host, port=args.port or settings.port)
    try:
        asyncio.run(_require_migrated(settings))
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=args.access_log,
        proxy_headers=True,
        server_header=False,
    )
    return 0


async def _require_migrated(settings: Settings) -> None:
    await db.connect(settings)
    try:
        await db.require_migrated()
    finally:
        await db.disconnect()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from hub import worker

    if not settings.redis_url:
        return _fail(
            "Config 'HUB_REDIS_URL' is unset. `hub worker` needs Redis; without it "
            "`hub serve` runs jobs in-process."
        )
    try:
        worker.run(settings, burst=args.burst)
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    applied = asyncio.run(db.migrate(settings))
    where = settings.database_url_redacted
    print(f"applied {', '.join(applied)} on {where}" if applied else f"{where} is up to date")
    return 0


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from routing_rules.rules import RuleError, read_rules

    try:
        rules = read_rules(Path(args.path))
    except RuleError as exc:
        print(f"hub: {len(exc.problems)} problem(s); nothing was loaded:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    counts = (
        f"{len(rules.departments)} departments, {len(rules.nodes)} taxonomy nodes, "
        f"{len(rules.boundaries)} boundaries"
    )
    if args.rules_command == "check":
        print(f"ok: {counts} in {len(rules.files)} file(s)")
        return 0

    async def load() -> str:
        from hub.services.taxonomy import load_rule_set

        await db.connect(settings)
        try:
            await db.require_migrated()
            report = await load_rule_set(rules)
        finally:
            await db.disconnect()
        for label, items in (
            ("added", report.added),
            ("changed", report.changed),
            ("deactivated", report.deactivated),
        ):
            for item in items:
                print(f"  {label:11} {item}")
        return report.summary()

    try:
        print(f"loaded {counts}: {asyncio.run(load())}")
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from hub import demo
    from hub.jobs import InProcessRunner
    from hub.runtime import Runtime
    from hub.services.taxonomy import load_rule_set
    from routing_rules.rules import read_rules

    if settings.is_production:
        return _fail("`hub demo` loads demo officers and citizens; it refuses HUB_ENV=production.")

    async def prepare() -> list[demo.DemoUser]:
        applied = await db.migrate(settings)
        if applied:
            print(f"migrated: {', '.join(applied)}")
        await db.connect(settings)
        try:
            report = await load_rule_set(read_rules(SAMPLE_RULES))
            print(f"sample taxonomy: {report.summary()}")
            runner = InProcessRunner(settings)
            users = await demo.create_demo_data(Runtime(settings, runner))
            await runner.run_pending()
            return users
        finally:
            await db.disconnect()

    users = asyncio.run(prepare())
    host, port = args.host or settings.host, args.port or settings.port
    print(demo.usage(users, f"http://{host}:{port}", serving=not args.no_serve), flush=True)
    if args.no_serve:
        return 0
    args.host, args.port = host, port
    return cmd_serve(settings, args)


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    from hub import outbox

    async def run() -> None:
        await db.connect(settings)
        try:
            if args.outbox_command == "replay":
                print(f"replayed {await outbox.replay_dead(args.ids or None)} DEAD message(s)")
            for status, count in (await outbox.counts()).items():
                print(f"{status:11} {count}")
        finally:
            await db.disconnect()

    asyncio.run(run())
    return 0


def cmd_settings(settings: Settings, args: argparse.Namespace) -> int:
    for name, default, doc in settings_table():
        print(f"{name:32} {default:40} {doc}")
    return 0


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    from hub.bench import run_bench

    return run_bench(settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Grievance Hub")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve GraphQL over HTTP (uvicorn)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    work = sub.add_parser("worker", help="run arq workers on HUB_REDIS_URL (supervised)")
    work.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    work.set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(
        func=cmd_migrate
    )

    rules = sub.add_parser("rules", help="check or load taxonomy and boundary rule files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    for name in ("check", "load"):
        p = rules_sub.add_parser(name)
        p.add_argument("path", help="a rule file or a directory of *.yaml files")
        p.set_defaults(func=cmd_rules)

    demo = sub.add_parser("demo", help="migrate, load sample data, then serve")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--no-serve", action="store_true", help="prepare the data only")
    demo.add_argument("--access-log", action="store_true")
    demo.set_defaults(func=cmd_demo)

    out = sub.add_parser("outbox", help="outbox counts; replay DEAD messages")
    out_sub = out.add_subparsers(dest="outbox_command", required=True)
    out_sub.add_parser("status").set_defaults(func=cmd_outbox)
    replay = out_sub.add_parser("replay")
    replay.add_argument("ids", nargs="*", type=int, help="message ids (default: all DEAD)")
    replay.set_defaults(func=cmd_outbox)

    sub.add_parser("settings", help="list every setting").set_defaults(func=cmd_settings)

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    from hub.bench import add_arguments

    add_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    logs.configure(settings.log_level, settings.log_format)
    handler: Callable[[Settings, argparse.Namespace], int] = args.func
    return handler(settings, args)


if __name__ == "__main__":
    sys.exit(main())
