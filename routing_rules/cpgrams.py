"""CPGRAMS category master: read the portal's CSV exports into a rule set.

Pure code: no database. The directory holds ``Complaint_Category.csv`` (the
tree; required) and optionally the Hindi tree, fixed destinations, movement
mapping and input fields. The import is refused whole, with every problem
listed as ``file: row N: problem`` (the header is row 1, as a spreadsheet
shows it). Optional files that are absent, and rows in them that name a
category the tree does not have, become warnings.

Mapping:
- every Stage 1 category (no Parent) is a ministry/department: its OrgCode is
  a ``Department``; every category below it belongs to that department, even
  when its own OrgCode differs (kept as ``attributes["org_code"]``);
- every category is a ``Node`` whose code is the CPGRAMS Code, with
  ``level = "stage<N>"`` and ``depth = N`` from the Stage column;
- ``Fixed_Destination.csv`` sets ``destination``; the input-field map and
  ``Input_Fields.csv`` set ``input_fields``; ``Movement_Mapping.csv`` rows are
  ``Hop`` s.

Categories whose Parent is not in the file (the real export has whole
subtrees under deleted parents) are problems, unless ``detach_orphans``:
then they are imported inactive, without a parent, the missing code kept as
``attributes["missing_parent"]``.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from routing_rules.rules import Department, Hop, Node, Office, RuleError, RuleSet

CATEGORIES = "Complaint_Category.csv"
HINDI = "category_tree_hindi.csv"
DESTINATIONS = "Fixed_Destination.csv"
MOVEMENTS = "Movement_Mapping.csv"
FIELDS = "Input_Fields.csv"
FIELD_MAP = "ComplaintCategory_InputFieldMap.csv"
MISSING_PARENT = "is not a Code in this file"
_REQUIRED = {
    CATEGORIES: ("Code", "Description", "OrgCode", "Parent", "Stage"),
    HINDI: ("Code", "DescriptionHindi"),
    DESTINATIONS: ("FinalCategory", "Destination"),
    MOVEMENTS: (
        "categoryCodeFrom",
        "categoryCodeTo",
        "fromOrg",
        "toOrg",
        "orgLevel",
        "canClose",
        "isActive",
    ),
    FIELDS: (
        "Id",
        "Code",
        "FieldName",
        "DisplayLable",
        "FieldType",
        "FieldOrder",
        "IsMandatory",
        "DataType",
        "MinDataLength",
        "MaxDataLength",
        "IsVisible",
        "IsActive",
    ),
    FIELD_MAP: ("CategoryCode", "FieldCode"),
}
_TRUE = frozenset({"y", "yes", "true", "1"})
_FALSE = frozenset({"n", "no", "false", "0"})
_DATA_TYPES = {"num": "number"}
_MAX_CODE = 64  # TaxonomyNode.code, TaxonomyHop org codes, destination
_MAX_DEPARTMENT = 32
_EXAMPLES = 5
_DEVANAGARI = re.compile("[\u0900-\u097f]")

Row = dict[str, str]


@dataclass
class CpgramsRuleSet(RuleSet):
    """A rule set plus what was skipped or assumed on the way, one line each."""

    warnings: list[str] = field(default_factory=list)


@dataclass
class _Category:
    row: int
    code: str
    parent: str | None
    org: str
    stage: int
    name: str
    monitoring_code: str = ""


class _Problems:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, file: str, row: int, problem: str) -> None:
        self.lines.append(f"{file}: row {row}: {problem}")

    def whole(self, file: str, row: int, column: str, value: str) -> int | None:
        """``12``, ``12.0`` or blank (None); anything else is a problem (and None)."""
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            pass
        try:
            number = float(value)  # the export writes some integers as floats: "12.0"
        except ValueError:
            number = float("nan")
        if number != number or not number.is_integer():  # NaN, infinite or fractional
            self.add(file, row, f"{column} '{value}' is not a whole number")
            return None
        return int(number)

    def code(self, file: str, row: int, column: str, value: str) -> str | None:
        number = self.whole(file, row, column, value)
        return None if number is None else str(number)

    def flag(self, file: str, row: int, column: str, value: str, default: bool) -> bool:
        lowered = value.lower()
        if not lowered:
            return default
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        self.add(file, row, f"{column} '{value}' is not Y/N or True/False")
        return default


def read_cpgrams(directory: Path, *, detach_orphans: bool = False) -> CpgramsRuleSet:
    """Read a CPGRAMS export directory; raise ``RuleError`` listing every problem."""
    if not directory.is_dir():
        raise RuleError([f"{directory}: not a directory"])
    problems = _Problems()
    result = CpgramsRuleSet()
    tables: dict[str, list[tuple[int, Row]] | None] = {}
    for name in _REQUIRED:
        tables[name] = _read_table(directory / name, problems, result)
    categories, unreadable = _categories(tables[CATEGORIES], problems)
    ordered, orphaned = _tree_order(
        categories, unreadable, problems, result.warnings, detach_orphans
    )
    hindi = _hindi(tables[HINDI], categories, problems, result.warnings)
    destinations = _destinations(tables[DESTINATIONS], categories, problems, result.warnings)
    fields = _input_fields(tables[FIELDS], tables[FIELD_MAP], categories, problems, result)
    result.hops = _hops(tables[MOVEMENTS], categories, problems, result.warnings)
    if problems.lines:
        raise RuleError(problems.lines)

    roots = {code: categories[code] for code in ordered if categories[code].parent is None}
    result.departments = _departments(roots, hindi, result.warnings)
    result.nodes = _nodes(ordered, categories, orphaned, hindi, destinations, fields, result)
    result.offices = _offices(result)
    result.files = [directory / name for name in _REQUIRED if tables[name] is not None]
    return result


def _read_table(
    path: Path, problems: _Problems, result: CpgramsRuleSet
) -> list[tuple[int, Row]] | None:
    name = path.name
    if not path.is_file():
        if name == CATEGORIES:
            problems.lines.append(f"{name}: file not found in {path.parent}")
        else:
            result.warnings.append(f"{name}: not found; {_WITHOUT[name]}")
        return None
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [cell.strip() for cell in next(reader, [])]
            missing = [column for column in _REQUIRED[name] if column not in header]
            if missing:
                problems.add(name, 1, f"missing column(s) {', '.join(missing)}")
                return None
            rows = []
            for number, cells in enumerate(reader, start=2):
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    problems.add(
                        name, number, f"has {len(cells)} cells; the header has {len(header)}"
                    )
                    continue
                rows.append((number, {k: v.strip() for k, v in zip(header, cells, strict=True)}))
    except UnicodeDecodeError as exc:
        problems.lines.append(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    except csv.Error as exc:
        problems.lines.append(f"{name}: not readable as CSV: {exc}")
        return None
    return rows


_WITHOUT = {
    HINDI: "no Hindi names; every category is active",
    DESTINATIONS: "no fixed destinations",
    MOVEMENTS: "no movement hops",
    FIELDS: "no input fields",
    FIELD_MAP: "no input fields",
}


def _clean(text: str) -> str:
    """Excel's ``_x000D_`` escapes, line breaks and runs of spaces become one space."""
    return " ".join(text.replace("_x000D_", " ").split())


def _categories(
    table: list[tuple[int, Row]] | None, problems: _Problems
) -> tuple[dict[str, _Category], set[str]]:
    """The categories by Code, and the Codes of rows too broken to place in the tree."""
    categories: dict[str, _Category] = {}
    unreadable: set[str] = set()
    for row, cells in table or []:
        code = problems.code(CATEGORIES, row, "Code", cells["Code"])
        parent = problems.code(CATEGORIES, row, "Parent", cells["Parent"])
        stage = problems.whole(CATEGORIES, row, "Stage", cells["Stage"])
        monitoring = problems.code(
            CATEGORIES, row, "MonitoringCode", cells.get("MonitoringCode", "")
        )
        name = _clean(cells["Description"])
        org = cells["OrgCode"]
        if not cells["Code"]:
            problems.add(CATEGORIES, row, "Code is blank")
        if not name:
            problems.add(CATEGORIES, row, "Description is blank")
        if not cells["Stage"]:
            problems.add(CATEGORIES, row, "Stage is blank")
        elif stage is not None and stage < 1:
            problems.add(CATEGORIES, row, f"Stage {stage} is below 1")
        if code is None or stage is None:
            unreadable.add(code or cells["Code"])
            continue
        if len(code) > _MAX_CODE:
            problems.add(CATEGORIES, row, f"Code '{code}' is longer than {_MAX_CODE} characters")
        if parent is None and not cells["Parent"]:
            if stage != 1:
                problems.add(CATEGORIES, row, f"has no Parent but Stage {stage}; only Stage 1 may")
            if not org:
                problems.add(CATEGORIES, row, "OrgCode is blank on a Stage 1 category")
            elif len(org) > _MAX_DEPARTMENT:
                problems.add(CATEGORIES, row, f"OrgCode '{org}' is longer than {_MAX_DEPARTMENT}")
        elif parent is None:
            unreadable.add(code)  # an unreadable Parent, already listed
            continue
        elif stage == 1:
            problems.add(CATEGORIES, row, f"is Stage 1 but has Parent {parent}")
        if code in categories:
            first = categories[code].row
            problems.add(CATEGORIES, row, f"Code {code} repeats row {first}")
            continue
        categories[code] = _Category(row, code, parent, org, stage, name, monitoring or "")
    return categories, unreadable


def _tree_order(
    categories: dict[str, _Category],
    unreadable: set[str],
    problems: _Problems,
    warnings: list[str],
    detach_orphans: bool,
) -> tuple[list[str], set[str]]:
    """Codes parents-first (file order among siblings) and the detached orphan subtrees."""
    children: dict[str | None, list[str]] = defaultdict(list)
    orphans: list[str] = []
    for code, category in categories.items():
        if category.parent is not None and category.parent not in categories:
            orphans.append(code)
        else:
            children[category.parent].append(code)

    def walk(tops: Iterable[str]) -> Iterator[str]:
        stack = list(reversed(list(tops)))
        while stack:
            code = stack.pop()
            yield code
            stack.extend(reversed(children.get(code, [])))

    ordered = list(walk(children[None]))
    orphaned = list(walk(orphans)) if detach_orphans else []
    placed = set(ordered) | set(orphaned)
    if not detach_orphans:
        for code in orphans:
            category = categories[code]
            if category.parent not in unreadable:
                problems.add(
                    CATEGORIES,
                    category.row,
                    f"Parent {category.parent} of Code {code} {MISSING_PARENT}",
                )
        placed |= set(walk(orphans))
    elif orphans:
        ministries = {c.org for c in categories.values() if c.parent is None}
        for code in orphans:
            category = categories[code]
            if category.org not in ministries and category.parent not in unreadable:
                problems.add(
                    CATEGORIES,
                    category.row,
                    f"Parent {category.parent} of Code {code} {MISSING_PARENT}, and its "
                    f"OrgCode {category.org} is no Stage 1 category's: nowhere to detach it to",
                )
        missing = sorted({categories[c].parent or "" for c in orphans}, key=_numeric)
        warnings.append(
            f"{CATEGORIES}: categories whose Parent is not in the file: {len(orphans)}, under "
            f"{len(missing)} missing Parents ({_examples(missing)}); imported inactive without "
            f"a parent, with their {len(orphaned) - len(orphans)} descendants"
        )
    _report_cycles(categories, placed, problems)
    mismatched = [
        code
        for code in ordered + orphaned
        if (parent := categories[code].parent) in categories
        and categories[code].stage != categories[parent].stage + 1
    ]
    if mismatched:
        warnings.append(
            f"{CATEGORIES}: categories whose Stage is not their parent's Stage + 1: "
            f"{len(mismatched)} ({_examples(mismatched)}); depth follows Stage as given"
        )
    return ordered + orphaned, set(orphaned)


def _report_cycles(categories: dict[str, _Category], placed: set[str], problems: _Problems) -> None:
    """Anything not reachable from a Stage 1 category or an orphan sits on or below a cycle."""
    reported: set[str] = set()
    for code in categories:
        if code in placed or code in reported:
            continue
        path: list[str] = []
        current: str | None = code
        while current is not None and current not in path and current not in reported:
            path.append(current)
            current = categories[current].parent
        if current is None or current in reported:
            continue
        loop = path[path.index(current) :]
        reported.update(loop)
        first = min(loop, key=lambda c: categories[c].row)
        start = loop.index(first)
        ring = [*loop[start:], *loop[:start], first]
        # walking up the Parent links: each code's Parent is the next one
        problems.add(
            CATEGORIES,
            categories[first].row,
            f"Code {first} is its own ancestor (Parent links {' -> '.join(ring)})",
        )


def _hindi(
    table: list[tuple[int, Row]] | None,
    categories: dict[str, _Category],
    problems: _Problems,
    warnings: list[str],
) -> dict[str, tuple[str, bool, str]]:
    """Code -> (Hindi name, active, mapping code)."""
    found: dict[str, tuple[str, bool, str]] = {}
    unknown: list[str] = []
    disagree: list[str] = []
    untranslated: list[str] = []
    for row, cells in table or []:
        code = problems.code(HINDI, row, "Code", cells["Code"])
        active = problems.flag(HINDI, row, "IsActive", cells.get("IsActive", ""), True)
        if code is None:
            continue
        if code not in categories:
            unknown.append(code)
            continue
        category = categories[code]
        parent = cells.get("Parent", "")
        if (parent and problems.code(HINDI, row, "Parent", parent) != category.parent) or (
            cells.get("OrgCode", category.org) != category.org
        ):
            disagree.append(code)
        name = _clean(cells["DescriptionHindi"])
        if name and not _DEVANAGARI.search(name):
            untranslated.append(code)  # mostly a copy of the English Description
            name = ""
        mapping = cells.get("MappingCode", "")
        found[code] = (name, active, problems.code(HINDI, row, "MappingCode", mapping) or "")
    if unknown:
        warnings.append(
            f"{HINDI}: Codes not in {CATEGORIES}: {len(unknown)} ({_examples(unknown)}); skipped"
        )
    if untranslated:
        warnings.append(
            f"{HINDI}: DescriptionHindi without Devanagari: {len(untranslated)} "
            f"({_examples(untranslated)}); not used as Hindi names"
        )
    if disagree:
        warnings.append(
            f"{HINDI}: categories with another Parent or OrgCode than in {CATEGORIES}: "
            f"{len(disagree)} ({_examples(disagree)}); {CATEGORIES} wins"
        )
    return found


def _destinations(
    table: list[tuple[int, Row]] | None,
    categories: dict[str, _Category],
    problems: _Problems,
    warnings: list[str],
) -> dict[str, str]:
    found: dict[str, str] = {}
    rows: dict[str, int] = {}
    unknown: list[str] = []
    for row, cells in table or []:
        code = problems.code(DESTINATIONS, row, "FinalCategory", cells["FinalCategory"])
        destination = cells["Destination"]
        if code is None or not destination:
            continue
        if len(destination) > _MAX_CODE:
            problems.add(DESTINATIONS, row, f"Destination '{destination}' is too long")
        if code not in categories:
            unknown.append(code)
        elif code in found and found[code] != destination:
            problems.add(
                DESTINATIONS,
                row,
                f"FinalCategory {code} goes to {destination} here but to {found[code]} "
                f"on row {rows[code]}",
            )
        else:
            found[code], rows[code] = destination, row
    if unknown:
        warnings.append(
            f"{DESTINATIONS}: FinalCategory codes not in {CATEGORIES}: {len(unknown)} "
            f"({_examples(unknown)}); skipped"
        )
    return found


def _input_fields(
    fields_table: list[tuple[int, Row]] | None,
    map_table: list[tuple[int, Row]] | None,
    categories: dict[str, _Category],
    problems: _Problems,
    result: CpgramsRuleSet,
) -> dict[str, tuple[dict[str, Any], ...]]:
    """Category code -> its active, visible form fields in FieldOrder."""
    if fields_table is None or map_table is None:
        if (fields_table is None) != (map_table is None):
            present = FIELDS if map_table is None else FIELD_MAP
            result.warnings.append(f"{present}: ignored without its partner file")
        return {}
    groups: dict[str, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    for row, cells in fields_table:
        group = problems.code(FIELDS, row, "Code", cells["Code"])
        order = problems.whole(FIELDS, row, "FieldOrder", cells["FieldOrder"])
        minimum = problems.whole(FIELDS, row, "MinDataLength", cells["MinDataLength"])
        maximum = problems.whole(FIELDS, row, "MaxDataLength", cells["MaxDataLength"])
        ident = problems.whole(FIELDS, row, "Id", cells["Id"])
        required = problems.flag(FIELDS, row, "IsMandatory", cells["IsMandatory"], False)
        visible = problems.flag(FIELDS, row, "IsVisible", cells["IsVisible"], True)
        active = problems.flag(FIELDS, row, "IsActive", cells["IsActive"], True)
        if group is None or not (visible and active):
            continue
        data_type = cells["DataType"].lower()
        spec = {
            "name": cells["FieldName"],
            "label": _clean(cells["DisplayLable"]) or cells["FieldName"],
            "type": cells["FieldType"].lower(),
            "order": order or 0,
            "required": required,
            "data_type": _DATA_TYPES.get(data_type, data_type),
            "min_length": minimum,
            "max_length": maximum or None,  # 0 in the export means no limit
        }
        groups[group].append((order or 0, ident or row, spec))

    found: dict[str, tuple[dict[str, Any], ...]] = {}
    mapped: set[tuple[str, str]] = set()
    unknown: list[str] = []
    no_fields: list[str] = []
    for row, cells in map_table:
        code = problems.code(FIELD_MAP, row, "CategoryCode", cells["CategoryCode"])
        group = problems.code(FIELD_MAP, row, "FieldCode", cells["FieldCode"])
        if code is None or group is None or (code, group) in mapped:
            continue
        mapped.add((code, group))
        if code not in categories:
            unknown.append(code)
        elif group not in groups:
            no_fields.append(group)
        else:
            extra = [spec for _, _, spec in sorted(groups[group], key=lambda g: g[:2])]
            found[code] = found.get(code, ()) + tuple(extra)
    if unknown:
        result.warnings.append(
            f"{FIELD_MAP}: CategoryCodes not in {CATEGORIES}: {len(unknown)} "
            f"({_examples(unknown)}); skipped"
        )
    if no_fields:
        result.warnings.append(
            f"{FIELD_MAP}: FieldCodes with no active, visible field in {FIELDS}: "
            f"{len(no_fields)} ({_examples(sorted(set(no_fields), key=_numeric))}); skipped"
        )
    return found


def _hops(
    table: list[tuple[int, Row]] | None,
    categories: dict[str, _Category],
    problems: _Problems,
    warnings: list[str],
) -> list[Hop]:
    """Movement rows; rows repeating a hop (differing only in dependentOn) are merged."""
    hops: dict[tuple[str, str, str, str, int], Hop] = {}
    unknown: list[str] = []
    merged = 0
    for row, cells in table or []:
        source = problems.code(MOVEMENTS, row, "categoryCodeFrom", cells["categoryCodeFrom"])
        target = problems.code(MOVEMENTS, row, "categoryCodeTo", cells["categoryCodeTo"])
        level = problems.whole(MOVEMENTS, row, "orgLevel", cells["orgLevel"])
        can_close = problems.flag(MOVEMENTS, row, "canClose", cells["canClose"], False)
        active = problems.flag(MOVEMENTS, row, "isActive", cells["isActive"], True)
        from_org, to_org = cells["fromOrg"], cells["toOrg"]
        for column, org in (("fromOrg", from_org), ("toOrg", to_org)):
            if not org:
                problems.add(MOVEMENTS, row, f"{column} is blank")
            elif len(org) > _MAX_CODE:
                problems.add(MOVEMENTS, row, f"{column} '{org}' is too long")
        if source is None or target is None or level is None:
            if not (cells["categoryCodeFrom"] and cells["categoryCodeTo"] and cells["orgLevel"]):
                problems.add(
                    MOVEMENTS, row, "categoryCodeFrom, categoryCodeTo and orgLevel are required"
                )
            continue
        if source not in categories or target not in categories:
            unknown.append(source if source not in categories else target)
            continue
        key = (source, target, from_org, to_org, level)
        hop = Hop(
            source, target, from_org, to_org, level, can_close, cells.get("dependentOn", ""), active
        )
        if (seen := hops.get(key)) is not None:
            merged += 1
            # a hop without dependentOn applies always, which covers any conditional one
            either = "" if "" in (seen.depends_on, hop.depends_on) else seen.depends_on
            depends = sorted({*either.split(","), hop.depends_on}) if either else []
            hop = Hop(
                *key[:4],
                level,
                seen.can_close or can_close,
                ",".join(depends),
                seen.active or active,
            )
            if len(hop.depends_on) > _MAX_CODE:
                problems.add(
                    MOVEMENTS, row, f"dependentOn values for this hop exceed {_MAX_CODE} characters"
                )
        hops[key] = hop
    if unknown:
        warnings.append(
            f"{MOVEMENTS}: rows naming categories not in {CATEGORIES}: {len(unknown)} "
            f"({_examples(unknown)}); skipped"
        )
    if merged:
        warnings.append(
            f"{MOVEMENTS}: rows repeating a hop (same categories, orgs and orgLevel): {merged}; "
            "merged, their dependentOn values joined with ','"
        )
    return list(hops.values())


def _offices(rules: RuleSet) -> list[Office]:
    """A headquarters office per department, and one office per destination organisation
    that is not itself a department (a sub-organisation), so that every category resolves
    to someone who must act. Boundaries and officers are the deployment's to add."""
    departments = {d.code: d for d in rules.departments}
    offices = [
        Office(
            code=f"{d.code}-HQ",
            name=f"{d.names.get('en', d.code)} (headquarters)",
            department=d.code,
            headquarters=True,
        )
        for d in rules.departments
    ]
    taken = {o.code for o in offices} | set(departments)
    for node in rules.nodes:
        destination = node.destination
        if destination and destination not in taken:
            taken.add(destination)
            offices.append(Office(code=destination, name=destination, department=node.department))
    return offices


def _departments(
    roots: dict[str, _Category], hindi: dict[str, tuple[str, bool, str]], warnings: list[str]
) -> list[Department]:
    departments: dict[str, Department] = {}
    shared: list[str] = []
    for code, root in roots.items():
        names = {"en": root.name}
        hi, active, _ = hindi.get(code, ("", True, ""))
        if hi:
            names["hi"] = hi
        if (first := departments.get(root.org)) is not None:
            shared.append(root.org)
            departments[root.org] = Department(root.org, first.names, first.active or active)
        else:
            departments[root.org] = Department(root.org, names, active)
    if shared:
        warnings.append(
            f"{CATEGORIES}: OrgCodes with more than one Stage 1 category ({_examples(shared)}); "
            "the department takes the first one's names"
        )
    return list(departments.values())


def _nodes(
    ordered: list[str],
    categories: dict[str, _Category],
    orphaned: set[str],
    hindi: dict[str, tuple[str, bool, str]],
    destinations: dict[str, str],
    fields: dict[str, tuple[dict[str, Any], ...]],
    result: CpgramsRuleSet,
) -> list[Node]:
    department_of: dict[str, str] = {}
    active_of: dict[str, bool] = {}
    foreign: list[str] = []
    nodes = []
    for code in ordered:
        category = categories[code]
        parent = category.parent
        hi, active, mapping = hindi.get(code, ("", True, ""))
        attributes: dict[str, Any] = {}
        if code in orphaned and parent not in categories:
            attributes["missing_parent"] = parent
            parent, department, active = None, category.org, False
        elif parent is None:
            department = category.org
        else:
            department = department_of[parent]
            active = active and active_of[parent]
        if category.org != department:
            attributes["org_code"] = category.org
            foreign.append(code)
        if category.monitoring_code:
            attributes["monitoring_code"] = category.monitoring_code
        if mapping:
            attributes["mapping_code"] = mapping
        department_of[code], active_of[code] = department, active
        nodes.append(
            Node(
                code=code,
                department=department,
                parent=parent,
                level=f"stage{category.stage}",
                depth=category.stage,
                names={"en": category.name, "hi": hi} if hi else {"en": category.name},
                keywords=(),
                synonyms=(),
                sla_days=None,
                active=active,
                effective_from=None,
                destination=destinations.get(code, ""),
                input_fields=fields.get(code, ()),
                attributes=attributes,
            )
        )
    if foreign:
        result.warnings.append(
            f"{CATEGORIES}: categories with another OrgCode than their ministry's: "
            f"{len(foreign)} ({_examples(foreign)}); kept as attributes.org_code"
        )
    return nodes


def _numeric(code: str) -> tuple[int, str]:
    return (int(code), "") if code.isdigit() else (0, code)


def _examples(codes: list[str]) -> str:
    shown = ", ".join(codes[:_EXAMPLES])
    return f"e.g. {shown}, ..." if len(codes) > _EXAMPLES else shown
