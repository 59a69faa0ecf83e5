"""Notifications: who hears about a grievance event, in which words, on which channel.

The workflow engine calls ``notify_event`` (or ``notify_events`` for a bulk
job) inside the transaction that wrote the timeline event, so a notification
exists exactly when its change does. Each one is an outbox row for the
``sms`` or ``email`` connector, keyed so that notifying the same event twice
writes nothing new. Who is told is the ``RULES`` table; what they are told is
``hub/templates/notifications.yaml``, in their language.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, cast

import yaml
from tortoise import connections
from tortoise.functions import Count

from hub.enums import OPEN_STATUSES, Action, GrievanceStatus, Role, UserKind
from hub.models import Department, Escalation, Grievance, GrievanceEvent, User
from hub.outbox import OutboxRow, write_new
from hub.services.sla import IST, PENDENCY_DAYS, Pendency
from hub.settings import Settings

TEMPLATES_FILE = Path(__file__).resolve().parent.parent / "templates" / "notifications.yaml"
DEFAULT_LANGUAGE = "en"
SMS_MAX_CHARS = 300
REASON_MAX_CHARS = 100  # a long note would crowd the SMS; the timeline has it whole
NAME_MAX_CHARS = 60
# Grievances per round of the bulk path: each round is one user query, one key check
# and one insert, whatever the number of grievances.
CHUNK = 2500
REMINDER_NUMBERS = 3
DIGEST_TEMPLATE = "officer_escalations"
# the summary template's name for each of the SLA's pendency buckets
BUCKET_NAMES = {
    Pendency.UNDER_7_DAYS: "under_7",
    Pendency.DAYS_7_TO_15: "days_7_15",
    Pendency.DAYS_15_TO_30: "days_15_30",
    Pendency.OVER_30_DAYS: "over_30",
}

S = GrievanceStatus


class TemplateError(ValueError):
    """A template is malformed or asks for a placeholder it is not given."""


# --- templates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    subject: str
    text: str


@dataclass(frozen=True)
class Rendered:
    template: str
    language: str
    subject: str
    text: str


def placeholders(pattern: str, where: str = "") -> set[str]:
    """The ``{names}`` a pattern uses; positional or dotted fields are refused."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise TemplateError(f"Template {where} is not a valid pattern: {exc}.") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            # attribute and index access would reach into objects; keep templates plain
            raise TemplateError(
                f"Template {where} has placeholder '{{{name}}}': use plain {{name}} only."
            )
        names.add(name)
    return names


@dataclass(frozen=True)
class Catalogue:
    templates: Mapping[str, Mapping[str, Text]]  # name -> language -> text
    labels: Mapping[str, Mapping[str, str]]
    statuses: Mapping[str, Mapping[str, str]]
    # name -> the placeholders it uses (the same in every language)
    uses: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def language_for(self, name: str, language: str | None) -> str:
        chosen = (language or DEFAULT_LANGUAGE).split("-")[0].lower()
        return chosen if chosen in self.templates[name] else DEFAULT_LANGUAGE

    def render(self, name: str, language: str | None, context: Mapping[str, str]) -> Rendered:
        if name not in self.templates:
            raise TemplateError(f"No template named '{name}' in {TEMPLATES_FILE.name}.")
        chosen = self.language_for(name, language)
        text = self.templates[name][chosen]
        try:
            return Rendered(
                name, chosen, text.subject.format_map(context), text.text.format_map(context)
            )
        except KeyError as missing:
            raise TemplateError(
                f"Template '{name}' ({chosen}) uses placeholder '{{{missing.args[0]}}}', not given."
            ) from None

    def label(self, key: str, language: str) -> str:
        words = self.labels[key]
        return words.get(language) or words[DEFAULT_LANGUAGE]

    def status(self, status: str, language: str) -> str:
        words = self.statuses.get(status, {})
        return words.get(language) or words.get(DEFAULT_LANGUAGE) or status


def load_catalogue(path: Path = TEMPLATES_FILE) -> Catalogue:
    """Read and check the templates file; errors name the template and the language."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("templates"), dict):
        raise TemplateError(f"{path.name}: needs a 'templates' mapping.")
    templates: dict[str, dict[str, Text]] = {}
    uses: dict[str, frozenset[str]] = {}
    for name, languages in data["templates"].items():
        if not isinstance(languages, dict) or DEFAULT_LANGUAGE not in languages:
            raise TemplateError(f"Template '{name}' needs an '{DEFAULT_LANGUAGE}' text.")
        texts: dict[str, Text] = {}
        used: dict[str, set[str]] = {}
        for language, entry in languages.items():
            where = f"'{name}' ({language})"
            if not isinstance(entry, dict) or not all(
                isinstance(entry.get(key), str) and entry[key].strip()
                for key in ("subject", "text")
            ):
                raise TemplateError(f"Template {where} needs a 'subject' and a 'text'.")
            texts[language] = Text(entry["subject"].strip(), " ".join(entry["text"].split()))
            used[language] = placeholders(entry["subject"], where) | placeholders(
                entry["text"], where
            )
        for language, names in used.items():
            if names != used[DEFAULT_LANGUAGE]:
                raise TemplateError(
                    f"Template '{name}' ({language}) uses {sorted(names)}, but "
                    f"({DEFAULT_LANGUAGE}) uses {sorted(used[DEFAULT_LANGUAGE])}."
                )
        templates[name] = texts
        uses[name] = frozenset(used[DEFAULT_LANGUAGE])
    labels = data.get("labels") or {}
    statuses = data.get("statuses") or {}
    for section, words in (("labels", labels), ("statuses", statuses)):
        for key, value in words.items():
            if not isinstance(value, dict) or DEFAULT_LANGUAGE not in value:
                raise TemplateError(f"{path.name}: {section}.{key} needs an '{DEFAULT_LANGUAGE}'.")
    return Catalogue(templates, labels, statuses, uses)


@functools.cache
def catalogue() -> Catalogue:
    return load_catalogue()


# --- what is read of a grievance and its event ------------------------------------------


class GrievanceView(Protocol):
    """The grievance after the event: a ``Grievance``, or a bulk job's plain row."""

    @property
    def id(self) -> int: ...
    @property
    def registration_number(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def citizen_id(self) -> int: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def escalated_to_id(self) -> int | None: ...
    @property
    def office_id(self) -> int | None: ...
    @property
    def department_id(self) -> int | None: ...
    @property
    def due_at(self) -> dt.datetime | None: ...
    @property
    def closure_reason(self) -> str: ...
    @property
    def rating(self) -> int | None: ...
    @property
    def escalation_level(self) -> int: ...


class EventView(Protocol):
    """A saved timeline event: a ``GrievanceEvent``, or a bulk job's plain record of one."""

    @property
    def id(self) -> int | None: ...
    @property
    def action(self) -> str: ...
    @property
    def actor_id(self) -> int | None: ...
    @property
    def actor_role(self) -> str: ...
    @property
    def to_status(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def before(self) -> dict[str, Any]: ...
    @property
    def after(self) -> dict[str, Any]: ...


# --- who is told ------------------------------------------------------------------------


class Audience(StrEnum):
    CITIZEN = "citizen"
    ASSIGNEE = "assignee"
    GROS = "gros"  # GROs of the grievance's office, or of its department without one
    ESCALATED_TO = "escalated_to"
    ASSIGNEE_OR_GROS = "assignee_or_gros"


class Side(StrEnum):
    """Who took the action, for rules that depend on it (comments)."""

    ANY = "any"
    CITIZEN = "citizen"  # the owner, or an operator for them
    OFFICER = "officer"


@dataclass(frozen=True)
class Rule:
    action: Action
    audience: Audience
    template: str
    into: frozenset[GrievanceStatus] = frozenset()  # empty: whatever the event leads to
    by: Side = Side.ANY
    # an acknowledgement goes to the recipient even when they took the action themselves
    ack: bool = False


def _r(
    action: Action,
    audience: Audience,
    template: str,
    *,
    into: Iterable[GrievanceStatus] = (),
    by: Side = Side.ANY,
    ack: bool = False,
) -> Rule:
    return Rule(action, audience, template, frozenset(into), by, ack)


A = Action
C, AS, G, E = Audience.CITIZEN, Audience.ASSIGNEE, Audience.GROS, Audience.ESCALATED_TO
_PENDING = (S.PENDING_ASSIGNMENT,)

# First matching rule wins for a recipient: an officer is told once per event, as an officer.
RULES: tuple[Rule, ...] = (
    _r(A.FILE, AS, "officer_assigned", into=(S.ASSIGNED,)),
    _r(A.FILE, G, "gro_new", into=_PENDING),
    _r(A.FILE, C, "filed", ack=True),
    _r(A.ROUTE, AS, "officer_assigned", into=(S.ASSIGNED,)),
    _r(A.ROUTE, G, "gro_new", into=_PENDING),
    _r(A.ROUTE, C, "routed"),
    _r(A.CATEGORISE, AS, "officer_assigned", into=(S.ASSIGNED,)),
    _r(A.CATEGORISE, G, "gro_new", into=_PENDING),
    _r(A.CATEGORISE, C, "routed"),
    _r(A.ASSIGN, AS, "officer_assigned"),
    _r(A.ASSIGN, C, "assigned"),
    _r(A.REASSIGN, AS, "officer_assigned"),
    _r(A.REASSIGN, C, "assigned"),
    _r(A.REQUEST_REASSIGN, G, "gro_reassign"),
    _r(A.TRANSFER, G, "gro_transferred"),
    _r(A.TRANSFER, C, "transferred"),
    _r(A.REJECT, C, "rejected"),
    _r(A.FORWARD, C, "forwarded"),
    _r(A.RESOLVE, C, "resolved"),
    _r(A.REOPEN, AS, "officer_reopened"),
    _r(A.REOPEN, G, "officer_reopened"),
    _r(A.REOPEN, C, "reopened", ack=True),
    _r(A.RATE, AS, "officer_rated"),
    _r(A.AUTO_CLOSE, C, "closed"),
    _r(A.APPEAL, E, "officer_appeal"),
    _r(A.APPEAL, G, "officer_appeal"),
    _r(A.APPEAL, C, "appealed", ack=True),
    _r(A.ESCALATE, E, "officer_escalated"),
    _r(A.ESCALATE, C, "escalated"),
    _r(A.COMMENT, C, "comment", by=Side.OFFICER),
    _r(A.COMMENT, Audience.ASSIGNEE_OR_GROS, "officer_comment", by=Side.CITIZEN),
)

_CITIZEN_SIDE = frozenset({Role.CITIZEN.value, Role.OPERATOR.value})


def _side(grievance: GrievanceView, event: EventView) -> Side:
    if event.actor_id is not None and event.actor_id == grievance.citizen_id:
        return Side.CITIZEN
    return Side.CITIZEN if event.actor_role in _CITIZEN_SIDE else Side.OFFICER


@functools.cache
def _rules(action_name: str, to_status: str, side: Side) -> tuple[Rule, ...]:
    """The rules matching an (action, status reached, side): the same for every event alike."""
    try:
        action = Action(action_name)
    except ValueError:
        return ()  # an action this table does not know tells no one
    return tuple(
        rule
        for rule in RULES
        if rule.action == action
        and (not rule.into or to_status in rule.into)
        and rule.by in (Side.ANY, side)
    )


_TOLD_GROS = frozenset({Audience.GROS, Audience.ASSIGNEE_OR_GROS})


def _digested(rule: Rule) -> bool:
    """An escalation's officer: told later, in a digest, in an escalation pass."""
    return rule.action == Action.ESCALATE and rule.audience == Audience.ESCALATED_TO


@dataclass(frozen=True, slots=True)
class _Plan:
    """The rules of events alike, and what the bulk path asks of them: worked out once per
    (action, status reached, side), not per event."""

    rules: tuple[Rule, ...]
    tells_gros: bool  # the directory loads the GROs of the grievance's office
    digested: tuple[Rule, ...]  # see ``_digested``
    undigested: tuple[Rule, ...]  # the rest, in order


def _plan_for(grievance: GrievanceView, event: EventView) -> _Plan:
    return _plan(str(event.action), str(event.to_status), _side(grievance, event))


@functools.cache
def _plan(action_name: str, to_status: str, side: Side) -> _Plan:
    rules = _rules(action_name, to_status, side)
    return _Plan(
        rules,
        tells_gros=any(rule.audience in _TOLD_GROS for rule in rules),
        digested=tuple(rule for rule in rules if _digested(rule)),
        undigested=tuple(rule for rule in rules if not _digested(rule)),
    )


# --- the people and the words -----------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    mobile: str | None
    email: str | None
    language: str


_PERSON = ("id", "name", "mobile", "email", "language", "roles", "office_id", "department_id")


def _person(row: Mapping[str, Any]) -> Person:
    return Person(row["id"], row["name"], row["mobile"], row["email"], row["language"])


_PG_PEOPLE = (
    "SELECT id, name, mobile, email, language FROM hub_user WHERE id = ANY($1::int[]) AND active"
)


async def _active_people(ids: set[int]) -> Sequence[Mapping[str, Any]]:
    """The active ones among ``ids``. On PostgreSQL one array parameter, not thousands: the
    escalation job asks for a batch's citizens at once."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        _, rows = await conn.execute_query(_PG_PEOPLE, [list(ids)])
        return cast(Sequence[Mapping[str, Any]], rows)
    return await User.filter(id__in=ids, active=True).values(*_PERSON)


@dataclass
class _Directory:
    """People and departments, each looked up once per call, whatever the number of events."""

    people: dict[int, Person] = field(default_factory=dict)
    gros_by_office: dict[int, list[int]] = field(default_factory=dict)
    gros_by_department: dict[int, list[int]] = field(default_factory=dict)
    departments: dict[int, dict[str, str]] = field(default_factory=dict)
    # a department's name as a template shows it, by (department, language)
    shown: dict[tuple[int | None, str], str] = field(default_factory=dict)

    async def load(
        self, items: Sequence[tuple[GrievanceView, EventView]], plans: Sequence[_Plan]
    ) -> None:
        """Whom and what the pairs with rules (``plans``, beside them) may need."""
        user_ids: set[int] = set()
        departments: set[int] = set()
        gro_offices: set[int] = set()
        gro_departments: set[int] = set()
        for (grievance, event), plan in zip(items, plans, strict=True):
            if not plan.rules:
                continue
            user_ids.add(grievance.citizen_id)
            if grievance.assignee_id:
                user_ids.add(grievance.assignee_id)
            # the one before is told only when there is none now (``_assignee``)
            elif (previous := _previous_assignee(event)) is not None:
                user_ids.add(previous)
            if grievance.escalated_to_id:
                user_ids.add(grievance.escalated_to_id)
            if grievance.department_id is not None:
                departments.add(grievance.department_id)
            if plan.tells_gros:
                if grievance.office_id is not None:
                    gro_offices.add(grievance.office_id)
                elif grievance.department_id is not None:
                    gro_departments.add(grievance.department_id)
        await self._load_gros_of_offices(gro_offices - self.gros_by_office.keys())
        # an office without a GRO falls back to its department's: someone must hear of it
        if bare := {office for office in gro_offices if not self.gros_by_office[office]}:
            gro_departments.update(
                grievance.department_id
                for (grievance, _), plan in zip(items, plans, strict=True)
                if plan.rules
                and grievance.office_id in bare
                and grievance.department_id is not None
            )
        await self._load_gros_of_departments(gro_departments - self.gros_by_department.keys())
        missing = user_ids - self.people.keys()
        if missing:
            self.people.update({row["id"]: _person(row) for row in await _active_people(missing)})
        missing_departments = departments - self.departments.keys()
        if missing_departments:
            for row in await Department.filter(id__in=missing_departments).values("id", "names"):
                self.departments[row["id"]] = dict(row["names"] or {})

    async def _load_gros_of_offices(self, offices: set[int]) -> None:
        if not offices:
            return
        self.gros_by_office.update({office: [] for office in offices})
        for row in await User.filter(office_id__in=offices, active=True).values(*_PERSON):
            if Role.GRO.value in (row["roles"] or []):
                self.people[row["id"]] = _person(row)
                self.gros_by_office[row["office_id"]].append(row["id"])

    async def _load_gros_of_departments(self, departments: set[int]) -> None:
        if not departments:
            return
        self.gros_by_department.update({department: [] for department in departments})
        rows = await User.filter(department_id__in=departments, active=True).values(*_PERSON)
        for row in rows:
            if Role.GRO.value in (row["roles"] or []):
                self.people[row["id"]] = _person(row)
                self.gros_by_department[row["department_id"]].append(row["id"])

    def gros(self, grievance: GrievanceView) -> list[int]:
        if grievance.office_id is not None and self.gros_by_office.get(grievance.office_id):
            return self.gros_by_office[grievance.office_id]
        if grievance.department_id is None:
            return []
        return self.gros_by_department.get(grievance.department_id, [])

    def department_name(self, department_id: int | None, language: str) -> str | None:
        names = self.departments.get(department_id) if department_id is not None else None
        if not names:
            return None
        return names.get(language) or names.get(DEFAULT_LANGUAGE) or None


def _previous_assignee(event: EventView) -> int | None:
    """The assignee before the event, from the timeline's ``before`` (a reopen clears it)."""
    before = event.before or {}
    value = before.get("assignee", before.get("assignee_id"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _assignee(grievance: GrievanceView, event: EventView) -> int | None:
    return grievance.assignee_id or _previous_assignee(event)


def _recipients(
    grievance: GrievanceView, event: EventView, rule: Rule, directory: _Directory
) -> list[int]:
    match rule.audience:
        case Audience.CITIZEN:
            return [grievance.citizen_id]
        case Audience.ASSIGNEE:
            assignee = _assignee(grievance, event)
            return [assignee] if assignee else []
        case Audience.ESCALATED_TO:
            return [grievance.escalated_to_id] if grievance.escalated_to_id else []
        case Audience.GROS:
            return directory.gros(grievance)
        case Audience.ASSIGNEE_OR_GROS:
            assignee = _assignee(grievance, event)
            return [assignee] if assignee else directory.gros(grievance)


def _cap(text: str, limit: int) -> str:
    if not _tidy(text):
        text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _tidy(text: str) -> bool:
    """Whether ``" ".join(text.split())`` would leave ``text`` as it is, without building it:
    the only whitespace a printable text can hold is the ASCII space (every other one is a
    control or separator character), so no space at its ends or twice in a row suffices.
    Most rendered texts are tidy: their templates are, and so are numbers and levels."""
    return text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " "


def _ist_date(moment: dt.datetime | None) -> str | None:
    return _day(moment.astimezone(IST).date()) if moment else None


@functools.lru_cache(maxsize=4096)
def _day(day: dt.date) -> str:
    return day.strftime("%d-%m-%Y")


_Fill = Callable[[GrievanceView, EventView, str, _Directory], str]


def _department(g: GrievanceView, _: EventView, language: str, directory: _Directory) -> str:
    key = (g.department_id, language)
    shown = directory.shown.get(key)
    if shown is None:
        shown = directory.shown[key] = _cap(
            directory.department_name(g.department_id, language)
            or catalogue().label("no_department", language),
            NAME_MAX_CHARS,
        )
    return shown


def _officer(g: GrievanceView, _: EventView, language: str, directory: _Directory) -> str:
    officer = directory.people.get(g.assignee_id or 0)
    if officer and officer.name:
        return _cap(officer.name, NAME_MAX_CHARS)
    return catalogue().label("no_officer", language)


def _reason(g: GrievanceView, event: EventView, language: str, _: _Directory) -> str:
    reason = event.note or g.closure_reason
    return _cap(reason, REASON_MAX_CHARS) if reason else catalogue().label("no_reason", language)


def _rating(g: GrievanceView, event: EventView, language: str, _: _Directory) -> str:
    rating = g.rating if g.rating is not None else (event.after or {}).get("rating")
    return str(rating) if rating is not None else catalogue().label("no_rating", language)


# how each placeholder of an event template is filled
_FILLS: dict[str, _Fill] = {
    "registration_number": lambda g, e, language, d: g.registration_number,
    "status": lambda g, e, language, d: catalogue().status(str(g.status), language),
    "department": _department,
    "due_date": lambda g, e, language, d: (
        _ist_date(g.due_at) or catalogue().label("no_due_date", language)
    ),
    "officer": _officer,
    "reason": _reason,
    "rating": _rating,
    "level": lambda g, e, language, d: str(g.escalation_level),
}


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: hashed by identity, cheaply
class _Form:
    """An event template in one language with its placeholders' fills: what its messages
    share whatever the grievance, looked up once."""

    template: str
    language: str
    text: Text
    fills: tuple[tuple[str, _Fill], ...]

    @classmethod
    def of(cls, words: Catalogue, template: str, language: str | None) -> _Form:
        chosen = words.language_for(template, language)
        needed = words.uses.get(template)
        names = _FILLS.keys() if needed is None else needed
        fills = tuple((name, _FILLS[name]) for name in names if name in _FILLS)
        text = words.templates[template][chosen]
        return cls(template, chosen, text, fills)

    def render(self, grievance: GrievanceView, event: EventView, directory: _Directory) -> Rendered:
        language = self.language
        context = {name: fill(grievance, event, language, directory) for name, fill in self.fills}
        try:
            return Rendered(
                self.template,
                language,
                self.text.subject.format_map(context),
                self.text.text.format_map(context),
            )
        except KeyError as missing:
            raise TemplateError(
                f"Template '{self.template}' ({language}) uses placeholder "
                f"'{{{missing.args[0]}}}', not given."
            ) from None


class _Forms:
    """The forms of one call, by (template, a person's language as stored)."""

    def __init__(self) -> None:
        self.words = catalogue()
        self._known: dict[tuple[str, str | None], _Form] = {}

    def get(self, template: str, language: str | None) -> _Form:
        form = self._known.get((template, language))
        if form is None:
            form = self._known[(template, language)] = _Form.of(self.words, template, language)
        return form


# --- outbox rows ------------------------------------------------------------------------


def _add_messages(
    rows: list[OutboxRow],
    person: Person,
    rendered: Rendered,
    key: str,
    grievance: GrievanceView | None,
    due: dt.datetime,
) -> None:
    """An SMS when the person has a mobile, an e-mail when they have an address."""
    grievance_id = grievance.id if grievance is not None else None
    topic = f"notify.{rendered.template}"
    if person.mobile:
        sms = {"to": person.mobile, "text": _cap(rendered.text, SMS_MAX_CHARS)}
        payload = _with_source(sms, rendered, grievance)
        rows.append(OutboxRow(grievance_id, "sms", topic, payload, f"{key}:sms", due))
    if person.email:
        email = {"to": person.email, "subject": rendered.subject, "text": rendered.text}
        payload = _with_source(email, rendered, grievance)
        rows.append(OutboxRow(grievance_id, "email", topic, payload, f"{key}:email", due))


def _with_source(
    payload: dict[str, Any], rendered: Rendered, grievance: GrievanceView | None
) -> dict[str, Any]:
    """The payload, with the template and language it was written from, and the grievance."""
    payload["template"] = rendered.template
    payload["language"] = rendered.language
    if grievance is not None:
        payload["registration_number"] = grievance.registration_number
    return payload


# --- the API ----------------------------------------------------------------------------


async def notify_event(settings: Settings, grievance: Grievance, event: GrievanceEvent) -> int:
    """Write the notifications of one timeline event; returns outbox rows written.

    Call inside the transaction that wrote ``event``; ``grievance`` is the row after it.
    """
    return await notify_events(settings, [(grievance, event)])


async def notify_events(
    settings: Settings,
    items: Sequence[tuple[GrievanceView, EventView]],
    *,
    new_events: bool = False,
    digest: bool = False,
) -> int:
    """The bulk form (the escalation job): a few queries per ``CHUNK`` events, none per event.

    Each grievance is the row after its event: a ``Grievance`` or any plain row with the
    same attributes (``GrievanceView``); each event a saved one (``EventView``).
    ``new_events``: every event was written in this transaction and is notified only here,
    so no key can be in the outbox yet (``hub.outbox.pg_insert_from``).
    ``digest`` (an escalation pass): an officer who has several of these escalations
    gets one message listing them, not one each; the citizens still hear of each."""
    del settings  # part of the API: sinks and limits may come from it; the rows need none yet
    directory = _Directory()
    forms = _Forms()
    written = 0
    held: dict[int, list[tuple[GrievanceView, EventView]]] = {}
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        # the plans beside the pairs, not in (pair, plan) tuples: each object that lives as
        # long as a chunk is traversed by the garbage collector's full passes (in the
        # escalation job they take about a quarter of its CPU time)
        plans = [_plan_for(grievance, event) for grievance, event in chunk]
        if not any(plan.rules for plan in plans):
            continue
        await directory.load(chunk, plans)
        due = dt.datetime.now(dt.UTC)
        rows: list[OutboxRow] = []
        for pair, plan in zip(chunk, plans, strict=True):
            if plan.rules:
                rules = _hold_escalations(pair, plan, held) if digest else plan.rules
                _add_event_rows(rows, pair[0], pair[1], rules, directory, forms, due)
        written += await write_new(rows, new_keys=new_events)
    if held:
        due = dt.datetime.now(dt.UTC)
        rows = []
        for officer_id, escalations in held.items():
            if len(escalations) == 1:  # one: the message of a single escalation
                grievance, event = escalations[0]
                rules = _plan_for(grievance, event).digested  # the one held back
                _add_event_rows(rows, grievance, event, rules, directory, forms, due)
            else:
                _add_digest_rows(rows, officer_id, escalations, directory, due)
        written += await write_new(rows, new_keys=new_events)
    return written


def _hold_escalations(
    pair: tuple[GrievanceView, EventView],
    plan: _Plan,
    held: dict[int, list[tuple[GrievanceView, EventView]]],
) -> tuple[Rule, ...]:
    """The rules to apply now; an escalation's officer is told later, in a digest. ``held``
    lists the pair once per rule held back (in practice one), as its count."""
    grievance = pair[0]
    officer = grievance.escalated_to_id
    # an officer who is also the citizen is told once, by the grievance's own rules
    if not plan.digested or officer is None or officer == grievance.citizen_id:
        return plan.rules
    held.setdefault(officer, []).extend([pair] * len(plan.digested))
    return plan.undigested


def _add_digest_rows(
    rows: list[OutboxRow],
    officer_id: int,
    escalations: list[tuple[GrievanceView, EventView]],
    directory: _Directory,
    due: dt.datetime,
) -> None:
    """One message to an officer for several escalations: how many, the most overdue."""
    person = directory.people.get(officer_id)
    if person is None:  # inactive or gone: nobody to tell
        return
    # the first few of them sorted (a backlog gives an officer thousands), as sorted()[:n]
    ordered = heapq.nsmallest(
        REMINDER_NUMBERS,
        escalations,
        key=lambda item: (item[0].due_at is None, item[0].due_at or due, item[0].id),
    )
    words = catalogue()
    language = words.language_for(DIGEST_TEMPLATE, person.language)
    numbers = [grievance.registration_number for grievance, _ in ordered]
    context = {"count": str(len(escalations)), "numbers": ", ".join(numbers)}
    rendered = words.render(DIGEST_TEMPLATE, language, context)
    # the events are new in this pass, and each is in one officer's digest: a unique key
    first = min(int(event.id or 0) for _, event in escalations)
    _add_messages(rows, person, rendered, f"escalations:{first}:{officer_id}", None, due)


def _add_event_rows(
    rows: list[OutboxRow],
    grievance: GrievanceView,
    event: EventView,
    rules: tuple[Rule, ...],
    directory: _Directory,
    forms: _Forms,
    due: dt.datetime,
) -> None:
    if event.id is None:
        raise ValueError(
            f"GrievanceEvent of {grievance.registration_number} has no id: save it before "
            "notifying (its id is part of every notification's idempotency key)."
        )
    told: set[int] = set()
    texts: dict[_Form, Rendered] = {}  # GROs of an office share their words
    for rule in rules:
        for user_id in _recipients(grievance, event, rule, directory):
            if user_id in told or (user_id == event.actor_id and not rule.ack):
                continue
            told.add(user_id)
            person = directory.people.get(user_id)
            if person is None:  # inactive or gone: nobody to tell
                continue
            form = forms.get(rule.template, person.language)
            rendered = texts.get(form)
            if rendered is None:
                rendered = texts[form] = form.render(grievance, event, directory)
            key = f"{grievance.registration_number}:{event.id}:{user_id}"
            _add_messages(rows, person, rendered, key, grievance, due)


# --- daily summaries and reminders ------------------------------------------------------


def _require_aware(now: dt.datetime) -> dt.date:
    if now.tzinfo is None:
        raise ValueError("now is a naive datetime: pass an aware one (e.g. datetime.now(UTC)).")
    return now.astimezone(IST).date()


async def send_daily_summaries(settings: Settings, now: dt.datetime) -> int:
    """One summary per HoD of their department's open grievances; once per IST date."""
    del settings
    today = _require_aware(now)
    hods = [(p, dept) for p, _, dept in await _role_holders(Role.HOD) if dept is not None]
    if not hods:
        return 0
    department_ids = {dept for _, dept in hods}
    counts = await _pendency(department_ids, now)
    names = {
        row["id"]: dict(row["names"] or {})
        for row in await Department.filter(id__in=department_ids).values("id", "names")
    }
    words = catalogue()
    rows: list[OutboxRow] = []
    for person, dept in hods:
        language = words.language_for("daily_summary", person.language)
        figures = counts.get(dept, {})
        context = {
            "department": _cap(
                names.get(dept, {}).get(language)
                or names.get(dept, {}).get(DEFAULT_LANGUAGE)
                or str(dept),
                NAME_MAX_CHARS,
            ),
            "date": today.strftime("%d-%m-%Y"),
            **{name: str(figures.get(name, 0)) for name in _SUMMARY_FIGURES},
        }
        rendered = words.render("daily_summary", language, context)
        key = f"summary:{today.isoformat()}:{person.id}"
        _add_messages(rows, person, rendered, key, None, now)
    return await write_new(rows)


_SUMMARY_FIGURES = (*BUCKET_NAMES.values(), "total", "overdue")


async def _pendency(department_ids: set[int], now: dt.datetime) -> dict[int, dict[str, int]]:
    """Open grievances per department: by days since filing, in total, and past due."""
    open_ = Grievance.filter(department_id__in=department_ids, status__in=list(OPEN_STATUSES))
    ranges: list[tuple[str, dict[str, Any]]] = []
    for bucket, since, until in PENDENCY_DAYS:
        condition: dict[str, Any] = {"created_at__lte": now - dt.timedelta(days=since)}
        if until is not None:
            condition["created_at__gt"] = now - dt.timedelta(days=until)
        ranges.append((BUCKET_NAMES[bucket], condition))
    ranges.append(("overdue", {"due_at__lt": now}))
    result: dict[int, dict[str, int]] = {}
    for name, condition in ranges:
        rows = (
            await open_.filter(**condition)
            .annotate(n=Count("id"))
            .group_by("department_id")
            .values("department_id", "n")
        )
        for row in rows:
            result.setdefault(row["department_id"], {})[name] = int(row["n"])
    for figures in result.values():
        figures["total"] = sum(figures.get(name, 0) for name in BUCKET_NAMES.values())
    return result


async def send_reminders(settings: Settings, now: dt.datetime) -> int:
    """One reminder per nodal officer with open grievances escalated to them; once per IST date."""
    del settings
    today = _require_aware(now)
    officers = {person.id: person for person, _, _ in await _role_holders(Role.NODAL_OFFICER)}
    if not officers:
        return 0
    open_ = Escalation.filter(
        officer_id__in=list(officers), grievance__status__in=list(OPEN_STATUSES)
    )
    counts = {
        row["officer_id"]: int(row["n"])
        for row in await open_.annotate(n=Count("grievance_id"))
        .group_by("officer_id")
        .values("officer_id", "n")
    }
    words = catalogue()
    rows: list[OutboxRow] = []
    for officer_id, count in sorted(counts.items()):
        person = officers[officer_id]
        # one indexed query per officer with work (officer_id, due_at), never per grievance
        numbers = await (
            Escalation.filter(
                officer_id=officer_id,
                grievance__status__in=list(OPEN_STATUSES),
                due_at__isnull=False,
            )
            .order_by("due_at", "grievance_id")
            .limit(REMINDER_NUMBERS)
            .values_list("grievance__registration_number", flat=True)
        )
        language = words.language_for("reminder", person.language)
        context = {
            "count": str(count),
            "numbers": ", ".join(str(n) for n in numbers) or "-",
            "date": today.strftime("%d-%m-%Y"),
        }
        rendered = words.render("reminder", language, context)
        key = f"reminder:{today.isoformat()}:{officer_id}"
        _add_messages(rows, person, rendered, key, None, now)
    return await write_new(rows)


async def _role_holders(role: Role) -> list[tuple[Person, int | None, int | None]]:
    """Active employees holding ``role``: (person, office id, department id).

    Roles are a JSON list, which SQLite cannot search: narrow to active employees in
    SQL, read only (id, roles), then fetch the few matching people whole.
    """
    rows = await User.filter(kind=UserKind.EMPLOYEE, active=True).values_list("id", "roles")
    ids = [uid for uid, roles in rows if role.value in (roles or [])]
    if not ids:
        return []
    people = await User.filter(id__in=ids).order_by("id").values(*_PERSON)
    return [(_person(row), row["office_id"], row["department_id"]) for row in people]
