"""Importing the CPGRAMS category master: `hub taxonomy import-cpgrams DIR`.

The project's own fixture (tests/fixtures/cpgrams) is small and hand-written in
the real export's format; the real export is read when it is present.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tortoise import connections

from hub.enums import Channel
from hub.models import Department, Grievance, Office, TaxonomyHop, TaxonomyNode
from hub.runtime import Runtime
from hub.services import routing
from hub.services.grievances import FilingData, file_grievance
from hub.services.taxonomy import generation
from hub.settings import Settings
from routing_rules.cpgrams import MISSING_PARENT, read_cpgrams
from routing_rules.rules import RuleError
from tests.conftest import CPGRAMS_DIR, ROOT, People, run_hub, truncate

FIXTURE = ROOT / "tests" / "fixtures" / "cpgrams"
REAL = CPGRAMS_DIR
MINISTRIES = ("JALSH", "PENSN", "POSTS")
CATEGORIES = "Complaint_Category.csv"
BROKEN_ROWS = (
    "90301,Parcel held at customs,POSTS,90300.0,3,506.0\n"  # row 46: no category 90300
    "90302,Loop one,POSTS,90303.0,3,\n"  # rows 47-48: each the other's parent
    "90303,Loop two,POSTS,90302.0,4,\n"
    "90202,Speed Post again,POSTS,90201.0,2,506.0\n"  # row 49: Code 90202 is row 37
    "90304,Registered letter,POSTS,90201.0,two,506.0\n"  # row 50
    "90305,Parcel,POSTS,90201.5,2,\n"  # row 51
)


def hub_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATABASE_URL"] = settings.database_url
    return env


def import_cpgrams(settings: Settings, directory: Path, *options: str) -> tuple[int, str, str]:
    result = run_hub("taxonomy", "import-cpgrams", str(directory), *options, env=hub_env(settings))
    return result.returncode, result.stdout, result.stderr


def copy_fixture(tmp_path: Path, drop: tuple[str, ...] = (), add: str = "") -> Path:
    """The fixture with some categories removed from, or rows added to, the tree."""
    copy = tmp_path / "cpgrams"
    shutil.copytree(FIXTURE, copy)
    tree = copy / CATEGORIES
    lines = tree.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(tuple(f"{c}," for c in drop))]
    tree.write_text("".join(kept) + add, encoding="utf-8")
    return copy


async def remove_fixture_rows() -> None:
    """Tests only (the product never deletes): back to the sample taxonomy."""
    ids = await Department.filter(code__in=MINISTRIES).values_list("id", flat=True)
    await TaxonomyNode.filter(department_id__in=ids).update(parent_id=None)
    await TaxonomyNode.filter(department_id__in=ids).delete()
    offices = await Office.filter(department_id__in=ids).values_list("id", flat=True)
    await connections.get("default").execute_query(
        f"DELETE FROM office_boundary WHERE office_id IN ({','.join(map(str, offices)) or '0'})"
    )
    await Office.filter(id__in=offices).delete()
    await Department.filter(id__in=ids).delete()
    codes = [node.code for node in read_cpgrams(FIXTURE).nodes]
    await TaxonomyHop.filter(category_from__in=codes).delete()


@pytest.fixture
async def fresh(settings: Settings) -> AsyncIterator[Settings]:
    """The session database without the fixture's categories, before and after the test."""
    await remove_fixture_rows()
    yield settings
    await truncate()  # grievances refer to categories
    await remove_fixture_rows()


async def snapshot() -> list[tuple[object, ...]]:
    nodes = await TaxonomyNode.all().order_by("code").values_list("code", "active", "parent_id")
    hops = await TaxonomyHop.all().order_by("id").values_list("id", "active", "depends_on")
    departments = await Department.all().order_by("code").values_list("code", "names")
    return [*nodes, *hops, *departments]


# --- reading the fixture -----------------------------------------------------------------------


def test_the_fixture_reads_into_a_tree_parents_first() -> None:
    rules = read_cpgrams(FIXTURE)
    assert [d.code for d in rules.departments] == list(MINISTRIES)
    assert rules.departments[1].names == {"en": "Pensioners' Welfare", "hi": "पेंशनभोगी कल्याण"}
    nodes = {n.code: n for n in rules.nodes}
    assert len(nodes) == 44
    seen: set[str] = set()
    for node in rules.nodes:  # 90114 is listed before its parent 90113 in the file
        assert node.parent is None or node.parent in seen, node.code
        seen.add(node.code)

    deepest = nodes["90020"]
    assert (deepest.department, deepest.parent, deepest.level, deepest.depth) == (
        "JALSH", "90007", "stage7", 7
    )  # fmt: skip
    assert deepest.destination == "JJMRJ" and "hi" not in deepest.names  # newer than the Hindi
    # Excel's _x000D_ and the line break are gone; the Hindi name spans two lines in its file
    assert nodes["90113"].names == {
        "en": "Digital life certificate not accepted",
        "hi": "डिजिटल जीवन प्रमाण पत्र स्वीकार नहीं",
    }
    assert nodes["90019"].names == {"en": "Others"}  # its "Hindi" name is the English copied
    assert nodes["90210"].active is False  # IsActive N in the Hindi file
    assert nodes["90103"].attributes == {"monitoring_code": "102", "mapping_code": "4501"}
    # a sub-organisation's category stays in its ministry's department
    assert nodes["90110"].department == "PENSN"
    assert nodes["90110"].attributes["org_code"] == "CPAOX"
    assert nodes["90110"].destination == "CPAOX" and nodes["90111"].destination == ""


def test_input_fields_are_the_active_visible_ones_in_order() -> None:
    nodes = {n.code: n for n in read_cpgrams(FIXTURE).nodes}
    assert [f["name"] for f in nodes["90105"].input_fields] == ["PPONumber", "IFSC", "BankAccount"]
    assert nodes["90105"].input_fields[1] == {
        "name": "IFSC",
        "label": "IFSC Code",
        "type": "textbox",
        "order": 2,
        "required": False,
        "data_type": "alnum",
        "min_length": 11,
        "max_length": 11,
    }
    water = nodes["90005"].input_fields
    assert [(f["name"], f["type"]) for f in water] == [
        ("ConnectionID", "textbox"),
        ("Habitation", "dropdown"),
    ]  # PhotoOfTap is inactive
    assert nodes["90203"].input_fields[1]["max_length"] is None  # 0 in the export: no limit
    assert nodes["90004"].input_fields == ()


def test_movement_rows_become_hops_and_repeated_hops_merge() -> None:
    rules = read_cpgrams(FIXTURE)
    hops = {(h.category_from, h.from_org, h.to_org, h.org_level): h for h in rules.hops}
    assert len(rules.hops) == 6
    assert hops[("90203", "SPCIR", "SPDIV", 2)].depends_on == "RMS,SPC"
    assert hops[("90209", "POSTS", "SPCIR", 1)].active is False
    cross = hops[("90103", "PENSN", "CPAOX", 1)]
    assert (cross.category_to, cross.can_close) == ("90110", True)
    assert any("rows repeating a hop" in w for w in rules.warnings)


def test_rows_naming_unknown_categories_are_warnings() -> None:
    warnings = "\n".join(read_cpgrams(FIXTURE).warnings)
    assert "category_tree_hindi.csv: Codes not in Complaint_Category.csv: 1 (90299)" in warnings
    assert "Fixed_Destination.csv: FinalCategory codes not in" in warnings and "90999" in warnings
    assert "90888" in warnings


def test_missing_optional_files_are_warnings(tmp_path: Path) -> None:
    (tmp_path / CATEGORIES).write_bytes((FIXTURE / CATEGORIES).read_bytes())
    rules = read_cpgrams(tmp_path)
    assert len(rules.nodes) == 44 and rules.hops == []
    assert all(n.active and not n.destination and not n.input_fields for n in rules.nodes)
    assert rules.departments[0].names == {"en": "Drinking Water and Sanitation"}
    missing = sorted(w.split(":")[0] for w in rules.warnings if "not found" in w)
    assert missing == [
        "ComplaintCategory_InputFieldMap.csv",
        "Fixed_Destination.csv",
        "Input_Fields.csv",
        "Movement_Mapping.csv",
        "category_tree_hindi.csv",
    ]


def test_every_problem_is_listed_with_file_and_row(tmp_path: Path) -> None:
    broken = copy_fixture(tmp_path, add=BROKEN_ROWS)
    movement = broken / "Movement_Mapping.csv"
    movement.write_text(movement.read_text() + "8,90004,90004,JJMDT,JJMBL,three,Y,Y,\n")
    with pytest.raises(RuleError) as caught:
        read_cpgrams(broken)
    assert sorted(caught.value.problems) == sorted(
        [
            f"{CATEGORIES}: row 46: Parent 90300 of Code 90301 {MISSING_PARENT}",
            f"{CATEGORIES}: row 47: Code 90302 is its own ancestor "
            "(Parent links 90302 -> 90303 -> 90302)",
            f"{CATEGORIES}: row 49: Code 90202 repeats row 37",
            f"{CATEGORIES}: row 50: Stage 'two' is not a whole number",
            f"{CATEGORIES}: row 51: Parent '90201.5' is not a whole number",
            "Movement_Mapping.csv: row 9: orgLevel 'three' is not a whole number",
        ]
    )


def test_missing_columns_and_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=f"{CATEGORIES}: file not found"):
        read_cpgrams(tmp_path)
    (tmp_path / CATEGORIES).write_text("Code,Description,OrgCode,Parent\n1,Posts,POSTS,\n")
    (tmp_path / "Fixed_Destination.csv").write_text("Id,OrgCode,Destination\n1,POSTS,POSTS\n")
    with pytest.raises(RuleError) as caught:
        read_cpgrams(tmp_path)
    assert caught.value.problems == [
        f"{CATEGORIES}: row 1: missing column(s) Stage",
        "Fixed_Destination.csv: row 1: missing column(s) FinalCategory",
    ]


# --- an admin imports through the CLI ---------------------------------------------------------


async def test_admin_imports_the_fixture_and_a_reimport_changes_nothing(fresh: Settings) -> None:
    code, out, err = import_cpgrams(fresh, FIXTURE, "--dry-run")
    assert code == 0, err
    assert "ok: 3 departments, 44 categories (1 inactive), 6 hops" in out
    assert not await TaxonomyNode.filter(code="90001").exists()

    code, out, err = import_cpgrams(fresh, FIXTURE)
    assert code == 0, err
    assert "imported 3 departments, 44 categories (1 inactive), 6 hops" in out
    # 3 departments + 44 categories + 6 hops + 7 offices (3 headquarters, 4 destinations)
    assert "added 60, changed 0, deactivated 0" in out
    assert "  added       department JALSH" in out and "... and 40 more" in out
    assert "hub: warning: Fixed_Destination.csv" in err
    assert await generation() == 1

    node = await TaxonomyNode.get(code="90114").prefetch_related("parent", "department")
    assert node.parent is not None and node.parent.code == "90113"
    assert (node.department.code, node.level, node.depth, node.active) == (
        "PENSN", "stage4", 4, True
    )  # fmt: skip
    pension = await TaxonomyNode.get(code="90103")
    assert pension.names["hi"] == "पेंशन प्राप्त नहीं हुई" and pension.destination == "CPAOX"
    assert [f["name"] for f in pension.input_fields] == ["PPONumber", "IFSC", "BankAccount"]
    assert pension.attributes == {"monitoring_code": "102", "mapping_code": "4501"}
    assert await TaxonomyHop.filter(category_from="90203", depends_on="RMS,SPC").exists()
    # what a category's form asks for routes too: only pension forms ask for an IFSC code
    [top, *_] = (await routing.suggest("ifsc mismatch")).suggestions
    assert top.suggestion.category in ("90103", "90105")  # the leaves under field 11's
    assert top.suggestion.matches[0].source == "field"
    assert top.explanation.startswith("'ifsc' matched an input field of ")

    code, out, err = import_cpgrams(fresh, FIXTURE)
    assert code == 0, err
    assert "added 0, changed 0, deactivated 0" in out
    assert await generation() == 1  # nothing changed: routing indexes need no rebuild


async def test_a_removed_category_is_deactivated_never_deleted(
    fresh: Settings, rt: Runtime, people: People, tmp_path: Path
) -> None:
    assert import_cpgrams(fresh, FIXTURE)[0] == 0
    filed = await file_grievance(
        rt,
        people.actor(people.asha),
        FilingData(
            description="My speed post article never arrived.",
            channel=Channel.APP,
            category_code="90203",
        ),
    )

    code, out, err = import_cpgrams(fresh, copy_fixture(tmp_path, drop=("90203",)))
    assert code == 0, err
    assert "added 0, changed 0, deactivated 3" in out
    assert "  deactivated node 90203" in out
    assert "  deactivated hop 90203->90203 POSTS->SPCIR" in out
    assert "Movement_Mapping.csv: rows naming categories not in" in err
    node = await TaxonomyNode.get(code="90203")
    assert node.active is False
    grievance = await Grievance.get(registration_number=filed.registration_number)
    assert grievance.category_id == node.id  # the grievance keeps its category

    code, out, _ = import_cpgrams(fresh, FIXTURE)
    assert "added 0, changed 3, deactivated 0" in out and "  changed     node 90203" in out
    assert (await TaxonomyNode.get(code="90203")).active is True


async def test_a_broken_export_is_refused_whole(fresh: Settings, tmp_path: Path) -> None:
    assert import_cpgrams(fresh, FIXTURE)[0] == 0
    before = await snapshot()
    # without 90019 (row 21) the broken rows move up one: 45, 46 (the cycle), 48, 49, 50
    broken = copy_fixture(tmp_path, drop=("90019",), add=BROKEN_ROWS)

    code, out, err = import_cpgrams(fresh, broken)
    assert code == 2
    assert "hub: 5 problem(s); nothing was imported:" in err
    for row in (45, 46, 48, 49, 50):
        assert f"  {CATEGORIES}: row {row}: " in err
    assert "--detach-orphans imports categories whose Parent is missing" in err
    assert "imported" not in out
    assert await snapshot() == before  # 90019 is still active: nothing was loaded


# --- the real export ---------------------------------------------------------------------------

needs_real = pytest.mark.skipif(
    not (REAL / CATEGORIES).is_file(),
    reason=f"the CPGRAMS export is not at {REAL} (set HUB_TEST_CPGRAMS_DIR)",
)


@needs_real
def test_the_real_export_reads_whole() -> None:
    # how long it takes is `hub bench routing`'s to print ("read 0.9s"), not a test's
    rules = read_cpgrams(REAL, detach_orphans=True)
    assert len(rules.nodes) == 19_853
    assert len(rules.departments) == 91
    assert len(rules.hops) == 10_330  # 10,355 rows, 25 of them repeats
    seen: set[str] = set()
    for node in rules.nodes:
        assert node.parent is None or node.parent in seen
        seen.add(node.code)

    nodes = {n.code: n for n in rules.nodes}
    assert nodes["1"].names == {"en": "Telecommunications", "hi": "दूरसंचार"}
    assert nodes["2"].parent == "1" and nodes["2"].department == "DOTEL"
    assert sum("hi" in n.names for n in rules.nodes) > 12_000
    assert next(d for d in rules.departments if d.code == "DOTEL").names["hi"] == "दूरसंचार"
    assert nodes["51"].destination == "DOTEL"
    assert sum(bool(n.destination) for n in rules.nodes) > 10_000
    assert [f["name"] for f in nodes["11"].input_fields] == ["MobileNumber", "ServiceProvider"]
    # whole subtrees under deleted parents: kept, but inactive and detached
    orphan = nodes["12026"]
    assert (orphan.parent, orphan.active, orphan.department) == (None, False, "DOARE")
    assert orphan.attributes["missing_parent"] == "11992"
    assert sum(not n.active for n in rules.nodes) == 3_850


@needs_real
def test_the_real_export_is_refused_without_detach_orphans() -> None:
    with pytest.raises(RuleError) as caught:
        read_cpgrams(REAL)
    assert len(caught.value.problems) == 3_850
    assert all(MISSING_PARENT in p for p in caught.value.problems)
    assert caught.value.problems[0] == (
        f"{CATEGORIES}: row 9414: Parent 11992 of Code 12026 {MISSING_PARENT}"
    )


@needs_real
def test_cli_dry_run_on_the_real_export() -> None:
    result = run_hub("taxonomy", "import-cpgrams", str(REAL), "--dry-run", "--detach-orphans")
    assert result.returncode == 0, result.stderr
    assert "ok: 91 departments, 19853 categories (3850 inactive), 10330 hops" in result.stdout
    refused = run_hub("taxonomy", "import-cpgrams", str(REAL), "--dry-run")
    assert refused.returncode == 2
    assert "hub: 3850 problem(s); nothing was imported:" in refused.stderr
