"""``make audit``: an outside GraphQL audit tool against ``hub serve`` in production mode.

The tool is Clairvoyance (PyPI ``clairvoyance``, github.com/nikitastupin/clairvoyance): with
introspection off, it rebuilds a schema from what validation errors give away, brute-forcing
field, argument and type names from its word list through "Did you mean" hints and the
messages that name a field's type. It runs from its own virtualenv (``.venv-audit``, made
by ``make audit``), so its pinned dependencies never meet the project's.

graphql-cop, the tool first asked for, is not on PyPI: ``graphql-cop`` 0.0.1 there is a
reserved-name placeholder with no code, and the real one (github.com/dolevf/graphql-cop) is
published on GitHub only. vamp-graphql-audit (PyPI) was tried and left out: it crashes on a
spec-conforming ``{"data": null, "errors": [...]}`` answer to its introspection query, and,
with that patched, its findings were product CVE probes that fire on any server (Hasura,
Apollo Router, Hot Chocolate) plus plain HTTP on loopback.

Usage: python -m tests.fuzzing.audit [--tool-venv .venv-audit] [--keep DIR]
Exit status: 0 when the tool recovers nothing, 1 when it reports findings, 2 when it could
not run.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fuzzing.server import ROOT, Hub, HubFailed

TOOL = "clairvoyance"
TOOL_SECONDS = 900
BUILTIN_SCALARS = frozenset({"String", "ID", "Int", "Float", "Boolean"})
# Clairvoyance gives a type it could not look into one placeholder field.
PLACEHOLDER = "dummy"
# What Clairvoyance says when validation errors give it no foothold at all: no field name
# can be told from a wrong one, so there is nothing to rebuild from.
NO_FOOTHOLD = "Field Suggestion is not fully enabled on this endpoint"


def recovered(schema: dict[str, Any]) -> list[str]:
    """What the tool learnt: ``Type.field`` for every real field and input field, and
    ``Type`` for every type it named (beyond the built-in scalars and the root types)."""
    found: list[str] = []
    roots = {
        (schema.get(key) or {}).get("name")
        for key in ("queryType", "mutationType", "subscriptionType")
    }
    for kind in schema.get("types") or []:
        name = str(kind.get("name"))
        if name in BUILTIN_SCALARS or name.startswith("__"):
            continue
        fields = [*(kind.get("fields") or []), *(kind.get("inputFields") or [])]
        names = [str(f.get("name")) for f in fields if f.get("name") != PLACEHOLDER]
        if names:
            found.extend(f"{name}.{field}" for field in sorted(names))
        elif name not in roots:
            found.append(name)
    return found


def run_tool(tool_venv: Path, url: str, output: Path) -> dict[str, Any] | None:
    """The schema the tool rebuilt, or None when it found no foothold to start from."""
    executable = tool_venv / "bin" / TOOL
    if not executable.exists():
        raise HubFailed(f"{executable} is missing; `make audit` installs it")
    command = [str(executable), url, "-o", str(output), "--max-retries", "2"]
    print(f"audit: {' '.join(command)}", flush=True)
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TOOL_SECONDS, check=False
    )
    if done.returncode != 0 and NO_FOOTHOLD in done.stdout + done.stderr:
        print(f"audit: {TOOL} gave up: '{NO_FOOTHOLD}'", flush=True)
        return None
    if done.returncode != 0 or not output.exists():
        raise HubFailed(f"{TOOL} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}")
    schema: dict[str, Any] = json.loads(output.read_text())["data"]["__schema"]
    return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing.audit")
    parser.add_argument("--tool-venv", type=Path, default=ROOT / ".venv-audit")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args(argv)
    # `kill` stops the server too (the context manager's cleanup runs on SystemExit)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))

    with tempfile.TemporaryDirectory(prefix="hub-audit-") as scratch:
        workdir = args.keep or Path(scratch)
        try:
            hub = Hub.prepare(workdir)
            with hub.serve() as server:
                print(f"audit: hub serve (production mode) at {server.graphql_url}", flush=True)
                schema = run_tool(args.tool_venv, server.graphql_url, workdir / f"{TOOL}.json")
                problems = server.log_problems()
        except HubFailed as exc:
            print(f"audit: could not run: {exc}", file=sys.stderr)
            return 2
    found = recovered(schema) if schema is not None else []
    for line in problems:
        print(f"audit: the server logged an error during the audit: {line[:2000]}")
    if found:
        print(
            f"audit: FINDING: {TOOL} rebuilt {len(found)} schema elements with introspection"
            " off (from the types and fields that validation errors name):"
        )
        for item in found:
            print(f"  {item}")
    if found or problems:
        return 1
    print(f"audit: {TOOL} recovered nothing beyond the root types; no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
