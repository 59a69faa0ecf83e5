"""The GraphQL layer: thin types and resolvers over ``hub`` services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from hub.errors import DomainError
from hub.settings import Settings
from schema import hardening
from schema.auth import AuthMutation, AuthQuery
from schema.grievances import GrievanceMutation, GrievanceQuery
from schema.lifecycle import LifecycleMutation, LifecycleQuery
from schema.routing import RoutingMutation, RoutingQuery
from schema.subscriptions import Subscription
from schema.taxonomy import TaxonomyQuery

SDL_PATH = Path(__file__).with_name("schema.graphql")
logger = logging.getLogger("hub.graphql")


@strawberry.type
class Query(AuthQuery, GrievanceQuery, LifecycleQuery, TaxonomyQuery, RoutingQuery):
    pass


@strawberry.type
class Mutation(AuthMutation, GrievanceMutation, LifecycleMutation, RoutingMutation):
    pass


def _is_unexpected(error: GraphQLError) -> bool:
    """Mask errors that come from our own code failing, not from the request."""
    original = error.original_error
    expected = GraphQLError | PermissionError | DomainError
    return original is not None and not isinstance(original, expected)


class HubSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        if self.config.disable_field_suggestions:  # production
            hardening.hide_suggestions(errors)
            hardening.conceal_schema(errors)
        for error in errors:  # expected refusals carry a code clients can branch on
            original = error.original_error
            if isinstance(original, DomainError) and not (error.extensions or {}).get("code"):
                fields = [e.field for e in original.errors]
                error.extensions = {"code": "BAD_USER_INPUT", "fields": fields}
            elif isinstance(original, PermissionError) and not error.extensions:
                error.extensions = {"code": "FORBIDDEN"}
        # Bad requests are the client's business: one line each. Our own failures get a trace.
        for error in errors:
            if _is_unexpected(error):
                logger.error("resolver failed: %s", error.message, exc_info=error.original_error)
            else:
                logger.info("request error: %s", error.message.splitlines()[0])


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema as ``settings`` serve it: production hides introspection, suggestions and
    internal errors; the query limits apply in every mode. The SDL is the same in all."""
    settings = settings or Settings()
    production = settings.is_production
    # Clients send the same few operations again and again: parse and validate each once.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        *hardening.extensions(settings),
    ]
    if production:
        extensions.append(
            lambda: MaskErrors(should_mask_error=_is_unexpected, error_message="Internal error.")
        )
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=production),
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
