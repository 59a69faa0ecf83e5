"""Benchmarks: ``hub bench ...`` prints figures (see README)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hub.settings import Settings

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/hub_bench"

BenchCommand = Callable[[Settings, argparse.Namespace], int]


_N = TypeVar("_N", int, float)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench_command", required=True)
    filing = sub.add_parser(
        "filing",
        help="fileGrievance throughput against a bare Starlette + asyncpg baseline",
        description=(
            "Re-create a PostgreSQL benchmark database, then drive the hub's fileGrievance "
            "mutation and a bare Starlette + asyncpg app doing the same writes with the "
            "same closed-loop clients, and compare their rates."
        ),
    )
    filing.add_argument(
        "--clients", type=_bounded(int, 1, 1000), default=32, help="concurrent clients (32)"
    )
    filing.add_argument(
        "--duration",
        type=_bounded(float, 1, 600),
        default=15.0,
        help="measured seconds per server (15)",
    )
    filing.add_argument(
        "--warmup",
        type=_bounded(float, 0, 120),
        default=3.0,
        help="unmeasured seconds of load before each measurement (3)",
    )
    filing.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help=f"PostgreSQL database to DROP and re-create ({DEFAULT_DATABASE_URL})",
    )
    filing.add_argument(
        "--json", action="store_true", help="end with one line of JSON holding the figures"
    )
    filing.set_defaults(bench_run=_run_filing)

    routing = sub.add_parser(
        "routing",
        help="keyword routing accuracy and latency on a CPGRAMS-format taxonomy",
        description=(
            "Build the routing index from a CPGRAMS export directory and score how often it "
            "names the organisation labelled grievances were filed with: tree alone, and "
            "with a model trained on --train (cross-validated when --train and --eval share "
            "grievances). The last line is one JSON object."
        ),
    )
    routing.add_argument("--taxonomy-dir", type=Path, required=True, help="CPGRAMS export dir")
    routing.add_argument("--eval", type=Path, required=True, help="labelled grievances (CSV)")
    routing.add_argument("--train", type=Path, default=None, help="grievances to learn from")
    routing.add_argument(
        "--folds", type=_bounded(int, 2, 20), default=5, help="cross-validation folds (5)"
    )
    routing.add_argument(
        "--shuffles",
        type=_bounded(int, 1, 100),
        default=1,
        help="shuffles of the folds to average over (1); changes are judged on 10",
    )
    routing.add_argument(
        "--seed",
        type=_bounded(int, 0, 2**31),
        default=7,
        help="seed of the first shuffle and its models' training (7)",
    )
    routing.add_argument(
        "--no-keywords", action="store_true", help="without the shipped CPGRAMS keyword overlay"
    )
    routing.add_argument(
        "--no-examples",
        action="store_true",
        help="train without the shipped CPGRAMS seed examples (with --train)",
    )
    routing.add_argument("--json", action="store_true", help="(the last line is always JSON)")
    routing.set_defaults(bench_run=_run_routing)

    from hub.bench import lifecycle  # imported here: it imports this module's helpers

    lifecycle.add_arguments(sub)


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    command: BenchCommand = args.bench_run
    return command(settings, args)


def _run_filing(settings: Settings, args: argparse.Namespace) -> int:
    from hub.bench.filing import FilingOptions, run_filing

    options = FilingOptions(
        clients=args.clients,
        duration=args.duration,
        warmup=args.warmup,
        database_url=args.database_url,
        as_json=args.json,
    )
    return run_filing(settings, options)


def _run_routing(settings: Settings, args: argparse.Namespace) -> int:
    from hub.bench.routing import RoutingOptions, run_routing
    from routing_rules.overlays import CPGRAMS_EXAMPLES, CPGRAMS_KEYWORDS

    options = RoutingOptions(
        taxonomy_dir=args.taxonomy_dir,
        eval_csv=args.eval,
        train_csv=args.train,
        keywords=None if args.no_keywords else CPGRAMS_KEYWORDS,
        examples=None if args.no_examples else CPGRAMS_EXAMPLES,
        folds=args.folds,
        seed=args.seed,
        shuffles=args.shuffles,
    )
    return run_routing(options)


def _bounded(kind: Callable[[str], _N], low: _N, high: _N) -> Callable[[str], _N]:
    def parse(raw: str) -> _N:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse
