"""Jurisdiction: which office handles a category at a place, and whose queues it joins.

Going up from the grievance's boundary (locality -> ward -> city -> district ->
state), the first boundary with an eligible office wins; failing all of them,
the department's headquarters. An office is eligible when it is active,
belongs to the department, covers that boundary (``office_boundary``) and
handles the category: its ``categories`` list is empty or holds the category
or one of its ancestors. Among several at one boundary the one naming the
closest ancestor wins, then one handling everything, then the smaller code.

The department is the category's own, unless the category (or its nearest
ancestor that has one) names a ``destination``: a department code routes
within that department, an office code sends the grievance to that office
directly. Without a boundary, a lat/long is located in the most specific
boundary containing it; without either, only headquarters is tried.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tortoise.expressions import Q

from hub.enums import Role
from hub.errors import DomainError, FieldError
from hub.models import Boundary, Department, Office, TaxonomyNode, User, fits
from hub.services import taxonomy
from routing_rules.geo import Locator

HEADQUARTERS = "headquarters"
DESTINATION = "destination"


@dataclass(frozen=True)
class OfficeRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Officer:
    id: int
    name: str


@dataclass(frozen=True)
class Step:
    """One place tried: a boundary (``level`` is its kind), headquarters or a destination."""

    level: str
    boundary: str | None
    office: str | None  # the office chosen here; None: nothing eligible, go on
    note: str


@dataclass(frozen=True)
class Resolution:
    category: str
    department: str
    boundary: str | None  # where the grievance is: as given, or located from the lat/long
    matched_boundary: str | None  # where the office was found; None for HQ or a destination
    office: OfficeRef | None  # None: nobody handles this category here
    chain: tuple[Step, ...]
    gro_queue: tuple[Officer, ...]
    lme_queue: tuple[Officer, ...]
    explanation: str
    located_at: tuple[float, float] | None = None
    department_id: int | None = None  # the department that acts (a destination's, or the own)

    @property
    def resolved(self) -> bool:
        return self.office is not None

    def lines(self) -> list[str]:
        """A report for people: the answer, each step tried, the queues."""
        where = self.boundary or "(none)"
        if self.located_at is not None:
            where += f" (located from {self.located_at[0]}, {self.located_at[1]})"
        found = "nobody"
        if self.office is not None:
            at = f"{self.chain[-1].level} {self.matched_boundary}" if self.matched_boundary else ""
            found = f"{self.office.code}  {self.office.name}" + (f"  (at {at})" if at else "")
        lines = [
            f"category     {self.category} (department {self.department})",
            f"boundary     {where}",
            f"office       {found}",
            "chain:",
        ]
        for step in self.chain:
            lines.append(
                f"  {step.level:13} {step.boundary or '-':24} {step.office or '-':16} {step.note}"
            )
        for label, queue in (("gro queue", self.gro_queue), ("lme queue", self.lme_queue)):
            shown = ", ".join(f"#{o.id} {o.name}" for o in queue) or "(empty)"
            lines.append(f"{label:12} {shown}")
        lines.append(f"explanation  {self.explanation}")
        return lines


@dataclass(frozen=True)
class _Office:
    id: int
    code: str
    name: str
    department_id: int
    headquarters: bool
    categories: frozenset[str]
    boundary_ids: frozenset[int]


@dataclass(frozen=True)
class _Place:
    id: int
    code: str
    kind: str


# --- choosing (pure) ---------------------------------------------------------------------


def _rank(office: _Office, lineage: Sequence[str]) -> int | None:
    """How closely an office handles a category (``lineage``: its code, then its ancestors'):
    higher is closer, 0 handles everything, None does not handle it."""
    if not office.categories:
        return 0
    for distance, code in enumerate(lineage):
        if code in office.categories:
            return len(lineage) - distance
    return None


def _eligible(offices: Iterable[_Office], lineage: Sequence[str]) -> list[_Office]:
    """The offices handling the category, best first."""
    ranked = [(rank, o) for o in offices if (rank := _rank(o, lineage)) is not None]
    ranked.sort(key=lambda pair: (-pair[0], pair[1].code))
    return [office for _, office in ranked]


def _scope(office: _Office, lineage: Sequence[str], department: str) -> str:
    matched = next((code for code in lineage if code in office.categories), None)
    return f"the {matched} subtree" if matched else f"all of {department}"


def _note(
    covering: list[_Office], eligible: list[_Office], lineage: Sequence[str], department: str
) -> str:
    if not covering:
        return f"no {department} office covers it"
    if not eligible:
        return "; ".join(
            f"{o.code} handles only {', '.join(sorted(o.categories))}" for o in covering
        )
    chosen = eligible[0]
    note = f"{chosen.code} handles {_scope(chosen, lineage, department)}"
    if len(eligible) > 1:
        note += f" (preferred to {', '.join(o.code for o in eligible[1:])})"
    return note


def _walk(
    offices: Sequence[_Office], lineage: Sequence[str], path: Sequence[_Place], department: str
) -> tuple[_Office | None, _Place | None, list[Step]]:
    steps: list[Step] = []
    for place in path:
        covering = [o for o in offices if place.id in o.boundary_ids]
        eligible = _eligible(covering, lineage)
        chosen = eligible[0] if eligible else None
        note = _note(covering, eligible, lineage, department)
        steps.append(Step(place.kind, place.code, chosen.code if chosen else None, note))
        if chosen is not None:
            return chosen, place, steps
    headquarters = [o for o in offices if o.headquarters]
    eligible = _eligible(headquarters, lineage)
    chosen = eligible[0] if eligible else None
    if not headquarters:
        note = f"{department} has no active headquarters office"
    elif chosen is not None:
        note = f"{chosen.code} is {department}'s headquarters"
    else:
        note = _note(headquarters, eligible, lineage, department)
    steps.append(Step(HEADQUARTERS, None, chosen.code if chosen else None, note))
    return chosen, None, steps


# --- resolving one category at one place ------------------------------------------------


async def resolve(
    category_code: str,
    boundary_code: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> Resolution:
    """The office, its GRO and LME queues, and the steps tried; ``DomainError`` names a bad
    field. A boundary code wins over a lat/long."""
    category, boundary = await _validate(category_code, boundary_code, latitude, longitude)
    located_at = None
    sentences: list[str] = []
    if boundary is None and latitude is not None and longitude is not None:
        located_at = (latitude, longitude)
        found = (await locator()).locate(latitude, longitude)
        if found is not None:  # None too if a load retired it since the locator was built
            boundary = (
                await Boundary.filter(code=found, active=True)
                .only("id", "code", "kind", "parent_id")
                .first()
            )
        where = f"{latitude}, {longitude}"
        if boundary is None:
            sentences.append(f"No boundary contains {where}.")
        else:
            sentences.append(f"{where} lies in {boundary.kind} {boundary.code}.")
    lineage = await _lineage(category)
    codes = [node.code for node in lineage]
    department, direct, note = await _target(lineage)
    subject = f"{category.code} ({category.name()})"
    place = f" in {boundary.code}" if boundary else " (no location)"
    if note:
        sentences.append(note)
    if direct is not None:
        office: _Office | None = direct
        matched = None
        steps = [Step(DESTINATION, None, direct.code, note)]
        sentences.append(f"{subject}{place} goes directly to {direct.code} ({direct.name}).")
    else:
        path = await _path(boundary)
        offices = await _department_offices(department.id, [p.id for p in path])
        office, matched, steps = _walk(offices, codes, path, department.code)
        sentences.append(_explain(subject + place, department.code, office, matched, steps))
    gro, lme = await _queues(office.id) if office else ((), ())
    return Resolution(
        category=category.code,
        department=department.code,
        department_id=department.id,
        boundary=boundary.code if boundary else None,
        matched_boundary=matched.code if matched else None,
        office=OfficeRef(office.id, office.code, office.name) if office else None,
        chain=tuple(steps),
        gro_queue=gro,
        lme_queue=lme,
        explanation=" ".join(sentences),
        located_at=located_at,
    )


def _explain(
    subject: str,
    department: str,
    office: _Office | None,
    matched: _Place | None,
    steps: list[Step],
) -> str:
    tried = [s.boundary for s in steps if s.boundary and s.office is None]
    passed = f" No {department} office at {', '.join(tried)} handles it." if tried else ""
    if office is None:
        return (
            f"{subject}: nobody handles it.{passed} "
            f"{department} has no eligible headquarters office."
        )
    if matched is None:
        return f"{subject}: {office.code} ({office.name}), {department} headquarters.{passed}"
    return f"{subject}: {office.code} ({office.name}) at {matched.kind} {matched.code}.{passed}"


def code_too_long(
    field: str, model: type[TaxonomyNode] | type[Boundary], code: str
) -> FieldError | None:
    """The problem with a client's code longer than any row's (the ORM refuses to compare
    one), or None."""
    if fits(model, "code", code):
        return None
    return FieldError(field, "too_long", f"No code is that long ({len(code)} characters).")


async def _validate(
    category_code: str,
    boundary_code: str | None,
    latitude: float | None,
    longitude: float | None,
) -> tuple[TaxonomyNode, Boundary | None]:
    errors = [
        problem
        for field, code, model in (
            ("categoryCode", category_code, TaxonomyNode),
            ("boundaryCode", boundary_code or "", Boundary),
        )
        if (problem := code_too_long(field, model, code)) is not None
    ]
    if errors:  # no row has such a code, and the ORM refuses to compare one
        raise DomainError(errors)
    category = await TaxonomyNode.filter(code=category_code, active=True).first()
    if category is None:
        errors.append(
            FieldError("categoryCode", "unknown", f"No active category has code '{category_code}'.")
        )
    boundary = None
    if boundary_code:
        boundary = (
            await Boundary.filter(code=boundary_code, active=True)
            .only("id", "code", "kind", "parent_id")
            .first()
        )
        if boundary is None:
            errors.append(
                FieldError("boundaryCode", "unknown", f"No boundary has code '{boundary_code}'.")
            )
    if (latitude is None) != (longitude is None):
        errors.append(FieldError("latitude", "incomplete", "Give both latitude and longitude."))
    if latitude is not None and not -90 <= latitude <= 90:
        errors.append(FieldError("latitude", "out_of_range", "Latitude must be within -90..90."))
    if longitude is not None and not -180 <= longitude <= 180:
        errors.append(
            FieldError("longitude", "out_of_range", "Longitude must be within -180..180.")
        )
    if errors or category is None:
        raise DomainError(errors)
    return category, boundary


async def _lineage(category: TaxonomyNode) -> list[TaxonomyNode]:
    """The category, then its ancestors up to the root."""
    lineage = [category]
    seen = {category.id}
    while (parent_id := lineage[-1].parent_id) is not None and parent_id not in seen:
        parent = (
            await TaxonomyNode.filter(id=parent_id)
            .only("id", "code", "parent_id", "department_id", "destination")
            .first()
        )
        if parent is None:
            break
        seen.add(parent_id)
        lineage.append(parent)
    return lineage


async def _target(lineage: list[TaxonomyNode]) -> tuple[Department, _Office | None, str]:
    """The department to route within, or an office the nearest destination names directly."""
    own = await Department.get(id=lineage[0].department_id)
    source = next((node for node in lineage if node.destination), None)
    if source is None:
        return own, None, ""
    destination = source.destination
    department = await Department.get_or_none(code=destination)
    if department is not None:
        return department, None, f"{source.code} sends its grievances to {destination}."
    office = await Office.get_or_none(code=destination)
    if office is None:
        return (
            own,
            None,
            (
                f"The destination '{destination}' of {source.code} names no department or office; "
                f"routing within {own.code}."
            ),
        )
    department = await Department.get(id=office.department_id)
    if not office.active:
        return (
            department,
            None,
            (
                f"{source.code} sends its grievances to {destination}, which is inactive; "
                f"routing within {department.code}."
            ),
        )
    direct = _Office(
        office.id, office.code, office.name, office.department_id,
        office.is_headquarters, frozenset(office.categories), frozenset(),
    )  # fmt: skip
    return department, direct, f"{source.code} sends its grievances to office {destination}."


async def _path(boundary: Boundary | None) -> list[_Place]:
    """The boundary, then its ancestors up to the state."""
    path: list[_Place] = []
    current = boundary
    seen: set[int] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        path.append(_Place(current.id, current.code, str(current.kind)))
        if current.parent_id is None:
            break
        current = (
            await Boundary.filter(id=current.parent_id)
            .only("id", "code", "kind", "parent_id")
            .first()
        )
    return path


def _offices(
    rows: Iterable[tuple[int, str, str, int, bool, list[str], int | None]],
) -> list[_Office]:
    """Offices from (id, code, name, department id, HQ, categories, covered boundary id) rows."""
    first: dict[int, tuple[str, str, int, bool, list[str]]] = {}
    covered: dict[int, set[int]] = {}
    for office_id, code, name, department_id, headquarters, categories, boundary_id in rows:
        first.setdefault(office_id, (code, name, department_id, headquarters, categories))
        ids = covered.setdefault(office_id, set())
        if boundary_id is not None:
            ids.add(boundary_id)
    return [
        _Office(oid, code, name, dept, hq, frozenset(cats or ()), frozenset(covered[oid]))
        for oid, (code, name, dept, hq, cats) in first.items()
    ]


_OFFICE_COLUMNS = (
    "id", "code", "name", "department_id", "is_headquarters", "categories", "boundaries__id",
)  # fmt: skip


async def _department_offices(department_id: int, path_ids: list[int]) -> list[_Office]:
    """Active offices of a department that cover a boundary on the path, and its HQs."""
    rows = (
        await Office.filter(department_id=department_id, active=True)
        .filter(Q(boundaries__id__in=path_ids) | Q(is_headquarters=True))
        .values_list(*_OFFICE_COLUMNS)
    )
    return _offices(rows)


async def _queues(office_id: int) -> tuple[tuple[Officer, ...], tuple[Officer, ...]]:
    staff = (
        await User.filter(office_id=office_id, active=True)
        .order_by("id")
        .values_list("id", "name", "roles")
    )
    gro = tuple(Officer(uid, name) for uid, name, roles in staff if Role.GRO.value in roles)
    lme = tuple(Officer(uid, name) for uid, name, roles in staff if Role.LME.value in roles)
    return gro, lme


# --- locating a lat/long ------------------------------------------------------------------


@dataclass
class _LocatorCache:
    generation: int = -1
    locator: Locator | None = None


_CACHE = _LocatorCache()


async def locator() -> Locator:
    """This process's locator over active boundaries; rebuilt when a rule load bumps the
    taxonomy generation."""
    current = await taxonomy.generation()
    cached = _CACHE.locator
    if cached is not None and _CACHE.generation == current:
        return cached
    built = await _build_locator()
    _CACHE.generation, _CACHE.locator = current, built
    return built


async def _build_locator() -> Locator:
    rows = await Boundary.all().values_list("id", "code", "kind", "parent_id", "geometry", "active")
    parents = {row[0]: row[3] for row in rows}

    def depth(boundary_id: int) -> int:
        steps, current = 0, parents.get(boundary_id)
        while current is not None and steps < len(parents):
            steps, current = steps + 1, parents.get(current)
        return steps

    return Locator(
        (code, str(kind), depth(bid), geometry)
        for bid, code, kind, _, geometry, active in rows
        if active and geometry
    )


# --- the report of pairs nobody handles ---------------------------------------------------


async def unresolved_pairs(department_code: str | None = None) -> list[tuple[str, str]]:
    """Active leaf category x active boundary pairs that resolve to nobody, sorted.

    Computed in memory from one read of nodes, boundaries and offices: a pair is handled
    when an eligible office covers the boundary or one above it, or an eligible
    headquarters exists; exactly the rule ``resolve`` walks."""
    departments = {d.id: d for d in await Department.all()}
    by_code = {d.code: d for d in departments.values()}
    nodes_query = TaxonomyNode.all()
    if department_code is not None:
        if department_code not in by_code:
            raise DomainError.one(
                "departmentCode", "unknown", f"No department has code '{department_code}'."
            )
        nodes_query = nodes_query.filter(department_id=by_code[department_code].id)
    nodes = await nodes_query.values_list(
        "id", "code", "parent_id", "department_id", "destination", "active"
    )
    boundaries = await Boundary.all().values_list("id", "code", "parent_id", "active")
    offices = _offices(await Office.filter(active=True).values_list(*_OFFICE_COLUMNS))
    office_rows = await Office.all().values_list("code", "department_id", "active")
    office_by_code = {code: (dept, active) for code, dept, active in office_rows}

    children: dict[int | None, list[int]] = {}
    for bid, _, parent_id, _ in boundaries:
        children.setdefault(parent_id, []).append(bid)
    active_boundaries = {bid: code for bid, code, _, active in boundaries if active}
    reach_memo: dict[int, frozenset[int]] = {}

    def reach(office: _Office) -> frozenset[int]:
        """The boundaries an office's chain reaches: those it covers and all below them."""
        if office.id not in reach_memo:
            found: set[int] = set()
            stack = list(office.boundary_ids)
            while stack:
                bid = stack.pop()
                if bid not in found:
                    found.add(bid)
                    stack.extend(children.get(bid, ()))
            reach_memo[office.id] = frozenset(found)
        return reach_memo[office.id]

    general: dict[int, list[_Office]] = {}  # per department: offices handling everything
    listing: dict[tuple[int, str], list[_Office]] = {}  # (department, code): offices naming it
    for office in offices:
        if office.categories:
            for code in office.categories:
                listing.setdefault((office.department_id, code), []).append(office)
        else:
            general.setdefault(office.department_id, []).append(office)

    by_id = {row[0]: row for row in nodes}
    lineages: dict[int, tuple[tuple[str, ...], str]] = {}

    def lineage(node_id: int) -> tuple[tuple[str, ...], str]:
        """(codes from the node up, nearest destination)"""
        walk: list[int] = []
        current: int | None = node_id
        while current is not None and current in by_id and current not in lineages:
            walk.append(current)
            current = by_id[current][2]
            if len(walk) > len(by_id):  # a cycle in stored data: stop
                break
        above: tuple[tuple[str, ...], str] = (
            lineages.get(current, ((), "")) if current else ((), "")
        )
        for nid in reversed(walk):
            _, code, _, _, destination, _ = by_id[nid]
            above = ((code, *above[0]), destination or above[1])
            lineages[nid] = above
        return lineages[node_id]

    with_active_child = {row[2] for row in nodes if row[5] and row[2] is not None}
    unresolved_by_key: dict[tuple[int, frozenset[int]], list[str]] = {}
    pairs: list[tuple[str, str]] = []
    for nid, code, _, dept_id, _, active in nodes:
        if not active or nid in with_active_child or not departments[dept_id].active:
            continue
        codes, destination = lineage(nid)
        target = dept_id
        if destination:
            if destination in by_code:
                target = by_code[destination].id
            elif destination in office_by_code:
                office_dept, office_active = office_by_code[destination]
                if office_active:
                    continue  # sent to that office directly, wherever it is
                target = office_dept
        candidates = list(general.get(target, ()))
        for ancestor in codes:
            candidates.extend(listing.get((target, ancestor), ()))
        eligible = frozenset(o.id for o in candidates)
        key = (target, eligible)
        if key not in unresolved_by_key:
            if any(o.headquarters for o in candidates):
                unresolved_by_key[key] = []
            else:
                reached: set[int] = set()
                for office in {o.id: o for o in candidates}.values():
                    reached |= reach(office)
                unresolved_by_key[key] = sorted(
                    c for bid, c in active_boundaries.items() if bid not in reached
                )
        pairs.extend((code, boundary) for boundary in unresolved_by_key[key])
    pairs.sort()
    return pairs
