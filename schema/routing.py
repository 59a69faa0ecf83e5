"""Routing: suggestions for a citizen's words, the triage queue, the learned model."""

from __future__ import annotations

import strawberry

from hub.enums import Role
from hub.errors import DomainError
from hub.services import routing as service
from hub.services import triage
from hub.workflow import IllegalAction
from schema.context import Info
from schema.grievances import errors_of, in_scope
from schema.permissions import STAFF, Allow, quietly
from schema.types import Grievance, UserError


@strawberry.type
class RouteMatch:
    """One reason for a suggestion."""

    word: str = strawberry.field(description="What the text said.")
    term: str = strawberry.field(description="The term it was compared as (stemmed).")
    source: str = strawberry.field(
        description="name, keyword, synonym, field (a label of the category's form, such as "
        "'PPO Number'), learned, reference (a quoted registration number), or department "
        "(a word of the department's own name)."
    )
    node: str = strawberry.field(
        description="Code of the taxonomy node that matched (a reference, a department's name: "
        "the department)."
    )
    via: str = strawberry.field(
        description="'' (as written), lexicon (an Indian-language word read as its English "
        "word: Hindi, Hinglish, Kannada, Bengali, Marathi, Tamil, Telugu, Gujarati, Odia, "
        "Punjabi, Malayalam, Assamese, Urdu), names (read as the "
        "English word the taxonomy's names in two languages pair it with), spelt (an English "
        "word written in an Indian script, such as बीपीसीएल for BPCL, read as that word), fuzzy "
        "(spelling corrected)."
    )


@strawberry.type
class RouteOffice:
    code: str
    name: str


@strawberry.type
class RouteSuggestion:
    row: strawberry.Private[service.RouteSuggestion]

    @strawberry.field(description="The leaf category; null when only the department is likely.")
    def category_code(self) -> str | None:
        return self.row.suggestion.category

    @strawberry.field
    def category_name(self, locale: str = "en") -> str | None:
        return self.row.category_name(locale)

    @strawberry.field
    def department_code(self) -> str:
        return self.row.suggestion.department

    @strawberry.field
    def department_name(self, locale: str = "en") -> str:
        return self.row.department_name(locale)

    @strawberry.field(description="Where the grievance is sent, when the taxonomy names it.")
    def destination(self) -> str:
        return self.row.suggestion.destination

    @strawberry.field(description="The office that must act, for the place given.")
    def office(self) -> RouteOffice | None:
        if self.row.office_code is None or self.row.office_name is None:
            return None
        return RouteOffice(code=self.row.office_code, name=self.row.office_name)

    @strawberry.field(description="How the office was found (the fallback chain).")
    def office_note(self) -> str:
        return self.row.office_note

    @strawberry.field(description="Ranking score, 0-1.")
    def score(self) -> float:
        return self.row.suggestion.score

    @strawberry.field(
        description="Estimated probability that the department is right. With a trained "
        "model, part of it stands only as far as the most similar past grievances went to "
        "this department, so the departments' confidences may sum to less than 1."
    )
    def confidence(self) -> float:
        return self.row.suggestion.confidence

    @strawberry.field(description="Estimated probability that the category is right.")
    def category_confidence(self) -> float:
        return self.row.suggestion.category_confidence

    @strawberry.field
    def explanation(self) -> str:
        return self.row.explanation

    @strawberry.field
    def matches(self) -> list[RouteMatch]:
        return [
            RouteMatch(word=m.word, term=m.term, source=m.source, node=m.node, via=m.via)
            for m in self.row.suggestion.matches
        ]

    @strawberry.field(
        extensions=quietly(*STAFF),
        description="Most alike routed grievances: for statewide roles and the suggested "
        "department's own staff; empty for everyone else.",
    )
    def similar_grievances(self) -> list[str]:
        return list(self.row.similar)


@strawberry.type
class RouteSuggestionsPayload:
    suggestions: list[RouteSuggestion]
    note: str
    errors: list[UserError]


@strawberry.input
class CategoriseInput:
    registration_number: str
    category_code: str
    note: str = ""


@strawberry.type
class CategorisePayload:
    grievance: Grievance | None = strawberry.field(
        description="The grievance as it now stands; null with no errors when the category "
        "chosen took it out of the caller's scope (another department's): it was categorised."
    )
    errors: list[UserError]


@strawberry.type
class RoutingModelPayload:
    model_id: int | None
    examples: int = strawberry.field(
        description="Routed grievances the model learned from (seed examples not counted)."
    )
    departments: int
    seconds: float
    note: str = strawberry.field(
        description="Why no model was built; or which seed examples it learned from, which"
        " it skipped (departments the taxonomy lacks) and why a seed file was not used."
    )
    errors: list[UserError]


@strawberry.type
class RoutingQuery:
    @strawberry.field(
        permission_classes=[Allow.signed_in()],
        description="Ranked categories for a free-text complaint, with the office for a place.",
    )
    async def route_suggestions(
        self,
        info: Info,
        text: str,
        locale: str = "en",
        boundary_code: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        limit: int = 5,
    ) -> RouteSuggestionsPayload:
        actor = info.context.actor
        assert actor is not None
        try:
            answer = await service.suggest(
                text,
                viewer=actor,
                limit=limit,
                boundary_code=boundary_code,
                latitude=latitude,
                longitude=longitude,
                settings=info.context.runtime.settings,
            )
        except DomainError as exc:
            return RouteSuggestionsPayload(suggestions=[], note="", errors=errors_of(exc))
        return RouteSuggestionsPayload(
            suggestions=[RouteSuggestion(row=s) for s in answer.suggestions],
            note=answer.note,
            errors=[],
        )

    @strawberry.field(
        permission_classes=[Allow.to(Role.GRO, Role.ADMIN, Role.LEADERSHIP)],
        description="Grievances awaiting a category that you may triage, oldest first.",
    )
    async def triage_queue(self, info: Info, limit: int = 50) -> list[Grievance]:
        assert info.context.actor is not None
        return [Grievance(row=r) for r in await triage.queue(info.context.actor, limit)]


@strawberry.type
class RoutingMutation:
    @strawberry.mutation(
        permission_classes=[Allow.to(Role.GRO, Role.ADMIN)],
        description="A GRO chooses the category of a grievance in triage.",
    )
    async def categorise_grievance(self, info: Info, input: CategoriseInput) -> CategorisePayload:
        assert info.context.actor is not None
        try:
            row = await triage.categorise(
                info.context.runtime,
                info.context.actor,
                input.registration_number.strip(),
                input.category_code.strip(),
                input.note,
            )
        except (DomainError, IllegalAction) as exc:
            return CategorisePayload(grievance=None, errors=errors_of(exc))
        return CategorisePayload(grievance=await in_scope(info, row), errors=[])

    @strawberry.mutation(
        permission_classes=[Allow.to(Role.ADMIN)],
        description="Admin: retrain the routing model from routed grievances now.",
    )
    async def rebuild_routing_model(self, info: Info) -> RoutingModelPayload:
        assert info.context.actor is not None
        limit = info.context.runtime.settings.routing_history_limit
        try:
            done = await service.rebuild_model(
                limit, info.context.actor, info.context.runtime.settings
            )
        except DomainError as exc:
            return RoutingModelPayload(
                model_id=None,
                examples=0,
                departments=0,
                seconds=0.0,
                note="",
                errors=errors_of(exc),
            )
        return RoutingModelPayload(
            model_id=done.model_id,
            examples=done.examples,
            departments=done.departments,
            seconds=round(done.seconds, 3),
            note=done.note,
            errors=[],
        )
