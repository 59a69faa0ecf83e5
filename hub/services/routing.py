"""Routing: from a citizen's words to a category, a department and an office.

The ranking itself is pure code in ``routing_rules.ranker``. This module feeds
it: it builds the taxonomy index from the live database (rebuilt in every
process when a rule load bumps the taxonomy generation, so a reload needs no
restart), loads the newest learned model, trains new ones from grievances
already routed, and records routing decisions on the timeline. It also tells the
ranker the shape of this hub's registration numbers, so a text quoting one counts
as a follow-up for its department.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tortoise.expressions import Q

from auth.actor import Actor
from hub.enums import Action, GrievanceStatus, Role
from hub.errors import DomainError
from hub.models import Department, Grievance, GrievanceEvent, RoutingModel, TaxonomyNode
from hub.services import jurisdiction, taxonomy
from hub.settings import Settings
from routing_rules.overlays import read_examples
from routing_rules.ranker import (
    Example,
    HistoryModel,
    NodeInfo,
    Router,
    Routing,
    Suggestion,
    TaxonomyIndex,
    explain,
    field_labels,
    seed_examples,
)
from routing_rules.references import format_pattern
from routing_rules.rules import RuleError
from routing_rules.text import is_english, lexicon_version, looks_binary, refresh_lexicons

logger = logging.getLogger("hub.routing")

TEXT_MAX = 20_000  # longer is refused; the ranker reads the first 1,500 words anyway
LIMIT_MAX = 20
REFRESH_SECONDS = 2.0  # how stale a process's view of the taxonomy generation may be
MODELS_KEPT = 3
CORRECTED_WEIGHT = 2.0  # a GRO's choice teaches more than a citizen's own pick


@dataclass
class _Built:
    router: Router
    generation: int
    model_id: int | None
    lexicons: int  # text.lexicon_version() the index was built under
    names: dict[str, str]  # node and department code -> English name
    localized: dict[str, dict[str, str]]  # node and department code -> names by locale
    build_seconds: float
    checked_at: float


class _Cache:
    def __init__(self) -> None:
        self.built: _Built | None = None
        self.lock = asyncio.Lock()

    def clear(self) -> None:
        self.built = None


_cache = _Cache()


def forget() -> None:
    """Drop this process's router (tests; a reconnect to another database)."""
    _cache.clear()


async def current_router(*, fresh: bool = False) -> _Built:
    """This process's router, rebuilt when the taxonomy or the learned model changed."""
    built = _cache.built
    now = time.monotonic()
    if built is not None and not fresh and now - built.checked_at < REFRESH_SECONDS:
        return built
    async with _cache.lock:
        built = _cache.built
        generation = await taxonomy.generation()
        newest = await RoutingModel.all().order_by("-id").first().values_list("id", flat=True)
        model_id = int(newest) if newest is not None else None  # type: ignore[call-overload]
        # a changed lexicon is read off the event loop (all files again: about 0.3 s)
        await asyncio.to_thread(_refresh_lexicons)
        lexicons = lexicon_version()
        if built is not None and (built.generation, built.model_id, built.lexicons) == (
            generation,
            model_id,
            lexicons,
        ):
            built.checked_at = time.monotonic()
            return built
        # the index holds the tree's wording as terms, which the lexicons help read
        same = built is not None and (built.generation, built.lexicons) == (generation, lexicons)
        reuse = built if same else None
        _cache.built = await _build(generation, model_id, lexicons, reuse)
        return _cache.built


def _refresh_lexicons() -> None:
    """Read the lexicons again if a file was added, changed or removed. A change with
    problems is logged once, and routing goes on with the lexicons it had."""
    try:
        refresh_lexicons()
    except RuleError as exc:
        logger.warning(
            "lexicons changed but were not read; routing goes on with those it had: %s",
            "; ".join(exc.problems),
        )


async def _taxonomy_nodes() -> tuple[
    list[NodeInfo], dict[str, dict[str, str]], dict[str, dict[str, str]]
]:
    """The active nodes; the active departments' names; every name by code."""
    departments = await Department.filter(active=True).values_list("id", "code", "names")
    dept_code = {int(i): str(c) for i, c, _ in departments}
    own = {str(c): dict(n or {}) for _, c, n in departments}
    names = dict(own)
    rows = await TaxonomyNode.filter(active=True, department_id__in=list(dept_code)).values(
        "id",
        "code",
        "parent_id",
        "department_id",
        "names",
        "keywords",
        "synonyms",
        "destination",
        "input_fields",
    )
    code_of = {int(r["id"]): str(r["code"]) for r in rows}
    nodes = []
    for r in rows:
        names[r["code"]] = dict(r["names"] or {})
        nodes.append(
            NodeInfo(
                code=r["code"],
                department=dept_code[int(r["department_id"])],
                parent=code_of.get(int(r["parent_id"])) if r["parent_id"] else None,
                names=dict(r["names"] or {}),
                keywords=tuple(r["keywords"] or ()),
                synonyms=tuple(r["synonyms"] or ()),
                destination=r["destination"] or "",
                fields=field_labels(r["input_fields"] or ()),
            )
        )
    return nodes, own, names


async def _build(
    generation: int, model_id: int | None, lexicons: int, reuse: _Built | None
) -> _Built:
    """A router for this taxonomy generation and model; the index is kept when only the
    model changed."""
    started = time.perf_counter()
    if reuse is not None:
        index, names, localized = reuse.router.index, reuse.names, reuse.localized
    else:
        nodes, own, localized = await _taxonomy_nodes()
        names = {code: n.get("en") or next(iter(n.values()), code) for code, n in localized.items()}
        index = await asyncio.to_thread(TaxonomyIndex, nodes, sorted(own), own)
        # the English word list misspellings are checked against, read off the event loop
        # now rather than by the first misspelt text (about 0.2 s, once a process)
        await asyncio.to_thread(is_english, "word")
    model = None
    row = await RoutingModel.get_or_none(id=model_id) if model_id is not None else None
    if row is not None:
        try:
            model = await asyncio.to_thread(HistoryModel.from_payload, row.payload)
        except (ValueError, KeyError) as exc:
            logger.warning("routing model %s unusable, using the tree only: %s", model_id, exc)
    seconds = time.perf_counter() - started
    logger.info(
        "routing index ready: %d nodes, %d leaves, model %s, %.2fs",
        len(index.nodes),
        len(index.leaves),
        model_id,
        seconds,
    )
    router = Router(index, model)
    return _Built(
        router, generation, model_id, lexicons, names, localized, seconds, time.monotonic()
    )


# -- suggestions -----------------------------------------------------------------------


@dataclass(frozen=True)
class RouteSuggestion:
    suggestion: Suggestion
    category_names: dict[str, str]
    department_names: dict[str, str]
    explanation: str
    office_code: str | None
    office_name: str | None
    office_note: str
    similar: tuple[str, ...]  # alike grievances this viewer may know of (maybe none)

    def category_name(self, locale: str = "en") -> str | None:
        if self.suggestion.category is None:
            return None
        names = self.category_names
        return names.get(locale) or names.get("en") or self.suggestion.category

    def department_name(self, locale: str = "en") -> str:
        names = self.department_names
        return names.get(locale) or names.get("en") or self.suggestion.department

    def as_dict(self) -> dict[str, Any]:
        s = self.suggestion
        return {
            "category": s.category,
            "category_names": self.category_names,
            "department": s.department,
            "destination": s.destination,
            "office": self.office_code,
            "score": s.score,
            "confidence": s.confidence,
            "category_confidence": s.category_confidence,
            "explanation": self.explanation,
            "matches": [dataclasses.asdict(m) for m in s.matches],
        }


@dataclass(frozen=True)
class RouteAnswer:
    suggestions: list[RouteSuggestion]
    note: str


def check_text(text: str, field: str = "text") -> str:
    """The text to route, or a DomainError naming ``field`` and the problem."""
    if len(text) > TEXT_MAX:
        raise DomainError.one(
            field, "too_long", f"Route at most {TEXT_MAX} characters; this text has {len(text)}."
        )
    if looks_binary(text):
        raise DomainError.one(field, "not_text", "This looks like binary data, not words.")
    if not text.strip():
        raise DomainError.one(field, "empty", "Write a few words about the problem.")
    return text


@functools.cache
def _own_numbers(registration_format: str, state_code: str) -> tuple[re.Pattern[str], ...]:
    pattern = format_pattern(registration_format, state_code)
    return () if pattern is None else (pattern,)


def own_numbers(settings: Settings | None) -> tuple[re.Pattern[str], ...]:
    """The pattern of this hub's registration numbers, which name their department: a
    text quoting one is likely a follow-up for that department."""
    if settings is None:
        return ()
    return _own_numbers(settings.registration_format, settings.state_code)


async def suggest(
    text: str,
    *,
    viewer: Actor | None = None,
    limit: int = 5,
    boundary_code: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    settings: Settings | None = None,
) -> RouteAnswer:
    """Ranked suggestions for ``text``; ``viewer`` (default: the system) decides whether
    the registration numbers of alike grievances are shown. With ``settings``, the
    hub's own registration numbers quoted in the text count as well as CPGRAMS ones."""
    check_text(text)
    if not 1 <= limit <= LIMIT_MAX:
        raise DomainError.one("limit", "out_of_range", f"Ask for 1 to {LIMIT_MAX} suggestions.")
    built = await current_router()
    routing = built.router.suggest(text, limit=limit, numbers=own_numbers(settings))
    actor = viewer or Actor.internal()
    sees = await _sees_similar_of(actor)
    shown = await _visible_numbers(
        actor,
        {n for s in routing.suggestions if sees in ("*", s.department) for n in s.similar},
    )
    out = []
    offices: dict[str | None, tuple[str, str, str] | None] = {}
    for s in routing.suggestions:
        if s.category not in offices:
            offices[s.category] = await _office(s, boundary_code, latitude, longitude)
        similar = tuple(n for n in s.similar if n in shown)
        out.append(_describe(built, s, offices[s.category], similar))
    return RouteAnswer(out, routing.note)


async def _visible_numbers(viewer: Actor, numbers: set[str]) -> set[str]:
    """The registration numbers among ``numbers`` the viewer may see (an office's officer
    is shown alike grievances of their office, not of the whole department)."""
    if not numbers or viewer.is_statewide:
        return numbers
    from hub.services.grievances import visible_to  # grievances imports this module

    rows = await Grievance.filter(
        visible_to(viewer), registration_number__in=list(numbers)
    ).values_list("registration_number", flat=True)
    return {str(number) for number in rows}


async def _sees_similar_of(viewer: Actor) -> str | None:
    """Whose alike grievances a viewer may see: "*" (statewide), their own department's
    code (department staff), or None (citizens and everyone else)."""
    if viewer.is_statewide:
        return "*"
    if viewer.is_department_staff:
        department = await Department.get_or_none(id=viewer.department_id)
        return department.code if department else None
    return None


def _describe(
    built: _Built, s: Suggestion, office: tuple[str, str, str] | None, similar: tuple[str, ...]
) -> RouteSuggestion:
    return RouteSuggestion(
        suggestion=s,
        category_names=built.localized.get(s.category, {}) if s.category else {},
        department_names=built.localized.get(s.department, {"en": s.department}),
        explanation=explain(s, built.names),
        office_code=office[0] if office else None,
        office_name=office[1] if office else None,
        office_note=office[2] if office else "no office covers this category and place",
        similar=similar,
    )


async def _office(
    s: Suggestion, boundary_code: str | None, latitude: float | None, longitude: float | None
) -> tuple[str, str, str] | None:
    """(code, name, how it was found) of the office that must act, or None."""
    if s.category is None:
        return None
    try:
        found = await jurisdiction.resolve(s.category, boundary_code, latitude, longitude)
    except DomainError as exc:
        if any(e.field != "categoryCode" for e in exc.errors):
            raise  # the caller's place is wrong: say so
        return None  # the category was deactivated since this process's index was built
    if found.office is None:
        return None
    return found.office.code, found.office.name, found.explanation


# -- learning --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rebuilt:
    model_id: int | None
    examples: int
    departments: int
    seconds: float
    note: str = ""


async def training_examples(limit: int) -> list[Example]:
    """Routed grievances, newest first: the category they ended in is the label.
    Grievances a GRO categorised or transferred count double."""
    rows = (
        await Grievance.filter(
            ~Q(status__in=[GrievanceStatus.TRIAGE, GrievanceStatus.REJECTED]),
            category_id__not_isnull=True,
        )
        .order_by("-id")
        .limit(limit)
        .values(
            "id",
            "description",
            "registration_number",
            "status",
            "category__code",
            "category__department__code",
            "department__code",
        )
    )
    if not rows:
        return []
    oldest = min(int(r["id"]) for r in rows)
    decided: dict[int, set[str]] = {}
    for grievance_id, action in await GrievanceEvent.filter(
        grievance_id__gte=oldest, action__in=[Action.ROUTE, Action.CATEGORISE, Action.TRANSFER]
    ).values_list("grievance_id", "action"):
        decided.setdefault(int(grievance_id), set()).add(str(action))
    corrected = {g for g, actions in decided.items() if actions - {Action.ROUTE.value}}
    # the hub's own decisions teach nothing until an officer confirms or corrects them
    unconfirmed = {g for g, actions in decided.items() if actions == {Action.ROUTE.value}}
    waiting = GrievanceStatus.PENDING_ASSIGNMENT.value  # nobody has acted on it yet
    rows = [r for r in rows if not (int(r["id"]) in unconfirmed and r["status"] == waiting)]
    return [
        Example(
            text=r["description"],
            department=r["department__code"],
            # a category since moved to another department (a reorganisation) is not this
            # department's: the grievance still teaches its department, not the pair
            category=(
                r["category__code"]
                if r["category__department__code"] == r["department__code"]
                else None
            ),
            reference=r["registration_number"],
            weight=CORRECTED_WEIGHT if int(r["id"]) in corrected else 1.0,
        )
        for r in rows
        if r["department__code"]
    ]


async def rebuild_model(
    limit: int, actor: Actor | None = None, settings: Settings | None = None
) -> Rebuilt:
    """Train a model from history and publish it to every process (they load the newest).
    Only admins (and the system: jobs, the command line) may."""
    if actor is not None and not actor.has(Role.ADMIN, Role.SYSTEM):
        raise DomainError.one("", "forbidden", "Admins only.")
    started = time.perf_counter()
    examples = await training_examples(limit)
    if len(examples) < 10:
        return Rebuilt(
            None,
            len(examples),
            0,
            time.perf_counter() - started,
            note="fewer than 10 routed grievances: routing uses the taxonomy alone",
        )
    built = await current_router(fresh=True)
    path = settings.routing_examples if settings is not None else None
    notes = []
    try:
        seeds = await asyncio.to_thread(_seeds, path) if path is not None else {}
    except RuleError as exc:  # the model is still worth training: say why it has no seeds
        logger.warning("seed examples not used: %s", "; ".join(exc.problems))
        seeds = {}
        notes.append(f"seed examples not used: {exc.problems[0]}")
    seeded = seed_examples(seeds, built.router.index.departments)
    if seeded:
        notes.append(f"with {len(seeded)} seed examples from {path}")
    if seeds and not seeded:
        notes.append(f"no seed example in {path} is for a department of this taxonomy")
    elif lacking := sorted(set(seeds) - {e.department for e in seeded}):
        shown = ", ".join(lacking[:5]) + (
            f" and {len(lacking) - 5} more" if len(lacking) > 5 else ""
        )
        notes.append(f"seed examples of departments the taxonomy lacks skipped: {shown}")
    note = "; ".join(notes)
    model = await asyncio.to_thread(
        functools.partial(HistoryModel.train, numbers=own_numbers(settings)),
        built.router.index,
        examples + seeded,
    )
    model.info = {**model.info, "generation": built.generation}
    row = await RoutingModel.create(examples=len(examples), payload=model.to_payload())
    stale = await RoutingModel.filter(id__lt=row.id).order_by("-id").offset(MODELS_KEPT - 1)
    if stale:
        await RoutingModel.filter(id__in=[m.id for m in stale]).delete()
    await current_router(fresh=True)
    return Rebuilt(
        row.id, len(examples), len(model.departments), time.perf_counter() - started, note
    )


_read_seeds: dict[tuple[str, int, int], dict[str, list[str]]] = {}


def _seeds(path: Path) -> dict[str, list[str]]:
    """The seed examples file, read again only when it changed."""
    try:
        stat = path.stat()
    except OSError:
        return read_examples(path)  # it names the problem
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    seeds = _read_seeds.get(key)
    if seeds is None:
        seeds = read_examples(path)
        _read_seeds.clear()
        _read_seeds[key] = seeds
    return seeds


# -- deciding --------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the hub decided for a grievance filed without a category."""

    category_code: str | None  # set when routed automatically
    department_code: str | None  # the best guess, routed or not
    confidence: float
    threshold: float
    explanation: str
    alternatives: list[dict[str, Any]]

    @property
    def routed(self) -> bool:
        return self.category_code is not None

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def decide(text: str, threshold: float, settings: Settings | None = None) -> Decision:
    """Route automatically when the best department's confidence reaches ``threshold``."""
    built = await current_router()
    routing: Routing = built.router.suggest(text, limit=3, numbers=own_numbers(settings))
    alternatives = [
        {
            "category": s.category,
            "department": s.department,
            "confidence": round(s.confidence, 3),
            "score": round(s.score, 3),
        }
        for s in routing.suggestions
    ]
    if not routing.suggestions:
        return Decision(None, None, 0.0, threshold, routing.note or "nothing matched", [])
    top_department = routing.departments[0][0] if routing.departments else None
    best = next(
        (s for s in routing.suggestions if s.department == top_department),
        routing.suggestions[0],
    )
    # a threshold of 1 means "never": a probability can round to 1.0
    confident = threshold < 1.0 and best.confidence >= threshold and best.category is not None
    why = explain(best, built.names)
    shown = (
        f"{built.names.get(best.category, best.category)} ({best.department})"
        if best.category
        else f"department {best.department}"
    )
    verdict = (
        f"routed to {shown} with confidence {best.confidence:.2f} >= {threshold:.2f}: {why}"
        if confident
        else f"best guess {shown} with confidence {best.confidence:.2f} < {threshold:.2f}: {why}"
    )
    # a department guess with no matching wording and little confidence helps no GRO
    guess = best.department if best.category or best.confidence >= 0.5 else None
    return Decision(
        category_code=best.category if confident else None,
        department_code=guess,
        confidence=round(best.confidence, 4),
        threshold=threshold,
        explanation=verdict,
        alternatives=alternatives,
    )
