"""Rule files: validated whole, errors name file and path, loads are idempotent."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from hub.models import Department, Office, TaxonomyNode
from hub.services.taxonomy import load_rule_set
from hub.settings import Settings
from routing_rules.rules import RuleError, read_rules
from tests.conftest import SAMPLE_RULES, run_hub

BAD = """
departments:
  - code: PWD
    names: {en: Public Works}
    nodes:
      - code: PWD-RD
        names: {en: Roads}
        sla_days: 0
        children:
          - code: PWD-RD
            names: {}
          - code: PWD-BR
            names: {en: Bridges}
            colour: blue
"""


def test_sample_rules_are_valid() -> None:
    rules = read_rules(SAMPLE_RULES)
    assert {d.code for d in rules.departments} == {"UDD", "WSD", "SWD", "RDPR"}
    depths = {n.code: n.depth for n in rules.nodes}
    assert depths["UDD-ULB-SWM-GARB-DOOR"] == 4  # line dept -> service -> grievance -> category
    assert len(rules.boundaries) == 8


def test_every_problem_is_listed_with_file_and_path(tmp_path: Path) -> None:
    bad = tmp_path / "pwd.yaml"
    bad.write_text(BAD)
    with pytest.raises(RuleError) as caught:
        read_rules(bad)
    problems = caught.value.problems
    assert any("pwd.yaml: departments.0.nodes.0.sla_days" in p for p in problems)
    assert any("pwd.yaml: departments.0.nodes.0.children.0.names" in p for p in problems)
    assert any("departments.0.nodes.0.children.1.colour: Extra inputs" in p for p in problems)


def test_duplicate_codes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "departments:\n  - code: PWD\n    names: {en: A}\n    nodes:\n"
        "      - {code: X1, names: {en: x}}\n      - {code: X1, names: {en: y}}\n"
    )
    with pytest.raises(RuleError, match="duplicate taxonomy node code 'X1'"):
        read_rules(tmp_path)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("departments: [\n")
    with pytest.raises(RuleError, match=r"broken\.yaml: not valid YAML"):
        read_rules(broken)
    with pytest.raises(RuleError, match="file not found"):
        read_rules(tmp_path / "nope.yaml")


async def test_load_is_idempotent_and_deactivates_instead_of_deleting(
    settings: Settings, tmp_path: Path
) -> None:
    rules = read_rules(SAMPLE_RULES)
    again = await load_rule_set(rules)
    assert (again.added, again.changed, again.deactivated) == ([], [], [])

    trimmed = tmp_path / "taxonomy.yaml"
    text = (SAMPLE_RULES / "taxonomy.yaml").read_text()
    start = text.index("                  - code: UDD-ULB-SWM-GARB-BLACK")
    end = text.index("          - code: UDD-ULB-SL\n")
    trimmed.write_text(text[:start] + text[end:])
    try:
        report = await load_rule_set(read_rules(trimmed))
        assert report.deactivated == ["node UDD-ULB-SWM-GARB-BLACK"]
        node = await TaxonomyNode.get(code="UDD-ULB-SWM-GARB-BLACK")
        assert node.active is False
    finally:
        restored = await load_rule_set(rules)
        assert restored.changed == ["node UDD-ULB-SWM-GARB-BLACK"]
    assert await Department.filter(code="UDD", active=True).exists()


def test_cli_check_reports_problems_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "pwd.yaml"
    bad.write_text(BAD)
    result = run_hub("rules", "check", str(bad))
    assert result.returncode == 2
    assert "nothing was loaded" in result.stderr and "sla_days" in result.stderr
    ok = run_hub("rules", "check", str(SAMPLE_RULES))
    assert ok.returncode == 0 and "4 departments" in ok.stdout


def test_cli_checks_a_lexicon_and_says_where_it_goes(tmp_path: Path) -> None:
    """A deployer adding a language checks the file with the command that checks rules;
    a lexicon is read from HUB_LEXICON_DIR, not loaded into the database, and a broken one
    stops the hub at start-up, naming the file and the word."""
    mine = tmp_path / "lexicon"
    mine.mkdir()
    (mine / "tulu.yaml").write_text("version: 1\nwords:\n  neer: water\n  kasa: garbage\n")
    ok = run_hub("rules", "check", str(mine / "tulu.yaml"))
    assert ok.returncode == 0 and "ok: lexicon: 2 words, 2 English words in 1 file(s)" in ok.stdout
    # which of its English words the deployment's taxonomy uses: "muck" meets no category
    (mine / "tulu.yaml").write_text("version: 1\nwords:\n  kasa: garbage\n  kolake: muck\n")
    against = run_hub("rules", "check", str(mine), "--taxonomy", str(SAMPLE_RULES))
    assert against.returncode == 0, against.stderr
    assert "1 of 2 English words are the taxonomy's" in against.stdout
    unused = "note: 1 the taxonomy never uses; they count only once routed grievances teach them"
    assert f"{unused}: muck\n" in against.stdout
    not_one = run_hub("rules", "check", str(SAMPLE_RULES), "--taxonomy", str(SAMPLE_RULES))
    assert not_one.returncode == 2 and "only a lexicon" in not_one.stderr
    load = run_hub("rules", "load", str(mine))
    assert load.returncode == 2 and "not loaded into the database" in load.stderr
    assert "HUB_LEXICON_DIR names (unset)" in load.stderr

    (mine / "tulu.yaml").write_text("version: 1\nwords:\n  neer: water\n  neer: tap\n")
    bad = run_hub("rules", "check", str(mine))
    assert bad.returncode == 2 and "tulu.yaml: words.neer (line 4): listed twice" in bad.stderr
    env = {**os.environ, "HUB_LEXICON_DIR": str(mine)}
    refused = run_hub("route", "no neer since monday", env=env)
    assert refused.returncode == 2 and "nothing was started" in refused.stderr
    assert "tulu.yaml: words.neer (line 4): listed twice" in refused.stderr
    # what does not read a citizen's words still runs, and the check says what is wrong
    again = run_hub("rules", "check", str(mine), env=env)
    assert again.returncode == 2 and "nothing was loaded" in again.stderr
    assert "words.neer (line 4): listed twice" in again.stderr
    assert run_hub("rules", "check", str(SAMPLE_RULES), env=env).returncode == 0
    # a list that is not even YAML, beside a good one: still a lexicon folder
    (mine / "tulu.yaml").write_text("version: 1\nwords:\n  neer: [water\n")
    (mine / "konkani.yaml").write_text("version: 1\nwords:\n  udak: water\n")
    broken = run_hub("rules", "check", str(mine))
    assert broken.returncode == 2 and "tulu.yaml: not valid YAML" in broken.stderr
    assert "not a rule file" not in broken.stderr

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tulu.yaml").write_text("version: 1\nwords:\n  neer: water\n")
    (rules / "taxonomy.yaml").write_text((SAMPLE_RULES / "taxonomy.yaml").read_text())
    among = run_hub("rules", "check", str(rules))
    assert among.returncode == 2 and "tulu.yaml: a lexicon, not a rule file" in among.stderr


# --- flat nodes, cross-file checks, geometry and offices ----------------------------------

NESTED = """
departments:
  - code: PWD
    names: {en: Public Works}
    sla_days: 10
    nodes:
      - code: PWD-RD
        level: line_department
        names: {en: Roads}
        children:
          - code: PWD-RD-POT
            level: service
            names: {en: Potholes}
            sla_days: 4
"""
FLAT = """
effective_from: 2026-05-01
nodes:                          # children first: the order in the file does not matter
  - {code: PWD-RD-POT-DEEP-X, department: PWD, parent: PWD-RD-POT-DEEP, names: {en: x}, sla_days: 1}
  - {code: PWD-RD-POT-DEEP, department: PWD, parent: PWD-RD-POT, names: {en: Deep}}
  - {code: PWD-BR, department: PWD, names: {en: Bridges}}
"""


def test_flat_nodes_join_the_tree_parents_first(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(NESTED)
    (tmp_path / "b.yaml").write_text(FLAT)
    rules = read_rules(tmp_path)
    shown = [(n.code, n.parent, n.level, n.depth, n.sla_days) for n in rules.nodes]
    assert shown == [
        ("PWD-RD", None, "line_department", 1, 10),
        ("PWD-RD-POT", "PWD-RD", "service", 2, 4),
        ("PWD-RD-POT-DEEP", "PWD-RD-POT", "grievance", 3, 4),  # level and SLA inherited
        ("PWD-RD-POT-DEEP-X", "PWD-RD-POT-DEEP", "category", 4, 1),
        ("PWD-BR", None, "line_department", 1, 10),
    ]
    assert {n.code: n.effective_from for n in rules.nodes}["PWD-BR"] == dt.date(2026, 5, 1)


def _chain(depth: int) -> str:
    """A department with one line of ``depth`` nodes, each the child of the one before."""
    lines = ["nodes:"]
    for i in range(1, depth + 1):
        parent = f", parent: PWD-{i - 1}" if i > 1 else ""
        lines.append(f"  - {{code: PWD-{i}, department: PWD{parent}, names: {{en: stage {i}}}}}")
    return "departments:\n  - {code: PWD, names: {en: Public Works}}\n" + "\n".join(lines)


def test_a_taxonomy_goes_as_deep_as_cpgrams_and_deeper(tmp_path: Path) -> None:
    # CPGRAMS has eight stages, its ministry the first: seven nodes below a department
    (tmp_path / "deep.yaml").write_text(_chain(7))
    levels = [(n.level, n.depth) for n in read_rules(tmp_path).nodes]
    assert levels == [
        *(("line_department", 1), ("service", 2), ("grievance", 3), ("category", 4)),
        *(("subcategory", 5), ("level6", 6), ("level7", 7)),
    ]
    (tmp_path / "deep.yaml").write_text(_chain(10))
    with pytest.raises(RuleError) as caught:
        read_rules(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'deep.yaml'}: nodes.9: 'PWD-10' is a child of the level9 'PWD-9', "
        "and no level lies below level9"
    ]


BROKEN = """
nodes:
  - {code: PWD-RD-POT-DEEP, department: PWD, parent: PWD-RD-POT, names: {en: fine}}
  - {code: PWD-X, department: PWD, parent: PWD-Y, names: {en: x}}
  - {code: PWD-Y, department: PWD, parent: PWD-Z, names: {en: y}}
  - {code: PWD-Z, department: PWD, parent: PWD-X, names: {en: z}}
  - {code: PWD-ORPHAN, department: PWD, parent: PWD-GONE, names: {en: orphan}}
  - {code: HLT-CLINIC, department: HLT, names: {en: Clinics}}
  - {code: PWD-RD, department: PWD, names: {en: Roads again}}
  - {code: PWD-UP, department: PWD, parent: PWD-RD-POT, level: line_department, names: {en: up}}
"""
OTHER = """
departments:
  - code: WTR
    names: {en: Water}
    nodes:
      - {code: WTR-1, names: {en: Water supply}}
nodes:
  - {code: PWD-PIPE, department: PWD, parent: WTR-1, names: {en: Pipes}}
"""


def test_cycle_missing_parent_unknown_department_and_duplicate_listed_at_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.yaml").write_text(NESTED)
    (tmp_path / "b.yaml").write_text(BROKEN)
    (tmp_path / "c.yaml").write_text(OTHER)
    with pytest.raises(RuleError) as caught:
        read_rules(tmp_path)
    a, b, c = (tmp_path / name for name in ("a.yaml", "b.yaml", "c.yaml"))
    assert caught.value.problems == [
        f"{b}: nodes.6.code: duplicate taxonomy node code 'PWD-RD' "
        f"(first defined at {a}: departments.0.nodes.0)",
        f"{b}: nodes.4.parent: missing parent 'PWD-GONE': no node of this rule set has that code",
        f"{b}: nodes.5.department: unknown department 'HLT': no file of this rule set defines it",
        f"{c}: nodes.0.parent: parent 'WTR-1' belongs to department 'WTR', not 'PWD'",
        f"{b}: nodes.1.parent: cycle of parents: PWD-X -> PWD-Y -> PWD-Z -> PWD-X "
        "(each code's parent is the next)",
        f"{b}: nodes.7.level: level 'line_department' must lie below its parent 'PWD-RD-POT' "
        "(service); levels go line_department -> service -> grievance -> category -> "
        "subcategory -> level6 -> level7 -> level8 -> level9",
    ]


GEOMETRY = """
boundaries:
  - code: ZZ
    kind: state
    names: {en: Z}
    geometry: {type: Polygon, coordinates: [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}
    children:
      - code: ZZ-D
        kind: district
        names: {en: D}
        geometry:
          type: MultiPolygon
          coordinates: [[[[0, 0], [200, 0], [0, 95], [0, 0]]], [[[0, 0], [1, 1], [0, 0]]]]
      - code: ZZ-C
        kind: state
        names: {en: C}
        geometry: {type: Point, coordinates: [0, 0], bbox: [0, 0, 0, 0]}
"""


def test_boundary_geometry_is_checked(tmp_path: Path) -> None:
    file = tmp_path / "geo.yaml"
    file.write_text(GEOMETRY)
    with pytest.raises(RuleError) as caught:
        read_rules(file)
    d = f"{file}: boundaries.0.children.0.geometry.coordinates"
    assert caught.value.problems == [
        f"{file}: boundaries.0.geometry.coordinates.0: ring is not closed: "
        "the last position must equal the first",
        f"{d}.0.0.1: longitude 200 is outside -180..180",
        f"{d}.0.0.2: latitude 95 is outside -90..90",
        f"{d}.1.0: a ring needs at least 4 positions (got 3)",
        f"{file}: boundaries.0.children.1.geometry.bbox: "
        "not allowed: a geometry has only 'type' and 'coordinates'",
        f"{file}: boundaries.0.children.1.geometry.type: "
        "must be 'Polygon' or 'MultiPolygon' (got 'Point')",
        f"{file}: boundaries.0.children.1.kind: a state cannot lie inside the state 'ZZ'; "
        "kinds go state -> district -> city -> ward -> locality",
    ]


OFFICES = """
departments:
  - code: PWD
    names: {en: Public Works}
    nodes: [{code: PWD-RD, names: {en: Roads}}]
boundaries: [{code: ZZ, kind: state, names: {en: Z}}]
offices:
  - {code: PWD-HQ, name: HQ, department: PWD, headquarters: true}
  - {code: PWD-HQ2, name: Second HQ, department: PWD, headquarters: true}
  - {code: PWD-OLD-HQ, name: Old HQ, department: PWD, headquarters: true, active: false}
  - code: PWD-ZZ
    name: Z office
    department: PWD
    boundaries: [ZZ, ZZ-NOPE, ZZ]
    categories: [PWD-NOPE, PWD-RD]
  - {code: HLT-ZZ, name: Health, department: HLT}
  - {code: PWD, name: Clash, department: PWD}
"""


def test_offices_are_checked_against_the_set(tmp_path: Path) -> None:
    file = tmp_path / "offices.yaml"
    file.write_text(OFFICES)
    with pytest.raises(RuleError) as caught:
        read_rules(file)
    assert caught.value.problems == [
        f"{file}: offices.5.code: office code 'PWD' is also a department code; "
        "a category's destination could not tell them apart",
        f"{file}: offices.1.headquarters: department 'PWD' already has the active "
        f"headquarters office 'PWD-HQ' ({file}: offices.0)",
        f"{file}: offices.3.boundaries.1: unknown boundary 'ZZ-NOPE': "
        "no file of this rule set defines it",
        f"{file}: offices.3.boundaries.2: 'ZZ' is listed twice",
        f"{file}: offices.3.categories.0: unknown taxonomy node 'PWD-NOPE': "
        "no file of this rule set defines it",
        f"{file}: offices.4.department: unknown department 'HLT': "
        "no file of this rule set defines it",
    ]
    file.write_text(OFFICES[: OFFICES.index("  - {code: PWD-HQ2")])
    rules = read_rules(file)
    assert rules.has_offices and [o.code for o in rules.offices] == ["PWD-HQ"]


def test_sample_offices_and_geometry() -> None:
    rules = read_rules(SAMPLE_RULES)
    assert all(b.geometry for b in rules.boundaries)
    offices = {o.code: o for o in rules.offices}
    assert rules.has_offices and len(offices) == 10
    assert {o.department for o in offices.values() if o.headquarters} == {
        "UDD", "WSD", "SWD", "RDPR",
    }  # fmt: skip
    assert offices["UDD-BBMP-W150"].categories == ("UDD-ULB-SWM",)
    assert offices["UDD-BBMP-W150"].boundaries == ("KA-BLR-BBMP-W150",)


BAD_LOAD = """
departments:
  - code: UDD
    names: {en: Renamed on the way}
    nodes:
      - {code: UDD-NEW, names: {en: Would be added}}
nodes:
  - {code: UDD-X, department: UDD, parent: UDD-Y, names: {en: x}}
  - {code: UDD-Y, department: UDD, parent: UDD-X, names: {en: y}}
  - {code: UDD-ORPHAN, department: UDD, parent: UDD-GONE, names: {en: orphan}}
  - {code: HLT-1, department: HLT, names: {en: unknown department}}
  - {code: UDD-NEW, department: UDD, names: {en: duplicate}}
"""


async def _taxonomy_snapshot() -> list[tuple[object, ...]]:
    nodes = (
        await TaxonomyNode.all()
        .order_by("code")
        .values_list("code", "parent_id", "names", "active", "sla_days", "level", "depth")
    )
    departments = await Department.all().order_by("code").values_list("code", "names", "active")
    offices = await Office.all().order_by("code").values_list("code", "active", "categories")
    return [*nodes, *departments, *offices]


async def test_a_refused_load_lists_every_problem_and_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    before = await _taxonomy_snapshot()
    bad = tmp_path / "udd.yaml"
    bad.write_text(BAD_LOAD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = settings.database_url
    result = run_hub("rules", "load", str(bad), env=env)
    assert result.returncode == 2
    assert "4 problem(s); nothing was loaded" in result.stderr
    for expected in (
        "cycle of parents: UDD-X -> UDD-Y -> UDD-X",
        "nodes.2.parent: missing parent 'UDD-GONE'",
        "nodes.3.department: unknown department 'HLT'",
        "nodes.4.code: duplicate taxonomy node code 'UDD-NEW'",
    ):
        assert expected in result.stderr
    assert await _taxonomy_snapshot() == before
    assert not await TaxonomyNode.exists(code="UDD-NEW")


def test_a_file_that_cannot_be_read_does_not_flood_its_dependants(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(NESTED.replace("names: {en: Public Works}", "names: {}"))
    (tmp_path / "b.yaml").write_text(FLAT)
    with pytest.raises(RuleError) as caught:
        read_rules(tmp_path)
    # PWD is in the broken a.yaml: b.yaml's references to it are not reported as unknown
    assert caught.value.problems == [
        f"{tmp_path / 'a.yaml'}: departments.0.names: "
        "Dictionary should have at least 1 item after validation, not 0"
    ]


# --- a set is refused with every problem; loads keep departments; inactivity is inherited --

EXTRA = """
nodes:
  - {code: X-A, department: UDD, parent: X-B, names: {en: a}}
  - {code: X-B, department: UDD, parent: X-A, names: {en: b}}
  - {code: X-C, department: ZZZ, names: {en: c}}
  - {code: X-D, department: UDD, parent: UDD-ULB-SWM, names: {en: d}, sla_days: three}
  - {code: X-E, department: UDD, parent: X-D, names: {en: under the unreadable X-D}}
"""


def _sample_copy(tmp_path: Path, taxonomy: str | None = None) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    for file in SAMPLE_RULES.glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        (rules / file.name).write_text(
            taxonomy if file.name == "taxonomy.yaml" and taxonomy else text
        )
    return rules


def test_a_node_that_cannot_be_read_hides_no_other_problem(tmp_path: Path) -> None:
    rules = _sample_copy(tmp_path)
    extra = rules / "extra.yaml"
    extra.write_text(EXTRA)
    result = run_hub("rules", "check", str(rules))
    assert result.returncode == 2
    assert "3 problem(s); nothing was loaded" in result.stderr
    for expected in (
        f"{extra}: nodes.3.sla_days: Input should be a valid integer",
        f"{extra}: nodes.2.department: unknown department 'ZZZ': no file of this rule set "
        f"defines it (not checked against {extra}, which could not be read whole)\n",
        f"{extra}: nodes.0.parent: cycle of parents: X-A -> X-B -> X-A",
    ):
        assert expected in result.stderr
    assert "X-E" not in result.stderr  # its parent X-D is not missing, only unreadable


def test_a_file_that_is_not_yaml_hides_no_other_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("departments: [\n")
    (tmp_path / "b.yaml").write_text("nodes:\n  - {code: Y-1, department: ZZZ, names: {en: y}}\n")
    result = run_hub("rules", "check", str(tmp_path))
    assert result.returncode == 2
    assert "2 problem(s); nothing was loaded" in result.stderr
    assert f"{tmp_path / 'a.yaml'}: not valid YAML" in result.stderr
    # a.yaml might define ZZZ: the problem says so
    assert (
        f"{tmp_path / 'b.yaml'}: nodes.0.department: unknown department 'ZZZ': no file of this "
        f"rule set defines it (not checked against {tmp_path / 'a.yaml'}, "
        "which could not be read whole)"
    ) in result.stderr


@pytest.mark.parametrize(
    "unusable",
    [
        "departments: {code: ZZZ}\n",
        "deparments:\n  - {code: ZZZ, names: {en: z}}\n",
        "deparments:\n  - {code: ZZZ, names: {en: z}}\nboundaries: []\n",
        "departments: [ZZZ]\n",
    ],
    ids=["section-not-a-list", "misspelt-section", "misspelt-beside-another", "not-mappings"],
)
def test_a_file_that_cannot_be_used_is_not_read_as_defining_nothing(
    tmp_path: Path, unusable: str
) -> None:
    (tmp_path / "a.yaml").write_text(unusable)
    (tmp_path / "b.yaml").write_text("nodes:\n  - {code: Y-1, department: ZZZ, names: {en: y}}\n")
    with pytest.raises(RuleError) as caught:
        read_rules(tmp_path)
    assert (
        f"{tmp_path / 'b.yaml'}: nodes.0.department: unknown department 'ZZZ': no file of this "
        f"rule set defines it (not checked against {tmp_path / 'a.yaml'}, "
        "which could not be read whole)"
    ) in caught.value.problems


def test_a_boundary_under_an_unreadable_one_is_still_checked(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "boundaries:\n"
        "  - code: S\n    kind: state\n    names: {en: S}\n    children:\n"
        "      - code: D\n        kind: bogus\n        names: {en: D}\n        children:\n"
        "          - {code: W, kind: state, names: {en: W}}\n"
    )
    with pytest.raises(RuleError) as caught:
        read_rules(tmp_path)
    assert any(
        "children.0.children.0.kind: a state cannot lie inside the state 'S'" in p
        for p in caught.value.problems
    ), caught.value.problems


MOVED = """
departments:
  - code: WSD
    names: {en: Water Supply and Sewerage Board}
    nodes:
      - {code: UDD-ULB-SWM-GARB-DOOR, level: line_department, names: {en: moved}}
"""


def _database(tmp_path: Path) -> dict[str, str]:
    """A database of its own holding the sample rules, as a deployer's would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = f"sqlite://{tmp_path / 'hub.sqlite3'}"
    assert run_hub("migrate", env=env).returncode == 0
    assert run_hub("rules", "load", str(SAMPLE_RULES), env=env).returncode == 0
    return env


def _departments_of_nodes(tmp_path: Path) -> list[tuple[str, str, int | None, bool]]:
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        return conn.execute(
            "SELECT n.code, d.code, n.parent_id, n.active FROM taxonomy_node n "
            "JOIN department d ON d.id = n.department_id ORDER BY n.code"
        ).fetchall()


def test_a_load_cannot_take_a_node_from_a_department_it_does_not_load(tmp_path: Path) -> None:
    env = _database(tmp_path)
    before = _departments_of_nodes(tmp_path)
    moved = tmp_path / "moved.yaml"
    moved.write_text(MOVED)
    assert run_hub("rules", "check", str(moved)).returncode == 0  # the file alone is fine
    result = run_hub("rules", "load", str(moved), env=env)
    assert result.returncode == 2
    assert "1 problem(s); nothing was loaded" in result.stderr
    assert (
        f"{moved}: departments.0.nodes.0.code: taxonomy node 'UDD-ULB-SWM-GARB-DOOR' is an "
        "active node of department 'UDD', which this rule set does not load"
    ) in result.stderr
    assert _departments_of_nodes(tmp_path) == before  # nothing was written


def test_a_set_loading_both_departments_moves_a_node(tmp_path: Path) -> None:
    # a reorganisation: the category keeps its code (CPGRAMS's are the portal's) and moves
    env = _database(tmp_path)
    text = (SAMPLE_RULES / "taxonomy.yaml").read_text(encoding="utf-8")
    door = text[text.index("                  - code: UDD-ULB-SWM-GARB-DOOR") :]
    door = door[: door.index("                  - code: UDD-ULB-SWM-GARB-BLACK")]
    rules = _sample_copy(tmp_path, text.replace(door, ""))
    (rules / "moved.yaml").write_text(
        "nodes:\n  - {code: UDD-ULB-SWM-GARB-DOOR, department: WSD, parent: WSD-SW, "
        "names: {en: Door-to-door collection missed}}\n"
    )
    result = run_hub("rules", "load", str(rules), env=env)
    assert result.returncode == 0, result.stderr
    assert "changed     node UDD-ULB-SWM-GARB-DOOR" in result.stdout
    door_now = [row for row in _departments_of_nodes(tmp_path) if row[0].endswith("GARB-DOOR")]
    assert [(code, department, active) for code, department, _, active in door_now] == [
        ("UDD-ULB-SWM-GARB-DOOR", "WSD", 1)
    ]


def test_nodes_under_an_inactive_node_are_inactive(tmp_path: Path) -> None:
    text = (SAMPLE_RULES / "taxonomy.yaml").read_text(encoding="utf-8")
    swm = "            sla_days: 3\n"  # UDD-ULB-SWM's
    assert text.count(swm) == 1
    rules = _sample_copy(tmp_path, text.replace(swm, swm + "            active: false\n"))
    active = {n.code: n.active for n in read_rules(rules).nodes}
    assert not active["UDD-ULB-SWM-GARB"] and not active["UDD-ULB-SWM-GARB-DOOR"]
    assert active["UDD-ULB-SL-OFF"]

    env = _database(tmp_path)
    routed = run_hub("route", "garbage not collected door to door", env=env)
    assert routed.stdout.startswith("1. UDD-ULB-SWM-GARB"), routed.stderr
    loaded = run_hub("rules", "load", str(rules), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "added 0, changed 0, deactivated 4" in loaded.stdout
    assert "  deactivated node UDD-ULB-SWM (inactive)\n" in loaded.stdout
    assert "  deactivated node UDD-ULB-SWM-GARB (under inactive UDD-ULB-SWM)\n" in loaded.stdout
    assert (
        "  deactivated node UDD-ULB-SWM-GARB-DOOR (under inactive UDD-ULB-SWM)\n" in loaded.stdout
    )
    routed = run_hub("route", "garbage not collected door to door", env=env)
    assert routed.returncode == 0 and "UDD-ULB-SWM" not in routed.stdout
    where = run_hub("jurisdiction", "UDD-ULB-SWM-GARB-DOOR", env=env)
    assert where.returncode == 2 and "No active category" in where.stderr
    # deactivated, never deleted: loading the sample again brings them back
    again = run_hub("rules", "load", str(SAMPLE_RULES), env=env)
    assert again.returncode == 0 and "changed 4" in again.stdout
    assert all(active for *_, active in _departments_of_nodes(tmp_path))
    # a department switched off takes its nodes with it, and the load says why
    off = "  - code: UDD\n    names: {en: Urban Development Department"
    assert text.count(off) == 1
    off_text = text.replace(
        off, "  - code: UDD\n    active: false\n    names: {en: Urban Development Department"
    )
    (rules / "taxonomy.yaml").write_text(off_text)
    loaded = run_hub("rules", "load", str(rules), env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "  deactivated node UDD-ULB (department UDD inactive)\n" in loaded.stdout
