"""Taxonomy and boundaries: load validated rule sets into the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from hub.enums import BoundaryKind
from hub.models import Boundary, Counter, Department, Office, TaxonomyHop, TaxonomyNode
from hub.services.registration import next_value
from routing_rules.rules import Node, RuleError, RuleSet

GENERATION_KEY = "taxonomy:generation"


@dataclass
class LoadReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, changed {len(self.changed)}, "
            f"deactivated {len(self.deactivated)}"
        )


def _differs(row: Any, values: dict[str, Any]) -> bool:
    return any(getattr(row, key) != value for key, value in values.items())


def _moved(rules: RuleSet, live: dict[str, tuple[str, bool]]) -> list[str]:
    """Nodes of the set whose code is an active node of a department the set does not
    load (``live``: node code -> (department code, active)). A set that loads both
    departments moves the node (a CPGRAMS export after a ministry's reorganisation: its
    codes are the portal's, so a moved category keeps its code). One that loads only the
    new department would take the node from a department it does not speak for, most
    likely by a mistyped code, so the load is refused."""
    loaded = {d.code for d in rules.departments}
    problems = []
    for node in rules.nodes:
        was, active = live.get(node.code, (node.department, False))
        if was != node.department and active and was not in loaded:
            where = f"{node.where}.code" if node.where else f"node {node.code}"
            problems.append(
                f"{where}: taxonomy node '{node.code}' is an active node of department "
                f"'{was}', which this rule set does not load: load '{was}' too (without the "
                f"node, or with it elsewhere) to move it, or give this node a new code"
            )
    return problems


def _why_inactive(node: Node, loaded: dict[str, Node], active_departments: set[str]) -> str:
    """Why a node of the set is inactive: its department, the highest inactive node above
    it (the one the file marked), or its own flag."""
    if node.department not in active_departments:
        return f"department {node.department} inactive"
    marked = None
    above = loaded.get(node.parent) if node.parent else None
    while above is not None and not above.active:
        marked = above
        above = loaded.get(above.parent) if above.parent else None
    return f"under inactive {marked.code}" if marked is not None else "inactive"


async def load_rule_set(rules: RuleSet) -> LoadReport:
    """Idempotent upsert in one transaction. Nodes missing from a department's file are
    deactivated, never deleted, so grievances that use them keep their category. A node
    taken from a department the set does not load is refused with ``RuleError`` before
    anything is written (``_moved``)."""
    report = LoadReport()
    async with in_transaction():
        departments = {d.code: d for d in await Department.all()}
        nodes = {n.code: n for n in await TaxonomyNode.all()}
        code_of = {d.id: code for code, d in departments.items()}
        problems = _moved(
            rules, {c: (code_of[n.department_id], n.active) for c, n in nodes.items()}
        )
        if problems:
            raise RuleError(problems)
        for spec in rules.departments:
            values: dict[str, Any] = {
                "names": spec.names,
                "active": spec.active,
                "escalation": spec.escalation,
            }
            department = departments.get(spec.code)
            if department is None:
                departments[spec.code] = await Department.create(code=spec.code, **values)
                report.added.append(f"department {spec.code}")
            elif _differs(department, values):
                await department.update_from_dict(values).save()
                report.changed.append(f"department {spec.code}")

        loaded = {n.code: n for n in rules.nodes}
        active_departments = {d.code for d in rules.departments if d.active}
        for node in rules.nodes:  # parents come before children
            values = {
                "department_id": departments[node.department].id,
                "parent_id": nodes[node.parent].id if node.parent else None,
                "level": node.level,
                "depth": node.depth,
                "names": node.names,
                "keywords": list(node.keywords),
                "synonyms": list(node.synonyms),
                "sla_days": node.sla_days,
                "active": node.active,
                "effective_from": node.effective_from,
                "destination": node.destination,
                "input_fields": list(node.input_fields),
                "attributes": node.attributes,
            }
            why = _why_inactive(node, loaded, active_departments)
            existing = nodes.get(node.code)
            if existing is None:
                nodes[node.code] = await TaxonomyNode.create(code=node.code, **values)
                report.added.append(f"node {node.code}" + ("" if node.active else f", {why}"))
            elif _differs(existing, values):
                deactivated = existing.active and not node.active
                await existing.update_from_dict(values).save()
                if deactivated:
                    report.deactivated.append(f"node {node.code} ({why})")
                else:
                    report.changed.append(f"node {node.code}")

        loaded_departments = {departments[d.code].id for d in rules.departments}
        listed = {n.code for n in rules.nodes}
        for code, stale in nodes.items():
            if stale.department_id in loaded_departments and code not in listed and stale.active:
                stale.active = False
                await stale.save(update_fields=["active"])
                report.deactivated.append(f"node {code}")

        boundaries = {b.code: b for b in await Boundary.all()}
        for b in rules.boundaries:
            values = {
                "kind": BoundaryKind(b.kind),
                "names": b.names,
                "parent_id": boundaries[b.parent].id if b.parent else None,
                "geometry": b.geometry,
                "active": True,
            }
            boundary = boundaries.get(b.code)
            if boundary is None:
                boundaries[b.code] = await Boundary.create(code=b.code, **values)
                report.added.append(f"boundary {b.code}")
            elif _differs(boundary, values):
                await boundary.update_from_dict(values).save()
                report.changed.append(f"boundary {b.code}")
        await _load_hops(rules, report)
        await _load_offices(rules, report)
        if report.added or report.changed or report.deactivated:
            await bump_generation()
    return report


async def _load_hops(rules: RuleSet, report: LoadReport) -> None:
    if not rules.hops:
        return
    hops = {
        (h.category_from, h.category_to, h.from_org, h.to_org, h.org_level): h
        for h in await TaxonomyHop.all()
    }
    listed = set()
    for hop in rules.hops:
        key = (hop.category_from, hop.category_to, hop.from_org, hop.to_org, hop.org_level)
        listed.add(key)
        values: dict[str, Any] = {
            "can_close": hop.can_close,
            "depends_on": hop.depends_on,
            "active": hop.active,
        }
        existing = hops.get(key)
        name = f"hop {hop.category_from}->{hop.category_to} {hop.from_org}->{hop.to_org}"
        if existing is None:
            await TaxonomyHop.create(
                category_from=hop.category_from,
                category_to=hop.category_to,
                from_org=hop.from_org,
                to_org=hop.to_org,
                org_level=hop.org_level,
                **values,
            )
            report.added.append(name)
        elif _differs(existing, values):
            await existing.update_from_dict(values).save()
            report.changed.append(name)
    for key, stale in hops.items():
        if key not in listed and stale.active:
            stale.active = False
            await stale.save(update_fields=["active"])
            report.deactivated.append(f"hop {key[0]}->{key[1]} {key[2]}->{key[3]}")


async def _load_offices(rules: RuleSet, report: LoadReport) -> None:
    """Upsert offices by code with the boundaries they cover. When the set has an
    ``offices:`` section, offices of its departments that it omits are deactivated."""
    if not rules.offices and not rules.has_offices:
        return
    departments = {
        d.code: d.id for d in await Department.filter(code__in=[d.code for d in rules.departments])
    }
    wanted = {code for spec in rules.offices for code in spec.boundaries}
    boundaries = {b.code: b for b in await Boundary.filter(code__in=wanted)}
    offices = {o.code: o for o in await Office.all().prefetch_related("boundaries")}
    for spec in rules.offices:
        values: dict[str, Any] = {
            "name": spec.name,
            "department_id": departments[spec.department],
            "is_headquarters": spec.headquarters,
            "categories": list(spec.categories),
            "active": spec.active,
        }
        office = offices.get(spec.code)
        if office is None:
            office = await Office.create(code=spec.code, **values)
            if spec.boundaries:
                await office.boundaries.add(*(boundaries[code] for code in spec.boundaries))
            report.added.append(f"office {spec.code}")
            continue
        changed = _differs(office, values)
        if changed:
            await office.update_from_dict(values).save()
        covered = {b.code: b for b in office.boundaries}
        stale = [b for code, b in covered.items() if code not in spec.boundaries]
        new = [boundaries[code] for code in spec.boundaries if code not in covered]
        if stale:
            await office.boundaries.remove(*stale)
        if new:
            await office.boundaries.add(*new)
        if changed or stale or new:
            report.changed.append(f"office {spec.code}")
    if rules.has_offices:
        loaded = set(departments.values())
        listed = {spec.code for spec in rules.offices}
        for code, stale_office in offices.items():
            if stale_office.department_id in loaded and code not in listed and stale_office.active:
                stale_office.active = False
                await stale_office.save(update_fields=["active"])
                report.deactivated.append(f"office {code}")


async def bump_generation() -> int:
    """Tell every process that the taxonomy changed: their routing indexes rebuild."""
    return await next_value(GENERATION_KEY)


async def generation() -> int:
    row = await Counter.get_or_none(key=GENERATION_KEY)
    return int(row.value) if row else 0


async def active_departments() -> list[Department]:
    return await Department.filter(active=True).order_by("code")


async def active_categories(
    department_code: str | None = None, parent_code: str | None = None, limit: int = 500
) -> list[TaxonomyNode]:
    """Active nodes under ``parent_code``, or the top level of each (or one) department."""
    query = TaxonomyNode.filter(active=True)
    if parent_code is not None:
        query = query.filter(parent__code=parent_code)
    else:
        query = query.filter(parent_id=None)
    if department_code is not None:
        query = query.filter(department__code=department_code)
    return await query.order_by("code").limit(limit)
