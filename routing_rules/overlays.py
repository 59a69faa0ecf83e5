"""Keyword overlays: extra keywords for a taxonomy that comes from elsewhere.

An imported taxonomy (the CPGRAMS category master) has names but no
keywords. An overlay file adds them without editing the import:

    version: 1
    keywords:
      MPANG: [lpg, gas cylinder, सिलेंडर]   # a department: its top-level categories
      "1345": [cylinder booking]              # a category code: that category

Pure code: no database.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routing_rules.rules import RuleError, RuleSet

CPGRAMS_KEYWORDS = Path(__file__).with_name("overlays") / "cpgrams_keywords.yaml"


class _Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    keywords: dict[str, list[str]] = Field(default_factory=dict)


def read_overlay(path: Path) -> dict[str, list[str]]:
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError([f"{path}: file not found"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RuleError([f"{path}: not valid YAML: {exc}".replace("\n", " ")]) from None
    try:
        overlay = _Overlay.model_validate(raw or {})
    except ValidationError as exc:
        raise RuleError(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    return {str(code): [str(k) for k in kws] for code, kws in overlay.keywords.items()}


def apply_overlay(rules: RuleSet, overlay: dict[str, list[str]], source: str = "") -> list[str]:
    """Add the overlay's keywords to ``rules`` in place; return codes it names but lacks."""
    nodes = {n.code for n in rules.nodes}
    departments = {d.code for d in rules.departments}
    unknown = [
        f"{source}: keywords for '{code}': no such department or category"
        for code in overlay
        if code not in nodes and code not in departments
    ]
    for i, node in enumerate(rules.nodes):
        extra = list(overlay.get(node.code, ()))
        if node.parent is None:
            extra += overlay.get(node.department, [])
        if extra:
            merged = tuple(dict.fromkeys((*node.keywords, *extra)))
            rules.nodes[i] = dataclasses.replace(node, keywords=merged)
    return unknown
