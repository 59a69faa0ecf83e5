"""Jurisdiction: point in polygon, the fallback chain, queues, lat/long and the unresolved
report, on the sample offices (routing_rules/sample/offices.yaml)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hub.enums import Role, UserKind
from hub.errors import DomainError
from hub.models import Office, TaxonomyNode, User
from hub.services import jurisdiction
from hub.services.jurisdiction import Resolution, resolve, unresolved_pairs
from hub.services.taxonomy import load_rule_set
from hub.settings import Settings
from routing_rules.geo import Locator, contains, in_ring
from routing_rules.rules import read_rules
from tests.conftest import SAMPLE_RULES, run_hub

W150 = "KA-BLR-BBMP-W150"
W174 = "KA-BLR-BBMP-W174"
SQUARE = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]
HOLE = [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]]
FAR = [[20.0, 20.0], [22.0, 20.0], [22.0, 22.0], [20.0, 22.0], [20.0, 20.0]]


def chain(found: Resolution) -> list[tuple[str, str | None, str | None]]:
    return [(step.level, step.boundary, step.office) for step in found.chain]


# --- geometry (pure) -------------------------------------------------------------------


def test_point_in_polygon_inside_outside_and_in_a_hole() -> None:
    polygon = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}
    assert contains(polygon, lat=2, lon=2)
    assert contains(polygon, lat=9.9, lon=0.1)
    assert not contains(polygon, lat=5, lon=5)  # in the hole
    assert not contains(polygon, lat=11, lon=5)  # outside the box
    assert not contains(polygon, lat=5, lon=-0.1)
    assert contains({"type": "Polygon", "coordinates": [SQUARE]}, lat=5, lon=5)


def test_point_in_a_concave_ring() -> None:
    # a U: the notch between the arms (x 4..6, y 4..10) is outside
    u_shape = [(0, 0), (10, 0), (10, 10), (6, 10), (6, 4), (4, 4), (4, 10), (0, 10), (0, 0)]
    ring = [(float(x), float(y)) for x, y in u_shape]
    assert in_ring(2, 8, ring) and in_ring(8, 8, ring) and in_ring(5, 2, ring)
    assert not in_ring(5, 8, ring)


def test_multipolygon_contains_a_point_in_any_part() -> None:
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE, HOLE], [FAR]]}
    assert contains(multi, lat=21, lon=21)
    assert contains(multi, lat=1, lon=1)
    assert not contains(multi, lat=5, lon=5)
    assert not contains(multi, lat=15, lon=15)  # inside the overall box, in neither part


def test_locator_answers_the_deepest_boundary_containing_the_point() -> None:
    inner = [[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0], [1.0, 1.0]]
    locator = Locator(
        [
            ("S", "state", 0, {"type": "Polygon", "coordinates": [SQUARE]}),
            ("C", "city", 1, {"type": "Polygon", "coordinates": [SQUARE, HOLE]}),
            ("W", "ward", 2, {"type": "Polygon", "coordinates": [inner]}),
            ("X", "ward", 2, None),  # no geometry: never answers
        ]
    )
    assert len(locator) == 3
    assert locator.locate(2, 2) == "W"
    assert locator.locate(8, 8) == "C"
    assert locator.locate(5, 5) == "S"  # in the city's hole, still in the state
    assert locator.locate(50, 50) is None
    assert locator.containing(2, 2) == ["W", "C", "S"]


# --- the fallback chain --------------------------------------------------------------------


async def test_ward_office_found_from_a_locality(settings: Settings) -> None:
    found = await resolve("UDD-ULB-SWM-GARB-DOOR", f"{W150}-L1", None, None)
    assert found.office is not None and found.office.code == "UDD-BBMP-W150"
    assert found.department == "UDD"
    assert found.boundary == f"{W150}-L1" and found.matched_boundary == W150
    assert chain(found) == [
        ("locality", f"{W150}-L1", None),
        ("ward", W150, "UDD-BBMP-W150"),
    ]
    assert "no UDD office covers it" in found.chain[0].note
    assert "UDD-ULB-SWM subtree" in found.chain[1].note


async def test_a_ward_office_for_one_subtree_leaves_other_categories_to_the_city(
    settings: Settings,
) -> None:
    lights = await resolve("UDD-ULB-SL-OFF", W150)
    assert lights.office is not None and lights.office.code == "UDD-BBMP"
    assert chain(lights) == [("ward", W150, None), ("city", "KA-BLR-BBMP", "UDD-BBMP")]
    assert lights.chain[0].note == "UDD-BBMP-W150 handles only UDD-ULB-SWM"
    # water belongs to WSD: the ward's UDD office is not even a candidate
    water = await resolve("WSD-WS-NOW-CONTAM", W150)
    assert water.office is not None and water.office.code == "WSD-BWSSB"
    assert water.department == "WSD" and water.matched_boundary == "KA-BLR-BBMP"
    # a ward without its own office falls back to the city too
    garbage = await resolve("UDD-ULB-SWM-GARB-BLACK", W174)
    assert garbage.office is not None and garbage.office.code == "UDD-BBMP"


async def test_falls_back_to_the_district_then_headquarters(settings: Settings) -> None:
    pension = await resolve("SWD-PEN-OLD-DELAY", W174)
    assert pension.office is not None and pension.office.code == "SWD-BLR"
    assert chain(pension) == [
        ("ward", W174, None),
        ("city", "KA-BLR-BBMP", None),
        ("district", "KA-BLR", "SWD-BLR"),
    ]
    borewell = await resolve("RDPR-GP-DW-BORE", W150)
    assert borewell.office is not None and borewell.office.code == "RDPR-HQ"
    assert borewell.matched_boundary is None
    assert chain(borewell) == [
        ("ward", W150, None),
        ("city", "KA-BLR-BBMP", None),
        ("district", "KA-BLR", None),
        ("state", "KA", None),
        ("headquarters", None, "RDPR-HQ"),
    ]
    assert "RDPR headquarters" in borewell.explanation
    # the same category in Mysuru district has its Zilla Panchayat
    mysuru = await resolve("RDPR-GP-DW-BORE", "KA-MYS-MCC")
    assert mysuru.office is not None and mysuru.office.code == "RDPR-MYS"
    # no location at all: headquarters only
    unplaced = await resolve("SWD-PEN-OLD-DELAY")
    assert chain(unplaced) == [("headquarters", None, "SWD-HQ")]
    assert unplaced.boundary is None


async def test_latitude_and_longitude_are_located(settings: Settings) -> None:
    kadubeesanahalli = await resolve("UDD-ULB-SWM-GARB-DOOR", None, 12.94, 77.70)
    assert kadubeesanahalli.boundary == f"{W150}-L1"
    assert kadubeesanahalli.located_at == (12.94, 77.70)
    assert kadubeesanahalli.office is not None
    assert kadubeesanahalli.office.code == "UDD-BBMP-W150"
    assert "lies in locality" in kadubeesanahalli.explanation
    hsr = await resolve("UDD-ULB-SL-OFF", None, 12.91, 77.64)
    assert hsr.boundary == W174 and hsr.office is not None and hsr.office.code == "UDD-BBMP"
    mysuru = await resolve("UDD-ULB-SL-OFF", None, 12.30, 76.64)
    assert mysuru.boundary == "KA-MYS-MCC"
    assert mysuru.office is not None and mysuru.office.code == "UDD-MCC"
    sea = await resolve("UDD-ULB-SL-OFF", None, 10.0, 70.0)
    assert sea.boundary is None and sea.office is not None and sea.office.code == "UDD-HQ"
    assert "No boundary contains" in sea.explanation
    # a boundary code wins over a lat/long
    given = await resolve("UDD-ULB-SL-OFF", "KA-MYS-MCC", 12.91, 77.64)
    assert given.boundary == "KA-MYS-MCC" and given.located_at is None


async def test_locator_is_cached_until_a_load_changes_the_taxonomy(
    settings: Settings, tmp_path: Path
) -> None:
    first = await jurisdiction.locator()
    assert await jurisdiction.locator() is first
    assert (await resolve("UDD-ULB-SL-OFF", None, 13.05, 77.50)).boundary == "KA-BLR-BBMP"
    # W174 grows to take in the point: the load bumps the generation, the locator rebuilds
    text = (SAMPLE_RULES / "boundaries.yaml").read_text()
    old = (
        "[[[77.62, 12.895], [77.655, 12.895], [77.655, 12.925], [77.62, 12.925], [77.62, 12.895]]]"
    )
    new = "[[[77.45, 12.895], [77.655, 12.895], [77.655, 13.1], [77.45, 13.1], [77.45, 12.895]]]"
    assert old in text
    moved = tmp_path / "boundaries.yaml"
    moved.write_text(text.replace(old, new))
    try:
        report = await load_rule_set(read_rules(moved))
        assert report.changed == [f"boundary {W174}"]
        assert (await resolve("UDD-ULB-SL-OFF", None, 13.05, 77.50)).boundary == W174
        assert await jurisdiction.locator() is not first
    finally:
        await load_rule_set(read_rules(SAMPLE_RULES))
    assert (await resolve("UDD-ULB-SL-OFF", None, 13.05, 77.50)).boundary == "KA-BLR-BBMP"


async def test_gro_and_lme_queues_are_the_active_officers_of_the_office(
    settings: Settings,
) -> None:
    city = await Office.get(code="UDD-BBMP")
    ward = await Office.get(code="UDD-BBMP-W150")

    async def officer(mobile: str, name: str, roles: list[Role], **kw: Any) -> User:
        return await User.create(
            mobile=mobile, name=name, kind=UserKind.EMPLOYEE, roles=[r.value for r in roles], **kw
        )

    gro = await officer("+919600000001", "City GRO", [Role.GRO], office=city)
    both = await officer("+919600000002", "City GRO+LME", [Role.GRO, Role.LME], office=city)
    lme = await officer("+919600000003", "City LME", [Role.LME], office=city)
    await officer("+919600000004", "Retired GRO", [Role.GRO], office=city, active=False)
    await officer("+919600000005", "City HoD", [Role.HOD], office=city)
    ward_lme = await officer("+919600000006", "Ward LME", [Role.LME], office=ward)
    found = await resolve("UDD-ULB-SL-OFF", W150)
    assert [(o.id, o.name) for o in found.gro_queue] == [(gro.id, gro.name), (both.id, both.name)]
    assert [o.id for o in found.lme_queue] == [both.id, lme.id]
    swm = await resolve("UDD-ULB-SWM-GARB-DOOR", W150)
    assert swm.gro_queue == () and [o.id for o in swm.lme_queue] == [ward_lme.id]


async def test_bad_codes_and_coordinates_name_their_fields(settings: Settings) -> None:
    with pytest.raises(DomainError) as caught:
        await resolve("NO-SUCH", "NO-WHERE", 12.9, None)
    fields = {(e.field, e.code) for e in caught.value.errors}
    assert fields == {
        ("categoryCode", "unknown"),
        ("boundaryCode", "unknown"),
        ("latitude", "incomplete"),
    }
    with pytest.raises(DomainError) as caught:
        await resolve("UDD-ULB-SL-OFF", None, 95.0, 200.0)
    assert {e.field for e in caught.value.errors} == {"latitude", "longitude"}
    with pytest.raises(DomainError, match="departmentCode"):
        await unresolved_pairs("NO-SUCH")


async def test_a_destination_routes_to_another_department_or_straight_to_an_office(
    settings: Settings,
) -> None:
    node = await TaxonomyNode.get(code="UDD-ULB-RD")  # an ancestor of UDD-ULB-RD-POT
    try:
        node.destination = "WSD"
        await node.save(update_fields=["destination"])
        roads = await resolve("UDD-ULB-RD-POT", W150)
        assert roads.department == "WSD"
        assert roads.office is not None and roads.office.code == "WSD-BWSSB"
        node.destination = "UDD-MCC"
        await node.save(update_fields=["destination"])
        direct = await resolve("UDD-ULB-RD-POT", W150)
        assert direct.office is not None and direct.office.code == "UDD-MCC"
        assert chain(direct) == [("destination", None, "UDD-MCC")]
        assert not [p for p in await unresolved_pairs("UDD") if p[0] == "UDD-ULB-RD-POT"]
    finally:
        node.destination = ""
        await node.save(update_fields=["destination"])


# --- a department without headquarters resolves to nobody outside its one ward ------------

NO_HQ = """
departments:
  - code: TST
    names: {en: Test department without headquarters}
    sla_days: 7
nodes:                          # flat: parents named by code, in any order
  - {code: TST-A-1, department: TST, parent: TST-A, names: {en: A one}}
  - {code: TST-A-2, department: TST, parent: TST-A, names: {en: A two}}
  - {code: TST-A, department: TST, names: {en: A}}
offices:
  - {code: TST-W174-B, name: Ward 174 (B), department: TST, boundaries: [KA-BLR-BBMP-W174]}
  - {code: TST-W174-ALL, name: Ward 174, department: TST, boundaries: [KA-BLR-BBMP-W174]}
  - code: TST-W174-A1
    name: Ward 174, A one only
    department: TST
    boundaries: [KA-BLR-BBMP-W174]
    categories: [TST-A-1]
"""
RETIRED = """
departments:
  - {code: TST, names: {en: Test department without headquarters}, active: false}
offices: []
"""


def _rules_dir(tmp: Path, text: str) -> Path:
    shutil.copy(SAMPLE_RULES / "boundaries.yaml", tmp / "boundaries.yaml")
    (tmp / "tst.yaml").write_text(text)
    return tmp


@pytest.fixture
async def no_hq(settings: Settings, tmp_path: Path) -> AsyncIterator[Settings]:
    report = await load_rule_set(read_rules(_rules_dir(tmp_path, NO_HQ)))
    assert "office TST-W174-A1" in report.added + report.changed
    try:
        yield settings
    finally:
        retired = await load_rule_set(read_rules(_rules_dir(tmp_path, RETIRED)))
        assert "office TST-W174-ALL" in retired.deactivated


async def test_among_offices_at_one_boundary_the_most_specific_wins_then_the_code(
    no_hq: Settings,
) -> None:
    a1 = await resolve("TST-A-1", W174)
    assert a1.office is not None and a1.office.code == "TST-W174-A1"
    assert "preferred to TST-W174-ALL, TST-W174-B" in a1.chain[0].note
    a2 = await resolve("TST-A-2", W174)
    assert a2.office is not None and a2.office.code == "TST-W174-ALL"


async def test_nothing_in_the_chain_and_no_headquarters_resolves_to_nobody(
    no_hq: Settings,
) -> None:
    found = await resolve("TST-A-2", W150)
    assert found.office is None and not found.resolved
    assert chain(found) == [
        ("ward", W150, None),
        ("city", "KA-BLR-BBMP", None),
        ("district", "KA-BLR", None),
        ("state", "KA", None),
        ("headquarters", None, None),
    ]
    assert found.chain[-1].note == "TST has no active headquarters office"
    assert "nobody" in found.explanation
    assert found.gro_queue == () and found.lme_queue == ()

    pairs = await unresolved_pairs("TST")
    elsewhere = ["KA", "KA-BLR", "KA-BLR-BBMP", W150, f"{W150}-L1", "KA-MYS", "KA-MYS-MCC"]
    assert pairs == sorted((leaf, b) for leaf in ("TST-A-1", "TST-A-2") for b in elsewhere)
    assert ("TST-A-2", W150) in pairs and ("TST-A-2", W174) not in pairs
    assert await unresolved_pairs() == pairs  # every sample department has headquarters
    assert await unresolved_pairs("UDD") == []


async def test_the_report_agrees_with_resolve_for_every_pair(no_hq: Settings) -> None:
    leaves = [
        n.code
        for n in await TaxonomyNode.filter(active=True)
        if not await TaxonomyNode.filter(parent_id=n.id, active=True).exists()
    ]
    boundaries = ["KA", "KA-BLR", "KA-BLR-BBMP", W150, f"{W150}-L1", W174, "KA-MYS", "KA-MYS-MCC"]
    unresolved = set(await unresolved_pairs())
    for leaf in leaves:
        for boundary in boundaries:
            found = await resolve(leaf, boundary)
            assert found.resolved == ((leaf, boundary) not in unresolved), (leaf, boundary)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = settings.database_url
    return env


async def test_cli_prints_the_resolution_and_the_unresolved_report(no_hq: Settings) -> None:
    shown = run_hub("jurisdiction", "UDD-ULB-SL-OFF", "--boundary", W150, env=_env(no_hq))
    assert shown.returncode == 0, shown.stderr
    assert "UDD-BBMP  BBMP Grievance Cell, Bengaluru  (at city KA-BLR-BBMP)" in shown.stdout
    assert "UDD-BBMP-W150 handles only UDD-ULB-SWM" in shown.stdout
    located = run_hub(
        "jurisdiction", "UDD-ULB-SWM-GARB-DOOR", "--at", "12.94,77.70", env=_env(no_hq)
    )
    assert located.returncode == 0, located.stderr
    assert "located from 12.94, 77.7" in located.stdout and "UDD-BBMP-W150" in located.stdout
    nobody = run_hub("jurisdiction", "TST-A-2", "--boundary", W150, env=_env(no_hq))
    assert nobody.returncode == 0 and "office       nobody" in nobody.stdout
    bad = run_hub("jurisdiction", "NO-SUCH", env=_env(no_hq))
    assert bad.returncode == 2 and "categoryCode: No active category" in bad.stderr

    report = run_hub("rules", "unresolved", "--department", "TST", env=_env(no_hq))
    assert report.returncode == 0, report.stderr
    lines = report.stdout.strip().splitlines()
    assert lines[-1] == "14 category/boundary pair(s) resolve to nobody"
    assert lines[0].split() == ["TST-A-1", "KA"]
