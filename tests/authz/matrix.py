"""Reading the authorization matrix (matrix.yaml) and judging a response against it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.authz.world import ACTORS

MATRIX_FILE = Path(__file__).with_name("matrix.yaml")
OUTCOMES = frozenset(
    {"ok", "masked", "empty", "not_found", "forbidden", "unauthenticated", "error"}
)
_STEP = re.compile(r"^(\w+)(?:\[(\w+)\])?$")
_CODES = {"UNAUTHENTICATED": "unauthenticated", "FORBIDDEN": "forbidden", "NOT_FOUND": "not_found"}
_PAYLOAD_PARTS = ("errors", "refusal")  # read even when the payload reports errors


@dataclass(frozen=True)
class Operation:
    name: str
    query: str
    variables: dict[str, Any]
    subscription: bool = False


@dataclass(frozen=True)
class Entry:
    coordinate: str
    op: Operation
    path: tuple[tuple[str, str | None], ...]
    expect: dict[str, str]
    full: str | None = None
    null_ok: bool = False


class MatrixError(ValueError):
    pass


def _expect(coordinate: str, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise MatrixError(f"{coordinate}: 'expect' must map actors to outcomes, not {raw!r}")
    default = raw.get("*")
    expect = {actor: raw.get(actor, default) for actor in ACTORS}
    unknown = set(raw) - {*ACTORS, "*"}
    missing = [actor for actor, outcome in expect.items() if outcome is None]
    wrong = {o for o in expect.values() if o is not None and o not in OUTCOMES}
    if unknown or missing or wrong:
        raise MatrixError(
            f"{coordinate}: unknown actors {sorted(unknown)}, no outcome for {missing}, "
            f"unknown outcomes {sorted(wrong)} (outcomes: {', '.join(sorted(OUTCOMES))})"
        )
    return expect


def _path(coordinate: str, raw: str) -> tuple[tuple[str, str | None], ...]:
    steps = []
    for part in raw.split("."):
        match = _STEP.match(part)
        if match is None:
            raise MatrixError(f"{coordinate}: path step {part!r} is not name or name[selector]")
        steps.append((match.group(1), match.group(2)))
    return tuple(steps)


def load(path: Path = MATRIX_FILE) -> dict[str, Entry]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    operations = {
        name: Operation(
            name, op["query"], dict(op.get("variables") or {}), bool(op.get("subscription"))
        )
        for name, op in raw["operations"].items()
    }
    entries: dict[str, Entry] = {}
    for group in raw["groups"]:
        if group["op"] not in operations:
            raise MatrixError(f"group names an unknown operation {group['op']!r}")
        for coordinate, spec in group["coordinates"].items():
            if coordinate in entries:
                raise MatrixError(f"{coordinate} is listed twice")
            detail = spec if isinstance(spec, dict) else {"path": spec}
            entries[coordinate] = Entry(
                coordinate=coordinate,
                op=operations[detail.get("op", group["op"])],
                path=_path(coordinate, detail["path"]),
                expect=_expect(coordinate, detail.get("expect", group.get("expect"))),
                full=detail.get("full"),
                null_ok=bool(detail.get("null_ok")),
            )
    return entries


def variables_for(op: Operation, values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: value.format_map(values) if isinstance(value, str) else value
        for name, value in op.variables.items()
    }


def _error_outcome(error: dict[str, Any]) -> str:
    code = (error.get("extensions") or {}).get("code", "")
    return _CODES.get(code, f"graphql error {code or ''}: {error.get('message')}")


def observe(body: dict[str, Any], entry: Entry, values: dict[str, Any]) -> str:
    """What an actor got at the entry's path, in the matrix's outcomes."""
    keys = [key for key, _ in entry.path]
    errors = body.get("errors") or []
    for error in errors:
        where = [k for k in error.get("path") or [] if isinstance(k, str)]
        if keys[: len(where)] == where:  # at or above the coordinate (or the whole request)
            return _error_outcome(error)
    node: Any = body.get("data")
    for key, selector in entry.path:
        if node is None:
            break
        if isinstance(node, dict) and (problems := _payload_errors(node)):
            if "not_found" in problems:
                return "not_found"
            if key not in _PAYLOAD_PARTS:
                return "error"
        node = node.get(key) if isinstance(node, dict) else None
        if selector is not None:
            node = _select(node, selector, values)
    else:
        if node is None:
            return "ok" if entry.null_ok else "not_found"
        if isinstance(node, dict) and (problems := _payload_errors(node)):
            return "not_found" if "not_found" in problems else "error"
        if node == []:
            return "empty"
        if entry.full is not None and node != values[entry.full]:
            return "masked"
        return "ok"
    if errors:  # something failed elsewhere and took this part of the answer with it
        return "; ".join(_error_outcome(e) for e in errors)
    return "not_found"


def _payload_errors(node: dict[str, Any]) -> list[str]:
    found = node.get("errors")
    if not isinstance(found, list):
        return []
    return [str(e.get("code", "")) for e in found if isinstance(e, dict)] or (
        ["error"] if found else []
    )


def _select(node: Any, selector: str, values: dict[str, Any]) -> Any:
    if not isinstance(node, list):
        return None
    if selector.isdigit():
        index = int(selector)
        return node[index] if index < len(node) else None
    wanted = values[selector]
    return next((n for n in node if n.get("registrationNumber") == wanted), None)
