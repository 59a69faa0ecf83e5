"""Benchmarks: ``hub bench ...`` prints figures (see README)."""

from __future__ import annotations

import argparse

from hub.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_subparsers(dest="bench_command", required=True)


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError
