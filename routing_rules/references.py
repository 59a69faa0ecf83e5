"""Registration numbers a citizen quotes, and the departments they name.

Pure code. A follow-up grievance often quotes the earlier one ("in reference to
my grievance DOURD/E/2022/0012341"), and a CPGRAMS registration number starts
with the code of the organisation it was filed with: the strongest hint a text
can carry of where it belongs. Anonymised exports mask characters with ``X``
(``XOXRX/X/X0X2X2X4X1``): a masked character may be any, so a masked number
names every department whose code fits its visible letters, and one with fewer
than ``MIN_VISIBLE`` visible letters names none.

The hub's own numbers name their department too (``KA-UDD-2026-0000012`` with
the default format): ``format_pattern`` turns the configured format into the
pattern that finds them.

How much a quoted number counts is learned from routed grievances
(``hub.services.routing`` trains it with the model); this module only reads.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MIN_VISIBLE = 2  # visible letters a (masked) code needs before it names anyone
MAX_REFERENCES = 10  # a text quoting more is a list, not a follow-up: read the first ten

# ORG / channel letter(s) / year / sequence, as CPGRAMS writes them; masking may have
# swallowed the slash between year and sequence, so the tail is digits, X and slashes.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9/])([A-Za-z0-9]{3,8})/([A-Za-z]{1,2})/([0-9Xx][0-9Xx/]{5,16})(?![A-Za-z0-9])"
)
_MASK = "X"


@dataclass(frozen=True)
class Reference:
    """One quoted registration number and the departments its code can be."""

    token: str  # as written
    code: str  # its organisation part, upper case; X for a masked character
    departments: tuple[str, ...]


def _fits(masked: str, department: str) -> bool:
    """Whether a masked code as written (capital X hides a character) fits a code."""
    return len(masked) == len(department) and all(
        c == _MASK or c.upper() == d for c, d in zip(masked, department, strict=True)
    )


def _visible(masked: str) -> int:
    return sum(1 for c in masked if c != _MASK)


_DEPT = r"(?P<dept>[A-Za-z0-9_.\-]{1,32})"  # as hub.services.taxonomy allows codes
_FIELDS = {
    "dept": _DEPT,
    "year": r"(?:19|20)[0-9]{2}",
    "seq": r"[0-9]{1,12}",
}


def format_pattern(fmt: str, state: str) -> re.Pattern[str] | None:
    """The pattern of numbers written by ``fmt`` (``hub.settings.registration_format``:
    ``{state}``, ``{dept}``, ``{year}``, ``{seq}``), with the department code as ``dept``;
    None when the format does not write the department."""
    parts = [r"(?<![A-Za-z0-9])"]
    for literal, name, _spec, _conversion in string.Formatter().parse(fmt):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name == "state":
            parts.append(re.escape(state))
        elif name == "dept" and _DEPT in parts:  # written twice: the same code again
            parts.append("(?P=dept)")
        elif name in _FIELDS:
            parts.append(_FIELDS[name])
        else:
            raise ValueError(f"registration format {fmt!r}: unknown field {{{name}}}")
    if _DEPT not in parts:
        return None
    parts.append(r"(?![A-Za-z0-9])")
    return re.compile("".join(parts), re.IGNORECASE)


def find_references(
    text: str, departments: Iterable[str], own: Sequence[re.Pattern[str]] = ()
) -> list[Reference]:
    """The registration numbers in ``text`` whose code fits at least one department:
    CPGRAMS numbers, and numbers of the ``own`` patterns (``format_pattern``).

    An unmasked code names its department alone; the tail must hold digits (or their
    masks), so "Ayush/Others/General" is not a number."""
    # codes compare without case; a reference names them as the taxonomy writes them
    known: dict[str, str] = {}
    for department in sorted(departments):
        known.setdefault(department.upper(), department)
    found: list[Reference] = []
    seen: set[str] = set()
    for match in (m for pattern in own for m in pattern.finditer(text)):
        code = match.group("dept").upper()
        if code in known and match.group(0) not in seen:
            seen.add(match.group(0))
            found.append(Reference(match.group(0), code, (known[code],)))
        if len(found) >= MAX_REFERENCES:
            return found
    for match in _NUMBER.finditer(text):
        token, raw, tail = match.group(0), match.group(1), match.group(3)
        if token in seen or sum(ch.isdigit() for ch in tail) < 2:
            continue
        seen.add(token)
        code = raw.upper()
        names: tuple[str, ...] = ()
        if code in known:  # written in full (a real code may itself contain an X)
            names = (known[code],)
        # masked as exports mask: capital X in the code and in the number
        elif _MASK in raw and _MASK in tail and _visible(raw) >= MIN_VISIBLE:
            names = tuple(known[d] for d in known if _fits(raw, d))
        if names:
            found.append(Reference(token, code, names))
        if len(found) >= MAX_REFERENCES:
            break
    return found


def candidates(references: Iterable[Reference]) -> dict[str, float]:
    """Each named department and its share of the quotes: a number that fits k
    departments gives each 1/k, and the shares are normalised to sum to 1."""
    weight: dict[str, float] = {}
    for ref in references:
        for code in ref.departments:
            weight[code] = weight.get(code, 0.0) + 1.0 / len(ref.departments)
    total = sum(weight.values())
    return {code: w / total for code, w in weight.items()} if total else {}
