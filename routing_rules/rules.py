"""Rule files: read, validate and flatten taxonomy and boundary YAML.

Pure code: no database. A rule set is refused whole, with every problem
listed as ``file: path.inside.it: problem``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Code = str
LEVELS = ("line_department", "service", "grievance", "category", "subcategory")
BOUNDARY_KINDS = ("state", "district", "city", "ward", "locality")
_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NodeSpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN)
    level: str = "category"
    names: dict[str, str] = Field(min_length=1)
    keywords: list[str] = []
    synonyms: list[str] = []
    sla_days: int | None = Field(default=None, ge=1, le=365)
    active: bool = True
    children: list[NodeSpec] = []


class DepartmentSpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN, max_length=32)
    names: dict[str, str] = Field(min_length=1)
    sla_days: int | None = Field(default=None, ge=1, le=365)
    active: bool = True
    nodes: list[NodeSpec] = []


class TaxonomyFile(_Strict):
    version: int = 1
    effective_from: dt.date | None = None
    departments: list[DepartmentSpec]


class BoundarySpec(_Strict):
    code: str = Field(pattern=_CODE_PATTERN)
    kind: Literal["state", "district", "city", "ward", "locality"]
    names: dict[str, str] = Field(min_length=1)
    children: list[BoundarySpec] = []


class BoundaryFile(_Strict):
    version: int = 1
    boundaries: list[BoundarySpec]


@dataclass(frozen=True)
class Department:
    code: Code
    names: dict[str, str]
    active: bool


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


@dataclass
class RuleSet:
    departments: list[Department] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


class RuleError(ValueError):
    """Every problem in a rule set, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def read_rules(path: Path) -> RuleSet:
    """Read a rule file or a directory of ``*.yaml`` files; raise ``RuleError`` listing all."""
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    if not files:
        raise RuleError([f"{path}: no *.yaml rule files found"])
    rules = RuleSet(files=files)
    problems: list[str] = []
    for file in files:
        problems.extend(_read_file(file, rules))
    problems.extend(_cross_check(rules))
    if problems:
        raise RuleError(problems)
    return rules


def _read_file(file: Path, rules: RuleSet) -> list[str]:
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{file}: file not found"]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [f"{file}: not valid YAML: {exc}".replace("\n", " ")]
    if not isinstance(raw, dict):
        return [f"{file}: must be a mapping with 'departments' or 'boundaries' at the top"]
    model: type[TaxonomyFile] | type[BoundaryFile]
    if "departments" in raw:
        model = TaxonomyFile
    elif "boundaries" in raw:
        model = BoundaryFile
    else:
        return [f"{file}: must have 'departments' or 'boundaries' at the top"]
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        return [_format_error(file, err) for err in exc.errors()]
    if isinstance(parsed, TaxonomyFile):
        _flatten_taxonomy(parsed, rules)
    else:
        for spec in parsed.boundaries:
            _flatten_boundary(spec, None, rules)
    return []


def _format_error(file: Path, err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"]) or "(top)"
    value = err.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    return f"{file}: {where}: {err['msg']}{shown}"


def _flatten_taxonomy(parsed: TaxonomyFile, rules: RuleSet) -> None:
    for dept in parsed.departments:
        rules.departments.append(Department(dept.code, dict(dept.names), dept.active))
        for spec in dept.nodes:
            _flatten_node(spec, dept, None, 1, dept.sla_days, parsed.effective_from, rules)


def _flatten_node(
    spec: NodeSpec,
    dept: DepartmentSpec,
    parent: Code | None,
    depth: int,
    inherited_sla: int | None,
    effective_from: dt.date | None,
    rules: RuleSet,
) -> None:
    sla = spec.sla_days or inherited_sla
    rules.nodes.append(
        Node(
            code=spec.code,
            department=dept.code,
            parent=parent,
            level=spec.level,
            depth=depth,
            names=dict(spec.names),
            keywords=tuple(spec.keywords),
            synonyms=tuple(spec.synonyms),
            sla_days=sla,
            active=spec.active and dept.active,
            effective_from=effective_from,
        )
    )
    for child in spec.children:
        _flatten_node(child, dept, spec.code, depth + 1, sla, effective_from, rules)


def _flatten_boundary(spec: BoundarySpec, parent: Code | None, rules: RuleSet) -> None:
    rules.boundaries.append(Boundary(spec.code, spec.kind, parent, dict(spec.names)))
    for child in spec.children:
        _flatten_boundary(child, spec.code, rules)


def _cross_check(rules: RuleSet) -> list[str]:
    problems = []
    for kind, codes in (
        ("department", [d.code for d in rules.departments]),
        ("taxonomy node", [n.code for n in rules.nodes]),
        ("boundary", [b.code for b in rules.boundaries]),
    ):
        seen: set[str] = set()
        for code in codes:
            if code in seen:
                problems.append(f"duplicate {kind} code '{code}'")
            seen.add(code)
    return problems
