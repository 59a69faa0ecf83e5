"""The ``hub`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hub import db, logs
from hub.settings import Settings, SettingsError, load_settings, settings_table

if TYPE_CHECKING:
    from routing_rules.rules import RuleSet

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
    try:
        app = create_app(settings)
    except SettingsError as exc:
        return _fail(str(exc))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=args.access_log,
        # the client's address (rate limits, logs) comes from X-Forwarded-For only when the
        # connection is from one of these proxies; none by default (uvicorn's own default
        # trusts 127.0.0.1, or $FORWARDED_ALLOW_IPS)
        proxy_headers=True,
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
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


def _refused(problems: list[str], verb: str) -> int:
    print(f"hub: {len(problems)} problem(s); nothing was {verb}:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


async def _load(settings: Settings, rules: RuleSet, shown: int | None = None) -> str:
    """Load a checked rule set; print what changed (the first ``shown`` of each kind)."""
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
        for item in items[:shown]:
            print(f"  {label:11} {item}")
        if shown is not None and len(items) > shown:
            print(f"  {label:11} ... and {len(items) - shown} more")
    return report.summary()


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from routing_rules.rules import RuleError, read_rules
    from routing_rules.text import is_lexicon

    if is_lexicon(Path(args.path)):
        return _lexicon(settings, args)
    if getattr(args, "taxonomy", None) is not None:
        return _fail("--taxonomy: only a lexicon is checked against a taxonomy")
    try:
        rules = read_rules(Path(args.path))
    except RuleError as exc:
        return _refused(exc.problems, "loaded")
    counts = (
        f"{len(rules.departments)} departments, {len(rules.nodes)} taxonomy nodes, "
        f"{len(rules.boundaries)} boundaries, {len(rules.offices)} offices"
    )
    if args.rules_command == "check":
        print(f"ok: {counts} in {len(rules.files)} file(s)")
        return 0

    try:
        print(f"loaded {counts}: {asyncio.run(_load(settings, rules))}")
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    except RuleError as exc:  # the set fits no live taxonomy (a node changing department)
        return _refused(exc.problems, "loaded")
    return 0


def _lexicon(settings: Settings, args: argparse.Namespace) -> int:
    """Lexicons are files the hub reads, not rows: check them; say where they go."""
    from routing_rules.rules import RuleError
    from routing_rules.text import lexicon_files, read_lexicons

    path = Path(args.path)
    try:
        lexicon = read_lexicons(path)
    except RuleError as exc:
        return _refused(exc.problems, "loaded")
    english = {e for meanings in lexicon.values() for e in meanings}
    counts = f"{len(lexicon)} words, {len(english)} English words"
    if args.rules_command == "check":
        print(f"ok: lexicon: {counts} in {len(lexicon_files(path))} file(s)")
        if args.taxonomy is None:
            return 0
        return _unused_english(sorted(english), Path(args.taxonomy))
    where = settings.lexicon_dir
    return _fail(
        f"a lexicon ({counts}, no problems) is not loaded into the database: the hub reads "
        "the shipped lexicons and those in the folder HUB_LEXICON_DIR names "
        f"({where or 'unset'}); a running hub reads a file changed there within seconds"
    )


def _unused_english(english: list[str], taxonomy: Path) -> int:
    """Name the lexicon's English words a taxonomy never uses: they meet no category's
    wording, only what routed grievances teach. ``taxonomy``: rule files, or a CPGRAMS
    export folder."""
    from hub.bench.routing import node_infos
    from routing_rules.cpgrams import read_cpgrams
    from routing_rules.overlays import CPGRAMS_KEYWORDS, apply_overlay, read_overlay
    from routing_rules.ranker import TaxonomyIndex
    from routing_rules.rules import RuleError, read_rules
    from routing_rules.text import stem

    cpgrams = (taxonomy / "Complaint_Category.csv").exists()
    try:
        rules = read_cpgrams(taxonomy, detach_orphans=True) if cpgrams else read_rules(taxonomy)
        if cpgrams:
            apply_overlay(rules, read_overlay(CPGRAMS_KEYWORDS), str(CPGRAMS_KEYWORDS))
    except RuleError as exc:
        return _refused([f"--taxonomy: {p}" for p in exc.problems], "checked")
    index = TaxonomyIndex(node_infos(rules))
    unused = [e for e in english if (term := stem(e)) is None or not index.knows(term)]
    print(
        f"{len(english) - len(unused)} of {len(english)} English words are the taxonomy's "
        f"({len(index.leaves)} categories)"
    )
    if unused:
        print(
            f"note: {len(unused)} the taxonomy never uses; they count only once routed "
            f"grievances teach them: {', '.join(unused)}"
        )
    return 0


def cmd_taxonomy(settings: Settings, args: argparse.Namespace) -> int:
    from routing_rules.cpgrams import MISSING_PARENT, read_cpgrams
    from routing_rules.rules import RuleError

    directory = Path(args.directory)
    try:
        rules = read_cpgrams(directory, detach_orphans=args.detach_orphans)
    except RuleError as exc:
        _refused(exc.problems, "imported")
        if not args.detach_orphans and any(MISSING_PARENT in p for p in exc.problems):
            print(
                "hub: --detach-orphans imports categories whose Parent is missing as inactive "
                "categories without a parent",
                file=sys.stderr,
            )
        return 2
    if args.keywords != "none":
        from routing_rules.overlays import CPGRAMS_KEYWORDS, apply_overlay, read_overlay

        source = Path(args.keywords) if args.keywords else CPGRAMS_KEYWORDS
        try:
            rules.warnings.extend(apply_overlay(rules, read_overlay(source), str(source)))
        except RuleError as exc:
            return _refused(exc.problems, "imported")
    for warning in rules.warnings:
        print(f"hub: warning: {warning}", file=sys.stderr)
    inactive = sum(1 for node in rules.nodes if not node.active)
    counts = (
        f"{len(rules.departments)} departments, {len(rules.nodes)} categories "
        f"({inactive} inactive), {len(rules.hops)} hops, {len(rules.offices)} offices"
    )
    if args.dry_run:
        print(f"ok: {counts} in {directory}; nothing was imported (--dry-run)")
        return 0

    try:
        # a full CPGRAMS import adds ~30,000 rows: list a few of each kind
        print(f"imported {counts}: {asyncio.run(_load(settings, rules, shown=20))}")
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    except RuleError as exc:
        return _refused(exc.problems, "imported")
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


def _lat_lon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not LAT,LON (e.g. 12.93,77.68)") from None
    return lat, lon


def cmd_jurisdiction(settings: Settings, args: argparse.Namespace) -> int:
    from hub.errors import DomainError
    from hub.services import jurisdiction

    async def run() -> list[str]:
        await db.connect(settings)
        try:
            await db.require_migrated()
            if args.rules_command == "unresolved":
                pairs = await jurisdiction.unresolved_pairs(args.department)
                width = max((len(category) for category, _ in pairs), default=0)
                lines = [f"{category:{width}}  {boundary}" for category, boundary in pairs]
                return [*lines, f"{len(pairs)} category/boundary pair(s) resolve to nobody"]
            lat, lon = args.at if args.at else (None, None)
            return (await jurisdiction.resolve(args.category, args.boundary, lat, lon)).lines()
        finally:
            await db.disconnect()

    try:
        print("\n".join(asyncio.run(run())))
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    except DomainError as exc:
        return _fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    return 0


def cmd_route(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from hub.errors import DomainError
    from hub.services import routing

    async def run() -> routing.RouteAnswer:
        await db.connect(settings)
        try:
            await db.require_migrated()
            lat, lon = args.at if args.at else (None, None)
            return await routing.suggest(
                args.text,
                limit=args.limit,
                boundary_code=args.boundary,
                latitude=lat,
                longitude=lon,
                settings=settings,
            )
        finally:
            await db.disconnect()

    try:
        answer = asyncio.run(run())
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    except DomainError as exc:
        return _fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    if args.json:
        print(json.dumps([s.as_dict() for s in answer.suggestions], ensure_ascii=False))
        if not answer.suggestions:  # stdout stays a JSON list; why it is empty goes beside it
            print(f"no suggestion: {answer.note or 'nothing matched'}", file=sys.stderr)
        return 0
    if not answer.suggestions:
        print(f"no suggestion: {answer.note or 'nothing matched'}")
    for rank, item in enumerate(answer.suggestions, 1):
        s = item.suggestion
        name = item.category_name(args.locale) or "-"
        print(
            f"{rank}. {s.category or '(department only)'} {name} [{s.department}] "
            f"score {s.score:.3f} confidence {s.confidence:.2f}"
        )
        print(f"   office: {item.office_code or '-'} ({item.office_note})")
        print(f"   why: {item.explanation}")
    return 0


def cmd_routing(settings: Settings, args: argparse.Namespace) -> int:
    from hub.services import routing

    async def run() -> routing.Rebuilt:
        await db.connect(settings)
        try:
            await db.require_migrated()
            return await routing.rebuild_model(
                args.limit or settings.routing_history_limit, settings=settings
            )
        finally:
            await db.disconnect()

    try:
        done = asyncio.run(run())
    except db.NotMigratedError as exc:
        return _fail(str(exc))
    if done.model_id is None:
        print(f"no model built: {done.note}")
    else:
        print(
            f"routing model {done.model_id}: learned from {done.examples} routed grievances "
            f"across {done.departments} departments in {done.seconds:.1f}s"
            + (f", {done.note}" if done.note else "")
            + "; every hub process picks it up within seconds"
        )
    return 0


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


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    """Run one periodic job now, in this process (the worker's cron runs them anyway)."""
    from hub import jobs

    job = {
        "escalate": jobs.escalate,
        "digest": jobs.digest,
        "relay": jobs.relay_outbox,
        "purge": jobs.purge,
    }[args.job]

    async def run() -> dict[str, int]:
        await db.connect(settings)
        try:
            await db.require_migrated()
            result: dict[str, int] = await job(jobs.job_context(settings))
            return result
        finally:
            await db.disconnect()

    result = asyncio.run(run())
    print(" ".join(f"{key}={value}" for key, value in result.items()))
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
        if name == "check":
            p.add_argument(
                "--taxonomy",
                help="for a lexicon: name its English words this taxonomy (rule files or a "
                "CPGRAMS export folder) never uses",
            )
    unresolved = rules_sub.add_parser(
        "unresolved", help="list active leaf category x boundary pairs no office handles"
    )
    unresolved.add_argument("--department", help="only this department's categories")
    unresolved.set_defaults(func=cmd_jurisdiction)

    where = sub.add_parser(
        "jurisdiction", help="which office handles a category at a boundary or lat/long, and why"
    )
    where.add_argument("category", help="a taxonomy code")
    place = where.add_mutually_exclusive_group()
    place.add_argument("--boundary", help="a boundary code")
    place.add_argument("--at", type=_lat_lon, metavar="LAT,LON", help="locate a point")
    where.set_defaults(func=cmd_jurisdiction, rules_command=None)

    taxonomy = sub.add_parser("taxonomy", help="import taxonomies in other systems' formats")
    taxonomy_sub = taxonomy.add_subparsers(dest="taxonomy_command", required=True)
    cpgrams = taxonomy_sub.add_parser(
        "import-cpgrams", help="import the CPGRAMS category master (CSV exports)"
    )
    cpgrams.add_argument("directory", help="holds Complaint_Category.csv and its companions")
    cpgrams.add_argument("--dry-run", action="store_true", help="validate and count only")
    cpgrams.add_argument(
        "--detach-orphans",
        action="store_true",
        help="import categories whose Parent is missing as inactive, without a parent",
    )
    cpgrams.add_argument(
        "--keywords",
        default="",
        help="keyword overlay YAML for the departments (default: the shipped CPGRAMS one; "
        "'none' for no keywords)",
    )
    cpgrams.set_defaults(func=cmd_taxonomy)

    route = sub.add_parser("route", help="suggest categories for a complaint's text")
    route.add_argument("text", help="what the citizen wrote")
    route.add_argument("--boundary", help="boundary code of the place, for the office")
    route.add_argument("--at", type=_lat_lon, help="LAT,LON of the place, for the office")
    route.add_argument("--limit", type=int, default=5)
    route.add_argument("--locale", default="en", help="language of the names shown (en)")
    route.add_argument("--json", action="store_true", help="print the suggestions as JSON")
    route.set_defaults(func=cmd_route)

    learn = sub.add_parser("routing", help="the learned routing model")
    learn_sub = learn.add_subparsers(dest="routing_command", required=True)
    rebuild = learn_sub.add_parser("rebuild", help="retrain from routed grievances now")
    rebuild.add_argument("--limit", type=int, default=0, help="most recent grievances to use")
    rebuild.set_defaults(func=cmd_routing)

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

    run_job = sub.add_parser("jobs", help="run a periodic job once, now")
    run_job.add_argument(
        "job",
        choices=("escalate", "digest", "relay", "purge"),
        help="escalate: SLA escalation and auto-close; digest: HoD summaries and nodal "
        "reminders (once per day); relay: deliver due outbox messages; purge: drop spent "
        "sign-in codes and expired tokens",
    )
    run_job.set_defaults(func=cmd_jobs)
    sub.add_parser("settings", help="list every setting").set_defaults(func=cmd_settings)
    from hub.cli_accounts import add_parsers

    add_parsers(sub)

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
    if settings.lexicon_dir is not None and handler in _ROUTING:
        from routing_rules.rules import RuleError
        from routing_rules.text import use_lexicons

        try:
            use_lexicons(settings.lexicon_dir)
        except RuleError as exc:  # `hub rules check` still checks the list
            return _refused(exc.problems, "started")
    return handler(settings, args)


# the commands that read a citizen's words, and so the deployment's lexicons
_ROUTING = (cmd_serve, cmd_worker, cmd_demo, cmd_route, cmd_routing)


if __name__ == "__main__":
    sys.exit(main())
