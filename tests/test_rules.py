"""Rule files: validated whole, errors name file and path, loads are idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.models import Department, TaxonomyNode
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
