"""Rule files: read, validate and flatten taxonomy, boundary and office YAML.

Pure code: no database. A rule set is refused whole, with every problem
listed as ``file: path.inside.it: problem``.

Sections (a file may hold any of them):
- ``departments:``: departments, each with its taxonomy nested under ``nodes``;
- ``nodes:``: flat taxonomy nodes naming their ``department`` and ``parent`` by
  code (the parent may be nested or flat, in any file of the set);
- ``boundaries:``: state -> district -> city -> ward -> locality, nested, each
  with an optional GeoJSON ``geometry``;
- ``offices:``: offices of a department, the boundaries they cover and the
  taxonomy subtrees they handle (none listed: all of their department's).

A rule set is self-contained: every department, parent, boundary and category
it refers to must be defined by its own files, never only by the database. So
``hub rules check`` gives the answer ``hub rules load`` would, with no database,
and a load never depends on what an earlier load left behind. Load a whole
directory to change one file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing_rules.geo import geometry_problems

Code = str
BOUNDARY_KINDS = ("state", "district", "city", "ward", "locality")
SECTIONS = ("departments", "nodes", "boundaries", "offices")
_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
_T = TypeVar("_T")
# below a department, by depth: past subcategory (depth 5) a taxonomy goes on by number, as
# deep as CPGRAMS's (eight stages, the first its ministry: seven below it) and more. Not
# CPGRAMS's own stage<N>: the importer keeps those, counting the ministry's node
Level = Literal[
    "line_department",
    "service",
    "grievance",
    "category",
    "subcategory",
    "level6",
    "level7",
    "level8",
    "level9",
]
LEVELS: tuple[str, ...] = get_args(Level)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _NodeFields(_Strict):
    code: str = Field(pattern=_CODE_PATTERN)
    level: Level | None = None  # default: the level below the parent's
    names: dict[str, str] = Field(min_length=1)
    keywords: list[str] = []
    synonyms: list[str] = []
    sla_days: int | None = Field(default=None, ge=1, le=365)
    active: bool = True


class NodeSpec(_NodeFields):
    children: list[NodeSpec] = []


class FlatNodeSpec(_NodeFields):
    department: str = Field(pattern=_CODE_PATTERN, max_length=32)
    parent: str | None = Field(default=None, pattern=_CODE_PATTERN)


class EscalationLevelSpec(_Strict):
    role: Literal["lme", "gro", "nodal_officer", "hod"]
    # hours a grievance may stay at this level; none: until its SLA due date
    hours: int | None = Field(default=None, ge=1, le=24 * 365)


def _matrix_problems(levels: list[EscalationLevelSpec]) -> list[EscalationLevelSpec]:
    if not levels:
        raise ValueError("an escalation matrix needs at least one level")
    roles = [level.role for level in levels]
    if len(set(roles)) != len(roles):
        raise ValueError(f"a role appears twice: {roles}")
    return levels


class EscalationSpec(_Strict):
    # LME -> GRO -> nodal officer -> HoD, hours per level; overrides per category code
    levels: list[EscalationLevelSpec]
    categories: dict[str, list[EscalationLevelSpec]] = {}

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[EscalationLevelSpec]) -> list[EscalationLevelSpec]:
        return _matrix_problems(value)

    @field_validator("categories")
    @classmethod
    def _categories(
        cls, value: dict[str, list[EscalationLevelSpec]]
    ) -> dict[str, list[EscalationLevelSpec]]:
        for levels in value.values():
            _matrix_problems(levels)
        return value


class DepartmentSpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN, max_length=32)
    names: dict[str, str] = Field(min_length=1)
    sla_days: int | None = Field(default=None, ge=1, le=365)
    active: bool = True
    escalation: EscalationSpec | None = None
    nodes: list[NodeSpec] = []


class BoundarySpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN)
    kind: Literal["state", "district", "city", "ward", "locality"]
    names: dict[str, str] = Field(min_length=1)
    geometry: dict[str, Any] | None = None  # GeoJSON Polygon or MultiPolygon, [lon, lat]
    children: list[BoundarySpec] = []


class OfficeSpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    department: str = Field(pattern=_CODE_PATTERN, max_length=32)
    boundaries: list[str] = []
    headquarters: bool = False
    categories: list[str] = []  # taxonomy codes whose subtrees it handles; none: all
    active: bool = True


class RuleFile(_Strict):
    version: int = 1
    effective_from: dt.date | None = None
    departments: list[DepartmentSpec] = []
    nodes: list[FlatNodeSpec] = []
    boundaries: list[BoundarySpec] = []
    offices: list[OfficeSpec] = []


@dataclass(frozen=True)
class Department:
    code: Code
    names: dict[str, str]
    active: bool
    # {"levels": [{"role", "hours"}], "categories": {code: [...]}}; empty: the hub's default
    escalation: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Node:
    code: Code
    department: Code
    parent: Code | None
    level: str
    depth: int
    names: dict[str, str]
    keywords: tuple[str, ...]
    synonyms: tuple[str, ...]
    sla_days: int | None
    active: bool
    effective_from: dt.date | None
    destination: str = ""  # department/office code a grievance here is sent to; "" = own
    input_fields: tuple[dict[str, Any], ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    where: str = field(default="", compare=False)  # "file: path" it was read from, if any


@dataclass(frozen=True)
class Hop:
    """An allowed move of a grievance between organisations (CPGRAMS movement mapping)."""

    category_from: Code
    category_to: Code
    from_org: str
    to_org: str
    org_level: int
    can_close: bool
    depends_on: str = ""
    active: bool = True


@dataclass(frozen=True)
class Boundary:
    code: Code
    kind: str
    parent: Code | None
    names: dict[str, str]
    geometry: dict[str, Any] | None = None  # GeoJSON Polygon or MultiPolygon


@dataclass(frozen=True)
class Office:
    code: Code
    name: str
    department: Code
    boundaries: tuple[Code, ...] = ()
    headquarters: bool = False
    categories: tuple[Code, ...] = ()  # taxonomy subtrees it handles; empty: all
    active: bool = True


@dataclass
class RuleSet:
    departments: list[Department] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)  # parents before children
    boundaries: list[Boundary] = field(default_factory=list)  # parents before children
    hops: list[Hop] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    offices: list[Office] = field(default_factory=list)
    # an ``offices:`` section was given: offices of loaded departments it omits are retired
    has_offices: bool = False


class RuleError(ValueError):
    """Every problem in a rule set, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class _Where:
    file: Path
    path: str

    def at(self, key: str) -> str:
        return f"{self.file}: {self.path}.{key}"

    def __str__(self) -> str:
        return f"{self.file}: {self.path}"


@dataclass(frozen=True)
class _RawNode:
    code: Code
    spec: _NodeFields | None  # None: the node could not be read (its problems are listed)
    department: Code
    parent: Code | None
    flat: bool
    effective_from: dt.date | None
    where: _Where
    # what it hangs on (its department or nested parent) could not be read
    blocked: bool = False


@dataclass
class _Collected:
    """What the files define, in file order. An item that could not be read is kept with
    ``None`` (its code still counts for duplicates and references), so the set-level checks
    run over everything else without blaming it a second time."""

    departments: list[tuple[Code, DepartmentSpec | None, _Where]] = field(default_factory=list)
    nodes: list[_RawNode] = field(default_factory=list)
    boundaries: list[tuple[Code, Boundary | None, _Where]] = field(default_factory=list)
    offices: list[tuple[Code, OfficeSpec | None, _Where]] = field(default_factory=list)
    has_offices: bool = False
    shape_problems: list[str] = field(default_factory=list)  # geometry and boundary kinds
    # files that are not YAML: what they define is unknown
    unread: list[Path] = field(default_factory=list)


def read_rules(path: Path) -> RuleSet:
    """Read a rule file or a directory of ``*.yaml`` files; raise ``RuleError`` listing all."""
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    if not files:
        raise RuleError([f"{path}: no *.yaml rule files found"])
    collected = _Collected()
    problems: list[str] = []
    for file in files:
        problems.extend(_read_file(file, collected))
    rules = RuleSet(files=files, has_offices=collected.has_offices)
    problems.extend(_cross_check(collected, rules))
    if problems:
        raise RuleError(problems)
    return rules


def _read_file(file: Path, collected: _Collected) -> list[str]:
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{file}: file not found"]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        collected.unread.append(file)
        return [f"{file}: not valid YAML: {exc}".replace("\n", " ")]
    wanted = ", ".join(f"'{s}'" for s in SECTIONS)
    if not isinstance(raw, dict) or not any(section in raw for section in SECTIONS):
        collected.unread.append(file)  # what it was meant to define is unknown
    if not isinstance(raw, dict):
        return [f"{file}: must be a mapping with one or more of {wanted} at the top"]
    if not any(section in raw for section in SECTIONS):
        if "words" in raw:
            return [
                f"{file}: a lexicon, not a rule file: lexicons go in the folder "
                "HUB_LEXICON_DIR names (hub rules check FILE checks one)"
            ]
        return [f"{file}: must have one or more of {wanted} at the top"]
    problems: list[str] = []
    try:
        RuleFile.model_validate(raw)
    except ValidationError as exc:  # every problem, worded and placed as the whole file's
        problems = [_format_error(file, err) for err in exc.errors()]
        # what the part that cannot be read defines is unknown (a misspelt section, a
        # list written as a mapping): references are not blamed on it without saying so
        collected.unread.append(file)
    # then what can be read, item by item: the rest of the set is still checked against it
    top = _valid(RuleFile, {k: v for k, v in raw.items() if k not in SECTIONS})
    effective_from = top.effective_from if top else None
    for index, item in enumerate(_items(raw, "departments")):
        where = _Where(file, f"departments.{index}")
        dept = _valid(DepartmentSpec, _without(item, "nodes"))
        code = dept.code if dept else _code_of(item)
        if code is not None:
            collected.departments.append((code, dept, where))
        for n, child in enumerate(_items(item, "nodes")):
            child_where = _Where(file, f"{where.path}.nodes.{n}")
            _collect_nested(child, code, None, dept is None, effective_from, child_where, collected)
    for index, item in enumerate(_items(raw, "nodes")):
        flat = _valid(FlatNodeSpec, item)
        where = _Where(file, f"nodes.{index}")
        if flat is not None:
            node = _RawNode(
                flat.code, flat, flat.department, flat.parent, True, effective_from, where
            )
        elif (code := _code_of(item)) is not None:
            department, parent = _code_of(item, "department"), _code_of(item, "parent")
            node = _RawNode(code, None, department or "", parent, True, effective_from, where)
        else:
            continue
        collected.nodes.append(node)
    for index, item in enumerate(_items(raw, "boundaries")):
        _collect_boundary(item, None, None, _Where(file, f"boundaries.{index}"), collected)
    if "offices" in raw:
        collected.has_offices = True
    for index, item in enumerate(_items(raw, "offices")):
        office = _valid(OfficeSpec, item)
        code = office.code if office else _code_of(item)
        if code is not None:
            collected.offices.append((code, office, _Where(file, f"offices.{index}")))
    return problems


_M = TypeVar("_M", bound=BaseModel)


def _valid(model: type[_M], raw: Any) -> _M | None:
    """``raw`` as a ``model``, or None if it is not one (the problems are listed already)."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _items(raw: Any, key: str) -> list[Any]:
    found = raw.get(key) if isinstance(raw, dict) else None
    return found if isinstance(found, list) else []


def _without(raw: Any, key: str) -> Any:
    return {k: v for k, v in raw.items() if k != key} if isinstance(raw, dict) else raw


def _code_of(raw: Any, key: str = "code") -> Code | None:
    """The code an unreadable item gives, so what refers to it is not told it is missing."""
    value = raw.get(key) if isinstance(raw, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _format_error(file: Path, err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"]) or "(top)"
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    return f"{file}: {where}: {err['msg']}{shown}"


def _collect_nested(
    raw: Any,
    department: Code | None,
    parent: Code | None,
    blocked: bool,
    effective_from: dt.date | None,
    where: _Where,
    collected: _Collected,
) -> None:
    spec = _valid(NodeSpec, _without(raw, "children"))
    code = spec.code if spec else _code_of(raw)
    if code is not None:
        collected.nodes.append(
            _RawNode(code, spec, department or "", parent, False, effective_from, where, blocked)
        )
    # under a node or department that could not be read: checked for duplicates only
    blocked = blocked or spec is None or department is None
    for index, child in enumerate(_items(raw, "children")):
        child_where = _Where(where.file, f"{where.path}.children.{index}")
        _collect_nested(child, department, code, blocked, effective_from, child_where, collected)


def _collect_boundary(
    raw: Any,
    parent: BoundarySpec | None,
    parent_code: Code | None,
    where: _Where,
    collected: _Collected,
) -> None:
    """``parent``: the nearest boundary above that could be read (its kind is checked);
    ``parent_code``: the one directly above."""
    spec = _valid(BoundarySpec, _without(raw, "children"))
    problems = collected.shape_problems
    if spec is not None and spec.geometry is not None:
        for inside, problem in geometry_problems(spec.geometry):
            problems.append(where.at(f"geometry.{inside}".rstrip(".")) + f": {problem}")
    if (
        spec is not None
        and parent is not None
        and BOUNDARY_KINDS.index(spec.kind) <= BOUNDARY_KINDS.index(parent.kind)
    ):
        problems.append(
            where.at("kind") + f": a {spec.kind} cannot lie inside the {parent.kind} "
            f"'{parent.code}'; kinds go {' -> '.join(BOUNDARY_KINDS)}"
        )
    code = spec.code if spec else _code_of(raw)
    if code is not None:
        boundary = (
            Boundary(spec.code, spec.kind, parent_code, dict(spec.names), spec.geometry)
            if spec
            else None
        )
        collected.boundaries.append((code, boundary, where))
    for index, child in enumerate(_items(raw, "children")):
        child_where = _Where(where.file, f"{where.path}.children.{index}")
        # under a boundary that cannot be read, kinds are checked against the one above it
        _collect_boundary(child, spec or parent, code, child_where, collected)


def _cross_check(collected: _Collected, rules: RuleSet) -> list[str]:
    """Duplicates, references, cycles and levels across the whole set; fills ``rules``.
    What could not be read is left out silently: its own problems are listed already."""
    problems: list[str] = list(collected.shape_problems)
    departments = _first_of("department", collected.departments, problems)
    nodes = _first_of("taxonomy node", [(n.code, n, n.where) for n in collected.nodes], problems)
    boundaries = _first_of("boundary", collected.boundaries, problems)
    offices = _first_of("office", collected.offices, problems)
    for code, (_, where) in offices.items():
        if code in departments:
            problems.append(
                where.at("code") + f": office code '{code}' is also a department code; "
                "a category's destination could not tell them apart"
            )
    rules.departments = [
        Department(
            d.code,
            dict(d.names),
            d.active,
            d.escalation.model_dump(exclude_defaults=False) if d.escalation else {},
        )
        for d, _ in departments.values()
        if d is not None
    ]
    # a file that is not YAML may define what a reference names: say it was not read
    unread = ", ".join(str(file) for file in collected.unread)
    note = f" (not checked against {unread}, which could not be read whole)" if unread else ""
    for department, where in departments.values():
        if department is None:
            continue
        overrides = department.escalation.categories if department.escalation else {}
        for code in overrides:
            node = nodes.get(code)
            if node is None or node[0].department != department.code:
                problems.append(
                    where.at("escalation.categories")
                    + f": '{code}' is not a category of department '{department.code}'"
                    + (note if node is None else "")
                )
    rules.boundaries = [b for b, _ in boundaries.values() if b is not None]
    rules.nodes = _check_nodes(nodes, departments, problems, note)
    rules.offices = _check_offices(offices, departments, boundaries, nodes, problems, note)
    return problems


def _first_of(
    kind: str, items: list[tuple[Code, _T, _Where]], problems: list[str]
) -> dict[Code, tuple[_T, _Where]]:
    first: dict[Code, tuple[_T, _Where]] = {}
    for code, item, where in items:
        if code in first:
            problems.append(
                where.at("code") + f": duplicate {kind} code '{code}' "
                f"(first defined at {first[code][1]})"
            )
        else:
            first[code] = (item, where)
    return first


def _check_nodes(
    nodes: dict[Code, tuple[_RawNode, _Where]],
    departments: dict[Code, tuple[DepartmentSpec | None, _Where]],
    problems: list[str],
    note: str,
) -> list[Node]:
    usable: dict[Code, _RawNode] = {}
    for code, (raw, where) in nodes.items():
        if raw.spec is None or raw.blocked:
            continue  # it, or what it hangs on, could not be read
        parent_at = where.at("parent") if raw.flat else str(where)
        ok = True
        department = departments.get(raw.department)
        if department is None:
            problems.append(
                where.at("department") + f": unknown department '{raw.department}': "
                "no file of this rule set defines it" + note
            )
            ok = False
        elif department[0] is None:
            ok = False  # the department could not be read
        if raw.parent is not None:
            found = nodes.get(raw.parent)
            if found is None:
                problems.append(
                    parent_at + f": missing parent '{raw.parent}': "
                    "no node of this rule set has that code" + note
                )
                ok = False
            elif found[0].spec is None:
                ok = False  # the parent could not be read
            elif found[0].department != raw.department:
                problems.append(
                    parent_at + f": parent '{raw.parent}' belongs to department "
                    f"'{found[0].department}', not '{raw.department}'"
                )
                ok = False
        if ok:
            usable[code] = raw
    in_cycle = _cycles(usable, problems)
    return _ordered(usable, in_cycle, departments, problems)


def _cycles(usable: dict[Code, _RawNode], problems: list[str]) -> set[Code]:
    """Report each cycle of parents once, at its first node in file order."""
    order = {code: index for index, code in enumerate(usable)}
    state: dict[Code, int] = {}  # 1: on the current walk up, 2: done
    in_cycle: set[Code] = set()
    for start in usable:
        walk: list[Code] = []
        current: Code | None = start
        while current is not None and current in usable and current not in state:
            state[current] = 1
            walk.append(current)
            current = usable[current].parent
        if current is not None and state.get(current) == 1:
            cycle = walk[walk.index(current) :]
            in_cycle.update(cycle)
            first = min(cycle, key=order.__getitem__)
            at = cycle.index(first)
            shown = " -> ".join([*cycle[at:], *cycle[:at], first])
            problems.append(
                usable[first].where.at("parent")
                + f": cycle of parents: {shown} (each code's parent is the next)"
            )
        for code in walk:
            state[code] = 2
    return in_cycle


def _ordered(
    usable: dict[Code, _RawNode],
    in_cycle: set[Code],
    departments: dict[Code, tuple[DepartmentSpec | None, _Where]],
    problems: list[str],
) -> list[Node]:
    """Depth-first from the roots, children in file order: parents come before children.
    Levels, depths, inherited SLAs and inactivity (a node under an inactive node or
    department is inactive) are settled on the way down."""
    children: dict[Code | None, list[Code]] = {}
    for code, raw in usable.items():
        if code not in in_cycle:
            children.setdefault(raw.parent, []).append(code)
    result: list[Node] = []
    stack: list[tuple[Code, Node | None]] = [(c, None) for c in reversed(children.get(None, []))]
    while stack:
        code, parent = stack.pop()
        raw = usable[code]
        spec = raw.spec
        department = departments[raw.department][0]
        assert spec is not None and department is not None  # usable nodes were read
        parent_rank = LEVELS.index(parent.level) if parent else -1
        level: str
        if spec.level is None:
            level = LEVELS[min(parent_rank + 1, len(LEVELS) - 1)]
            if parent is not None and parent_rank + 1 >= len(LEVELS):
                problems.append(
                    f"{raw.where}: '{code}' is a child of the {parent.level} "
                    f"'{parent.code}', and no level lies below {LEVELS[-1]}"
                )
        else:
            level = spec.level
            if parent is not None and LEVELS.index(level) <= parent_rank:
                problems.append(
                    raw.where.at("level") + f": level '{level}' must lie below its parent "
                    f"'{parent.code}' ({parent.level}); levels go {' -> '.join(LEVELS)}"
                )
        node = Node(
            code=code,
            department=raw.department,
            parent=raw.parent,
            level=level,
            depth=parent.depth + 1 if parent else 1,
            names=dict(spec.names),
            keywords=tuple(spec.keywords),
            synonyms=tuple(spec.synonyms),
            sla_days=spec.sla_days or (parent.sla_days if parent else department.sla_days),
            active=spec.active and department.active and (parent is None or parent.active),
            effective_from=raw.effective_from,
            where=str(raw.where),
        )
        result.append(node)
        stack.extend((child, node) for child in reversed(children.get(code, [])))
    return result


def _check_offices(
    offices: dict[Code, tuple[OfficeSpec | None, _Where]],
    departments: dict[Code, tuple[DepartmentSpec | None, _Where]],
    boundaries: dict[Code, tuple[Boundary | None, _Where]],
    nodes: dict[Code, tuple[_RawNode, _Where]],
    problems: list[str],
    note: str,
) -> list[Office]:
    result: list[Office] = []
    headquarters: dict[Code, tuple[Code, _Where]] = {}
    for code, (spec, where) in offices.items():
        if spec is None:
            continue  # could not be read
        if spec.department not in departments:
            problems.append(
                where.at("department") + f": unknown department '{spec.department}': "
                "no file of this rule set defines it" + note
            )
        for key, listed, known, what in (
            ("boundaries", spec.boundaries, boundaries, "boundary"),
            ("categories", spec.categories, nodes, "taxonomy node"),
        ):
            seen: set[Code] = set()
            for index, item in enumerate(listed):
                if item not in known:
                    problems.append(
                        where.at(f"{key}.{index}") + f": unknown {what} '{item}': "
                        "no file of this rule set defines it" + note
                    )
                elif item in seen:
                    problems.append(where.at(f"{key}.{index}") + f": '{item}' is listed twice")
                seen.add(item)
        if spec.headquarters and spec.active:
            other = headquarters.get(spec.department)
            if other is not None:
                problems.append(
                    where.at("headquarters") + f": department '{spec.department}' already "
                    f"has the active headquarters office '{other[0]}' ({other[1]})"
                )
            else:
                headquarters[spec.department] = (code, where)
        result.append(
            Office(
                code=code,
                name=spec.name,
                department=spec.department,
                boundaries=tuple(dict.fromkeys(spec.boundaries)),
                headquarters=spec.headquarters,
                categories=tuple(dict.fromkeys(spec.categories)),
                active=spec.active,
            )
        )
    return result
