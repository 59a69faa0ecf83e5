"""Keyword overlays: extra keywords for a taxonomy that comes from elsewhere.

An imported taxonomy (the CPGRAMS category master) has names but no
keywords. An overlay file adds them without editing the import:

    version: 1
    keywords:
      MPANG: [lpg, gas cylinder, सिलेंडर]   # a department: its top-level categories
      "1345": [cylinder booking]              # a category code: that category

Seed examples are the same idea for the model: grievances written for each
department from what it does, learned from beside a deployment's history
(``ranker.seed_examples``):

    version: 1
    examples:
      MPANG:
        - "gas cylinder booked 10 days ago, still not delivered"

Pure code: no database.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from routing_rules.rules import RuleError, RuleSet
from routing_rules.text import read_yaml

CPGRAMS_KEYWORDS = Path(__file__).with_name("overlays") / "cpgrams_keywords.yaml"
CPGRAMS_EXAMPLES = Path(__file__).with_name("overlays") / "cpgrams_examples.yaml"


MAX_FILE_BYTES = 20_000_000  # an overlay or seed file larger than this is refused unread


class _Overlay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    keywords: dict[str, list[str]] = Field(default_factory=dict)


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Examples(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    examples: dict[str, list[_Text]] = Field(default_factory=dict)

    @field_validator("examples", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value  # "examples:" and nothing under it


def read_overlay(path: Path) -> dict[str, list[str]]:
    overlay = _read(path, _Overlay)
    return {str(code): [str(k) for k in kws] for code, kws in overlay.keywords.items()}


def read_examples(path: Path) -> dict[str, list[str]]:
    """A seed examples file: department code to example grievances. Raises ``RuleError``
    naming the file, the place in it and the problem."""
    seeds = _read(path, _Examples)
    return {str(code): list(texts) for code, texts in seeds.examples.items()}


_Model = TypeVar("_Model", bound=BaseModel)


def _read(path: Path, shape: type[_Model]) -> _Model:
    raw, top, repeated = read_yaml(path, MAX_FILE_BYTES)
    sections = ", ".join(f"'{name}'" for name in shape.model_fields)
    if raw is not None and not isinstance(raw, dict):
        raise RuleError([f"{path}: expected a mapping of {sections}"])
    problems = [
        f"{path}: {key} (line {line}): listed twice; give it one list"
        for key, line in (*top, *repeated)
    ]
    try:
        model = shape.model_validate(raw or {})
    except ValidationError as exc:
        problems += [
            f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
    if problems:
        raise RuleError(problems)
    return model


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
